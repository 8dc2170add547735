//! Secret-bearing wire values. They deserialize from a request body, cannot be serialized
//! or printed, zeroize on drop, and are read through an explicit `expose_secret`.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// A `SecretString` value. Equality takes the same time wherever two values of one length
/// differ (idempotency checks compare a request's value with a stored one).
#[derive(Clone)]
pub struct SecretText(Zeroizing<String>);

/// A `SecretBinary` value (base64 on the wire, raw bytes here); compared in constant time.
#[derive(Clone)]
pub struct SecretBlob(Zeroizing<Vec<u8>>);

impl PartialEq for SecretText {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretText {}

impl PartialEq for SecretBlob {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SecretBlob {}

impl SecretText {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// A serializable view, for the one place that sends the value: a response body.
    pub fn for_response(&self) -> WireSecret<'_> {
        WireSecret::Text(&self.0)
    }
}

impl SecretBlob {
    pub fn new(value: Vec<u8>) -> Self {
        Self(Zeroizing::new(value))
    }

    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    pub fn for_response(&self) -> WireSecret<'_> {
        WireSecret::Binary(&self.0)
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(** redacted **)")
    }
}

impl fmt::Debug for SecretBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBlob(** redacted **)")
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl<'de> Deserialize<'de> for SecretBlob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let encoded = Zeroizing::new(String::deserialize(d)?);
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map(Self::new)
            .map_err(|_| serde::de::Error::custom("SecretBinary is not valid base64"))
    }
}

/// A secret value on its way into a response body. Only `for_response` makes one.
#[derive(Clone, Copy)]
pub enum WireSecret<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

impl fmt::Debug for WireSecret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WireSecret(** redacted **)")
    }
}

impl Serialize for WireSecret<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(text) => s.serialize_str(text),
            Self::Binary(bytes) => {
                let encoded =
                    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(bytes));
                s.serialize_str(&encoded)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_redacted_and_binary_round_trips() {
        let text: SecretText = serde_json::from_str("\"canary-s3cr3t\"").expect("text");
        assert!(!format!("{text:?}").contains("canary"));
        let blob: SecretBlob = serde_json::from_str("\"AAEC/w==\"").expect("blob");
        assert_eq!(blob.expose_secret(), &[0, 1, 2, 255]);
        assert!(!format!("{blob:?} {:?}", blob.for_response()).contains("AAEC"));
        assert_eq!(
            serde_json::to_string(&blob.for_response()).expect("json"),
            "\"AAEC/w==\""
        );
        assert!(serde_json::from_str::<SecretBlob>("\"not base64!\"").is_err());
    }

    #[test]
    fn equality_compares_every_byte() {
        let text = |v: &str| SecretText::new(v.to_owned());
        assert_eq!(text("same-value"), text("same-value"));
        assert_ne!(text("same-value"), text("same-valuf"));
        assert_ne!(text("same-value"), text("xame-value"));
        assert_ne!(text("short"), text("shorter"));
        let blob = |v: &[u8]| SecretBlob::new(v.to_vec());
        assert_eq!(blob(&[1, 2, 3]), blob(&[1, 2, 3]));
        assert_ne!(blob(&[1, 2, 3]), blob(&[1, 2, 4]));
        assert_ne!(blob(&[1, 2, 3]), blob(&[1, 2]));
    }
}
