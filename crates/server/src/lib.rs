//! The Signal9 Secrets server: configuration, the listener, and the Secrets Manager
//! service on top of `s9-core`.
//!
//! Request path: TCP → TLS (when configured, [`tls`]) → HTTP/1.1 (body limit, timeouts) → SigV4 (principal) → `X-Amz-Target`
//! → typed request (model validation) → [`s9_core::Service`] (durable before it returns)
//! → AWS JSON 1.1 response.

pub mod alarms;
mod audit;
pub mod config;
mod dispatch;
mod http;
mod metrics;
pub mod notify;
mod outbound;
pub mod principals;
pub mod proxy_protocol;
pub mod rotation;
mod throttle;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use s9_audit::{AuditConfig, AuditLog, FsyncPolicy};
use s9_core::{Clock, Service};
use s9_sigv4::Verifier;
use s9_store::{Envelope, FileKeyProvider, Mutation, Store, Table};
use tokio::net::TcpListener;

pub use config::{ConfigError, ServiceConfig};
pub use http::ROTATION_FAILURE_HEADER;
pub use principals::{GeneratedCredentials, Principal, Principals};
pub use proxy_protocol::TrustedProxies;
pub use tls::{Tls, TlsError, TlsSettings};

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

/// The audit trail's settings.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Off only for measurements: then no request is recorded.
    pub enabled: bool,
    /// Log files and digests; default `DATA_DIR/audit`.
    pub dir: Option<PathBuf>,
    /// The digest-signing key; default `DATA_DIR/keys/audit-signing.p8`, apart from the logs.
    pub key_path: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    pub max_file_bytes: u64,
    pub retention: time::Duration,
    /// How often a signed digest is written (and the current file closed).
    pub digest_interval: Duration,
    /// How often the chain's head is signed (`checkpoint.json`): the most records a
    /// removal of the trail's newest records can take unseen.
    pub checkpoint_interval: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            key_path: None,
            fsync: FsyncPolicy::DEFAULT,
            max_file_bytes: 64 * 1024 * 1024,
            retention: time::Duration::days(30),
            digest_interval: Duration::from_secs(3600),
            checkpoint_interval: Duration::from_secs(60),
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where `GET /metrics` is served: its own listener, off when `None`. The API port never
    /// answers it (the metrics name principals and secrets).
    pub metrics_listen: Option<SocketAddr>,
    /// TLS on every listener; without it, only loopback addresses are served unless
    /// `insecure_plaintext` says otherwise.
    pub tls: Option<TlsSettings>,
    /// Serve plain HTTP on a non-loopback address (warned about at every start).
    pub insecure_plaintext: bool,
    /// Load balancers whose connections may start with a PROXY protocol header naming the
    /// client.
    pub trusted_proxies: TrustedProxies,
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
    pub audit: AuditSettings,
    pub rotation: rotation::RotationSettings,
    pub alarms: alarms::AlarmSettings,
}

/// Why the server could not start. A variant with a cause names what failed and leaves the
/// cause to `source()`, so a printed chain says each thing once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("data directory {path}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("master key")]
    MasterKey(#[from] s9_store::CryptoError),
    #[error(
        "{path} is missing, but the store beside it holds values sealed under a master key: restore that key from its backup (a new key is never created beside such a store: it could not open them)"
    )]
    MasterKeyMissing { path: PathBuf },
    #[error(
        "{path} is not the master key this store's values were sealed with: restore the right key (the data directory's key check does not open under this one)"
    )]
    WrongMasterKey { path: PathBuf },
    #[error("checking the master key")]
    KeyCheck(#[source] s9_store::CustodyError),
    #[error("store")]
    Store(#[from] s9_store::StoreError),
    #[error("loading secrets")]
    Load(#[from] s9_core::LoadError),
    #[error("credentials")]
    Credentials(#[from] principals::CredentialsError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("account id must be 12 digits, not {0:?}")]
    AccountId(String),
    #[error(
        "data directory {path} was created for account {stored}, not {configured}: give this configuration a data directory of its own (--data-dir)"
    )]
    AccountMismatch {
        path: PathBuf,
        stored: String,
        configured: String,
    },
    #[error("audit trail")]
    Audit(#[from] s9_audit::AuditError),
    #[error("TLS")]
    Tls(#[from] TlsError),
    #[error(
        "principal {arn} is bound to a client certificate, but client certificates are not required: pass --tls-client-ca"
    )]
    CertificateBindingWithoutClientCa { arn: String },
    #[error(
        "{addr} is not a loopback address, and there is no TLS: secret values and signed requests would cross the network in clear. Pass --tls-cert and --tls-key (`s9-secrets tls init` makes a pair), or --insecure-plaintext if something in front of the service does TLS"
    )]
    PlaintextOnNetwork { addr: SocketAddr },
    #[error(transparent)]
    Alarms(#[from] s9_core::alarms::AlarmFileError),
}

