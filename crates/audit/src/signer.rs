//! The digest signing key: Ed25519, kept apart from the logs (0600), public half exportable.

use std::fmt;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine as _;

use crate::AuditError;
use crate::files::sha256_hex;

/// Signs digests.
pub struct Signer {
    key: Ed25519KeyPair,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("public_key", &self.public_key().fingerprint())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Opens the PKCS#8 key at `path`, creating it (0600) if absent.
    pub fn open_or_create(path: &Path) -> Result<Self, AuditError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = zeroize::Zeroizing::new(bytes);
                let key = Ed25519KeyPair::from_pkcs8(&bytes).map_err(|_| {
                    AuditError::Key(format!("{} is not an Ed25519 PKCS#8 key", path.display()))
                })?;
                Ok(Self { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    s9_store::create_private_dir(dir).map_err(|e| AuditError::io(dir, e))?;
                }
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| AuditError::Key("cannot generate a key".into()))?;
                s9_store::write_private_file(path, pkcs8.as_ref())
                    .map_err(|e| AuditError::io(path, e))?;
                let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                    .map_err(|_| AuditError::Key("generated key unreadable".into()))?;
                Ok(Self { key })
            }
            Err(e) => Err(AuditError::io(path, e)),
        }
    }

    pub fn sign(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.sign(message).as_ref())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.public_key().as_ref().to_vec())
    }
}

/// An Ed25519 public key: checks digest signatures. Public material, safe to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    /// Parses the base64 form [`PublicKey::to_base64`] prints.
    pub fn from_base64(text: &str) -> Result<Self, AuditError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| AuditError::Key("the public key is not base64".into()))?;
        if bytes.len() != 32 {
            return Err(AuditError::Key("an Ed25519 public key has 32 bytes".into()));
        }
        Ok(Self(bytes))
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }

    /// SHA-256 of the key, hex: recorded in every digest.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.0)
    }

    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_b64) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, &sig)
            .is_ok()
    }
}
