//! TLS on the service's listeners: rustls on aws-lc-rs, TLS 1.3 and 1.2 with the provider's
//! modern suites only (AEAD, forward secrecy), the hybrid post-quantum group
//! X25519MLKEM768 offered and preferred, the classical groups still accepted for older
//! clients, and session tickets for resumption.
//!
//! The certificate chain and key are read again on SIGHUP and whenever either file changes
//! ([`Tls::watch`]): new handshakes get the new pair, open connections keep theirs. A pair
//! that does not load (unreadable, not PEM, a key that does not match the certificate)
//! leaves the one in use, and the service log says why.
//!
//! With a client CA ([`TlsSettings::client_ca`]) every client must present a certificate
//! it signed (mutual TLS); the names in it ([`client_names`]) let a principal's key be
//! bound to one certificate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Where the listener's certificate chain and key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server certificate first, then its intermediates.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA certificates (PEM) client certificates must chain to: when set, a client
    /// certificate is mandatory.
    pub client_ca: Option<PathBuf>,
}

/// Why a certificate and key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} holds no certificate (PEM `CERTIFICATE` blocks expected)")]
    NoCertificate { path: PathBuf },
    #[error("{key} is not the key of the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The crypto provider every listener uses: aws-lc-rs with X25519MLKEM768 preferred.
pub fn provider() -> CryptoProvider {
    use rustls::crypto::aws_lc_rs::kx_group::{SECP256R1, SECP384R1, X25519, X25519MLKEM768};
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = vec![X25519MLKEM768, X25519, SECP256R1, SECP384R1];
    provider
}

/// A certificate chain and its key, as files.
fn load(settings: &TlsSettings, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path, e: &dyn std::fmt::Display| TlsError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&settings.cert)
        .map_err(|e| read(&settings.cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read(&settings.cert, &e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: settings.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|e| read(&settings.key, &e))?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| read(&settings.key, &e))?;
    let certified = CertifiedKey::new(certs, key);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch {
        cert: settings.cert.clone(),
        key: settings.key.clone(),
    })?;
    Ok(certified)
}

/// What identifies a version of the files: their modification times and lengths.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(settings: &TlsSettings) -> Stamp {
    [&settings.cert, &settings.key].map(|p| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    })
}

/// The certificate new handshakes get; replaced by a reload.
#[derive(Debug)]
struct Certificates {
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamp when they were last read.
    read: Mutex<Stamp>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // Replaced whole under the lock: never seen half-written.
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(Arc::clone(&current))
    }
}

/// A listener's TLS: what accepts connections, and the certificate it presents.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    certificates: Arc<Certificates>,
    /// SIGHUP, caught from the start: a reload asked for while the service is still
    /// starting is not its death (the default action) and is not lost.
    #[cfg(unix)]
    hangups: Arc<Mutex<Option<tokio::signal::unix::Signal>>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.certificates.settings.cert)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate and key, and builds the server configuration.
    pub fn load(settings: TlsSettings) -> Result<Self, TlsError> {
        let provider = Arc::new(provider());
        let read = stamp(&settings);
        let current = load(&settings, &provider)?;
        let certificates = Arc::new(Certificates {
            settings,
            provider: Arc::clone(&provider),
            current: RwLock::new(Arc::new(current)),
            read: Mutex::new(read),
        });
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
        let builder = match &certificates.settings.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let read = |e: &dyn std::fmt::Display| TlsError::Read {
                    path: path.clone(),
                    reason: e.to_string(),
                };
                for cert in CertificateDer::pem_file_iter(path).map_err(|e| read(&e))? {
                    roots.add(cert.map_err(|e| read(&e))?)?;
                }
                if roots.is_empty() {
                    return Err(TlsError::NoCertificate { path: path.clone() });
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| read(&e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config =
            builder.with_cert_resolver(Arc::clone(&certificates) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            certificates,
            #[cfg(unix)]
            hangups: Arc::new(Mutex::new(
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
            )),
        })
    }

    pub(crate) fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    /// Client certificates are required.
    pub fn requires_client_certificates(&self) -> bool {
        self.certificates.settings.client_ca.is_some()
    }

    /// Reads the files again; on failure the pair in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let c = &self.certificates;
        *c.read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = stamp(&c.settings);
        let fresh = load(&c.settings, &c.provider)?;
        *c.current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }

    /// Reloads on SIGHUP, and when the files' stamps change (checked every `every`).
    pub(crate) async fn watch(self, every: Duration) {
        #[cfg(unix)]
        let mut hangups = self
            .hangups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .or_else(|| {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
            });
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hangups.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            let why = tokio::select! {
                _ = hangup => "SIGHUP",
                _ = tick.tick() => {
                    let c = &self.certificates;
                    let unchanged = *c.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner) == stamp(&c.settings);
                    if unchanged {
                        continue;
                    }
                    "the files changed"
                }
            };
            let cert = self.certificates.settings.cert.display().to_string();
            match self.reload() {
                Ok(()) => tracing::info!(cert, why, "reloaded the TLS certificate"),
                Err(e) => tracing::error!(
                    cert,
                    why,
                    error = %e,
                    "could not reload the TLS certificate; the one in use stays"
                ),
            }
        }
    }
}

/// The names a verified client certificate carries: its subject's common name, and its DNS
/// and URI subject alternative names. `None` without a client certificate.
pub(crate) fn client_names(conn: &rustls::ServerConnection) -> Option<Arc<[String]>> {
    use x509_parser::extensions::GeneralName;
    let leaf = conn.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) | GeneralName::URI(n) => names.push((*n).to_owned()),
                _ => {}
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    Some(names.into())
}