pub(crate) struct AppState {
    service: Arc<Service>,
    principals: Principals,
    verifier: Verifier,
    limits: Limits,
    audit: Option<AuditLog>,
    account_id: String,
    metrics: Arc<metrics::Metrics>,
    throttle: throttle::AuthThrottle,
}

/// A bound, loaded server, ready to run.
#[derive(Debug)]
pub struct Server {
    service: Arc<Service>,
    principals: Principals,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: ServerConfig,
    generated: Option<GeneratedCredentials>,
    audit: Option<AuditLog>,
    alarms: s9_core::alarms::Alarms,
    tls: Option<Tls>,
}

impl AppState {
    /// A connection the HTTP layer refused (431, malformed headers, a header timeout) leaves
    /// a connection-level event in the trail, once a minute per source: malformed requests
    /// are recorded too, and cannot fill the trail.
    fn record_refused_connection(&self, error: &hyper::Error, peer: SocketAddr) {
        let reason = if error.is_parse_too_large() {
            "request header fields too large (431)"
        } else if error.is_parse() {
            "malformed request (400)"
        } else if error.is_timeout() {
            "headers not received in time (408)"
        } else {
            return; // the client went away: not a refusal
        };
        let Some(audit) = &self.audit else { return };
        if !self
            .throttle
            .record_refused_connection(peer.ip(), std::time::Instant::now())
        {
            return;
        }
        let now = self.service.now();
        let event = s9_audit::service_event(
            &self.account_id,
            now,
            "ConnectionRefused",
            serde_json::json!({
                "sourceIPAddress": peer.ip().to_string(),
                "reason": reason,
                "note": "later refusals of this source within the minute are not recorded",
            }),
        );
        audit.record_detached(event, now);
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Says so when the data directory lets other users in: the files the service creates are
/// private (0600, directories 0700), but a directory made by someone else may not be.
fn warn_if_readable_by_others(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(dir) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    data_dir = %dir.display(),
                    mode = format!("{mode:o}"),
                    "the data directory is open to other users (group or world bits set); `chmod 700` it"
                );
            }
        }
    }
}

/// A socket bound to `addr` (as `TcpListener::bind` would: address reuse on Unix), not yet
/// listening.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

