//! `s9-secrets audit verify|query|public-key`: check, read and follow the audit trail.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use s9_audit::verify::{Kind, Window, verify};
use s9_audit::{AuditEvent, PublicKey, Signer, query};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the digest chain, the newest checkpoint and every log file; exits non-zero on
    /// any failure (with `--strict`, on records left unsigned too).
    Verify(VerifyArgs),
    /// Print records, filtered; `--follow` keeps printing new ones.
    Query(QueryArgs),
    /// Print the public half of the digest-signing key (base64), for verifiers.
    PublicKey(Location),
    /// Create a signing key (0600) before the first start, for a key kept apart from the
    /// server's data directory (`serve --audit-key`); prints its public half.
    NewKey(NewKeyArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct NewKeyArgs {
    /// Where to write the key; an existing file is never replaced.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Location {
    /// The server's data directory [default: s9-data].
    #[arg(long, env = "S9_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The audit directory, if not DATA_DIR/audit.
    #[arg(long)]
    audit_dir: Option<PathBuf>,
    /// The signing key, if not DATA_DIR/keys/audit-signing.p8.
    #[arg(long)]
    audit_key: Option<PathBuf>,
}

impl Location {
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("s9-data"))
    }

    fn dir(&self) -> PathBuf {
        self.audit_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("audit"))
    }

    fn key(&self) -> PathBuf {
        self.audit_key
            .clone()
            .unwrap_or_else(|| self.data_dir().join("keys").join("audit-signing.p8"))
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    location: Location,
    /// The public key (base64, from `audit public-key`); without it, the key file's.
    #[arg(long)]
    public_key: Option<String>,
    /// Check digests from this time (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Check digests up to this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// Seconds between digests the server writes; a longer silence is reported.
    #[arg(long, default_value_t = 3600)]
    digest_interval_secs: u64,
    /// Seconds between the checkpoints the server signs (its --audit-checkpoint-interval-secs).
    #[arg(long, default_value_t = 60)]
    checkpoint_interval_secs: u64,
    /// Also fail on records no signature covers two checkpoint intervals after they were
    /// written, and on a chain not signed for that long unless the server closed it: the
    /// marks of a trail cut back. Recommended.
    #[arg(long)]
    strict: bool,
    /// A checkpoint.json or digest copied off the host earlier: fail unless the trail
    /// still holds everything it signed. Repeatable.
    #[arg(long = "anchor", value_name = "FILE")]
    anchors: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    location: Location,
    #[arg(long)]
    from: Option<String>,
    #[arg(long)]
    to: Option<String>,
    /// A principal's ARN or name.
    #[arg(long)]
    principal: Option<String>,
    /// An event name, e.g. GetSecretValue.
    #[arg(long = "event")]
    event_name: Option<String>,
    /// A secret's name or ARN.
    #[arg(long)]
    secret: Option<String>,
    /// An error code, or `none` for successful requests.
    #[arg(long)]
    error_code: Option<String>,
    #[arg(long)]
    source_ip: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Keep printing records as they are written.
    #[arg(long)]
    follow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Table,
    Json,
}

fn time_arg(value: Option<&String>) -> anyhow::Result<Option<OffsetDateTime>> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .with_context(|| format!("{v:?} is not an RFC 3339 time (2026-11-27T10:00:00Z)"))
        })
        .transpose()
}

