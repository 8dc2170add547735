//! Any body for any operation: decoding answers a request or an AWS error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s9_wire::{Operation, Request};

fuzz_target!(|data: &[u8]| {
    if let Some((&selector, body)) = data.split_first() {
        let op = Operation::ALL[usize::from(selector) % Operation::ALL.len()];
        if let Err(e) = Request::decode(op, body) {
            assert!(e.code.http_status() < 500);
        }
    }
});