impl Server {
    /// Binds the listener, then opens the data directory (creating key, store and
    /// credentials on first start). Nothing is created when the address is taken or the
    /// store belongs to another server or account.
    pub async fn start(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        if config.account_id.len() != 12 || !config.account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(StartError::AccountId(config.account_id.clone()));
        }
        // The address is claimed first, so a taken port leaves nothing behind, but
        // connections are accepted only once everything is ready (credentials included):
        // "ready when the port accepts connections" stays true.
        let listen_error = |source| StartError::Listen {
            addr: config.listen,
            source,
        };
        let tls = config.tls.clone().map(Tls::load).transpose()?;
        for addr in std::iter::once(config.listen).chain(config.metrics_listen) {
            if tls.is_none() && !addr.ip().is_loopback() {
                if !config.insecure_plaintext {
                    return Err(StartError::PlaintextOnNetwork { addr });
                }
                tracing::warn!(%addr, "serving plain HTTP on a non-loopback address (--insecure-plaintext): secret values cross the network in clear unless something in front of the service does TLS");
            }
        }
        let socket = bind(config.listen).map_err(listen_error)?;
        let metrics_socket = config
            .metrics_listen
            .map(|addr| bind(addr).map_err(|source| StartError::Listen { addr, source }))
            .transpose()?;
        let dir = &config.data_dir;
        s9_store::create_private_dir(dir).map_err(|source| StartError::DataDir {
            path: dir.clone(),
            source,
        })?;
        warn_if_readable_by_others(dir);
        let store = Store::open(&dir.join("secrets.redb"))?;
        claim_account(&store, dir, &config.account_id).await?;
        // Key custody: a key is created only beside a store that holds nothing sealed, and a
        // store's values open only under the key that sealed them.
        let key_path = dir.join("master.key");
        if !key_path.exists() && store.holds_sealed_values()? {
            return Err(StartError::MasterKeyMissing { path: key_path });
        }
        let provider = FileKeyProvider::open_or_create(&key_path)?;
        match store.check_master_key(&provider).await {
            Ok(_) => {}
            Err(s9_store::CustodyError::WrongKey) => {
                return Err(StartError::WrongMasterKey { path: key_path });
            }
            Err(e) => return Err(StartError::KeyCheck(e)),
        }
        let envelope = Envelope::new(Box::new(provider));
        let (principals, generated) = match (&config.principals, &config.credentials) {
            (Some(principals), _)
                if !tls.as_ref().is_some_and(Tls::requires_client_certificates) =>
            {
                if let Some(p) = principals.iter().find(|p| p.certificate.is_some()) {
                    return Err(StartError::CertificateBindingWithoutClientCa {
                        arn: p.arn.clone(),
                    });
                }
                (principals.clone(), None)
            }
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
        let audit = if config.audit.enabled {
            let settings = &config.audit;
            let audit_config = AuditConfig {
                dir: settings.dir.clone().unwrap_or_else(|| dir.join("audit")),
                key_path: settings
                    .key_path
                    .clone()
                    .unwrap_or_else(|| dir.join("keys").join("audit-signing.p8")),
                fsync: settings.fsync,
                max_file_bytes: settings.max_file_bytes,
                retention: settings.retention,
                account_id: config.account_id.clone(),
            };
            Some(AuditLog::open(audit_config, clock.now())?)
        } else {
            tracing::warn!(
                "the audit trail is OFF: no request is recorded (for measurements only)"
            );
            None
        };
        let service = Arc::new(Service::load(
            config.account_id.clone(),
            clock,
            envelope,
            store,
        )?);
        let alarms =
            s9_core::alarms::Alarms::open(config.alarms.rules.clone(), Some(alarms::path(dir)))?;
        let listener = socket.listen(1024).map_err(listen_error)?;
        let metrics_listener = match (metrics_socket, config.metrics_listen) {
            (Some(socket), Some(addr)) => Some(
                socket
                    .listen(64)
                    .map_err(|source| StartError::Listen { addr, source })?,
            ),
            _ => None,
        };
        Ok(Self {
            service,
            principals,
            listener,
            metrics_listener,
            config,
            generated,
            audit,
            alarms,
            tls,
        })
    }

    /// Whether the listeners speak TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The metrics listener's address, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The credentials created on this start, if there were none before.
    pub fn generated_credentials(&self) -> Option<&GeneratedCredentials> {
        self.generated.as_ref()
    }

