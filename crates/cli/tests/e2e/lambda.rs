//! The rotation Lambda (`lambdas/rotation`) invoked by the service, with faults injected
//! at each step. The service calls an `http` rotation function; this test serves it by
//! running the Lambda's handler, which does its work through aws-sdk-secretsmanager against
//! the service, as it would on AWS. Faults: the handler crashes (connection dropped), hangs
//! past the step timeout, testSecret rejects the new keys, and the service is killed with
//! kill -9 mid-rotation. AWSCURRENT stays readable and unchanged until a rotation succeeds.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::RotationRulesType;
use s9_rotation_lambda::{Event, Mode, Settings};
use tokio::io::AsyncWriteExt as _;

use crate::cli::keys;
use crate::harness::{ACCOUNT, TestServer, admin_config, read_profile, token};

const FIELDS: [&str; 3] = ["alphaVantageApiKey", "alpacaApiKey", "alpacaApiSecret"];
const NAME: &str = "signal9-advisor/api-credentials";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Drop the connection without an answer at this step.
    Crash(&'static str),
    /// Answer nothing for longer than the step timeout at this step.
    Hang(&'static str),
}

struct Invoker {
    settings: Settings,
    fault: Option<Fault>,
    client: Option<Client>,
    /// Steps invoked, in order, with their outcome.
    calls: Vec<(String, &'static str)>,
}

/// The "Lambda service" for the test: POST /invoke runs the handler on the event.
struct LambdaHost {
    port: u16,
    state: Arc<Mutex<Invoker>>,
    task: tokio::task::JoinHandle<()>,
}

impl LambdaHost {
    async fn start(settings: Settings) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(Invoker {
            settings,
            fault: None,
            client: None,
            calls: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(conn, Arc::clone(&shared)));
            }
        });
        Self { port, state, task }
    }

    fn set(&self, f: impl FnOnce(&mut Invoker)) {
        f(&mut self.state.lock().expect("lock"));
    }

    fn calls(&self) -> Vec<(String, &'static str)> {
        self.state.lock().expect("lock").calls.clone()
    }
}

