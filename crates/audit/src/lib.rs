//! The tamper-evident audit trail: CloudTrail-format records in hash-chained, append-only
//! files, hourly Ed25519-signed digests chained from the first on, verification, queries
//! and retention.
//!
//! No HTTP here: the server builds an [`AuditEvent`] per request and waits for
//! [`AuditLog::record`] before answering.

mod event;
mod files;
mod log;
mod members;
pub mod query;
mod signer;
pub mod verify;

pub use event::{
    AuditEvent, Borrowed, Recorded, Resource, Text, UserIdentity, event_time, secret_name_of_arn,
};
pub use log::{
    AuditConfig, AuditLog, DigestSummary, FsyncPolicy, IdleWriter, PendingRecord, Written,
    service_event,
};
pub use members::Members;
pub use signer::{PublicKey, Signer};

/// A random (v4) UUID in lowercase hyphenated form, as request and event ids are; encoded
/// without the formatting machinery, as every request needs one or two.
pub fn new_id() -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

/// Why the audit trail could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("audit log: {0}")]
    Io(String),
    #[error("audit signing key: {0}")]
    Key(String),
    #[error("the audit log is closed")]
    Closed,
}

impl AuditError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        Self::Io(format!("{}: {e}", path.display()))
    }
}