    /// The audit trail, when it is on.
    pub fn audit_log(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
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
        let metrics = Arc::new(metrics::Metrics::new(
            self.config.data_dir.join("secrets.redb"),
        ));
        let state = Arc::new(AppState {
            service: Arc::clone(&self.service),
            principals: self.principals,
            verifier: Verifier::default(),
            limits: self.config.limits.clone(),
            audit: self.audit.clone(),
            account_id: self.config.account_id.clone(),
            metrics: Arc::clone(&metrics),
            throttle: throttle::AuthThrottle::default(),
        });
        let alarm_worker = tokio::spawn(
            alarms::Worker {
                service: Arc::clone(&self.service),
                alarms: self.alarms,
                audit: self.audit.clone(),
                settings: self.config.alarms.clone(),
                metrics: Arc::clone(&metrics),
            }
            .run(),
        );
        let metrics_server = self.metrics_listener.map(|listener| {
            tokio::spawn(metrics::serve(
                listener,
                self.tls.clone(),
                Arc::clone(&metrics),
                Arc::clone(&self.service),
            ))
        });
        let notices = Arc::new(rotation::Notices {
            audit: self.audit.clone(),
            service: Arc::clone(&self.service),
            metrics,
        });
        let engine = Arc::new(rotation::engine(
            Arc::clone(&self.service),
            &self.config.rotation,
            notices,
        ));
        engine.publish_functions();
        let rotations = tokio::spawn(engine.run(self.config.rotation.interval));
        let purge = tokio::spawn(purge_loop(
            Arc::clone(&self.service),
            self.audit.clone(),
            self.config.purge_interval,
        ));
        let digests = self.audit.clone().map(|a| {
            tokio::spawn(digest_loop(
                Arc::clone(&self.service),
                a,
                self.config.audit.digest_interval,
                self.config.audit.checkpoint_interval,
            ))
        });
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.config.limits.header_timeout)
            .keep_alive(true);
        let reloads = self
            .tls
            .clone()
            .map(|tls| tokio::spawn(tls.watch(Duration::from_secs(2))));
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
                    let connection = Connection {
                        http: http.clone(),
                        state: Arc::clone(&state),
                        watcher: graceful.watcher(),
                        peer,
                    };
                    let tls = self.tls.clone();
                    let handshake_timeout = self.config.limits.header_timeout;
                    let trusted = self.config.trusted_proxies.clone();
                    tokio::spawn(async move {
                        let mut connection = connection;
                        let accepted = tokio::time::timeout(
                            handshake_timeout,
                            proxy_protocol::accept(stream, peer, &trusted),
                        );
                        let stream = match accepted.await {
                            Ok(Ok((stream, client))) => {
                                connection.peer = client;
                                stream
                            }
                            Ok(Err(e)) => {
                                return tracing::info!(error = %e, %peer, "refused a connection from a trusted proxy");
                            }
                            Err(_) => {
                                return tracing::debug!(%peer, "no PROXY header in time");
                            }
                        };
                        let peer = connection.peer;
                        let Some(tls) = tls else {
                            return connection.serve(stream, false, None).await;
                        };
                        match tokio::time::timeout(handshake_timeout, tls.acceptor().accept(stream)).await {
                            Ok(Ok(stream)) => {
                                let names = tls::client_names(stream.get_ref().1);
                                connection.serve(stream, true, names).await;
                            }
                            Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake not completed in time"),
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        tracing::info!("shutting down: no new connections; finishing open requests");
        drop(self.listener);
        purge.abort();
        rotations.abort();
        if let Some(m) = metrics_server {
            m.abort();
        }
        if let Some(r) = reloads {
            r.abort();
        }
        alarm_worker.abort();
        if let Some(d) = digests {
            d.abort();
        }
        if tokio::time::timeout(self.config.limits.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        }
        if let Some(audit) = &self.audit {
            match audit.closing_digest(self.service.now()).await {
                Ok(d) => tracing::info!(
                    digest = d.digest_file,
                    log_files = d.log_files,
                    "wrote the closing audit digest"
                ),
                Err(e) => tracing::error!(error = %e, "could not write the closing audit digest"),
            }
        }
    }
}

/// One accepted connection, served over plain TCP or TLS.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    state: Arc<AppState>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
}

impl Connection {
    async fn serve<I>(self, io: I, secure: bool, client_names: Option<Arc<[String]>>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            http,
            state,
            watcher,
            peer,
        } = self;
        let refusals = Arc::clone(&state);
        let from = http::Peer::new(peer, secure, client_names);
        let service = service_fn(move |req| http::handle(Arc::clone(&state), req, from.clone()));
        if let Err(e) = watcher
            .watch(http.serve_connection(TokioIo::new(io), service))
            .await
        {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
            refusals.record_refused_connection(&e, peer);
        }
    }
}

