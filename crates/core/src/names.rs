//! Secret names and how a `SecretId` names a secret.

use s9_wire::{ApiError, ErrorCode};

/// Names may hold letters, digits and `/_+=.@-!`.
pub(crate) fn validate_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Validation,
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ))
    }
}

/// The name part of `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`, if the ARN
/// addresses this partition, region and account (anything else names no secret here, and
/// is never served or recorded under its own spelling).
pub(crate) fn name_from_partial_arn<'a>(
    arn: &'a str,
    region: &str,
    account: &str,
) -> Option<&'a str> {
    let mut parts = arn.splitn(7, ':');
    let (
        Some("arn"),
        Some("aws"),
        Some("secretsmanager"),
        Some(r),
        Some(a),
        Some("secret"),
        Some(name),
    ) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    )
    else {
        return None;
    };
    (r == region && a == account && !name.is_empty()).then_some(name)
}

/// Whether `name` ends like a full ARN's random suffix: `-` and six letters or digits.
pub(crate) fn ends_like_arn_suffix(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() > 7
        && bytes[bytes.len() - 7] == b'-'
        && bytes[bytes.len() - 6..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("signal9-advisor/api-credentials").is_ok());
        assert!(validate_name("Valid/_+=.@-Name!").is_ok());
        for bad in ["Inv Name", " Inv*Name? ", "é", ""] {
            assert_eq!(
                validate_name(bad).expect_err(bad).code,
                ErrorCode::Validation
            );
        }
    }

    #[test]
    fn suffix_shapes() {
        assert!(ends_like_arn_suffix("app/key-a1b2c3"));
        assert!(!ends_like_arn_suffix("app/key-a1b2c3-"));
        assert!(!ends_like_arn_suffix("app/key-a1b2"));
        assert!(!ends_like_arn_suffix("-a1b2c3"));
    }

    #[test]
    fn partial_arns() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/key";
        assert_eq!(
            name_from_partial_arn(arn, "us-east-1", "123456789012"),
            Some("app/key")
        );
        assert_eq!(
            name_from_partial_arn(arn, "eu-west-1", "123456789012"),
            None
        );
        assert_eq!(
            name_from_partial_arn(arn, "us-east-1", "000000000000"),
            None
        );
        assert_eq!(
            name_from_partial_arn("arn:aws:s3:::bucket", "us-east-1", "123456789012"),
            None
        );
        assert_eq!(
            name_from_partial_arn(
                "arn:junk0x:secretsmanager:us-east-1:123456789012:secret:app/key",
                "us-east-1",
                "123456789012"
            ),
            None,
            "another partition"
        );
    }
}
