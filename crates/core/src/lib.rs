//! The rules of Signal9 Secrets: secrets, versions and staging labels, deletion windows,
//! replication, rotation configuration — every Secrets Manager operation, over the durable
//! encrypted store.
//!
//! This crate has no HTTP in it: the server decodes a request into `s9_wire` shapes, calls
//! the [`Service`], and encodes what comes back. Time comes from an injected [`Clock`].

mod access;
pub mod alarms;
pub mod clock;
mod listing;
mod names;
mod password;
mod policy_doc;
pub mod record;
pub mod rotation;
mod schedule;
mod service;
pub mod staging;

pub use access::{Caller, RequestKeys, administrator_policies};
pub use clock::{Clock, ManualClock, SystemClock};
pub use service::{BatchValues, LoadError, SecretPayload, SecretValue, Service};
