use std::fmt;

use zeroize::Zeroizing;

/// An AWS secret access key. Redacted in `Debug`, zeroized on drop, compared in constant
/// time; the only way to read it is [`SecretKey::expose_secret`].
#[derive(Clone)]
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The key itself. Call only to derive a signing key or to write a credentials file.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(** redacted **)")
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), other.0.as_bytes()).into()
    }
}

impl Eq for SecretKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = SecretKey::new("canary-7f3a9c");
        assert!(!format!("{key:?}").contains("canary"));
        assert_eq!(key.expose_secret(), "canary-7f3a9c");
    }
}