impl Drop for LambdaHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut conn: tokio::net::TcpStream, state: Arc<Mutex<Invoker>>) {
    let Some(body) = crate::proxy::read_request(&mut conn, &mut Vec::new()).await else {
        return;
    };
    let event: serde_json::Value = serde_json::from_slice(&body).expect("rotation event");
    let event = Event {
        step: event["Step"].as_str().expect("Step").to_owned(),
        secret_id: event["SecretId"].as_str().expect("SecretId").to_owned(),
        token: event["ClientRequestToken"]
            .as_str()
            .expect("token")
            .to_owned(),
    };
    let (settings, fault, client) = {
        let s = state.lock().expect("lock");
        (
            s.settings.clone(),
            s.fault,
            s.client.clone().expect("client"),
        )
    };
    let record = |outcome| {
        state
            .lock()
            .expect("lock")
            .calls
            .push((event.step.clone(), outcome));
    };
    match fault {
        Some(Fault::Crash(step)) if step == event.step => {
            record("crashed");
            return; // dropped without an answer
        }
        Some(Fault::Hang(step)) if step == event.step => {
            record("hung");
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        _ => {}
    }
    let result = s9_rotation_lambda::handle(&client, &settings, &event).await;
    record(if result.is_ok() { "ok" } else { "error" });
    let status = if result.is_ok() {
        "200 OK"
    } else {
        "500 Internal Server Error"
    };
    let _ = conn
        .write_all(
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
}

fn config(dir: &Path, port: u16) -> PathBuf {
    admin_config(
        dir,
        &[],
        &format!(
            r#"[rotation]
interval_secs = 1
step_timeout_secs = 2
retry_backoff_secs = 1

[[rotation.function]]
name = "signal9-rotation"
kind = "http"
url = "http://127.0.0.1:{port}/invoke"
"#
        ),
    )
}

fn doc(k: &[String; 3]) -> String {
    serde_json::json!({FIELDS[0]: k[0], FIELDS[1]: k[1], FIELDS[2]: k[2], "note": "kept"})
        .to_string()
}

async fn current(sm: &Client) -> (String, String) {
    let v = sm
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .expect("AWSCURRENT is always readable");
    (
        v.version_id().unwrap_or_default().to_owned(),
        v.secret_string().unwrap_or_default().to_owned(),
    )
}

/// Waits for `pred` on the secret's rotation state, checking AWSCURRENT on every look.
async fn until(
    sm: &Client,
    what: &str,
    expect_current: &str,
    pred: impl Fn(&[(String, &'static str)]) -> bool,
    host: &LambdaHost,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert_eq!(
            current(sm).await.1,
            expect_current,
            "AWSCURRENT changed while {what}"
        );
        if pred(&host.calls()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {what}: {:?}",
            host.calls()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn failed_at(
    step: &'static str,
    outcome: &'static str,
) -> impl Fn(&[(String, &'static str)]) -> bool {
    move |calls| calls.iter().any(|(s, o)| s == step && *o == outcome)
}

async fn until_rotated(sm: &Client, old: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, value) = current(sm).await;
        let pending = sm
            .describe_secret()
            .secret_id(NAME)
            .send()
            .await
            .expect("describe")
            .version_ids_to_stages()
            .is_some_and(|m| m.values().any(|s| s.iter().any(|l| l == "AWSPENDING")));
        if value != old && !pending {
            return value;
        }
        assert!(Instant::now() < deadline, "the rotation never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Lambda host in `mode`, a server calling it, an administrator's client, and the
/// secret holding its first keys.
async fn setup(mode: Mode) -> (LambdaHost, tempfile::TempDir, TestServer, Client, String) {
    let host = LambdaHost::start(Settings {
        mode,
        required_fields: FIELDS.map(String::from).to_vec(),
    })
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let server = TestServer::start_with(&[
        "--config",
        config(dir.path(), host.port).to_str().expect("utf-8"),
    ]);
    let (id, secret) = read_profile(&dir.path().join("credentials"), "default");
    let sm = server.client_with("us-east-1", &id, &secret);
    host.set(|h| h.client = Some(sm.clone()));
    let old = doc(&keys());
    sm.create_secret()
        .name(NAME)
        .secret_string(&old)
        .send()
        .await
        .expect("create");
    (host, dir, server, sm, old)
}

fn start_rotation() -> (String, RotationRulesType) {
    (
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:signal9-rotation"),
        RotationRulesType::builder()
            .schedule_expression("rate(90 days)")
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rotation_lambda_survives_a_crash_and_a_hang_and_rotates_random_fields() {
    let (host, _dir, server, sm, old) = setup(Mode::Random { length: 40 }).await;

    // A crash at setSecret, then a hang at finishSecret: AWSCURRENT stays the old value.
    host.set(|h| h.fault = Some(Fault::Crash("setSecret")));
    let (function, rules) = start_rotation();
    sm.rotate_secret()
        .secret_id(NAME)
        .rotation_lambda_arn(&function)
        .rotation_rules(rules)
        .send()
        .await
        .expect("rotate");
    until(
        &sm,
        "setSecret crashed",
        &old,
        failed_at("setSecret", "crashed"),
        &host,
    )
    .await;
    let failed = || {
        crate::metrics::sample_or_zero(
            &crate::metrics::scrape(&server),
            &["s9_rotations_total", "outcome=\"failed\""],
        )
        .unwrap_or(0.0)
    };
    let failed_before = failed();
    host.set(|h| h.fault = Some(Fault::Hang("finishSecret")));
    until(
        &sm,
        "finishSecret hung",
        &old,
        failed_at("finishSecret", "hung"),
        &host,
    )
    .await;
    // The step timeout (2 s) fails the hung step: seen in the rotation counter, not guessed
    // by sleeping. With the fault gone, the retry completes.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while failed() <= failed_before {
        assert!(
            std::time::Instant::now() < deadline,
            "the hung step never timed out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(current(&sm).await.1, old);
    host.set(|h| h.fault = None);
    let new = until_rotated(&sm, &old).await;

    let (old_doc, new_doc): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&old).expect("json"),
        serde_json::from_str(&new).expect("json"),
    );
    for f in FIELDS {
        let v = new_doc[f].as_str().expect("string field");
        assert_eq!(v.len(), 40);
        assert_ne!(new_doc[f], old_doc[f], "{f} rotated");
    }
    assert_eq!(new_doc["note"], "kept", "other fields are kept");
    let calls = host.calls();
    assert!(
        calls.ends_with(&[
            ("createSecret".to_owned(), "ok"),
            ("setSecret".to_owned(), "ok"),
            ("testSecret".to_owned(), "ok"),
            ("finishSecret".to_owned(), "ok"),
        ]),
        "{calls:?}"
    );
    let log = server.log();
    assert!(!log.contains(&new) && !log.contains(new_doc[FIELDS[2]].as_str().expect("f")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_keys_through_the_lambda_fail_the_test_step_when_bad_and_survive_kill_9() {
    let (host, dir, mut server, sm, old) = setup(Mode::VendorKey).await;
    let (id, secret) = read_profile(&dir.path().join("credentials"), "default");
    let (function, rules) = start_rotation();
    let rotation = token();
    sm.rotate_secret()
        .secret_id(NAME)
        .rotation_lambda_arn(&function)
        .rotation_rules(rules)
        .client_request_token(&rotation)
        .send()
        .await
        .expect("rotate");
    // No keys yet: createSecret fails, and keeps failing across a kill -9.
    until(
        &sm,
        "waiting for keys",
        &old,
        failed_at("createSecret", "error"),
        &host,
    )
    .await;
    server.kill9();
    server.restart();
    let sm = server.client_with("us-east-1", &id, &secret);
    host.set(|h| h.client = Some(sm.clone()));

    // Keys with whitespace: createSecret accepts nothing invalid, so testSecret's check is
    // what a put-then-rotate would hit; both name the field, not the value.
    let mut bad = keys();
    bad[1] = format!("PK {}", &bad[1][3..]);
    sm.put_secret_value()
        .secret_id(NAME)
        .client_request_token(&rotation)
        .secret_string(doc(&bad))
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("operator supplies keys");
    let before = host.calls().len();
    until(
        &sm,
        "bad keys refused",
        &old,
        |calls| calls[before..].iter().any(|(_, o)| *o == "error"),
        &host,
    )
    .await;
    assert!(
        !host.calls()[before..]
            .iter()
            .any(|(s, _)| s == "finishSecret")
    );

    // Good keys (the operator overwrites AWSPENDING: a new version with the same token is
    // refused, so cancel and restart the rotation as an operator would).
    sm.cancel_rotate_secret()
        .secret_id(NAME)
        .send()
        .await
        .expect("cancel");
    let good = keys();
    let second = token();
    let (function, rules) = start_rotation();
    sm.rotate_secret()
        .secret_id(NAME)
        .rotation_lambda_arn(&function)
        .rotation_rules(rules)
        .client_request_token(&second)
        .send()
        .await
        .expect("rotate again");
    sm.put_secret_value()
        .secret_id(NAME)
        .client_request_token(&second)
        .secret_string(doc(&good))
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("operator supplies good keys");
    let new = until_rotated(&sm, &old).await;
    assert_eq!(new, doc(&good));
    assert!(!server.log().contains(&good[2]) && !server.log().contains(&bad[2]));
}
