//! The caching client (`s9-client`) against the real server binary: TTL on an injected
//! clock, single flight, rotation pick-up, forced refresh, stale serving only on transient
//! failures, the circuit breaker, retries, and validation — faults injected by killing the
//! server or through a real TCP proxy.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use s9_client::{CacheConfig, Error, ManualClock, SecretsCache, TransientKind};
use secrecy::ExposeSecret as _;

use crate::harness::{TestServer, canary};
use crate::proxy::{FaultProxy, Mode};

const NAME: &str = "signal9-advisor/api-credentials";

/// A plausible credentials document made of fresh canaries.
fn credentials_doc() -> (String, [String; 3]) {
    let hex = || canary().replace('-', "").to_ascii_uppercase();
    let av = hex()[..16].to_owned();
    let key = format!("PK{}", &hex()[..18]);
    let secret = format!("{}{}", hex(), hex())
        .chars()
        .take(40)
        .collect::<String>();
    let doc = serde_json::json!({"alphaVantageApiKey": av, "alpacaApiKey": key, "alpacaApiSecret": secret});
    (doc.to_string(), [av, key, secret])
}

fn sdk_client(server: &TestServer, endpoint: &str) -> Client {
    let (id, secret) = server.admin_keys();
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(id, secret, None, None, "s9-test"))
        .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_secretsmanager::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(500))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

fn quick() -> CacheConfig {
    CacheConfig {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..CacheConfig::default()
    }
}

fn cache(
    server: &TestServer,
    endpoint: &str,
    clock: &ManualClock,
    config: CacheConfig,
) -> SecretsCache {
    SecretsCache::builder()
        .config(config)
        .clock(Arc::new(clock.clone()))
        .build(sdk_client(server, endpoint))
}

async fn create(server: &TestServer, name: &str, value: &str) {
    server
        .client()
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create");
}

async fn put(server: &TestServer, name: &str, value: &str) {
    server
        .client()
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .expect("put");
}

fn alpaca_key(creds: &s9_client::ApiCredentials) -> String {
    creds.alpaca_api_key().expose_secret().to_owned()
}

#[tokio::test]
async fn values_are_cached_for_the_ttl_and_a_rotation_is_picked_up_after_it() {
    let server = TestServer::start();
    let (doc, [_, key1, _]) = credentials_doc();
    create(&server, NAME, &doc).await;
    let clock = ManualClock::new();
    let cache = cache(&server, &server.endpoint(), &clock, quick());

    assert_eq!(
        alpaca_key(&cache.api_credentials(NAME).await.expect("first")),
        key1
    );
    let (doc2, [_, key2, _]) = credentials_doc();
    put(&server, NAME, &doc2).await; // the rotation: a new AWSCURRENT
    clock.advance(Duration::from_secs(200));
    assert_eq!(
        alpaca_key(&cache.api_credentials(NAME).await.expect("hit")),
        key1
    );
    assert_eq!(cache.stats().backend_calls, 1);

    // A prepared handle shares the entry: a hit, no backend call.
    let handle = cache.api_credentials_handle(NAME);
    assert_eq!(alpaca_key(&handle.get().await.expect("handle hit")), key1);

    clock.advance(Duration::from_secs(101)); // past the 300 s TTL
    assert_eq!(alpaca_key(&handle.get().await.expect("reread")), key2);
    assert_eq!(
        alpaca_key(&cache.api_credentials(NAME).await.expect("hit")),
        key2
    );
    let stats = cache.stats();
    assert_eq!((stats.backend_calls, stats.hits, stats.misses), (2, 3, 2));
}

