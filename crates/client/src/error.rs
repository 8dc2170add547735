//! What can go wrong reading a secret. No variant ever carries a secret value: service
//! messages come from Secrets Manager (which never echoes values), and decoding errors name
//! the field and the problem, never what the field held.

use std::time::Duration;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata as _, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

/// A failed read of a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller may not read the secret (or its KMS key). Never retried, never served
    /// stale.
    #[error("access to secret `{secret_id}` denied ({code}): {message}")]
    AccessDenied {
        secret_id: String,
        code: String,
        message: String,
    },
    /// The secret (or the requested version) does not exist. Never retried, never stale.
    #[error("secret `{secret_id}` not found: {message}")]
    NotFound { secret_id: String, message: String },
    /// The service refused the request for good: the secret is scheduled for deletion, the
    /// request is invalid, the value cannot be decrypted. Never retried, never stale.
    #[error("secret `{secret_id}` cannot be read ({code}): {message}")]
    Rejected {
        secret_id: String,
        code: String,
        message: String,
        status: Option<u16>,
    },
    /// Throttling, a 5xx, a timeout or a broken connection, after every retry, with no
    /// last good value young enough to serve instead.
    #[error("secret `{secret_id}` is unavailable after {attempts} attempt(s) ({kind}): {message}")]
    Unavailable {
        secret_id: String,
        kind: TransientKind,
        message: String,
        attempts: u32,
    },
    /// Too many consecutive failures: calls fail fast until the breaker lets a probe
    /// through.
    #[error(
        "circuit open for secret `{secret_id}` after repeated failures; next probe in {retry_in:?}"
    )]
    CircuitOpen {
        secret_id: String,
        retry_in: Duration,
    },
    /// The value is not what the caller asked for (not JSON, a field missing or malformed).
    /// Nothing was cached.
    #[error("secret `{secret_id}` is not a valid {expected}: {problem}")]
    Invalid {
        secret_id: String,
        expected: &'static str,
        /// The field at fault, if one is.
        field: Option<String>,
        problem: String,
    },
}

/// Why a read may succeed if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    Throttled,
    ServerError,
    Timeout,
    Connection,
}

impl std::fmt::Display for TransientKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Throttled => "throttled",
            Self::ServerError => "server error",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
        })
    }
}

impl Error {
    /// The AWS error code, as the Secrets Manager Agent reports it.
    pub fn code(&self) -> &str {
        match self {
            Self::AccessDenied { code, .. } | Self::Rejected { code, .. } => code,
            Self::NotFound { .. } => "ResourceNotFoundException",
            Self::Unavailable {
                kind: TransientKind::Timeout,
                ..
            } => "TimeoutError",
            Self::Unavailable {
                kind: TransientKind::Throttled,
                ..
            } => "ThrottlingException",
            Self::Unavailable {
                kind: TransientKind::ServerError,
                ..
            } => "InternalServiceError",
            Self::Unavailable { .. } | Self::CircuitOpen { .. } => "ConnectionError",
            Self::Invalid { .. } => "InvalidSecretValue",
        }
    }

    /// Whether the failure may pass: only then is a read retried, counted by the breaker, or
    /// answered with the last good value.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::CircuitOpen { .. })
    }

    pub(crate) fn classify(
        secret_id: &str,
        err: &SdkError<GetSecretValueError>,
        attempts: u32,
    ) -> Self {
        let unavailable = |kind, message: String| Self::Unavailable {
            secret_id: secret_id.to_owned(),
            kind,
            message,
            attempts,
        };
        match err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = err.code().unwrap_or("UnknownError").to_owned();
                let message = err.message().unwrap_or_default().to_owned();
                match code.as_str() {
                    "AccessDeniedException"
                    | "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException" => Self::AccessDenied {
                        secret_id: secret_id.to_owned(),
                        code,
                        message,
                    },
                    "ResourceNotFoundException" => Self::NotFound {
                        secret_id: secret_id.to_owned(),
                        message,
                    },
                    "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" => {
                        unavailable(TransientKind::Throttled, message)
                    }
                    "InternalServiceError" | "InternalFailure" | "ServiceUnavailable" => {
                        unavailable(TransientKind::ServerError, message)
                    }
                    _ if status >= 500 => {
                        unavailable(TransientKind::ServerError, format!("{code}: {message}"))
                    }
                    _ => Self::Rejected {
                        secret_id: secret_id.to_owned(),
                        code,
                        message,
                        status: Some(status),
                    },
                }
            }
            SdkError::TimeoutError(_) => unavailable(TransientKind::Timeout, "timed out".into()),
            SdkError::DispatchFailure(d) if d.is_timeout() => {
                unavailable(TransientKind::Timeout, "timed out".into())
            }
            SdkError::DispatchFailure(_) => unavailable(
                TransientKind::Connection,
                "could not reach Secrets Manager".into(),
            ),
            SdkError::ResponseError(r) => {
                let status = r.raw().status().as_u16();
                unavailable(
                    TransientKind::ServerError,
                    format!("unreadable response (HTTP {status})"),
                )
            }
            _ => unavailable(
                TransientKind::Connection,
                "request could not be sent".into(),
            ),
        }
    }
}
