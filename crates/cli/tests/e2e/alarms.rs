//! Alarms end to end, against the real binary: requests through the SDK trip the rules, a
//! local webhook receives exactly the expected signed notifications (the first attempt is
//! refused with a 500 and retried), the alarms return to OK after their quiet period, and
//! `alarms list|history` show it. A webhook that is down delays no request and its failure
//! is recorded.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::{cli, text};
use crate::harness::{ACCOUNT, TestServer, admin_config, canary, code, read_profile};

const WEBHOOK_KEY: &str = "whk-0123456789abcdef-test-only";

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: String,
}

/// A webhook receiver on a loopback port: answers the first `fail_first` requests with
/// 500, the rest with 200, and keeps every request.
struct Webhook {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut served = 0;
            while !s.load(Ordering::Acquire) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).expect("blocking");
                let Some(req) = read_request(&mut conn) else {
                    continue;
                };
                r.lock().expect("lock").push(req);
                served += 1;
                let status = if served <= fail_first {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(conn: &mut std::net::TcpStream) -> Option<Received> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? != 1 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let headers: BTreeMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).ok()?;
    Some(Received {
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// An administrator (profile `default`) and a reader that may only read, with `alarms`
/// appended to the config.
fn config(dir: &Path, alarms: &str) -> PathBuf {
    std::fs::write(
        dir.join("reader.json"),
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
    )
    .expect("policy");
    std::fs::write(dir.join("webhook.key"), WEBHOOK_KEY).expect("key");
    admin_config(
        dir,
        &["reader"],
        &format!(
            "[[principal]]\nname = \"reader\"\narn = \"arn:aws:iam::{ACCOUNT}:role/reader\"\nprofile = \"reader\"\npolicies = [\"reader.json\"]\n\n{alarms}"
        ),
    )
}

/// `[start, end)` UTC hours that exclude this hour and the next, so a read now is outside.
fn hours_excluding_now() -> [u8; 2] {
    let h = time::OffsetDateTime::now_utc().hour();
    if h <= 11 { [h + 2, 24] } else { [1, h - 1] }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (alarm, subject, new state) of a notification body, after checking its envelope.
fn change_of(body: &str) -> (String, String, String) {
    let envelope: serde_json::Value = serde_json::from_str(body).expect("json body");
    assert_eq!(envelope["Type"], "Notification");
    assert!(
        envelope["TopicArn"]
            .as_str()
            .is_some_and(|t| t.starts_with("arn:aws:sns:"))
    );
    let message: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().expect("message")).expect("inner");
    let state = message["NewStateValue"].as_str().expect("state").to_owned();
    assert_eq!(
        envelope["Subject"],
        format!(
            "{state}: \"{}\" for {}",
            message["AlarmName"].as_str().expect("name"),
            message["Trigger"]["Subject"].as_str().expect("subject")
        )
    );
    (
        message["AlarmName"].as_str().expect("name").to_owned(),
        message["Trigger"]["Subject"]
            .as_str()
            .expect("subject")
            .to_owned(),
        state,
    )
}

#[tokio::test]
async fn alarms_fire_once_notify_a_signed_webhook_with_retries_and_return_to_ok() {
    let hook = Webhook::start(1);
    let dir = tempfile::tempdir().expect("tmp");
    let [start, end] = hours_excluding_now();
    let config = config(
        dir.path(),
        &format!(
            r#"[alarms]
interval_secs = 1
defaults = false
topic_arn = "arn:aws:sns:us-east-1:{ACCOUNT}:signal9-alarms"
webhook = {{ url = "http://{}/hooks/s9", key_file = "webhook.key", attempts = 3, backoff_ms = 100 }}

[[alarms.rule]]
name = "read-rate"
kind = "read-rate"
threshold = 10
period_secs = 60
ok_after_secs = 2

[[alarms.rule]]
name = "denied"
kind = "access-denied"
ok_after_secs = 2

[[alarms.rule]]
name = "after-hours"
kind = "outside-business-hours"
time_zone = "UTC"
days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
hours = [{start}, {end}]
ignore_principals = ["arn:aws:iam::{ACCOUNT}:user/admin"]
ok_after_secs = 2

[[alarms.rule]]
name = "new-principal"
kind = "new-principal"
ok_after_secs = 2
"#,
            hook.addr
        ),
    );
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    let creds = dir.path().join("credentials");
    let (id, secret) = read_profile(&creds, "default");
    let admin = server.client_with("us-east-1", &id, &secret);
    let (id, secret) = read_profile(&creds, "reader");
    let reader = server.client_with("us-east-1", &id, &secret);

    let name = "signal9-advisor/api-credentials";
    let value = canary();
    admin
        .create_secret()
        .name(name)
        .secret_string(&value)
        .send()
        .await
        .expect("create");
    // Ten reads a minute are allowed; the eleventh trips the rate alarm, once.
    for _ in 0..12 {
        reader
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .expect("read");
    }
    let denied = reader
        .put_secret_value()
        .secret_id(name)
        .secret_string(canary())
        .send()
        .await
        .expect_err("a reader cannot write");
    assert_eq!(code(denied), "AccessDeniedException");

    let admin_arn = format!("arn:aws:iam::{ACCOUNT}:user/admin");
    let reader_arn = format!("arn:aws:iam::{ACCOUNT}:role/reader");
    let expected_alarms = [
        ("new-principal", admin_arn.as_str()),
        ("new-principal", reader_arn.as_str()),
        ("read-rate", name),
        ("after-hours", reader_arn.as_str()),
        ("denied", reader_arn.as_str()),
    ];
    let mut expected: Vec<(String, String, String)> = expected_alarms
        .iter()
        .flat_map(|(a, s)| {
            ["ALARM", "OK"].map(|state| ((*a).to_owned(), (*s).to_owned(), state.to_owned()))
        })
        .collect();
    expected.sort();
    // Every change delivered (plus the one refused attempt), then nothing more.
    let received = wait_for("ten delivered notifications", || {
        let r = hook.received();
        (r.len() > expected.len()).then_some(r)
    });
    // Nothing more is coming: the rules have run two more time-driven evaluations since, and
    // every notification attempt the service made has reached the webhook.
    let counter = |fragments: &[&str]| {
        crate::metrics::sample_or_zero(&crate::metrics::scrape(&server), fragments).unwrap_or(0.0)
    };
    let ticks = counter(&["s9_alarm_ticks_total"]);
    wait_for("two more alarm evaluations", || {
        (counter(&["s9_alarm_ticks_total"]) >= ticks + 2.0).then_some(())
    });
    let attempts: f64 = ["delivered", "retried", "failed"]
        .iter()
        .map(|o| counter(&["s9_alarm_notifications_total", &format!("outcome=\"{o}\"")]))
        .sum();
    let received_after = hook.received();
    assert_eq!(
        attempts as usize,
        received_after.len(),
        "every attempt arrived"
    );
    assert_eq!(
        received_after.len(),
        received.len(),
        "no notification beyond the expected ones"
    );

    // The refused first attempt was retried with the same body.
    assert_eq!(received[0].body, received[1].body);
    let mut got: Vec<(String, String, String)> =
        received[1..].iter().map(|r| change_of(&r.body)).collect();
    got.sort();
    assert_eq!(got, expected);
    for r in &received {
        let signature = r.headers.get("x-s9-signature").expect("signed");
        let t: i64 = signature
            .strip_prefix("t=")
            .and_then(|s| s.split(',').next())
            .and_then(|t| t.parse().ok())
            .expect("timestamp");
        assert_eq!(
            *signature,
            s9_server::notify::signature(WEBHOOK_KEY.as_bytes(), t, r.body.as_bytes()),
            "the body is signed with the configured key"
        );
        assert_eq!(
            r.headers.get("x-amz-sns-message-type").map(String::as_str),
            Some("Notification")
        );
        assert!(!r.body.contains(&value), "a value reached a notification");
    }
    let reason = received
        .iter()
        .map(|r| r.body.clone())
        .find(|b| b.contains("read-rate") && b.contains("ALARM"))
        .expect("read-rate alarm");
    assert!(reason.contains("more than 10 reads"), "{reason}");

    // The CLI sees the states and the history, with delivery outcomes.
    let data_dir = server.data_dir();
    let dd = data_dir.to_str().expect("utf-8");
    let list = cli(&server, &["alarms", "list", "--data-dir", dd], &[], None);
    assert!(list.status.success(), "all back to OK: {}", text(&list));
    assert_eq!(text(&list).lines().count(), 5, "{}", text(&list));
    assert!(text(&list).lines().all(|l| l.starts_with("OK ")));
    let history = cli(
        &server,
        &["alarms", "history", "--output", "json", "--data-dir", dd],
        &[],
        None,
    );
    assert!(history.status.success(), "{}", text(&history));
    let changes: Vec<serde_json::Value> = String::from_utf8_lossy(&history.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(changes.len(), 10);
    let deliveries: Vec<&str> = changes
        .iter()
        .map(|c| c["delivery"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(deliveries[0], "delivered (attempt 2)", "{deliveries:?}");
    assert!(
        deliveries[1..]
            .iter()
            .all(|d| *d == "delivered (attempt 1)"),
        "{deliveries:?}"
    );
    let state_file = std::fs::read_to_string(data_dir.join("alarms.json")).expect("state");
    assert!(!state_file.contains(&value) && !server.log().contains(&value));
    assert!(
        server.log().contains("ALARM"),
        "the service log says so too"
    );
}

#[tokio::test]
async fn a_webhook_that_is_down_delays_no_request_and_its_failure_is_recorded() {
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let dir = tempfile::tempdir().expect("tmp");
    let config = config(
        dir.path(),
        &format!(
            "[alarms]\ndefaults = false\nwebhook = {{ url = \"http://{closed}/\", attempts = 3, backoff_ms = 200 }}\n\n[[alarms.rule]]\nname = \"denied\"\nkind = \"access-denied\"\n"
        ),
    );
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    let (id, secret) = read_profile(&dir.path().join("credentials"), "reader");
    let reader = server.client_with("us-east-1", &id, &secret);
    for _ in 0..3 {
        let err = reader
            .describe_secret()
            .secret_id("anything")
            .send()
            .await
            .expect_err("denied");
        assert_eq!(code(err), "AccessDeniedException");
    }
    let data_dir = server.data_dir();
    let dd = data_dir.to_str().expect("utf-8");
    let history = wait_for("the failed delivery in the history", || {
        let out = cli(&server, &["alarms", "history", "--data-dir", dd], &[], None);
        let t = text(&out);
        t.contains("failed:").then_some(t)
    });
    assert_eq!(history.lines().count(), 1, "one change: {history}");
    assert!(history.contains("ALARM") && history.contains("was denied DescribeSecret"));
    let list = cli(&server, &["alarms", "list", "--data-dir", dd], &[], None);
    assert_eq!(list.status.code(), Some(3), "an alarm is firing");
    let metrics = crate::metrics::scrape(&server);
    assert!(
        metrics.contains("s9_alarm_notifications_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("s9_alarm_notifications_total{outcome=\"retried\"} 2"));
    assert!(metrics.contains("s9_alarm_state{alarm=\"denied\""));
}
