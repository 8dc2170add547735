use std::fmt;

use serde::Serialize;

/// Every error code the service answers with, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    AccessDenied,
    DecryptionFailure,
    EncryptionFailure,
    IncompleteSignature,
    InternalServiceError,
    InvalidNextToken,
    InvalidParameter,
    InvalidRequest,
    InvalidSignature,
    LimitExceeded,
    MalformedPolicyDocument,
    MissingAuthenticationToken,
    PreconditionNotMet,
    PublicPolicy,
    RequestEntityTooLarge,
    RequestTimeout,
    ResourceExists,
    ResourceNotFound,
    Serialization,
    Throttling,
    UnknownOperation,
    UnrecognizedClient,
    Validation,
}

impl ErrorCode {
    /// The `__type` AWS sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "AccessDeniedException",
            Self::DecryptionFailure => "DecryptionFailure",
            Self::EncryptionFailure => "EncryptionFailure",
            Self::IncompleteSignature => "IncompleteSignatureException",
            Self::InternalServiceError => "InternalServiceError",
            Self::InvalidNextToken => "InvalidNextTokenException",
            Self::InvalidParameter => "InvalidParameterException",
            Self::InvalidRequest => "InvalidRequestException",
            Self::InvalidSignature => "InvalidSignatureException",
            Self::LimitExceeded => "LimitExceededException",
            Self::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::PreconditionNotMet => "PreconditionNotMetException",
            Self::PublicPolicy => "PublicPolicyException",
            Self::RequestEntityTooLarge => "RequestEntityTooLargeException",
            Self::RequestTimeout => "RequestTimeoutException",
            Self::ResourceExists => "ResourceExistsException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::Serialization => "SerializationException",
            Self::Throttling => "ThrottlingException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::Validation => "ValidationException",
        }
    }

    /// The HTTP status AWS sends with this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InternalServiceError => 500,
            Self::MissingAuthenticationToken => 403,
            Self::RequestEntityTooLarge => 413,
            Self::RequestTimeout => 408,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as sent on the wire: `{"__type": code, "Message": message}`.
///
/// Messages are built by this service from names and identifiers only; a secret value is
/// never part of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn not_found() -> Self {
        Self::new(
            ErrorCode::ResourceNotFound,
            "Secrets Manager can't find the specified secret.",
        )
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorCode::InternalServiceError,
            "An error occurred on the server side.",
        )
    }

    /// The JSON body.
    pub fn to_body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "__type")]
            code: &'a str,
            #[serde(rename = "Message", skip_serializing_if = "str::is_empty")]
            message: &'a str,
        }
        serde_json::to_vec(&Body {
            code: self.code.as_str(),
            message: &self.message,
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_statuses() {
        let body: serde_json::Value =
            serde_json::from_slice(&ApiError::not_found().to_body()).expect("json");
        assert_eq!(body["__type"], "ResourceNotFoundException");
        assert_eq!(
            body["Message"],
            "Secrets Manager can't find the specified secret."
        );
        let bare: serde_json::Value =
            serde_json::from_slice(&ApiError::new(ErrorCode::UnknownOperation, "").to_body())
                .expect("json");
        assert!(bare.get("Message").is_none());
        assert_eq!(ApiError::internal().code.http_status(), 500);
        assert_eq!(ErrorCode::MissingAuthenticationToken.http_status(), 403);
        assert_eq!(ErrorCode::RequestEntityTooLarge.http_status(), 413);
        assert_eq!(ErrorCode::RequestTimeout.http_status(), 408);
        assert_eq!(ErrorCode::AccessDenied.http_status(), 400);
        assert_eq!(
            ApiError::invalid_request("x").to_string(),
            "InvalidRequestException: x"
        );
    }
}