#[tokio::test]
async fn refresh_ahead_renews_in_the_background_before_expiry() {
    let server = TestServer::start();
    create(&server, "ahead", "v1").await;
    let clock = ManualClock::new();
    let cache = cache(&server, &server.endpoint(), &clock, quick());
    assert_eq!(
        cache.get_string("ahead").await.expect("v1").expose_secret(),
        "v1"
    );
    put(&server, "ahead", "v2").await;
    // Refresh-ahead starts between 240 s and 270 s; at 271 s the hit still answers v1 at
    // once and starts one refresh in the background.
    clock.advance(Duration::from_secs(271));
    assert_eq!(
        cache
            .get_string("ahead")
            .await
            .expect("hit")
            .expose_secret(),
        "v1"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache
        .get_string("ahead")
        .await
        .expect("read")
        .expose_secret()
        != "v2"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = cache.stats();
    assert_eq!(
        (
            stats.background_refreshes,
            stats.backend_calls,
            stats.misses
        ),
        (1, 2, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_on_a_cold_entry_make_one_backend_call() {
    let server = TestServer::start();
    let (doc, [_, key, _]) = credentials_doc();
    create(&server, NAME, &doc).await;
    let cache = SecretsCache::builder()
        .config(quick())
        .build(sdk_client(&server, &server.endpoint()));
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                alpaca_key(&cache.api_credentials(NAME).await.expect("read"))
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), key);
    }
    assert_eq!(cache.stats().backend_calls, 1);
    // The server agrees: its audit trail holds exactly one GetSecretValue of the secret.
    let out = std::process::Command::new(crate::harness::BIN)
        .args([
            "audit",
            "query",
            "--event",
            "GetSecretValue",
            "--secret",
            NAME,
            "--output",
            "json",
            "--data-dir",
        ])
        .arg(server.data_dir())
        .output()
        .expect("audit query");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[tokio::test]
async fn the_last_good_value_is_served_while_the_server_is_down_within_the_stale_window() {
    let mut server = TestServer::start();
    create(&server, "stale", "good").await;
    let clock = ManualClock::new();
    let cache = cache(&server, &server.endpoint(), &clock, quick());
    cache.get_string("stale").await.expect("fill");
    server.kill9();

    clock.advance(Duration::from_secs(301));
    assert_eq!(
        cache
            .get_string("stale")
            .await
            .expect("stale")
            .expose_secret(),
        "good"
    );
    assert_eq!(cache.stats().stale_serves, 1);
    assert_eq!(
        cache.stats().backend_calls,
        1 + 3,
        "three attempts, then the stale value"
    );

    clock.advance(Duration::from_secs(3600)); // past expiry + the one-hour stale window
    match cache.get_string("stale").await {
        Err(Error::Unavailable {
            kind: TransientKind::Connection,
            attempts: 3,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.stats().stale_serves, 1);
}

#[tokio::test]
async fn access_denied_and_deletion_are_never_answered_with_a_stale_value() {
    let server = TestServer::start();
    create(&server, "denied", "v").await;
    create(&server, "deleted", "v").await;
    let clock = ManualClock::new();
    let cache = cache(&server, &server.endpoint(), &clock, quick());
    cache.get_string("denied").await.expect("fill");
    cache.get_string("deleted").await.expect("fill");
    let deny = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
    server
        .client()
        .put_resource_policy()
        .secret_id("denied")
        .resource_policy(deny.to_string())
        .send()
        .await
        .expect("deny");
    server
        .client()
        .delete_secret()
        .secret_id("deleted")
        .send()
        .await
        .expect("delete");
    clock.advance(Duration::from_secs(301));
    let calls = cache.stats().backend_calls;
    match cache.get_string("denied").await {
        Err(Error::AccessDenied { code, .. }) => assert_eq!(code, "AccessDeniedException"),
        other => panic!("{other:?}"),
    }
    match cache.get_string("deleted").await {
        Err(Error::Rejected { code, .. }) => assert_eq!(code, "InvalidRequestException"),
        other => panic!("{other:?}"),
    }
    let stats = cache.stats();
    assert_eq!(stats.backend_calls, calls + 2, "no retries on a refusal");
    assert_eq!(stats.stale_serves, 0);
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures_and_a_probe_closes_it() {
    let server = TestServer::start();
    create(&server, "flaky", "v").await;
    let proxy = FaultProxy::start(server.addr).await;
    let clock = ManualClock::new();
    let config = CacheConfig {
        max_attempts: 1,
        breaker_threshold: 2,
        ..quick()
    };
    let cache = cache(&server, &proxy.endpoint(), &clock, config);
    proxy.set(Mode::Http500);
    for _ in 0..2 {
        match cache.get_string("flaky").await {
            Err(Error::Unavailable {
                kind: TransientKind::ServerError,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        cache.get_string("flaky").await,
        Err(Error::CircuitOpen { .. })
    ));
    assert_eq!(
        cache.stats().backend_calls,
        2,
        "an open circuit sends nothing"
    );
    assert_eq!(cache.stats().circuit_rejections, 1);

    proxy.set(Mode::Pass);
    clock.advance(Duration::from_secs(29));
    assert!(matches!(
        cache.get_string("flaky").await,
        Err(Error::CircuitOpen { .. })
    ));
    clock.advance(Duration::from_secs(1)); // cooldown over: one probe goes through
    assert_eq!(
        cache
            .get_string("flaky")
            .await
            .expect("probe")
            .expose_secret(),
        "v"
    );
    assert_eq!(cache.stats().backend_calls, 3);
}

#[tokio::test]
async fn transient_failures_are_retried_and_refusals_are_not() {
    let server = TestServer::start();
    create(&server, "retry", "v").await;
    let proxy = FaultProxy::start(server.addr).await;
    let clock = ManualClock::new();
    let cache = cache(&server, &proxy.endpoint(), &clock, quick());

    proxy.fail_next(2); // two 500s, then the real server
    assert_eq!(
        cache
            .get_string("retry")
            .await
            .expect("third attempt")
            .expose_secret(),
        "v"
    );
    assert_eq!(cache.stats().backend_calls, 3);

    proxy.set(Mode::Reset);
    clock.advance(Duration::from_secs(301));
    cache.invalidate("retry");
    assert_eq!(
        cache
            .get_string("retry")
            .await
            .expect("stale")
            .expose_secret(),
        "v"
    );
    assert_eq!(cache.stats().backend_calls, 6);

    proxy.set(Mode::Delay(Duration::from_secs(2)));
    match cache.get_string("never-cached").await {
        Err(Error::Unavailable {
            kind: TransientKind::Timeout,
            attempts: 3,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }

    proxy.set(Mode::Pass);
    let before = cache.stats().backend_calls;
    assert!(matches!(
        cache.get_string("missing").await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(cache.stats().backend_calls, before + 1);
}

#[tokio::test]
async fn a_forced_refresh_rereads_once_and_is_rate_limited() {
    let server = TestServer::start();
    create(&server, "forced", "v1").await;
    let clock = ManualClock::new();
    let cache = cache(&server, &server.endpoint(), &clock, quick());
    cache.get_string("forced").await.expect("fill");
    put(&server, "forced", "v2").await;

    assert!(cache.invalidate("forced"), "the provider rejected v1");
    assert_eq!(
        cache
            .get_string("forced")
            .await
            .expect("v2")
            .expose_secret(),
        "v2"
    );
    put(&server, "forced", "v3").await;
    assert!(
        !cache.invalidate("forced"),
        "a second forced refresh within 30 s is refused"
    );
    assert_eq!(
        cache
            .get_string("forced")
            .await
            .expect("cached")
            .expose_secret(),
        "v2"
    );
    assert_eq!(cache.stats().backend_calls, 2);

    clock.advance(Duration::from_secs(30));
    assert!(cache.invalidate("forced"));
    assert_eq!(
        cache
            .get_string("forced")
            .await
            .expect("v3")
            .expose_secret(),
        "v3"
    );
    assert_eq!(cache.stats().forced_refreshes, 2);
}

#[tokio::test]
async fn an_invalid_document_names_the_field_never_its_value_and_is_not_cached() {
    let server = TestServer::start();
    let (doc, values) = credentials_doc();
    let mut bad: serde_json::Value = serde_json::from_str(&doc).expect("json");
    bad["alpacaApiKey"] = format!("{} x", values[1]).into();
    create(&server, "bad-creds", &bad.to_string()).await;
    bad.as_object_mut()
        .expect("object")
        .remove("alpacaApiSecret");
    create(&server, "partial-creds", &bad.to_string()).await;
    create(&server, "not-json", &values[2]).await;
    let cache = SecretsCache::builder()
        .config(quick())
        .build(sdk_client(&server, &server.endpoint()));

    for (id, field, problem) in [
        ("bad-creds", Some("alpacaApiKey"), "contains whitespace"),
        ("partial-creds", Some("alpacaApiSecret"), "missing"),
        ("not-json", None, "not valid JSON (line 1, column 1)"),
    ] {
        for _ in 0..2 {
            match cache.api_credentials(id).await {
                Err(e @ Error::Invalid { .. }) => {
                    let Error::Invalid {
                        field: f,
                        problem: p,
                        ..
                    } = &e
                    else {
                        unreachable!()
                    };
                    assert_eq!((f.as_deref(), p.as_str()), (field, problem));
                    let shown = format!("{e} {e:?}");
                    for v in &values {
                        assert!(!shown.contains(v.as_str()), "{shown}");
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.backend_calls, stats.invalid_values),
        (6, 6),
        "nothing invalid is cached"
    );
}
