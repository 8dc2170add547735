//! `s9-secrets serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use s9_audit::FsyncPolicy;
use s9_core::SystemClock;
use s9_core::alarms::{BusinessHours, Rule, RuleKind};
use s9_server::alarms::AlarmSettings;
use s9_server::rotation::RotationSettings;
use s9_server::{AuditSettings, Limits, Server, ServerConfig, ServiceConfig};

/// The local rules for a stack spec's `[audit.alarms]` (the same settings the synthesized
/// template gives CloudWatch), named `stack-…`.
fn stack_rules(spec: &s9_stack::spec::AlarmSpec) -> anyhow::Result<Vec<Rule>> {
    let rule = |name: &str, kind| Rule {
        name: format!("stack-{name}"),
        description: Some("from the stack spec's [audit.alarms]".into()),
        kind,
        ok_after: time::Duration::minutes(5),
    };
    let mut rules = vec![Rule {
        ok_after: time::Duration::minutes(1),
        ..rule(
            "read-rate",
            RuleKind::ReadRate {
                threshold: spec.get_secret_value_per_minute,
                period: time::Duration::minutes(1),
            },
        )
    }];
    if spec.access_denied {
        rules.push(rule("access-denied", RuleKind::AccessDenied));
    }
    if spec.rotation_failure {
        rules.push(rule("rotation-failed", RuleKind::RotationFailed));
    }
    if let Some(b) = &spec.business_hours {
        let hours =
            BusinessHours::new(&b.time_zone, &b.days, b.hours).map_err(anyhow::Error::msg)?;
        rules.push(rule(
            "outside-business-hours",
            RuleKind::OutsideBusinessHours {
                hours,
                ignore: Default::default(),
            },
        ));
    }
    Ok(rules)
}

/// The alarm settings a config gives, with the rules of the stack spec it names (`[alarms]
/// stack = …`) in place of the default rules of their kinds.
pub(crate) fn with_stack_rules(mut alarms: AlarmSettings) -> anyhow::Result<AlarmSettings> {
    if let Some(path) = alarms.stack.clone() {
        let spec = s9_stack::StackSpec::load(&path)?;
        alarms.add_stack_rules(stack_rules(&spec.audit.alarms)?);
    }
    Ok(alarms)
}

/// The account id when neither `--account-id` nor a config names one.
const DEFAULT_ACCOUNT: &str = "000000000000";

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7780", env = "S9_LISTEN")]
    listen: SocketAddr,
    /// Serve Prometheus metrics (`GET /metrics`) on this address, a listener of its own
    /// (off by default: the metrics name principals and secrets; keep it on loopback or a
    /// private network).
    #[arg(long, env = "S9_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM, server certificate first) for every listener; reloaded on
    /// SIGHUP and when the file changes. `s9-secrets tls init` makes one.
    #[arg(long, env = "S9_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "S9_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require a client certificate signed by one of these CAs (PEM) on every connection
    /// (mutual TLS); principals may then be bound to their certificate (`certificate` in
    /// the config).
    #[arg(long, env = "S9_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (refused otherwise): only behind
    /// something that does TLS for the service.
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_plaintext: bool,
    /// A load balancer's address or network (CIDR) whose connections may start with a
    /// PROXY protocol header (v1 or v2) naming the client, who is then the source of the
    /// requests (aws:SourceIp, the audit trail). Repeatable; from anyone else a header is
    /// refused as the garbage it is.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Directory for the store, the master key and (by default) the credentials.
    #[arg(long, default_value = "s9-data", env = "S9_DATA_DIR")]
    data_dir: PathBuf,
    /// AWS shared-credentials file; every key pair in it is an administrator. Default:
    /// DATA_DIR/credentials, created with a new key pair on first start.
    #[arg(long, env = "S9_CREDENTIALS", conflicts_with = "config")]
    credentials: Option<PathBuf>,
    /// The 12-digit account id in ARNs [default: 000000000000].
    #[arg(long, env = "S9_ACCOUNT_ID", conflicts_with = "config")]
    account_id: Option<String>,
    /// Service config (TOML): account, credentials file, principals and their policies.
    #[arg(long, env = "S9_CONFIG")]
    config: Option<PathBuf>,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Seconds allowed to receive a request.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Seconds between purges of secrets past their recovery window.
    #[arg(long, default_value_t = 60)]
    purge_interval_secs: u64,
    /// Audit log directory [default: DATA_DIR/audit].
    #[arg(long)]
    audit_dir: Option<PathBuf>,
    /// Audit signing key, kept apart from the logs (see SECURITY.md) [default: DATA_DIR/keys/audit-signing.p8].
    #[arg(long)]
    audit_key: Option<PathBuf>,
    /// When audit records reach the disk: `always` (fsync each group before answering) or a
    /// number of milliseconds (answer reads once written and fsync at most that often;
    /// records of changes are fsynced before their answer).
    #[arg(long, default_value_t = FsyncPolicy::DEFAULT)]
    audit_fsync: FsyncPolicy,
    /// Days audit files and digests are kept.
    #[arg(long, default_value_t = 30)]
    audit_retention_days: i64,
    /// Size at which an audit log file is closed, in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    audit_max_file_bytes: u64,
    /// Seconds between signed audit digests.
    #[arg(long, default_value_t = 3600)]
    audit_digest_interval_secs: u64,
    /// Seconds between signed checkpoints of the audit chain's head: at most this much of
    /// the newest trail can be removed unseen.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    audit_checkpoint_interval_secs: u64,
    /// Record nothing. For measurements only: requests are then not audited.
    #[arg(long)]
    no_audit: bool,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "S9_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

