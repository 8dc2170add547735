//! Time travel: the server runs in this process on a real socket, on a `ManualClock` the
//! test moves, and the SDK signs with the same clock. Over eleven days of service time in a
//! few seconds: `rate()`, `cron()` and `AutomaticallyAfterDays` schedules rotate when the
//! clock passes NextRotationDate and not before; a window passed while "down" is marked
//! missed; a vendor rotation stuck waiting raises rotation-overdue, then fails when its
//! wait times out; and the business-hours alarm follows New York's switch to daylight
//! saving time.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::types::RotationRulesType;
use s9_core::alarms::{AlarmState, BusinessHours, Rule, RuleKind, Snapshot};
use s9_core::{Clock, ManualClock};
use s9_server::alarms::AlarmSettings;
use s9_server::rotation::RotationSettings;
use s9_server::{AuditSettings, Limits, Server, ServerConfig};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::harness::{ACCOUNT, canary, read_profile};

/// The SDK's clock is the server's.
#[derive(Debug)]
struct SdkClock(Arc<ManualClock>);

impl aws_smithy_async::time::TimeSource for SdkClock {
    fn now(&self) -> SystemTime {
        let nanos = u64::try_from(self.0.now().unix_timestamp_nanos()).expect("after 1970");
        SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
    }
}

fn function(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
}

fn alarm_settings() -> AlarmSettings {
    let days: Vec<String> = ["Mon", "Tue", "Wed", "Thu", "Fri"]
        .map(String::from)
        .to_vec();
    // The disk-space rule depends on this machine's disk, not on the clock.
    let mut rules: Vec<Rule> = Rule::defaults()
        .into_iter()
        .filter(|r| !matches!(r.kind, RuleKind::AuditDiskSpace { .. }))
        .collect();
    rules.push(Rule {
        name: "after-hours".into(),
        description: Some("Secret reads outside New York business hours".into()),
        kind: RuleKind::OutsideBusinessHours {
            hours: BusinessHours::new("America/New_York", &days, [8, 18]).expect("hours"),
            ignore: Default::default(),
        },
        ok_after: time::Duration::minutes(1),
    });
    AlarmSettings {
        rules,
        interval: Duration::from_millis(50),
        ..AlarmSettings::default()
    }
}

async fn wait_for<T, F: Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// LastRotatedDate and NextRotationDate (epoch seconds), as DescribeSecret reports them.
async fn rotation_dates(sm: &Client, id: &str) -> (Option<i64>, Option<i64>) {
    let d = sm
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .expect("describe");
    (
        d.last_rotated_date().map(|t| t.secs()),
        d.next_rotation_date().map(|t| t.secs()),
    )
}

async fn last_rotated(sm: &Client, id: &str) -> Option<i64> {
    rotation_dates(sm, id).await.0
}

async fn next_rotation(sm: &Client, id: &str) -> i64 {
    rotation_dates(sm, id).await.1.expect("next rotation date")
}

async fn rotated_at(sm: &Client, id: &str, at: OffsetDateTime) {
    wait_for(&format!("{id} rotated at {at}"), || async {
        (last_rotated(sm, id).await == Some(at.unix_timestamp())).then_some(())
    })
    .await;
}

fn history(data_dir: &Path) -> Vec<(String, String, AlarmState, OffsetDateTime)> {
    Snapshot::read(&data_dir.join("alarms.json"))
        .expect("alarm file")
        .history
        .iter()
        .map(|c| (c.alarm.clone(), c.subject.clone(), c.to, c.time))
        .collect()
}

async fn history_len(
    data_dir: &Path,
    n: usize,
) -> Vec<(String, String, AlarmState, OffsetDateTime)> {
    wait_for(&format!("{n} alarm changes"), || async {
        let h = history(data_dir);
        (h.len() >= n).then_some(h)
    })
    .await
}

