//! `s9-secrets bench`: a closed-loop load generator over keep-alive connections with real
//! SigV4 signing. Without `--endpoint` it starts `s9-secrets serve` as a child process on a
//! temporary data directory, so client and server share the machine as separate processes.
//! `--tls` measures what TLS costs ([`tls`]).

mod tls;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use s9_sigv4::{SecretKey, SigningCredentials};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Server to load, e.g. http://127.0.0.1:7780. Default: start one.
    #[arg(long)]
    endpoint: Option<String>,
    /// Shared-credentials file holding the key to sign with (required with --endpoint).
    #[arg(long)]
    credentials: Option<PathBuf>,
    #[arg(long, default_value = "default")]
    profile: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Operation to drive.
    #[arg(long, value_enum, default_value_t = BenchOp::Get)]
    op: BenchOp,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds to measure (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Size of each secret value, in bytes.
    #[arg(long, default_value_t = 256)]
    value_bytes: usize,
    /// Client worker threads.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Start the server with the audit trail off (to measure what auditing costs).
    #[arg(long, conflicts_with = "endpoint")]
    no_audit: bool,
    /// Measure what auditing costs: start one server with the audit trail and one without,
    /// and load them in turn (`--rounds` slices of `--duration-secs` each, the order
    /// alternating), so drifts in the machine's speed fall on both alike.
    #[arg(long, conflicts_with_all = ["endpoint", "no_audit"])]
    compare_audit: bool,
    /// Measure a change: start this build's server and one of the build at PATH (the same
    /// arguments, audit on) and load them in turn as `--compare-audit` does; reports what
    /// this build keeps of the baseline's throughput.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["endpoint", "no_audit", "compare_audit"])]
    baseline_bin: Option<PathBuf>,
    /// Measure what TLS costs: start a plaintext server and a TLS one (a certificate from a
    /// local CA, as `tls init` makes) and load them in turn as `--compare-audit` does; then
    /// count the new TLS connections per second the listener takes, with a full handshake
    /// (hybrid post-quantum and classical key exchange) and a resumed one.
    #[arg(long, conflicts_with_all = ["endpoint", "no_audit", "compare_audit", "baseline_bin"])]
    tls: bool,
    /// Rounds of `--compare-audit` or `--baseline-bin`.
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// An extra argument for the server the benchmark starts (repeatable), e.g.
    /// `--server-arg=--audit-fsync=5`.
    #[arg(
        long = "server-arg",
        conflicts_with = "endpoint",
        allow_hyphen_values = true
    )]
    server_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchOp {
    Get,
    Put,
}