/// The account a store's ARNs were made for, kept in its `meta` table.
const ACCOUNT_KEY: &str = "account_id";

/// Records the account on a store's first start and refuses a store made for another one
/// (its ARNs, encryption contexts and policies all name that account).
async fn claim_account(store: &Store, dir: &Path, account_id: &str) -> Result<(), StartError> {
    match store.get(Table::Meta, ACCOUNT_KEY)? {
        Some(stored) if stored == account_id.as_bytes() => Ok(()),
        Some(stored) => Err(StartError::AccountMismatch {
            path: dir.to_owned(),
            stored: String::from_utf8_lossy(&stored).into_owned(),
            configured: account_id.to_owned(),
        }),
        None => Ok(store
            .commit(vec![Mutation::Put {
                table: Table::Meta,
                key: ACCOUNT_KEY.to_owned(),
                value: account_id.as_bytes().to_vec(),
            }])
            .await?),
    }
}

/// Writes a signed digest whenever the service clock passes the next digest boundary, and
/// a checkpoint of the chain's head whenever a checkpoint interval passed since the last
/// signature.
async fn digest_loop(
    service: Arc<Service>,
    audit: AuditLog,
    every: Duration,
    checkpoint_every: Duration,
) {
    let every_secs = i64::try_from(every.as_secs().max(1)).unwrap_or(3600);
    let boundary = |t: time::OffsetDateTime| t.unix_timestamp().div_euclid(every_secs);
    let checkpoint_every = time::Duration::try_from(checkpoint_every.max(Duration::from_secs(1)))
        .unwrap_or(time::Duration::MINUTE);
    let mut last = boundary(service.now());
    // `AuditLog::open` signed a checkpoint.
    let mut signed = service.now();
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(every));
    loop {
        tick.tick().await;
        let now = service.now();
        if boundary(now) == last {
            if now - signed >= checkpoint_every {
                match audit.checkpoint(now).await {
                    Ok(()) => signed = now,
                    Err(e) => tracing::error!(error = %e, "could not write an audit checkpoint"),
                }
            }
            continue;
        }
        last = boundary(now);
        signed = now;
        match audit.digest(now).await {
            Ok(d) => tracing::info!(
                digest = d.digest_file,
                log_files = d.log_files,
                pruned = d.pruned_digests,
                "wrote an audit digest"
            ),
            Err(e) => tracing::error!(error = %e, "could not write an audit digest"),
        }
    }
}

async fn purge_loop(service: Arc<Service>, audit: Option<AuditLog>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match service.purge_due().await {
            Ok(purged) => {
                for arn in purged {
                    tracing::info!(secret = arn, "purged secret after its recovery window");
                    if let Some(audit) = &audit {
                        let now = service.now();
                        let mut event = s9_audit::service_event(
                            service.account_id(),
                            now,
                            "DeleteSecret",
                            serde_json::json!({"aRN": arn, "reason": "recovery window ended"}),
                        );
                        event.resources.push(s9_audit::Resource {
                            arn: arn.as_str().into(),
                            account_id: service.account_id().into(),
                            kind: "AWS::SecretsManager::Secret".into(),
                        });
                        audit.record_detached(event, now);
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "purging deleted secrets failed"),
        }
    }
}
