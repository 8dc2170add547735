//! The caching client against the real server binary: a cache hit of `s9-client` next to a
//! hit of AWS's `aws_secretsmanager_caching` (same machine, same run, same secret), then
//! the latency of cold retrievals from the local service and of a 1,000-caller cold burst.
//!
//! `cargo bench -p s9-secrets --bench client_cache`

use std::future::Future;
use std::hint::black_box;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_secretsmanager_caching::SecretsManagerCachingClient;
use criterion::{Criterion, criterion_group, criterion_main};
use s9_client::{CacheConfig, SecretsCache};

const BIN: &str = env!("CARGO_BIN_EXE_s9-secrets");
const NAME: &str = "signal9-advisor/api-credentials";
const DOC: &str = r#"{"alphaVantageApiKey":"BENCH1234ABCD567","alpacaApiKey":"PKBENCH12345678901AB","alpacaApiSecret":"benchbenchbenchbenchbenchbenchbenchbench"}"#;

/// The real server on a free port and a scratch directory; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port");
        let child = Command::new(BIN)
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, addr, dir }
    }

    fn client(&self) -> Client {
        let ini = ini::Ini::load_from_file(self.dir.path().join("data/credentials"))
            .expect("credentials");
        let section = ini.section(Some("default")).expect("default profile");
        let key = |k| section.get(k).expect("key").to_owned();
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://{}", self.addr))
            .credentials_provider(Credentials::new(
                key("aws_access_key_id"),
                key("aws_secret_access_key"),
                None,
                None,
                "bench",
            ))
            .build();
        Client::from_conf(config)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a future that must not wait (a cache hit) to completion in one poll, inlined into
/// the measured loop as an `.await` is into its caller.
#[inline(always)]
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a cache hit waited"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = Server::start();
    let client = server.client();
    rt.block_on(client.create_secret().name(NAME).secret_string(DOC).send())
        .expect("create");

    let ours = SecretsCache::builder().build(client.clone());
    let theirs = SecretsManagerCachingClient::new(
        client.clone(),
        NonZeroUsize::new(1000).expect("nonzero"),
        Duration::from_secs(300),
        false,
    )
    .expect("aws caching client");
    rt.block_on(async {
        ours.api_credentials(NAME).await.expect("warm ours");
        ours.get_string(NAME).await.expect("warm ours");
        theirs
            .get_secret_value(NAME, None, None, false)
            .await
            .expect("warm theirs");
    });
    let _guard = rt.enter();

    let mut group = c.benchmark_group("cache_hit");
    group.bench_function("s9_client/api_credentials", |b| {
        b.iter(|| ready(ours.api_credentials(black_box(NAME))).expect("hit"));
    });
    group.bench_function("s9_client/get_string", |b| {
        b.iter(|| ready(ours.get_string(black_box(NAME))).expect("hit"));
    });
    let handle = ours.api_credentials_handle(NAME);
    group.bench_function("s9_client/api_credentials_handle", |b| {
        b.iter(|| ready(black_box(&handle).get()).expect("hit"));
    });
    let string_handle = ours.string_handle(NAME);
    group.bench_function("s9_client/string_handle", |b| {
        b.iter(|| ready(black_box(&string_handle).get()).expect("hit"));
    });
    group.bench_function("aws_secretsmanager_caching/get_secret_value", |b| {
        b.iter(|| ready(theirs.get_secret_value(black_box(NAME), None, None, false)).expect("hit"));
    });
    group.finish();
    assert_eq!(
        ours.stats().backend_calls,
        2,
        "every benchmarked call was a hit"
    );

    // Cold retrievals: a zero TTL makes every read go to the local service.
    let cold = SecretsCache::builder()
        .config(CacheConfig {
            ttl: Duration::ZERO,
            refresh_ahead: Duration::ZERO,
            ..CacheConfig::default()
        })
        .build(client.clone());
    let mut samples: Vec<Duration> = rt.block_on(async {
        let mut v = Vec::with_capacity(2000);
        for _ in 0..2200 {
            let t = Instant::now();
            cold.api_credentials(NAME).await.expect("cold read");
            v.push(t.elapsed());
        }
        v.split_off(200) // warm-up dropped
    });
    samples.sort();
    println!(
        "cold retrieval from the local service ({} reads): p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );

    // 1,000 callers on one cold entry: one backend call, everyone answered.
    let burst = SecretsCache::builder().build(client);
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let c = burst.clone();
                tokio::spawn(async move { c.api_credentials(NAME).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("read");
        }
    });
    println!(
        "1,000 concurrent callers on a cold entry: {} backend call(s), all answered in {:?}",
        burst.stats().backend_calls,
        started.elapsed()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
