//! Durable, encrypted storage: redb tables with group commit, and envelope encryption
//! behind a [`KeyProvider`].
//!
//! This crate stores opaque, caller-versioned records and sealed values; it knows nothing
//! of secrets, HTTP or AWS. Every acknowledged commit is fsynced. Plaintext secret values
//! never reach it: callers seal them first with an [`Envelope`].

mod crypto;
mod custody;
mod db;
mod private;

pub use crypto::{CryptoError, Envelope, FileKeyProvider, KeyProvider, Sealed};
pub use custody::{CustodyError, KeyCheck};
pub use db::{Mutation, PendingCommit, Store, StoreError, Table};
pub use private::{create_private_dir, private_file_options, write_private_file};
