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

/// Why the audit trail could not be written or read. Cloned to every request a failed
/// group fails, so the causes are shared (`Arc`); each message says its cause once.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file or directory of the trail could not be read or written.
    #[error("audit log {}: {error}", path.display())]
    File {
        path: std::path::PathBuf,
        error: std::sync::Arc<std::io::Error>,
    },
    /// The current log file could not be fsynced: what was written may not be on disk.
    #[error("audit log fsync: {0}")]
    Sync(std::sync::Arc<std::io::Error>),
    /// The thread that fsyncs the log could not be started.
    #[error("starting the audit log's sync thread: {0}")]
    Thread(std::sync::Arc<std::io::Error>),
    /// A digest or checkpoint could not be encoded.
    #[error("encoding a signed audit file: {0}")]
    Encode(std::sync::Arc<serde_json::Error>),
    /// A digest whose end time is not RFC 3339: retention cannot tell its age.
    #[error("audit digest {}: its end time {value:?} is not an RFC 3339 time", path.display())]
    DigestTime {
        path: std::path::PathBuf,
        value: String,
    },
    #[error("the audit log needs a Tokio runtime")]
    NoRuntime,
    /// A writer panicked while holding the log.
    #[error("the audit writer panicked")]
    Poisoned,
    #[error("audit signing key: {0}")]
    Key(String),
    #[error("the audit log is closed")]
    Closed,
}

impl AuditError {
    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        Self::File {
            path: path.to_owned(),
            error: std::sync::Arc::new(error),
        }
    }
}
