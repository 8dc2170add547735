//! The AWS Secrets Manager wire protocol (AWS JSON 1.1): operations, request and response
//! shapes, error codes, and decoding of a request body into a typed [`Request`].
//!
//! The shapes follow the service model shipped in botocore
//! (`model/secretsmanager-2017-10-17.json`, checked by `tests/model.rs`). This crate does no
//! I/O and holds no policy: it only says what a well-formed request and response look like.

mod error;
mod operation;
mod secret;
pub mod shapes;
mod validate;

pub use error::{ApiError, ErrorCode};
pub use operation::{Operation, Request};
pub use secret::{SecretBlob, SecretText, WireSecret};

/// The content type of every request and response body.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The `X-Amz-Target` prefix of every operation.
pub const TARGET_PREFIX: &str = "secretsmanager.";