fn audit_text(data_dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(data_dir.join("audit")).expect("audit dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            all.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_windows_overdue_and_business_hours_follow_the_service_clock() {
    let t0 = datetime!(2026-03-06 12:00 UTC); // a Friday; 07:00 in New York (EST)
    let clock = Arc::new(ManualClock::new(t0));
    let dir = tempfile::tempdir().expect("tmp");
    let data_dir = dir.path().join("data");
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        metrics_listen: Some("127.0.0.1:0".parse().expect("addr")),
        tls: None,
        insecure_plaintext: false,
        trusted_proxies: Default::default(),
        data_dir: data_dir.clone(),
        credentials: None,
        principals: None,
        account_id: ACCOUNT.into(),
        limits: Limits::default(),
        purge_interval: Duration::from_secs(3600),
        audit: AuditSettings::default(),
        rotation: RotationSettings {
            interval: Duration::from_millis(50),
            ..RotationSettings::default()
        },
        alarms: alarm_settings(),
    };
    let server = Server::start(config, Arc::clone(&clock) as Arc<dyn Clock>)
        .await
        .expect("start");
    let addr = server.local_addr().expect("addr");
    let metrics_addr = server.metrics_addr().expect("metrics listener");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let (id, secret) = read_profile(&data_dir.join("credentials"), "default");
    let sm = Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://{addr}"))
            .credentials_provider(Credentials::new(id, secret, None, None, "time-travel"))
            .time_source(SdkClock(Arc::clone(&clock)))
            .build(),
    );

    let schedules: [(&str, RotationRulesType, &str); 4] = [
        (
            "rate-secret",
            RotationRulesType::builder()
                .schedule_expression("rate(10 days)")
                .build(),
            "s9-rotation-random",
        ),
        (
            "cron-secret",
            RotationRulesType::builder()
                .schedule_expression("cron(0 8 ? * MON *)")
                .duration("2h")
                .build(),
            "s9-rotation-random",
        ),
        (
            "days-secret",
            RotationRulesType::builder()
                .automatically_after_days(1)
                .duration("2h")
                .build(),
            "s9-rotation-random",
        ),
        (
            "vendor-secret",
            RotationRulesType::builder()
                .automatically_after_days(1)
                .build(),
            "s9-rotation-vendor-key",
        ),
    ];
    for (name, rules, handler) in schedules {
        sm.create_secret()
            .name(name)
            .secret_string(canary())
            .send()
            .await
            .expect("create");
        sm.rotate_secret()
            .secret_id(name)
            .rotation_lambda_arn(function(handler))
            .rotation_rules(rules)
            .rotate_immediately(false)
            .send()
            .await
            .expect("rotate");
    }
    let day = 86_400;
    assert_eq!(
        next_rotation(&sm, "rate-secret").await,
        t0.unix_timestamp() + 10 * day
    );
    assert_eq!(
        next_rotation(&sm, "cron-secret").await,
        datetime!(2026-03-09 08:00 UTC).unix_timestamp(),
        "the next Monday 08:00 UTC"
    );
    assert_eq!(
        next_rotation(&sm, "days-secret").await,
        t0.unix_timestamp() + day
    );

    // Friday 07:00 EST: a read outside business hours.
    sm.get_secret_value()
        .secret_id("rate-secret")
        .send()
        .await
        .expect("read");
    let admin = history_len(&data_dir, 1).await[0].1.clone();
    assert!(
        admin.starts_with(&format!("arn:aws:iam::{ACCOUNT}:")),
        "{admin}"
    );

    // Saturday 11:00: a quiet day turns it OK; no schedule is due yet.
    let sat_11 = datetime!(2026-03-07 11:00 UTC);
    clock.set(sat_11);
    history_len(&data_dir, 2).await;
    settled(metrics_addr, None).await;
    for name in ["rate-secret", "cron-secret", "days-secret", "vendor-secret"] {
        assert_eq!(last_rotated(&sm, name).await, None, "{name} rotated early");
    }

    // Saturday 12:01: the daily schedules are due.
    let sat_1201 = datetime!(2026-03-07 12:01 UTC);
    clock.set(sat_1201);
    rotated_at(&sm, "days-secret", sat_1201).await;
    assert_eq!(
        next_rotation(&sm, "days-secret").await,
        sat_1201.unix_timestamp() + day
    );
    // The vendor rotation starts and waits for an operator.
    wait_for("vendor rotation waiting", || async {
        let v = sm
            .list_secret_version_ids()
            .secret_id("vendor-secret")
            .send()
            .await
            .expect("versions");
        v.versions()
            .iter()
            .any(|v| v.version_stages().iter().any(|s| s == "AWSPENDING"))
            .then_some(())
    })
    .await;
    // Operators are told (the rotation-awaiting-input alarm).
    let changes = history_len(&data_dir, 3).await;
    assert_eq!(
        (changes[2].0.as_str(), changes[2].1.as_str(), changes[2].2),
        (
            "rotation-awaiting-input",
            "vendor-secret",
            AlarmState::Alarm
        )
    );

    // Monday 08:30 UTC, as if the service had been down since Saturday: the cron window
    // (08:00–10:00) is open; days-secret's (Sunday 12:01–14:01) was missed; the vendor
    // rotation is a day past its date.
    let mon_0830 = datetime!(2026-03-09 08:30 UTC);
    clock.set(mon_0830);
    rotated_at(&sm, "cron-secret", mon_0830).await;
    rotated_at(&sm, "days-secret", mon_0830).await;
    let changes = history_len(&data_dir, 4).await;

    assert_eq!(
        (
            changes[3].0.as_str(),
            changes[3].1.as_str(),
            changes[3].2,
            changes[3].3
        ),
        (
            "rotation-overdue",
            "vendor-secret",
            AlarmState::Alarm,
            mon_0830
        )
    );
    let audit = audit_text(&data_dir);
    assert!(
        audit.contains("\"missedWindow\":true"),
        "the missed window is recorded"
    );
    assert_eq!(
        audit.matches("\"missedWindow\":true").count(),
        1,
        "only days-secret missed its window"
    );
    let metrics = scrape_metrics(metrics_addr).await;
    assert!(
        metrics.contains("s9_rotation_in_progress{secret=\"vendor-secret\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("s9_alarm_state{alarm=\"rotation-overdue\",subject=\"vendor-secret\"} 1")
    );
    sm.cancel_rotate_secret()
        .secret_id("days-secret")
        .send()
        .await
        .expect("cancel");

    // Monday 12:30 UTC is 08:30 in New York since Sunday's switch to EDT (it would be
    // 07:30 in EST): inside business hours, no alarm.
    clock.set(datetime!(2026-03-09 12:30 UTC));
    let evaluated = alarm_records(metrics_addr).await;
    sm.get_secret_value()
        .secret_id("rate-secret")
        .send()
        .await
        .expect("read");
    settled(metrics_addr, Some(evaluated)).await;
    assert_eq!(history(&data_dir).len(), 4);
    // Monday 22:30 UTC is 18:30 EDT: after hours.
    let mon_2230 = datetime!(2026-03-09 22:30 UTC);
    clock.set(mon_2230);
    sm.get_secret_value()
        .secret_id("rate-secret")
        .send()
        .await
        .expect("read");
    let changes = history_len(&data_dir, 5).await;

    // The next Monday, 12:01: rate(10 days) is due.
    let due = datetime!(2026-03-16 12:01 UTC);
    clock.set(due);
    rotated_at(&sm, "rate-secret", due).await;
    assert_eq!(
        next_rotation(&sm, "rate-secret").await,
        due.unix_timestamp() + 10 * day
    );

    let expected = vec![
        (
            "after-hours".to_owned(),
            admin.clone(),
            AlarmState::Alarm,
            t0,
        ),
        (
            "after-hours".to_owned(),
            admin.clone(),
            AlarmState::Ok,
            sat_11,
        ),
        (
            "rotation-awaiting-input".to_owned(),
            "vendor-secret".to_owned(),
            AlarmState::Alarm,
            sat_1201,
        ),
        (
            "rotation-overdue".to_owned(),
            "vendor-secret".to_owned(),
            AlarmState::Alarm,
            mon_0830,
        ),
        (
            "after-hours".to_owned(),
            admin.clone(),
            AlarmState::Alarm,
            mon_2230,
        ),
    ];
    assert_eq!(changes[..5], expected);
    // On the 16th the quiet period has passed, and the vendor rotation has waited longer
    // than its seven days for an operator: it failed (AWSCURRENT untouched).
    let mut last = history_len(&data_dir, 7).await.split_off(5);
    last.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        last,
        vec![
            ("after-hours".to_owned(), admin, AlarmState::Ok, due),
            (
                "rotation-failed".to_owned(),
                "vendor-secret".to_owned(),
                AlarmState::Alarm,
                due
            ),
        ]
    );
    settled(metrics_addr, None).await;
    let all = history(&data_dir);
    assert_eq!(all.len(), 7, "nothing else changed: {all:#?}");

    let _ = stop.send(());
    running.await.expect("server task");
}

/// Waits until each background worker named by its progress counter (`s9_rotation_passes`,
/// `s9_alarm_ticks`) has completed a whole pass that began after this call (two more than
/// now: one may have been under way), and the alarm rules have evaluated at least
/// `records` more audit records than they had when the caller read `alarm_records`.
async fn settled(addr: std::net::SocketAddr, records_from: Option<u64>) {
    let counters = |text: &str| {
        let read = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (
            read("s9_rotation_passes_total"),
            read("s9_alarm_ticks_total"),
            read("s9_alarm_records_total"),
        )
    };
    let (passes, ticks, _) = counters(&scrape_metrics(addr).await);
    wait_for("the workers to complete a pass", || async {
        let (p, t, r) = counters(&scrape_metrics(addr).await);
        (p >= passes + 2 && t >= ticks + 2 && records_from.is_none_or(|from| r > from))
            .then_some(())
    })
    .await;
}

/// How many audit records the alarm rules have evaluated so far.
async fn alarm_records(addr: std::net::SocketAddr) -> u64 {
    scrape_metrics(addr)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("s9_alarm_records_total ")?.parse().ok())
        .unwrap_or(0)
}

async fn scrape_metrics(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    out
}
