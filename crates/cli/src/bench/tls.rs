//! `bench --tls`: what TLS costs. GetSecretValue over TLS keep-alive connections against
//! plaintext ones (two servers of this build, loaded in alternating rounds), then the new
//! TLS connections per second one listener takes: each a TCP connection, a handshake (full
//! with the hybrid post-quantum group, full with X25519 alone, or resumed from a session
//! ticket) and one round trip, which delivers the tickets a resumption needs.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use rustls::client::Resumption;
use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs::kx_group::{X25519, X25519MLKEM768};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{BenchArgs, Contender, compare, start_server_of};

/// Key exchange as modern clients offer it: the hybrid group first, X25519 beside it.
pub(super) const HYBRID: [&dyn SupportedKxGroup; 2] = [X25519MLKEM768, X25519];
/// Key exchange as clients without post-quantum support offer it.
const CLASSICAL: [&dyn SupportedKxGroup; 1] = [X25519];

/// A client configuration trusting the system's roots and `ca`, offering `groups`, with
/// session resumption on or off.
pub(super) fn client_config(
    ca: Option<&Path>,
    groups: &[&'static dyn SupportedKxGroup],
    resume: bool,
) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_roots() {
        let _ = roots.add(cert);
    }
    if let Some(ca) = ca {
        for cert in CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("reading {}", ca.display()))?
        {
            roots.add(cert.with_context(|| format!("reading {}", ca.display()))?)?;
        }
    }
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = groups.to_vec();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        config.resumption = Resumption::disabled();
    }
    Ok(config)
}

/// The system's trusted roots, where the benchmark loads a server it did not start.
fn rustls_native_roots() -> Vec<CertificateDer<'static>> {
    let Some(bundle) = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists()) else {
        return Vec::new();
    };
    CertificateDer::pem_file_iter(bundle)
        .map(|certs| certs.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

pub(super) fn run(args: &BenchArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let this = std::env::current_exe()?;
    let mut tls = Contender::new("tls", &this, false);
    tls.tls = true;
    let report = runtime.block_on(compare(
        args,
        [Contender::new("plaintext", &this, false), tls],
    ))?;
    let server = start_server_of(&this, false, true, &args.server_args)?;
    let ca = server.ca.clone().context("the TLS server's CA")?;
    let mut rates = serde_json::Map::new();
    for (kind, groups, resume) in [
        ("full_hybrid", &HYBRID[..], false),
        ("full_classical", &CLASSICAL[..], false),
        ("resumed", &HYBRID[..], true),
    ] {
        let config = Arc::new(client_config(Some(&ca), groups, resume)?);
        let measured = runtime.block_on(connections(
            server.addr,
            config,
            args.connections.clamp(1, 16),
            args.duration_secs,
        ))?;
        rates.insert(kind.into(), measured);
    }
    drop(server);
    if args.json {
        let mut report = report;
        report["new_connections_per_second"] = rates.into();
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    super::print_comparison(args, &report, ["plaintext", "TLS"])?;
    let p99 = |key: &str| report[key]["p99"].as_f64().unwrap_or_default();
    println!(
        "  p99 latency: TLS {:.3} ms, plaintext {:.3} ms",
        p99("tls_latency_ms"),
        p99("plaintext_latency_ms")
    );
    println!("new TLS connections per second (handshake and one round trip each):");
    for (kind, figures) in &rates {
        println!(
            "  {kind:<15} {:>8.0}/s ({:.0} % resumed)",
            figures["per_second"].as_f64().unwrap_or_default(),
            100.0 * figures["resumed_fraction"].as_f64().unwrap_or_default()
        );
    }
    Ok(())
}

/// New TLS connections per second to `addr` from `concurrency` closed loops over `secs`
/// seconds (after one of warm-up), and the fraction that resumed a session.
async fn connections(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    concurrency: usize,
    secs: u64,
) -> anyhow::Result<serde_json::Value> {
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = ServerName::IpAddress(addr.ip().into());
    let (stop, measuring) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (made, resumed, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (connector, name) = (connector.clone(), name.clone());
        let (stop, measuring) = (Arc::clone(&stop), Arc::clone(&measuring));
        let (made, resumed, failed) =
            (Arc::clone(&made), Arc::clone(&resumed), Arc::clone(&failed));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let outcome = one_connection(&connector, addr, name.clone()).await;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match outcome {
                    Ok(was_resumed) => {
                        made.fetch_add(1, Ordering::Relaxed);
                        if was_resumed {
                            resumed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(secs.max(1))).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await?;
    }
    let (made, resumed, failed) = (
        made.load(Ordering::Relaxed),
        resumed.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    anyhow::ensure!(failed == 0, "{failed} TLS connections failed");
    Ok(json!({
        "per_second": made as f64 / seconds,
        "connections": made,
        "resumed_fraction": if made == 0 { 0.0 } else { resumed as f64 / made as f64 },
        "concurrency": concurrency,
    }))
}

/// One connection: TCP, the TLS handshake, and one round trip (a request the HTTP layer
/// refuses at once, so no signature is checked and nothing but a rate-limited refusal is
/// recorded); whether the handshake resumed a session.
async fn one_connection(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
    name: ServerName<'static>,
) -> anyhow::Result<bool> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut tls = connector.connect(name, tcp).await?;
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    tls.write_all(b"\x00\r\n\r\n").await?;
    let mut sink = Vec::new();
    let _ = tls.read_to_end(&mut sink).await;
    Ok(resumed)
}