pub(crate) fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(args) => verify_command(&args),
        AuditCommand::Query(args) => query_command(&args).map(|()| ExitCode::SUCCESS),
        AuditCommand::PublicKey(location) => {
            println!("{}", signer_key(&location.key())?.to_base64());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::NewKey(args) => {
            anyhow::ensure!(
                !args.out.exists(),
                "{} exists; a signing key is never replaced (the trail it signed would no longer verify)",
                args.out.display()
            );
            let key = Signer::open_or_create(&args.out)?.public_key();
            eprintln!(
                "Created {}; its public half, for `audit verify --public-key`:",
                args.out.display()
            );
            println!("{}", key.to_base64());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn signer_key(path: &Path) -> anyhow::Result<PublicKey> {
    anyhow::ensure!(path.exists(), "no signing key at {}", path.display());
    Ok(Signer::open_or_create(path)?.public_key())
}

fn verify_command(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let location = &args.location;
    let key = match &args.public_key {
        Some(k) => PublicKey::from_base64(k)?,
        // A trail copied elsewhere is checked against the key its auditor was given, never
        // against whatever key happens to sit in ./s9-data.
        None if location.audit_dir.is_some()
            && location.audit_key.is_none()
            && location.data_dir.is_none() =>
        {
            return Err(crate::api::Failure::new(
                crate::api::exit::USAGE,
                "--audit-dir without --public-key: which key signed this trail?",
                Some(
                    "pass --public-key BASE64 (from `s9-secrets audit public-key` on the server), or --data-dir / --audit-key of the server that wrote it",
                ),
            )
            .into());
        }
        None => signer_key(&location.key())?,
    };
    let window = Window {
        from: time_arg(args.from.as_ref())?,
        to: time_arg(args.to.as_ref())?,
        now: Some(OffsetDateTime::now_utc()),
        digest_interval: Some(seconds(args.digest_interval_secs)),
        checkpoint_interval: Some(seconds(args.checkpoint_interval_secs)),
        strict: args.strict,
        anchors: args.anchors.clone(),
    };
    let report = verify(&args.location.dir(), &key, window)?;
    let mut failures = 0;
    for f in &report.files {
        if f.status.is_failure() {
            failures += 1;
        }
        println!("{:<10} {}: {}", f.kind, f.file, f.status);
    }
    let (logs, digests) = (report.count(Kind::LogFile), report.count(Kind::Digest));
    if failures == 0 {
        let checkpoint = if report.count(Kind::Checkpoint) > 0 {
            ", a checkpoint"
        } else {
            ""
        };
        println!("\nvalid: {digests} digests{checkpoint}, {logs} log files");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "\nINVALID: {failures} of {} files failed verification",
            report.files.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn seconds(n: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX))
}

fn print(e: &AuditEvent, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string(e)?),
        Output::Table => println!(
            "{:<25} {:<28} {:<45} {:<16} {:<40} {}",
            printable(&e.event_time),
            printable(&e.event_name),
            printable(
                e.user_identity
                    .arn
                    .as_deref()
                    .unwrap_or(&e.user_identity.kind)
            ),
            printable(&e.source_ip_address),
            printable(&secret_column(e)),
            printable(e.error_code.as_deref().unwrap_or("ok")),
        ),
    }
    Ok(())
}

/// `text` safe to print on a terminal: control characters (escape sequences, newlines,
/// C1 controls) are shown escaped (`\u{1b}`), so a request cannot forge lines or move the
/// cursor in an operator's terminal.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// The SECRET column: the secret's name, whether the request named it by name, full ARN or
/// partial ARN (the resolved ARN, when the record has one, decides).
fn secret_column(e: &AuditEvent) -> String {
    if let Some(arn) = e.secret_arns().next() {
        return s9_audit::secret_name_of_arn(arn).to_owned();
    }
    match e.secret_id() {
        // A partial ARN as the caller gave it: the name is what follows `:secret:`.
        Some(id) if id.starts_with("arn:") => id
            .split_once(":secret:")
            .map_or(id.as_str(), |(_, name)| name)
            .to_owned(),
        Some(id) => id,
        None => "-".to_owned(),
    }
}

fn query_command(args: &QueryArgs) -> anyhow::Result<()> {
    let filter = query::Filter {
        from: time_arg(args.from.as_ref())?,
        to: time_arg(args.to.as_ref())?,
        principal: args.principal.clone(),
        event_name: args.event_name.clone(),
        secret: args.secret.clone(),
        error_code: args.error_code.clone(),
        source_ip: args.source_ip.clone(),
    };
    let dir = args.location.dir();
    if args.output == Output::Table {
        println!(
            "{:<25} {:<28} {:<45} {:<16} {:<40} RESULT",
            "TIME", "EVENT", "PRINCIPAL", "SOURCE IP", "SECRET"
        );
    }
    // How far each file was read, so following prints each record once and rereads
    // nothing.
    let mut read: std::collections::HashMap<PathBuf, u64> = std::collections::HashMap::new();
    loop {
        let files = query::log_files(&dir)?;
        // Pruned files are forgotten.
        read.retain(|path, _| files.contains(path));
        for path in files {
            let offset = read.get(&path).copied().unwrap_or(0);
            if std::fs::metadata(&path).is_ok_and(|m| m.len() <= offset) {
                continue;
            }
            let (events, end) = query::read_from(&path, offset)?;
            for e in events.iter().filter(|e| filter.matches(e)) {
                print(e, args.output)?;
            }
            read.insert(path, end);
        }
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
