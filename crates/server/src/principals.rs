//! Who may call the service: access keys from an AWS shared-credentials file, each mapped
//! to a principal with its identity policies and tags. With a credentials file alone, every
//! key is an administrator of the account; a config file (`config.rs`) names principals and
//! their policies instead.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use s9_policy::{Context, NamedPolicy};
use s9_sigv4::{KeyLookup, SecretKey};
use zeroize::Zeroizing;

/// A caller the service knows.
#[derive(Clone)]
pub struct Principal {
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub arn: String,
    /// The credentials-file profile the key came from.
    pub profile: String,
    pub access_key_id: String,
    /// The user's name, when the ARN names an IAM user (`userIdentity.userName`).
    pub user_name: Option<String>,
    secret_key: SecretKey,
    /// Identity policies.
    pub policies: Arc<[NamedPolicy]>,
    /// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username`,
    /// `aws:PrincipalTag/*`.
    pub context: Arc<Context>,
    /// The client certificate its key is bound to (a subject CN, DNS or URI name the
    /// certificate must carry): the key is refused on any connection without it.
    pub certificate: Option<String>,
}

impl Principal {
    pub fn new(
        arn: String,
        profile: String,
        access_key_id: String,
        secret_key: SecretKey,
        policies: Arc<[NamedPolicy]>,
        tags: &BTreeMap<String, String>,
    ) -> Self {
        let mut context = Context::new();
        context.set("aws:PrincipalArn", arn.clone());
        let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
        context.set("aws:PrincipalAccount", account);
        let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
        let mut user_name = None;
        match resource.split_once('/') {
            Some(("user", name)) => {
                context.set("aws:PrincipalType", "User");
                context.set("aws:username", name.to_owned());
                user_name = Some(name.to_owned());
            }
            Some(("role", _)) => {
                context.set("aws:PrincipalType", "AssumedRole");
            }
            _ => {}
        }
        for (k, v) in tags {
            context.set(&format!("aws:PrincipalTag/{k}"), v.clone());
        }
        context.set_all("aws:PrincipalTagKeys", tags.keys().cloned());
        Self {
            arn,
            profile,
            access_key_id,
            user_name,
            secret_key,
            policies,
            context: Arc::new(context),
            certificate: None,
        }
    }

    /// This principal, its key usable only on connections whose client certificate names
    /// `certificate`.
    #[must_use]
    pub fn bound_to_certificate(mut self, certificate: Option<String>) -> Self {
        self.certificate = certificate;
        self
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("arn", &self.arn)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// All principals, by access key id.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    by_key: HashMap<String, Principal>,
}

/// Why a credentials file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: profile [{profile}] {reason}")]
    Profile {
        path: PathBuf,
        profile: String,
        reason: String,
    },
    #[error("{path}: no profile holds a key pair")]
    Empty { path: PathBuf },
}

/// The key pair of each profile in a credentials file.
pub(crate) type Profiles = BTreeMap<String, (String, SecretKey)>;

impl Principals {
    /// Every `[profile]` with a key pair, each an administrator
    /// (`arn:aws:iam::ACCOUNT:user/PROFILE`).
    pub fn from_credentials_file(path: &Path, account_id: &str) -> Result<Self, CredentialsError> {
        let admin = s9_core::administrator_policies();
        let mut principals = Self::default();
        for (profile, (id, secret)) in read_profiles(path)? {
            let arn = format!("arn:aws:iam::{account_id}:user/{profile}");
            principals.insert(Principal::new(
                arn,
                profile,
                id,
                secret,
                Arc::clone(&admin),
                &BTreeMap::new(),
            ));
        }
        Ok(principals)
    }

    pub(crate) fn insert(&mut self, principal: Principal) {
        self.by_key
            .insert(principal.access_key_id.clone(), principal);
    }
}

