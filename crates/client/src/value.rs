//! A secret version as read from Secrets Manager; its value is zeroized on drop and never
//! shown by `Debug`.

use secrecy::{ExposeSecret as _, SecretBox, SecretString};

/// One version of a secret, with the metadata GetSecretValue returns.
pub struct SecretValue {
    pub arn: String,
    pub name: String,
    pub version_id: String,
    pub version_stages: Vec<String>,
    /// Seconds since the Unix epoch.
    pub created_date: Option<f64>,
    pub(crate) string: Option<SecretString>,
    pub(crate) binary: Option<SecretBox<Vec<u8>>>,
}

impl SecretValue {
    /// The text value (`SecretString`), if the version has one.
    pub fn secret_string(&self) -> Option<&SecretString> {
        self.string.as_ref()
    }

    /// The binary value (`SecretBinary`), if the version has one.
    pub fn secret_binary(&self) -> Option<&SecretBox<Vec<u8>>> {
        self.binary.as_ref()
    }

    pub(crate) fn from_output(
        out: aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput,
    ) -> Self {
        let created_date = out
            .created_date()
            .map(|d| d.secs() as f64 + f64::from(d.subsec_nanos()) / 1e9);
        let version_stages = out.version_stages().to_vec();
        let arn = out.arn().unwrap_or_default().to_owned();
        let name = out.name().unwrap_or_default().to_owned();
        let version_id = out.version_id().unwrap_or_default().to_owned();
        let string = out.secret_string.map(SecretString::from);
        let binary = out
            .secret_binary
            .map(|b| SecretBox::new(Box::new(b.into_inner())));
        Self {
            arn,
            name,
            version_id,
            version_stages,
            created_date,
            string,
            binary,
        }
    }

    /// The text value, for decoders: `None` for a binary secret.
    pub(crate) fn text(&self) -> Option<&str> {
        self.string.as_ref().map(|s| s.expose_secret())
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("arn", &self.arn)
            .field("version_id", &self.version_id)
            .field("version_stages", &self.version_stages)
            .field("secret_string", &self.string.as_ref().map(|_| "[REDACTED]"))
            .field("secret_binary", &self.binary.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_metadata_and_never_the_value() {
        let value = SecretValue {
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf".into(),
            name: "s".into(),
            version_id: "v1".into(),
            version_stages: vec!["AWSCURRENT".into()],
            created_date: Some(1.5),
            string: Some(SecretString::from("CANARY-text")),
            binary: Some(SecretBox::new(Box::new(b"CANARY-bytes".to_vec()))),
        };
        let shown = format!("{value:?}");
        assert!(
            shown.contains("v1") && shown.contains("[REDACTED]"),
            "{shown}"
        );
        assert!(!shown.contains("CANARY"), "{shown}");
        assert_eq!(value.text(), Some("CANARY-text"));
        assert_eq!(
            value.secret_binary().map(|b| b.expose_secret().len()),
            Some(12)
        );
        assert!(value.secret_string().is_some());
    }
}
