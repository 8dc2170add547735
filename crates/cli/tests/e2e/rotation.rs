//! Rotation end to end: RotateSecret through the SDK runs the four steps in the service and
//! answers as AWS does; a vendor-key rotation waits for an operator, survives a kill -9,
//! refuses keys the (fake, local) vendor rejects with AWSCURRENT untouched, and completes
//! once the vendor accepts the new keys.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::RotationRulesType;

use crate::cli::{cli, keys, text};
use crate::harness::{ACCOUNT, TestServer, admin_config, canary, code, read_profile, token};

fn function(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
}

/// The version ids holding each label.
async fn stages(sm: &Client, id: &str) -> Vec<(String, Vec<String>)> {
    let listed = sm
        .list_secret_version_ids()
        .secret_id(id)
        .send()
        .await
        .expect("versions");
    let mut out: Vec<(String, Vec<String>)> = listed
        .versions()
        .iter()
        .map(|v| {
            (
                v.version_id().unwrap_or_default().to_owned(),
                v.version_stages().to_vec(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn current(sm: &Client, id: &str) -> (String, String) {
    let v = sm
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .expect("get");
    (
        v.version_id().unwrap_or_default().to_owned(),
        v.secret_string().unwrap_or_default().to_owned(),
    )
}

/// Waits until `version` is AWSCURRENT (and no longer AWSPENDING).
async fn until_current(sm: &Client, id: &str, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stages(sm, id).await;
        if s.iter()
            .any(|(v, st)| v == version && st == &["AWSCURRENT".to_owned()])
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{version} never became current: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn random_rotation_runs_the_four_steps_and_answers_as_aws_does() {
    let server = TestServer::start();
    let sm = server.client();
    let old = canary();
    let v1 = token();
    sm.create_secret()
        .name("db/password")
        .secret_string(&old)
        .client_request_token(&v1)
        .send()
        .await
        .expect("create");

    let err = sm
        .rotate_secret()
        .secret_id("db/password")
        .rotation_lambda_arn(function("nobody-registered-this"))
        .send()
        .await
        .expect_err("unknown function");
    assert_eq!(code(err), "AccessDeniedException");

    let rotated = sm
        .rotate_secret()
        .secret_id("db/password")
        .rotation_lambda_arn(function("s9-rotation-random"))
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .expect("rotate");
    let v2 = rotated.version_id().expect("version").to_owned();
    until_current(&sm, "db/password", &v2).await;
    assert_eq!(
        stages(&sm, "db/password").await,
        {
            let mut want = vec![
                (v1.clone(), vec!["AWSPREVIOUS".to_owned()]),
                (v2.clone(), vec!["AWSCURRENT".to_owned()]),
            ];
            want.sort();
            want
        },
        "AWSPENDING is cleared once the rotation succeeded, as on AWS"
    );
    let (version, new) = current(&sm, "db/password").await;
    assert_eq!(version, v2);
    assert_eq!(new.len(), 32);
    assert_ne!(new, old);
    let d = sm
        .describe_secret()
        .secret_id("db/password")
        .send()
        .await
        .expect("describe");
    assert_eq!(d.rotation_enabled(), Some(true));
    let last = d.last_rotated_date().expect("last rotated").secs();
    let next = d.next_rotation_date().expect("next rotation").secs();
    assert!((next - last - 30 * 86_400).abs() <= 1, "{last} {next}");

    // A second rotation: the new value moves on, the previous becomes AWSPREVIOUS.
    let v3 = sm
        .rotate_secret()
        .secret_id("db/password")
        .send()
        .await
        .expect("rotate again")
        .version_id()
        .expect("version")
        .to_owned();
    until_current(&sm, "db/password", &v3).await;
    let s = stages(&sm, "db/password").await;
    assert!(
        s.contains(&(v2.clone(), vec!["AWSPREVIOUS".to_owned()])),
        "{s:?}"
    );
    let (_, newer) = current(&sm, "db/password").await;

    let audit = server.audit_text();
    assert_eq!(
        audit.matches("\"eventName\":\"RotationSucceeded\"").count(),
        2
    );
    assert_eq!(
        audit.matches("\"eventName\":\"RotationStarted\"").count(),
        2
    );
    for value in [&old, &new, &newer] {
        assert!(
            !audit.contains(value.as_str()),
            "a value reached the audit trail"
        );
        assert!(
            !server.log().contains(value.as_str()),
            "a value reached the log"
        );
    }
    let metrics = crate::metrics::scrape(&server);
    assert!(
        metrics.contains("s9_rotations_total{outcome=\"succeeded\"} 2"),
        "{metrics}"
    );
}

/// A vendor that accepts exactly one Alpaca key id (in the `APCA-API-KEY-ID` header).
struct FakeVendor {
    addr: std::net::SocketAddr,
    calls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeVendor {
    fn start(accepted: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (calls, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (c, s) = (Arc::clone(&calls), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).expect("blocking");
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                c.fetch_add(1, Ordering::AcqRel);
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let ok = head.contains(&format!(
                    "apca-api-key-id: {}\r\n",
                    accepted.to_ascii_lowercase()
                ));
                let status = if ok { "200 OK" } else { "401 Unauthorized" };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self {
            addr,
            calls,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeVendor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A config with one administrator (profile `default`) and a vendor-key function checked
/// against `vendor`.
fn vendor_config(dir: &Path, vendor: std::net::SocketAddr) -> std::path::PathBuf {
    admin_config(
        dir,
        &[],
        &format!(
            r#"[rotation]
retry_backoff_secs = 3600

[[rotation.function]]
name = "signal9-vendor-keys"
kind = "vendor-key"
fields = ["alphaVantageApiKey", "alpacaApiKey", "alpacaApiSecret"]
check = {{ url = "http://{vendor}/v2/account", headers = {{ "APCA-API-KEY-ID" = "{{alpacaApiKey}}", "APCA-API-SECRET-KEY" = "{{alpacaApiSecret}}" }} }}
"#
        ),
    )
}

#[tokio::test]
async fn vendor_keys_wait_for_an_operator_survive_a_restart_and_pass_the_vendor_check() {
    let good = keys();
    let vendor = FakeVendor::start(good[1].clone());
    let config_dir = tempfile::tempdir().expect("tmp");
    let config = vendor_config(config_dir.path(), vendor.addr);
    let mut server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    let creds = config_dir.path().join("credentials");
    let (id, secret) = read_profile(&creds, "default");
    let sm = server.client_with("us-east-1", &id, &secret);
    let old = keys();
    let doc = |k: &[String; 3]| {
        serde_json::json!({"alphaVantageApiKey": k[0], "alpacaApiKey": k[1], "alpacaApiSecret": k[2]})
            .to_string()
    };
    let v1 = token();
    sm.create_secret()
        .name("signal9-advisor/api-credentials")
        .secret_string(doc(&old))
        .client_request_token(&v1)
        .send()
        .await
        .expect("create");
    let pending = sm
        .rotate_secret()
        .secret_id("signal9-advisor/api-credentials")
        .rotation_lambda_arn(function("signal9-vendor-keys"))
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(90)
                .build(),
        )
        .send()
        .await
        .expect("rotate")
        .version_id()
        .expect("token")
        .to_owned();

    // Before createSecret, AWSPENDING sits on an empty version; AWSCURRENT serves on.
    let s = stages(&sm, "signal9-advisor/api-credentials").await;
    assert!(
        s.contains(&(pending.clone(), vec!["AWSPENDING".to_owned()])),
        "{s:?}"
    );
    let err = sm
        .get_secret_value()
        .secret_id("signal9-advisor/api-credentials")
        .version_stage("AWSPENDING")
        .send()
        .await
        .expect_err("empty version");
    assert_eq!(code(err), "ResourceNotFoundException");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.audit_text().contains("RotationAwaitingInput") {
        assert!(Instant::now() < deadline, "no notice: {}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // kill -9 mid-rotation: the rotation is still there, waiting, after the restart.
    server.restart();
    let sm = server.client_with("us-east-1", &id, &secret);
    let s = stages(&sm, "signal9-advisor/api-credentials").await;
    assert!(
        s.contains(&(pending.clone(), vec!["AWSPENDING".to_owned()])),
        "{s:?}"
    );
    assert_eq!(
        current(&sm, "signal9-advisor/api-credentials").await.1,
        doc(&old)
    );

    // Keys the vendor refuses never become current.
    let refused = keys();
    let env = |k: &[String; 3]| {
        vec![
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                creds.to_str().expect("utf-8").to_owned(),
            ),
            ("ALPHAVANTAGE_API_KEY", k[0].clone()),
            ("ALPACA_API_KEY", k[1].clone()),
            ("ALPACA_API_SECRET", k[2].clone()),
        ]
    };
    let run = |k: &[String; 3]| {
        let env = env(k);
        let env: Vec<(&str, &str)> = env.iter().map(|(a, b)| (*a, b.as_str())).collect();
        cli(
            &server,
            &["rotate", "complete", "--wait", "120"],
            &env,
            None,
        )
    };
    // `rotate complete` stops as soon as the rotation fails, not at the end of its wait.
    let asked = Instant::now();
    let out = run(&refused);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("failed with the new keys")
            && text(&out).contains("the vendor rejected the new key"),
        "{}",
        text(&out)
    );
    assert!(
        asked.elapsed() < Duration::from_secs(60),
        "waited {:?} after the vendor refused",
        asked.elapsed()
    );
    assert!(
        vendor.calls.load(Ordering::Acquire) >= 1,
        "the vendor was asked"
    );
    assert_eq!(
        current(&sm, "signal9-advisor/api-credentials").await.1,
        doc(&old)
    );
    let audit = server.audit_text();
    assert!(audit.contains("\"eventName\":\"RotationFailed\""));
    assert!(audit.contains("the vendor rejected the new key"));

    // The operator starts over (cancel, rotate) and supplies keys the vendor accepts.
    sm.cancel_rotate_secret()
        .secret_id("signal9-advisor/api-credentials")
        .send()
        .await
        .expect("cancel");
    let second = sm
        .rotate_secret()
        .secret_id("signal9-advisor/api-credentials")
        .rotation_lambda_arn(function("signal9-vendor-keys"))
        .send()
        .await
        .expect("rotate")
        .version_id()
        .expect("token")
        .to_owned();
    let out = run(&good);
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    until_current(&sm, "signal9-advisor/api-credentials", &second).await;
    assert_eq!(
        current(&sm, "signal9-advisor/api-credentials").await.1,
        doc(&good)
    );
    let audit = server.audit_text();
    assert!(audit.contains("\"eventName\":\"RotationSucceeded\""));
    for k in old.iter().chain(&refused).chain(&good) {
        assert!(!audit.contains(k.as_str()), "a key reached the audit trail");
        assert!(!server.log().contains(k.as_str()), "a key reached the log");
    }
}