pub(crate) fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("S9_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    // A worker with nothing left to run writes the audit records waiting for their group.
    let idle_writer = s9_audit::IdleWriter::default();
    let on_park = idle_writer.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(move || on_park.on_park())
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, idle_writer))
}

async fn serve(args: ServeArgs, idle_writer: s9_audit::IdleWriter) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        ..Limits::default()
    };
    let (account_id, principals, rotation, alarms, credentials) = match &args.config {
        Some(path) => {
            let loaded = ServiceConfig::load(path)?;
            (
                loaded.account_id,
                Some(loaded.principals),
                loaded.rotation,
                loaded.alarms,
                loaded.credentials,
            )
        }
        None => (
            args.account_id
                .clone()
                .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned()),
            None,
            RotationSettings::default(),
            AlarmSettings::default(),
            args.credentials
                .clone()
                .unwrap_or_else(|| args.data_dir.join("credentials")),
        ),
    };
    let alarms = with_stack_rules(alarms)?;
    let config = ServerConfig {
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        tls: args
            .tls_cert
            .clone()
            .zip(args.tls_key.clone())
            .map(|(cert, key)| s9_server::TlsSettings {
                cert,
                key,
                client_ca: args.tls_client_ca.clone(),
            }),
        insecure_plaintext: args.insecure_plaintext,
        trusted_proxies: s9_server::TrustedProxies::new(args.trusted_proxies.clone()),
        data_dir: args.data_dir.clone(),
        credentials: args.credentials.clone(),
        principals,
        account_id,
        limits,
        purge_interval: Duration::from_secs(args.purge_interval_secs.max(1)),
        audit: AuditSettings {
            enabled: !args.no_audit,
            dir: args.audit_dir.clone(),
            key_path: args.audit_key.clone(),
            fsync: args.audit_fsync,
            max_file_bytes: args.audit_max_file_bytes.max(1),
            retention: time::Duration::days(args.audit_retention_days.max(1)),
            digest_interval: Duration::from_secs(args.audit_digest_interval_secs.max(1)),
            checkpoint_interval: Duration::from_secs(args.audit_checkpoint_interval_secs),
        },
        rotation,
        alarms,
    };
    let server = Server::start(config, Arc::new(SystemClock)).await?;
    if let Some(log) = server.audit_log() {
        idle_writer.attach(log);
    }
    let addr = server.local_addr()?;
    if let Some(generated) = server.generated_credentials() {
        println!(
            "Created administrator credentials in {} (profile \"default\", access key {}).\n\
             The secret key is in that file only; keep it private.",
            absolute(&generated.path).display(),
            generated.access_key_id,
        );
    }
    let scheme = Scheme::of(args.tls_cert.as_deref());
    println!("{}", banner(addr, &absolute(&credentials), &scheme));
    tracing::info!(%addr, data_dir = %args.data_dir.display(), principals = server.principal_count(), secrets = server.secret_count(), "listening");
    server.run(shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// A path as a user can paste it anywhere (relative paths resolved against the current
/// directory; unchanged if that cannot be done).
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// How clients reach the listener.
enum Scheme {
    Http,
    /// TLS, and the CA bundle clients need: the `ca.pem` beside the certificate, as
    /// `s9-secrets tls init` writes them, if there is one.
    Https {
        ca_bundle: Option<PathBuf>,
    },
}

impl Scheme {
    fn of(cert: Option<&std::path::Path>) -> Self {
        match cert {
            None => Self::Http,
            Some(cert) => {
                let ca = cert.with_file_name("ca.pem");
                Self::Https {
                    ca_bundle: ca.exists().then(|| absolute(&ca)),
                }
            }
        }
    }
}

/// What a user pastes into a shell to reach this server with the aws CLI (v1 reads only
/// `AWS_DEFAULT_REGION`, v2 and the SDKs `AWS_REGION`) or any AWS SDK.
fn banner(addr: SocketAddr, credentials: &std::path::Path, scheme: &Scheme) -> String {
    let (url, ca) = match scheme {
        Scheme::Http => (format!("http://{addr}"), String::new()),
        Scheme::Https {
            ca_bundle: Some(ca),
        } => (
            format!("https://{addr}"),
            format!("  export AWS_CA_BUNDLE={}\n", ca.display()),
        ),
        Scheme::Https { ca_bundle: None } => (
            format!("https://{addr}"),
            "  # export AWS_CA_BUNDLE=the CA's certificate (PEM), unless a public CA signed it\n"
                .to_owned(),
        ),
    };
    format!(
        "Signal9 Secrets is listening on {url}. Point the aws CLI or any AWS SDK at it:\n\
         \x20 export AWS_SHARED_CREDENTIALS_FILE={}\n\
         \x20 export AWS_ENDPOINT_URL_SECRETS_MANAGER={url}\n\
         {ca}\
         \x20 export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1\n\
         \x20 aws secretsmanager list-secrets\n",
        credentials.display()
    )
}

/// Installs the SIGTERM and SIGINT handlers now, so a signal that arrives while the service
/// is still starting stops it gracefully too, and returns what resolves on the first one.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match handlers {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