/// Reads every `[profile]` with `aws_access_key_id` and `aws_secret_access_key`.
pub(crate) fn read_profiles(path: &Path) -> Result<Profiles, CredentialsError> {
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| CredentialsError::Io {
                path: path.to_owned(),
                source,
            })?,
        );
    let ini = ini::Ini::load_from_str(&text).map_err(|e| CredentialsError::Parse {
        path: path.to_owned(),
        line: e.line,
        reason: e.msg.to_string(),
    })?;
    let mut profiles = Profiles::new();
    let mut seen_keys = HashMap::new();
    for (section, props) in ini.iter() {
        let Some(profile) = section else { continue };
        let profile = profile
            .strip_prefix("profile ")
            .unwrap_or(profile)
            .trim()
            .to_owned();
        let id = props.get("aws_access_key_id");
        let secret = props.get("aws_secret_access_key");
        let (id, secret) = match (id, secret) {
            (Some(id), Some(secret)) => (id.trim(), secret.trim()),
            (None, None) => continue,
            _ => {
                return Err(CredentialsError::Profile {
                    path: path.to_owned(),
                    profile,
                    reason: "needs both aws_access_key_id and aws_secret_access_key".into(),
                });
            }
        };
        if id.is_empty() || secret.is_empty() {
            return Err(CredentialsError::Profile {
                path: path.to_owned(),
                profile,
                reason: "has an empty key".into(),
            });
        }
        if let Some(other) = seen_keys.insert(id.to_owned(), profile.clone()) {
            return Err(CredentialsError::Profile {
                path: path.to_owned(),
                profile,
                reason: format!("repeats access key {id} of [{other}]"),
            });
        }
        profiles.insert(profile, (id.to_owned(), SecretKey::new(secret)));
    }
    if profiles.is_empty() {
        return Err(CredentialsError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(profiles)
}

impl Principals {
    pub fn get(&self, access_key_id: &str) -> Option<&Principal> {
        self.by_key.get(access_key_id)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Principal> {
        self.by_key.values()
    }
}

impl KeyLookup for Principals {
    fn secret_key(&self, access_key_id: &str) -> Option<SecretKey> {
        self.by_key.get(access_key_id).map(|p| p.secret_key.clone())
    }
}

/// A freshly generated administrator key pair, written to a 0600 credentials file. Holds
/// only the path and the access key id; the secret key is in the file only.
#[derive(Debug)]
pub struct GeneratedCredentials {
    pub path: PathBuf,
    pub access_key_id: String,
}

fn random_string(
    rng: &SystemRandom,
    alphabet: &[u8],
    len: usize,
) -> Result<Zeroizing<String>, std::io::Error> {
    let mut out = Zeroizing::new(String::with_capacity(len));
    while out.len() < len {
        let mut b = [0u8; 1];
        rng.fill(&mut b)
            .map_err(|_| std::io::Error::other("no randomness"))?;
        // Rejection sampling keeps the choice uniform.
        let limit = 256 - (256 % alphabet.len());
        if usize::from(b[0]) < limit {
            out.push(char::from(alphabet[usize::from(b[0]) % alphabet.len()]));
        }
    }
    Ok(out)
}

/// Creates `path` holding a new `[default]` administrator key pair. Fails if it exists.
pub fn generate_credentials_file(path: &Path) -> Result<GeneratedCredentials, CredentialsError> {
    let mut keys = generate_profiles_file(path, &["default".to_owned()])?;
    let (_, access_key_id) = keys.remove(0);
    Ok(GeneratedCredentials {
        path: path.to_owned(),
        access_key_id,
    })
}

/// Creates `path` (mode 0600, failing if it exists) with a fresh key pair for each profile;
/// returns each profile's access key id. The secret keys are written to the file only.
pub fn generate_profiles_file(
    path: &Path,
    profiles: &[String],
) -> Result<Vec<(String, String)>, CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    };
    let rng = SystemRandom::new();
    let mut text = Zeroizing::new(String::from(
        "# Signal9 Secrets credentials (AWS shared-credentials format). Keep this file private.\n",
    ));
    let mut ids = Vec::with_capacity(profiles.len());
    for profile in profiles {
        let valid = !profile.is_empty()
            && profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(CredentialsError::Profile {
                path: path.to_owned(),
                profile: profile.clone(),
                reason: "names may hold letters, digits, '-', '_' and '.'".into(),
            });
        }
        if ids.iter().any(|(p, _)| p == profile) {
            return Err(CredentialsError::Profile {
                path: path.to_owned(),
                profile: profile.clone(),
                reason: "is named twice".into(),
            });
        }
        let id = format!(
            "AKIA{}",
            random_string(&rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
                .map_err(io)?
                .as_str()
        );
        let secret = random_string(
            &rng,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            40,
        )
        .map_err(io)?;
        text.push_str(&format!(
            "[{profile}]\naws_access_key_id = {id}\naws_secret_access_key = {}\n",
            secret.as_str()
        ));
        ids.push((profile.clone(), id));
    }
    s9_store::write_private_file(path, text.as_bytes()).map_err(io)?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_load_and_keys_stay_hidden() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("credentials");
        let generated = generate_credentials_file(&path).expect("generate");
        assert!(
            generate_credentials_file(&path).is_err(),
            "never overwrites"
        );
        let principals = Principals::from_credentials_file(&path, "123456789012").expect("load");
        let p = principals.get(&generated.access_key_id).expect("principal");
        assert_eq!(p.arn, "arn:aws:iam::123456789012:user/default");
        let secret = principals
            .secret_key(&generated.access_key_id)
            .expect("secret");
        assert_eq!(secret.expose_secret().len(), 40);
        assert!(!format!("{p:?}{principals:?}").contains(secret.expose_secret()));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("credentials");
        std::fs::write(&path, "[a]\naws_access_key_id = X\n").expect("write");
        let err = Principals::from_credentials_file(&path, "1").expect_err("incomplete");
        assert!(err.to_string().contains("[a]"), "{err}");
        std::fs::write(&path, "[a]\n").expect("write");
        assert!(matches!(
            Principals::from_credentials_file(&path, "1"),
            Err(CredentialsError::Empty { .. })
        ));
        std::fs::write(
            &path,
            "[a]\naws_access_key_id = \naws_secret_access_key = s\n",
        )
        .expect("write");
        assert!(
            Principals::from_credentials_file(&path, "1")
                .expect_err("empty")
                .to_string()
                .contains("empty key")
        );
        std::fs::write(&path, "[a]\naws_access_key_id = K\naws_secret_access_key = s\n[profile b]\naws_access_key_id = K\naws_secret_access_key = t\n").expect("write");
        assert!(
            Principals::from_credentials_file(&path, "1")
                .expect_err("repeated")
                .to_string()
                .contains("repeats access key K")
        );
        std::fs::write(&path, "[a\naws_access_key_id = K\n").expect("write");
        assert!(matches!(
            Principals::from_credentials_file(&path, "1"),
            Err(CredentialsError::Parse { .. })
        ));
        assert!(matches!(
            Principals::from_credentials_file(&dir.path().join("missing"), "1"),
            Err(CredentialsError::Io { .. })
        ));
    }
}
