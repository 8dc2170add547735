//! Any text: the policy parser answers Ok or a located error, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s9_policy::{Policy, PolicyKind};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for kind in [PolicyKind::Identity, PolicyKind::Resource] {
            if let Err(e) = Policy::parse(text, kind) {
                assert!(e.path.starts_with('$'));
            }
        }
    }
});