struct Target {
    endpoint: Uri,
    host: HeaderValue,
    creds: SigningCredentials,
    region: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Target {
    async fn call(&self, op: &str, body: Vec<u8>) -> anyhow::Result<(u16, Bytes)> {
        let mut headers = HeaderMap::new();
        headers.insert("host", self.host.clone());
        headers.insert(
            "content-type",
            HeaderValue::from_static(s9_wire_content_type()),
        );
        headers.insert(
            "x-amz-target",
            HeaderValue::from_str(&format!("secretsmanager.{op}"))?,
        );
        let params = s9_sigv4::SigningParams {
            credentials: &self.creds,
            region: &self.region,
            service: "secretsmanager",
            time: time::OffsetDateTime::now_utc(),
        };
        s9_sigv4::sign(&Method::POST, &self.endpoint, &mut headers, &body, &params)?;
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.clone())
            .body(Full::new(Bytes::from(body)))?;
        *req.headers_mut() = headers;
        let resp = self.client.request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    async fn expect_ok(
        &self,
        op: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self.call(op, serde_json::to_vec(&body)?).await?;
        if status != 200 {
            bail!(
                "{op} failed with HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

const fn s9_wire_content_type() -> &'static str {
    "application/x-amz-json-1.1"
}

/// A server started for the benchmark; killed and cleaned up on drop.
struct ChildServer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A server the benchmark started: where it listens, the credentials it made, and the CA
/// that signed its certificate when it speaks TLS.
struct Started {
    _server: ChildServer,
    endpoint: String,
    addr: SocketAddr,
    credentials: PathBuf,
    ca: Option<PathBuf>,
}

/// A server run by the binary `exe` on a free port and a fresh data directory; with `tls`,
/// on a certificate for 127.0.0.1 from a local CA made in that directory.
fn start_server_of(
    exe: &Path,
    no_audit: bool,
    tls: bool,
    extra: &[String],
) -> anyhow::Result<Started> {
    let dir = tempfile::tempdir()?;
    let addr = free_port()?;
    let mut tls_args = Vec::new();
    let ca = if tls {
        let certs = dir.path().join("certs");
        crate::tls::issue(&certs, &[], &[], 30)?;
        let [ca, cert, key] = crate::tls::files(&certs);
        tls_args.extend([
            "--tls-cert".into(),
            cert.into_os_string(),
            "--tls-key".into(),
            key.into_os_string(),
        ]);
        Some(ca)
    } else {
        None
    };
    let child = Command::new(exe)
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .args(if no_audit {
            &["--no-audit"][..]
        } else {
            &[][..]
        })
        .args(tls_args)
        .args(extra)
        .env("S9_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the server")?;
    let server = ChildServer { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("the server did not start listening on {addr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let credentials = server._dir.path().join("data/credentials");
    let scheme = if ca.is_some() { "https" } else { "http" };
    Ok(Started {
        _server: server,
        endpoint: format!("{scheme}://{addr}"),
        addr,
        credentials,
        ca,
    })
}

fn load_credentials(path: &Path, profile: &str) -> anyhow::Result<SigningCredentials> {
    let ini =
        ini::Ini::load_from_file(path).with_context(|| format!("reading {}", path.display()))?;
    let section = ini
        .section(Some(profile))
        .with_context(|| format!("no profile [{profile}] in {}", path.display()))?;
    let id = section
        .get("aws_access_key_id")
        .context("no aws_access_key_id")?;
    let secret = section
        .get("aws_secret_access_key")
        .context("no aws_secret_access_key")?;
    Ok(SigningCredentials {
        access_key_id: id.to_owned(),
        secret_key: SecretKey::new(secret),
        session_token: None,
    })
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    if args.compare_audit {
        let this = std::env::current_exe()?;
        let report = runtime.block_on(compare(
            &args,
            [
                Contender::new("audit_off", &this, true),
                Contender::new("audit_on", &this, false),
            ],
        ))?;
        return print_comparison(&args, &report, ["audit off", "audit on"]);
    }
    if let Some(baseline) = &args.baseline_bin {
        let this = std::env::current_exe()?;
        let report = runtime.block_on(compare(
            &args,
            [
                Contender::new("baseline", baseline, false),
                Contender::new("current", &this, false),
            ],
        ))?;
        return print_comparison(&args, &report, ["baseline", "this build"]);
    }
    if args.tls {
        return tls::run(&args, &runtime);
    }
    let (server, endpoint, credentials) = match &args.endpoint {
        Some(e) => (
            None,
            e.clone(),
            args.credentials
                .clone()
                .context("--credentials is required with --endpoint")?,
        ),
        None => {
            let started = start_server_of(
                &std::env::current_exe()?,
                args.no_audit,
                false,
                &args.server_args,
            )?;
            let (endpoint, credentials) = (started.endpoint.clone(), started.credentials.clone());
            (Some(started), endpoint, credentials)
        }
    };
    let result = runtime.block_on(async {
        let ca = s9_client::ca_bundle::from_env();
        let target = Target::connect(&args, &endpoint, &credentials, ca.as_deref())?;
        let secrets = prepare(&target, &args).await?;
        let measured = measure(&target, &secrets, &args, args.duration_secs).await?;
        anyhow::Ok(measured.report(&args))
    });
    drop(server);
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{op} x{conns} connections, {secs}s, {bytes}-byte values\n  requests: {n} ({errors} errors)\n  throughput: {rps:.0} req/s\n  latency: p50 {p50:.3} ms, p90 {p90:.3} ms, p99 {p99:.3} ms, max {max:.3} ms",
            op = report["operation"].as_str().unwrap_or_default(),
            conns = args.connections,
            secs = args.duration_secs,
            bytes = args.value_bytes,
            n = report["requests"],
            errors = report["errors"],
            rps = report["requests_per_second"].as_f64().unwrap_or_default(),
            p50 = report["latency_ms"]["p50"].as_f64().unwrap_or_default(),
            p90 = report["latency_ms"]["p90"].as_f64().unwrap_or_default(),
            p99 = report["latency_ms"]["p99"].as_f64().unwrap_or_default(),
            max = report["latency_ms"]["max"].as_f64().unwrap_or_default(),
        );
    }
    Ok(())
}

/// One of the two servers a comparison loads in turn: `key` names its figures.
struct Contender<'a> {
    key: &'static str,
    exe: &'a Path,
    no_audit: bool,
    tls: bool,
}

impl<'a> Contender<'a> {
    fn new(key: &'static str, exe: &'a Path, no_audit: bool) -> Self {
        Self {
            key,
            exe,
            no_audit,
            tls: false,
        }
    }
}

/// `--compare-audit` and `--baseline-bin`: both servers run throughout; each round loads
/// one, then the other (first-second, second-first, …: a steady drift favours neither).
/// The ratio is the second's throughput over the first's.
async fn compare(
    args: &BenchArgs,
    contenders: [Contender<'_>; 2],
) -> anyhow::Result<serde_json::Value> {
    let [first, second] = contenders;
    let started =
        [&first, &second].map(|c| start_server_of(c.exe, c.no_audit, c.tls, &args.server_args));
    let [a_started, b_started] = started;
    let (a_started, b_started) = (a_started?, b_started?);
    let a = Target::connect(
        args,
        &a_started.endpoint,
        &a_started.credentials,
        a_started.ca.as_deref(),
    )?;
    let b = Target::connect(
        args,
        &b_started.endpoint,
        &b_started.credentials,
        b_started.ca.as_deref(),
    )?;
    let a_secrets = prepare(&a, args).await?;
    let b_secrets = prepare(&b, args).await?;
    let mut rounds = Vec::new();
    // Every latency each server answered with, for its percentiles over all rounds.
    let mut latencies: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    for round in 0..args.rounds.max(1) {
        let mut rps = [0.0; 2];
        for second_now in [round % 2 == 1, round % 2 == 0] {
            let (target, secrets) = if second_now {
                (&b, &b_secrets)
            } else {
                (&a, &a_secrets)
            };
            let m = measure(target, secrets, args, args.duration_secs).await?;
            if m.errors > 0 {
                bail!("{} requests failed", m.errors);
            }
            rps[usize::from(second_now)] = m.requests_per_second();
            latencies[usize::from(second_now)].extend(m.latencies);
        }
        let [x, y] = rps;
        rounds.push(json!({first.key: x, second.key: y, "ratio": y / x}));
    }
    let sum = |key: &str| -> f64 { rounds.iter().filter_map(|r| r[key].as_f64()).sum() };
    let (x, y) = (sum(first.key), sum(second.key));
    let mut ratios: Vec<f64> = rounds.iter().filter_map(|r| r["ratio"].as_f64()).collect();
    ratios.sort_by(f64::total_cmp);
    let median = match ratios.len() {
        0 => 0.0,
        n if n % 2 == 1 => ratios[n / 2],
        n => f64::midpoint(ratios[n / 2 - 1], ratios[n / 2]),
    };
    let interval = mean_with_interval(&ratios);
    let per_round = ratios.len().max(1) as f64;
    Ok(json!({
        "operation": args.op.name(),
        "connections": args.connections,
        "seconds_per_slice": args.duration_secs,
        "rounds": rounds,
        format!("{}_requests_per_second", first.key): x / per_round,
        format!("{}_requests_per_second", second.key): y / per_round,
        "first": first.key,
        "second": second.key,
        "ratio": y / x,
        "median_round_ratio": median,
        "mean_round_ratio": interval.map(|(mean, _)| mean),
        "round_ratio_interval95": interval.map(|(mean, half)| [mean - half, mean + half]),
        "lowest_round_ratio": ratios.first(),
        "highest_round_ratio": ratios.last(),
        format!("{}_latency_ms", first.key): percentiles(latencies[0].clone()),
        format!("{}_latency_ms", second.key): percentiles(latencies[1].clone()),
    }))
}

/// p50, p90, p99 and the largest of `latencies` (microseconds), in milliseconds.
fn percentiles(mut latencies: Vec<u32>) -> serde_json::Value {
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[idx]) / 1000.0
    };
    json!({ "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0) })
}

fn print_comparison(
    args: &BenchArgs,
    report: &serde_json::Value,
    labels: [&str; 2],
) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let f = |key: &str| report[key].as_f64().unwrap_or_default();
    let interval = match report["round_ratio_interval95"]
        .as_array()
        .map(Vec::as_slice)
    {
        Some([lo, hi]) => format!(
            ", mean {:.1} % with 95 % interval {:.1}-{:.1} %",
            100.0 * f("mean_round_ratio"),
            100.0 * lo.as_f64().unwrap_or_default(),
            100.0 * hi.as_f64().unwrap_or_default()
        ),
        _ => String::new(),
    };
    let key = |which: &str| {
        f(&format!(
            "{}_requests_per_second",
            report[which].as_str().unwrap_or_default()
        ))
    };
    println!(
        "{op} x{conns} connections, {rounds} rounds of {secs}s per server, order alternating\n  {first}: {x:.0} req/s\n  {second}: {y:.0} req/s\n  {second} keeps {ratio:.1} % (per round: median {median:.1} %{interval}, range {low:.1}-{high:.1} %)",
        op = args.op.name(),
        conns = args.connections,
        rounds = args.rounds,
        secs = args.duration_secs,
        first = labels[0],
        second = labels[1],
        x = key("first"),
        y = key("second"),
        ratio = 100.0 * f("ratio"),
        median = 100.0 * f("median_round_ratio"),
        low = 100.0 * f("lowest_round_ratio"),
        high = 100.0 * f("highest_round_ratio"),
    );
    Ok(())
}

/// The mean of `xs` and the half-width of its 95 % confidence interval (Student's t), or
/// `None` for fewer than two values: how far a comparison's rounds pin the ratio down.
fn mean_with_interval(xs: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let variance = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((mean, t95(n - 1) * (variance / n as f64).sqrt()))
}

/// Student's t quantile at 0.975 for `df` degrees of freedom (the normal 1.96 beyond 30).
fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    df.checked_sub(1)
        .and_then(|i| T.get(i))
        .copied()
        .unwrap_or(1.96)
}

/// A printable, non-secret filler value of `n` bytes.
fn filler(n: usize, seed: usize) -> String {
    (0..n)
        .map(|i| char::from(b'a' + ((i + seed) % 26) as u8))
        .collect()
}

impl Target {
    /// A client of `endpoint` over keep-alive connections; over TLS, trusting `ca` besides
    /// the system's roots.
    fn connect(
        args: &BenchArgs,
        endpoint: &str,
        credentials: &Path,
        ca: Option<&Path>,
    ) -> anyhow::Result<Arc<Self>> {
        let endpoint: Uri = endpoint.parse().context("parsing --endpoint")?;
        let host = HeaderValue::from_str(
            endpoint
                .authority()
                .context("endpoint has no host")?
                .as_str(),
        )?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(ca, &tls::HYBRID, true)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(args.connections)
            .build(connector);
        Ok(Arc::new(Self {
            endpoint,
            host,
            creds: load_credentials(credentials, &args.profile)?,
            region: args.region.clone(),
            client,
        }))
    }
}

impl BenchOp {
    fn name(self) -> &'static str {
        match self {
            Self::Get => "GetSecretValue",
            Self::Put => "PutSecretValue",
        }
    }
}

/// PutSecretValue writes this many versions of a secret before moving to a fresh one.
const VERSIONS_PER_SECRET: usize = 90;

/// Creates one secret per connection.
async fn prepare(target: &Target, args: &BenchArgs) -> anyhow::Result<Vec<String>> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let secrets: Vec<String> = (0..args.connections)
        .map(|i| format!("bench/{run_id}/{i}"))
        .collect();
    for (i, name) in secrets.iter().enumerate() {
        target
            .expect_ok("CreateSecret", json!({"Name": name, "SecretString": filler(args.value_bytes, i), "ClientRequestToken": uuid::Uuid::new_v4().to_string()}))
            .await?;
    }
    Ok(secrets)
}

