use serde::de::DeserializeOwned;

use crate::shapes::*;
use crate::validate::Validate;
use crate::{ApiError, ErrorCode, TARGET_PREFIX};

macro_rules! operations {
    ($($op:ident($input:ty) read_only = $ro:literal, returns_secret = $rs:literal;)*) => {
        /// One Secrets Manager operation, as named by `X-Amz-Target`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Operation { $($op,)* }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$op,)*];

            /// The operation's name (`GetSecretValue`).
            pub fn name(self) -> &'static str {
                match self { $(Self::$op => stringify!($op),)* }
            }

            /// Operations that change nothing.
            pub fn is_read_only(self) -> bool {
                match self { $(Self::$op => $ro,)* }
            }

            /// Operations whose response carries secret material: it is never recorded, and
            /// it is never sent unless the request's record was written (fail closed).
            pub fn returns_secret(self) -> bool {
                match self { $(Self::$op => $rs,)* }
            }

            /// The IAM action that authorizes it (`secretsmanager:GetSecretValue`).
            pub fn iam_action(self) -> &'static str {
                match self { $(Self::$op => concat!("secretsmanager:", stringify!($op)),)* }
            }

            /// The request members the operation reads: a record copies these and no
            /// others (a `secretId` beside `SecretId` is not what was acted on).
            pub fn request_members(self) -> &'static [&'static str] {
                match self { $(Self::$op => <$input>::MEMBERS,)* }
            }

            /// Parses `secretsmanager.GetSecretValue`.
            pub fn from_target(target: &str) -> Option<Self> {
                let name = target.strip_prefix(TARGET_PREFIX)?;
                match name { $(stringify!($op) => Some(Self::$op),)* _ => None }
            }
        }

        /// A decoded, model-validated request.
        #[derive(Debug)]
        pub enum Request { $($op($input),)* }

        impl Request {
            /// Decodes and validates the body of `op`.
            pub fn decode(op: Operation, body: &[u8]) -> Result<Self, ApiError> {
                match op { $(Operation::$op => parse::<$input>(body).map(Self::$op),)* }
            }

            pub fn operation(&self) -> Operation {
                match self { $(Self::$op(_) => Operation::$op,)* }
            }
        }
    };
}

operations! {
    BatchGetSecretValue(BatchGetSecretValueRequest) read_only = true, returns_secret = true;
    CancelRotateSecret(SecretIdRequest) read_only = false, returns_secret = false;
    CreateSecret(CreateSecretRequest) read_only = false, returns_secret = false;
    DeleteResourcePolicy(SecretIdRequest) read_only = false, returns_secret = false;
    DeleteSecret(DeleteSecretRequest) read_only = false, returns_secret = false;
    DescribeSecret(SecretIdRequest) read_only = true, returns_secret = false;
    GetRandomPassword(GetRandomPasswordRequest) read_only = true, returns_secret = true;
    GetResourcePolicy(SecretIdRequest) read_only = true, returns_secret = false;
    GetSecretValue(GetSecretValueRequest) read_only = true, returns_secret = true;
    ListSecretVersionIds(ListSecretVersionIdsRequest) read_only = true, returns_secret = false;
    ListSecrets(ListSecretsRequest) read_only = true, returns_secret = false;
    PutResourcePolicy(PutResourcePolicyRequest) read_only = false, returns_secret = false;
    PutSecretValue(PutSecretValueRequest) read_only = false, returns_secret = false;
    RemoveRegionsFromReplication(RemoveRegionsFromReplicationRequest) read_only = false, returns_secret = false;
    ReplicateSecretToRegions(ReplicateSecretToRegionsRequest) read_only = false, returns_secret = false;
    RestoreSecret(SecretIdRequest) read_only = false, returns_secret = false;
    RotateSecret(RotateSecretRequest) read_only = false, returns_secret = false;
    StopReplicationToReplica(SecretIdRequest) read_only = false, returns_secret = false;
    TagResource(TagResourceRequest) read_only = false, returns_secret = false;
    UntagResource(UntagResourceRequest) read_only = false, returns_secret = false;
    UpdateSecret(UpdateSecretRequest) read_only = false, returns_secret = false;
    UpdateSecretVersionStage(UpdateSecretVersionStageRequest) read_only = false, returns_secret = false;
    ValidateResourcePolicy(ValidateResourcePolicyRequest) read_only = true, returns_secret = false;
}

fn parse<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    // serde would also read a struct from a JSON array; AWS accepts only an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            ErrorCode::Serialization,
            "Could not parse the request: the body must be a JSON object.",
        ));
    }
    // The message names the position only: echoing the parser's message could echo a value.
    let value: T = serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "a member has the wrong type or format",
            serde_json::error::Category::Eof => "the body ends early",
            _ => "the body is not valid JSON",
        };
        ApiError::new(
            ErrorCode::Serialization,
            format!(
                "Could not parse the request: {what} (line {}, column {}).",
                e.line(),
                e.column()
            ),
        )
    })?;
    value.validate()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_round_trips_through_its_target() {
        assert_eq!(Operation::ALL.len(), 23);
        for op in Operation::ALL {
            let target = format!("secretsmanager.{}", op.name());
            assert_eq!(Operation::from_target(&target), Some(*op));
        }
        assert_eq!(Operation::from_target("secretsmanager.Nope"), None);
        assert_eq!(Operation::from_target("GetSecretValue"), None);
    }

    #[test]
    fn operation_facts_are_stated_once() {
        for op in Operation::ALL {
            assert_eq!(op.iam_action(), format!("secretsmanager:{}", op.name()));
            // Secret material only ever comes out of a read.
            assert!(!op.returns_secret() || op.is_read_only(), "{op:?}");
        }
        let secret: Vec<_> = Operation::ALL
            .iter()
            .filter(|op| op.returns_secret())
            .map(|op| op.name())
            .collect();
        assert_eq!(
            secret,
            ["BatchGetSecretValue", "GetRandomPassword", "GetSecretValue"]
        );
    }

    #[test]
    fn wrong_types_are_serialization_errors_that_echo_nothing() {
        let err = Request::decode(
            Operation::CreateSecret,
            br#"{"Name": "x", "SecretString": 5, "Description": ["canary-123"]}"#,
        )
        .expect_err("wrong type");
        assert_eq!(err.code, ErrorCode::Serialization);
        let err =
            Request::decode(Operation::GetSecretValue, br#"["canary-123"]"#).expect_err("array");
        assert_eq!(err.code, ErrorCode::Serialization);
        let err = Request::decode(Operation::GetSecretValue, b"{\"SecretId\": \"\xff\xfe\"}")
            .expect_err("utf-8");
        assert_eq!(err.code, ErrorCode::Serialization);
        let err = Request::decode(Operation::GetSecretValue, br#"{"SecretId": "canary-123""#)
            .expect_err("eof");
        assert_eq!(err.code, ErrorCode::Serialization);
        assert!(!err.message.contains("canary"));
        let err = Request::decode(
            Operation::CreateSecret,
            br#"{"Name": "n", "SecretBinary": "canary-not-b64!"}"#,
        )
        .expect_err("b64");
        assert!(!err.message.contains("canary"));
    }

    #[test]
    fn missing_required_members_are_validation_errors() {
        let err = Request::decode(Operation::GetSecretValue, b"").expect_err("missing");
        assert_eq!(err.code, ErrorCode::Validation);
        assert!(err.message.contains("'secretId'"), "{}", err.message);
    }
}
