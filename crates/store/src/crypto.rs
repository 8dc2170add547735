//! Envelope encryption: every value is sealed with AES-256-GCM under its own data key; the
//! data key is wrapped by the master key of a [`KeyProvider`]. The caller's additional
//! authenticated data binds the ciphertext to where it belongs.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Why sealing or opening failed. Neither variant carries key or plaintext material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ciphertext, its wrapped key or its binding (AAD) does not authenticate.
    #[error("the value does not decrypt under its binding (tampered, swapped or wrong key)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("sealed value uses unknown format version {0}")]
    UnknownFormat(u8),
    #[error("sealed value was wrapped by key {found:?}, but the provider holds {expected:?}")]
    WrongKey { found: String, expected: String },
    #[error("master key: {0}")]
    MasterKey(String),
}

/// Wraps and unwraps data keys. The default keeps a master key in a 0600 file; the trait
/// admits an external KMS.
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// Identifies the master key; recorded with every sealed value.
    fn key_id(&self) -> &str;
    fn wrap(&self, data_key: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError>;
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
}

/// A value sealed under a per-value data key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Format version of this structure.
    pub format: u8,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    /// `nonce || ciphertext || tag`.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("format", &self.format)
            .field("key_id", &self.key_id)
            .field("len", &self.ciphertext.len())
            .finish()
    }
}

const SEALED_FORMAT: u8 = 1;

/// Seals and opens values with a [`KeyProvider`].
#[derive(Debug)]
pub struct Envelope<P: ?Sized = dyn KeyProvider> {
    rng: SystemRandom,
    provider: Box<P>,
}

impl Envelope {
    pub fn new(provider: Box<dyn KeyProvider>) -> Self {
        Self {
            rng: SystemRandom::new(),
            provider,
        }
    }

    pub fn key_id(&self) -> &str {
        self.provider.key_id()
    }

    /// Encrypts `plaintext` under a fresh data key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, CryptoError> {
        let mut data_key = Zeroizing::new([0u8; 32]);
        self.rng
            .fill(data_key.as_mut())
            .map_err(|_| CryptoError::Encrypt)?;
        let ciphertext = aead_seal(&self.rng, data_key.as_ref(), plaintext, aad)?;
        let wrapped_key = self.provider.wrap(data_key.as_ref(), aad)?;
        Ok(Sealed {
            format: SEALED_FORMAT,
            key_id: self.provider.key_id().to_owned(),
            wrapped_key,
            ciphertext,
        })
    }

    /// Decrypts a sealed value; fails unless `aad` is the binding it was sealed with.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.format != SEALED_FORMAT {
            return Err(CryptoError::UnknownFormat(sealed.format));
        }
        if sealed.key_id != self.provider.key_id() {
            return Err(CryptoError::WrongKey {
                found: sealed.key_id.clone(),
                expected: self.provider.key_id().to_owned(),
            });
        }
        let data_key = self.provider.unwrap(&sealed.wrapped_key, aad)?;
        aead_open(&data_key, &sealed.ciphertext, aad)
    }
}

fn aead_seal(
    rng: &SystemRandom,
    key: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key =
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Encrypt)?);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(NONCE_LEN);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| CryptoError::Encrypt)?;
    out.extend_from_slice(&body);
    Ok(out)
}

fn aead_open(key: &[u8], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(CryptoError::Decrypt);
    }
    let key =
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Decrypt)?);
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// A master key kept in a file (created with mode 0600 on first use).
pub struct FileKeyProvider {
    rng: SystemRandom,
    key: Zeroizing<Vec<u8>>,
    key_id: String,
    path: PathBuf,
}

impl fmt::Debug for FileKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKeyProvider")
            .field("key_id", &self.key_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The master key file's content: a line `s9-master-key v1 <key id> <64 hex digits>`.
const KEY_FILE_TAG: &str = "s9-master-key v1";

impl FileKeyProvider {
    /// Opens the key at `path`, creating it (0600, fsynced) if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, CryptoError> {
        match fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &Zeroizing::new(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(CryptoError::MasterKey(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<Self, CryptoError> {
        let bad = || CryptoError::MasterKey(format!("{} is not a master key file", path.display()));
        let rest = text.trim().strip_prefix(KEY_FILE_TAG).ok_or_else(bad)?;
        let mut parts = rest.split_whitespace();
        let (Some(key_id), Some(hex_key), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let key = Zeroizing::new(hex::decode(hex_key).map_err(|_| bad())?);
        if key.len() != 32 {
            return Err(bad());
        }
        Ok(Self {
            rng: SystemRandom::new(),
            key,
            key_id: key_id.to_owned(),
            path: path.to_owned(),
        })
    }

    fn create(path: &Path) -> Result<Self, CryptoError> {
        let rng = SystemRandom::new();
        let mut key = Zeroizing::new(vec![0u8; 32]);
        let mut id = [0u8; 8];
        rng.fill(&mut key)
            .and_then(|()| rng.fill(&mut id))
            .map_err(|_| CryptoError::MasterKey("no randomness".into()))?;
        let key_id = format!("local/{}", hex::encode(id));
        let line = Zeroizing::new(format!(
            "{KEY_FILE_TAG} {key_id} {}\n",
            hex::encode(key.as_slice())
        ));
        crate::write_private_file(path, line.as_bytes()).map_err(|e| {
            CryptoError::MasterKey(format!("cannot create {}: {e}", path.display()))
        })?;
        Ok(Self {
            rng,
            key,
            key_id,
            path: path.to_owned(),
        })
    }
}

impl KeyProvider for FileKeyProvider {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn wrap(&self, data_key: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead_seal(&self.rng, &self.key, data_key, aad)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        aead_open(&self.key, wrapped, aad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(dir: &Path) -> Envelope {
        Envelope::new(Box::new(
            FileKeyProvider::open_or_create(&dir.join("master.key")).expect("key"),
        ))
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let dir = tempfile::tempdir().expect("tmp");
        let env = envelope(dir.path());
        let sealed = env
            .seal(b"canary-value-91", b"acct|region|arn|v1")
            .expect("seal");
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"canary"));
        assert_eq!(
            env.open(&sealed, b"acct|region|arn|v1")
                .expect("open")
                .as_slice(),
            b"canary-value-91"
        );
        assert!(matches!(
            env.open(&sealed, b"acct|region|arn|v2"),
            Err(CryptoError::Decrypt)
        ));
        let mut edited = sealed.clone();
        let last = edited.ciphertext.len() - 1;
        edited.ciphertext[last] ^= 1;
        assert!(matches!(
            env.open(&edited, b"acct|region|arn|v1"),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn key_file_is_private_and_reopens() {
        let dir = tempfile::tempdir().expect("tmp");
        let sealed = envelope(dir.path()).seal(b"x", b"a").expect("seal");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join("master.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            envelope(dir.path())
                .open(&sealed, b"a")
                .expect("open")
                .as_slice(),
            b"x"
        );
        let other = tempfile::tempdir().expect("tmp");
        assert!(matches!(
            envelope(other.path()).open(&sealed, b"a"),
            Err(CryptoError::WrongKey { .. })
        ));
        assert!(
            !format!(
                "{:?}",
                FileKeyProvider::open_or_create(&dir.path().join("master.key")).expect("k")
            )
            .contains(&hex::encode([0u8; 4]))
        );
    }
}
