//! `s9-secrets tls init`: a local certificate authority and a server certificate it signs,
//! for serving TLS without a public CA; run again, it renews the server certificate under
//! the same CA.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TlsCommand {
    /// Make a local CA (once) and a server certificate signed by it (files 0600), and print
    /// how clients trust it.
    Init(InitArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Directory for ca.pem, ca.key, server.pem and server.key.
    #[arg(long)]
    out: PathBuf,
    /// A DNS name clients reach the server by. Repeatable [default: localhost].
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// An IP address clients reach the server by. Repeatable [default: 127.0.0.1 and ::1
    /// when no --host is given].
    #[arg(long = "ip", value_name = "ADDR")]
    ips: Vec<IpAddr>,
    /// Days the server certificate is valid (at most 398, as browsers and CAs allow).
    #[arg(long, default_value_t = 397, value_parser = clap::value_parser!(u16).range(1..=398))]
    days: u16,
}

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server.key";

pub(crate) fn run(command: TlsCommand) -> anyhow::Result<ExitCode> {
    match command {
        TlsCommand::Init(args) => init(&args).map(|()| ExitCode::SUCCESS),
    }
}

/// What [`issue`] made.
pub(crate) struct Issued {
    /// The names and addresses the certificate is for.
    pub(crate) names: Vec<String>,
    pub(crate) not_after: OffsetDateTime,
    /// The CA was created (not found).
    pub(crate) created_ca: bool,
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    let issued = issue(&args.out, &args.hosts, &args.ips, args.days)?;
    let dir = std::path::absolute(&args.out).unwrap_or_else(|_| args.out.clone());
    let until = issued
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    println!(
        "{} a local CA; a server certificate for {} signed by it, valid until {until}.",
        if issued.created_ca { "Created" } else { "Kept" },
        issued.names.join(", ")
    );
    println!(
        "  {}  the CA's certificate: what clients trust",
        dir.join(CA_CERT).display()
    );
    println!(
        "  {}  the CA's key: keep it off the server (tls init renews with it)",
        dir.join(CA_KEY).display()
    );
    println!(
        "Serve with:\n  s9-secrets serve --tls-cert {} --tls-key {}",
        dir.join(SERVER_CERT).display(),
        dir.join(SERVER_KEY).display()
    );
    println!(
        "Clients (aws CLI, boto3, the AWS SDKs, s9-secrets) trust it with:\n  export AWS_CA_BUNDLE={}",
        dir.join(CA_CERT).display()
    );
    Ok(())
}

/// The files [`issue`] writes in its directory: the CA's certificate, the server's
/// certificate and key.
pub(crate) fn files(dir: &Path) -> [PathBuf; 3] {
    [CA_CERT, SERVER_CERT, SERVER_KEY].map(|f| dir.join(f))
}

/// Makes (or reuses) the CA in `out` and a server certificate for `hosts` and `ips` (by
/// default localhost, 127.0.0.1 and ::1), valid `days`.
pub(crate) fn issue(
    out: &Path,
    hosts: &[String],
    ips: &[IpAddr],
    days: u16,
) -> anyhow::Result<Issued> {
    let (mut hosts, mut ips) = (hosts.to_vec(), ips.to_vec());
    if hosts.is_empty() {
        hosts.push("localhost".into());
        if ips.is_empty() {
            ips.extend([
                IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ]);
        }
    }
    s9_store::create_private_dir(out).with_context(|| format!("creating {}", out.display()))?;
    let now = OffsetDateTime::now_utc();
    let (ca_cert_pem, ca_key, created_ca) = ca(out, now)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key)
        .with_context(|| format!("reading {}", out.join(CA_CERT).display()))?;

    let names: Vec<String> = hosts
        .iter()
        .cloned()
        .chain(ips.iter().map(IpAddr::to_string))
        .collect();
    let mut params = CertificateParams::new(names.clone())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, hosts[0].clone());
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(i64::from(days));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    write(&out.join(SERVER_KEY), &key.serialize_pem())?;
    write(&out.join(SERVER_CERT), &cert.pem())?;
    Ok(Issued {
        names,
        not_after: params.not_after,
        created_ca,
    })
}

/// The CA in `dir`: read if it is there, else created (valid ten years); says which.
fn ca(dir: &Path, now: OffsetDateTime) -> anyhow::Result<(String, KeyPair, bool)> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if cert_path.exists() || key_path.exists() {
        let cert = std::fs::read_to_string(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let key = std::fs::read_to_string(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        let key = KeyPair::from_pem(&key)
            .with_context(|| format!("{} is not a PEM private key", key_path.display()))?;
        return Ok((cert, key, false));
    }
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("Signal9 Secrets local CA {}", &s9_audit::new_id()[..8]),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(3650);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    write(&key_path, &key.serialize_pem())?;
    write(&cert_path, &cert.pem())?;
    Ok((cert.pem(), key, true))
}

/// Writes `text` to `path`, mode 0600, replacing what was there at once (a server
/// reloading the file never reads half of it).
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let staged = path.with_extension("new");
    let _ = std::fs::remove_file(&staged);
    s9_store::write_private_file(&staged, text.as_bytes())
        .and_then(|()| std::fs::rename(&staged, path))
        .with_context(|| format!("writing {}", path.display()))
}