/// What one measurement saw.
struct Measured {
    /// Latencies of the successful requests, in microseconds, sorted.
    latencies: Vec<u32>,
    errors: u64,
    seconds: f64,
}

impl Measured {
    fn requests_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    fn report(&self, args: &BenchArgs) -> serde_json::Value {
        json!({
            "operation": args.op.name(),
            "connections": args.connections,
            "duration_seconds": self.seconds,
            "value_bytes": args.value_bytes,
            "requests": self.latencies.len(),
            "errors": self.errors,
            "requests_per_second": self.requests_per_second(),
            "latency_ms": percentiles(self.latencies.clone()),
        })
    }
}

/// One closed loop per secret for a second of warm-up and `secs` of measurement.
async fn measure(
    target: &Arc<Target>,
    secrets: &[String],
    args: &BenchArgs,
    secs: u64,
) -> anyhow::Result<Measured> {
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, name) in secrets.iter().enumerate() {
        let (target, stop, measuring, name, op, bytes) = (
            Arc::clone(target),
            Arc::clone(&stop),
            Arc::clone(&measuring),
            name.clone(),
            args.op,
            args.value_bytes,
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut n = 0usize;
            let mut name = name;
            while !stop.load(Ordering::Relaxed) {
                let body = match op {
                    BenchOp::Get => json!({"SecretId": name}),
                    BenchOp::Put => {
                        n += 1;
                        // A secret holds at most 100 versions a day (as on AWS): every
                        // VERSIONS_PER_SECRET writes go on in a fresh secret, whose creation
                        // is not counted.
                        if n.is_multiple_of(VERSIONS_PER_SECRET) {
                            name = format!("{name}+");
                            let create = json!({"Name": name, "SecretString": filler(bytes, i + n), "ClientRequestToken": uuid::Uuid::new_v4().to_string()});
                            let create = serde_json::to_vec(&create).unwrap_or_default();
                            let created =
                                matches!(target.call("CreateSecret", create).await, Ok((200, _)));
                            if !created && measuring.load(Ordering::Relaxed) {
                                errors += 1;
                            }
                            continue;
                        }
                        json!({"SecretId": name, "SecretString": filler(bytes, i + n), "ClientRequestToken": uuid::Uuid::new_v4().to_string()})
                    }
                };
                let body = serde_json::to_vec(&body).unwrap_or_default();
                let started = Instant::now();
                let ok = matches!(target.call(op.name(), body).await, Ok((200, _)));
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, err) = t.await?;
        latencies.extend(lat);
        errors += err;
    }
    latencies.sort_unstable();
    Ok(Measured {
        latencies,
        errors,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_students_t_over_the_standard_error() {
        assert_eq!(mean_with_interval(&[0.8]), None);
        let (mean, half) = mean_with_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]).expect("five values");
        assert!((mean - 3.0).abs() < 1e-12);
        // s = sqrt(2.5), s/sqrt(5) = 0.7071, t(4) = 2.776.
        assert!((half - 2.776 * 0.5_f64.sqrt()).abs() < 1e-9, "{half}");
        assert!((t95(11) - 2.201).abs() < 1e-12);
        assert!((t95(100) - 1.96).abs() < 1e-12);
    }
}
