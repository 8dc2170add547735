//! The Signal9 Secrets server: configuration, the listener, and the Secrets Manager
//! service on top of `s9-core`.
//!
//! Request path: TCP → HTTP/1.1 (body limit, timeouts) → SigV4 (principal) → `X-Amz-Target`
//! → typed request (model validation) → [`s9_core::Service`] (durable before it returns)
//! → AWS JSON 1.1 response.

pub mod config;
mod dispatch;
mod http;
pub mod principals;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use s9_core::{Clock, Service};
use s9_sigv4::Verifier;
use s9_store::{Envelope, FileKeyProvider, Store};
use tokio::net::TcpListener;

pub use config::{ConfigError, ServiceConfig};
pub use principals::{GeneratedCredentials, Principal, Principals};

/// Limits that keep a bad client from holding resources.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body (a 64 KiB binary secret is ~88 KiB in base64).
    pub max_body_bytes: usize,
    /// Time allowed to receive a request's body.
    pub request_timeout: Duration,
    /// Time allowed to receive a request's headers.
    pub header_timeout: Duration,
    /// Time connections get to finish their requests on shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A shared-credentials file whose every key is an administrator; `None` means
    /// `DATA_DIR/credentials`, created on first start. Ignored when `principals` is set.
    pub credentials: Option<PathBuf>,
    /// Principals from a config file (`ServiceConfig`), with their own policies.
    pub principals: Option<Principals>,
    pub account_id: String,
    pub limits: Limits,
    /// How often secrets past their recovery window are purged.
    pub purge_interval: Duration,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("master key: {0}")]
    MasterKey(#[from] s9_store::CryptoError),
    #[error("store: {0}")]
    Store(#[from] s9_store::StoreError),
    #[error("loading secrets: {0}")]
    Load(#[from] s9_core::LoadError),
    #[error("credentials: {0}")]
    Credentials(#[from] principals::CredentialsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("account id must be 12 digits, not {0:?}")]
    AccountId(String),
}

pub(crate) struct AppState {
    service: Arc<Service>,
    principals: Principals,
    verifier: Verifier,
    limits: Limits,
}

/// A bound, loaded server, ready to run.
#[derive(Debug)]
pub struct Server {
    service: Arc<Service>,
    principals: Principals,
    listener: TcpListener,
    config: ServerConfig,
    generated: Option<GeneratedCredentials>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

impl Server {
    /// Opens the data directory (creating key, store and credentials on first start) and
    /// binds the listener.
    pub async fn start(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        if config.account_id.len() != 12 || !config.account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(StartError::AccountId(config.account_id.clone()));
        }
        let dir = &config.data_dir;
        create_private_dir(dir).map_err(|source| StartError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let (principals, generated) = match (&config.principals, &config.credentials) {
            (Some(principals), _) => (principals.clone(), None),
            (None, Some(path)) => (
                Principals::from_credentials_file(path, &config.account_id)?,
                None,
            ),
            (None, None) => {
                let path = dir.join("credentials");
                let generated = if path.exists() {
                    None
                } else {
                    Some(principals::generate_credentials_file(&path)?)
                };
                (
                    Principals::from_credentials_file(&path, &config.account_id)?,
                    generated,
                )
            }
        };
        let envelope = Envelope::new(Box::new(FileKeyProvider::open_or_create(
            &dir.join("master.key"),
        )?));
        let store = Store::open(&dir.join("secrets.redb"))?;
        let service = Arc::new(Service::load(
            config.account_id.clone(),
            clock,
            envelope,
            store,
        )?);
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        Ok(Self {
            service,
            principals,
            listener,
            config,
            generated,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The credentials created on this start, if there were none before.
    pub fn generated_credentials(&self) -> Option<&GeneratedCredentials> {
        self.generated.as_ref()
    }

    pub fn principal_count(&self) -> usize {
        self.principals.len()
    }

    pub fn secret_count(&self) -> usize {
        self.service.secret_count()
    }

    /// Serves until `shutdown` completes, then lets open requests finish (up to the grace
    /// period) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let state = Arc::new(AppState {
            service: Arc::clone(&self.service),
            principals: self.principals,
            verifier: Verifier::default(),
            limits: self.config.limits.clone(),
        });
        let purge = tokio::spawn(purge_loop(
            Arc::clone(&self.service),
            self.config.purge_interval,
        ));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.config.limits.header_timeout)
            .keep_alive(true);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    let service = service_fn(move |req| http::handle(Arc::clone(&state), req, peer));
                    let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        tracing::info!("shutting down: no new connections; finishing open requests");
        drop(self.listener);
        purge.abort();
        if tokio::time::timeout(self.config.limits.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        }
    }
}

async fn purge_loop(service: Arc<Service>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match service.purge_due().await {
            Ok(purged) => {
                for arn in purged {
                    tracing::info!(secret = arn, "purged secret after its recovery window");
                }
            }
            Err(e) => tracing::error!(error = %e, "purging deleted secrets failed"),
        }
    }
}
