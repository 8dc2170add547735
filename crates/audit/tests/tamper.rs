//! Every way of tampering with the trail is detected and named: an edited byte, a removed,
//! reordered or truncated record, a deleted log file, a replaced digest, a digest re-signed
//! with another key, a deleted digest. Crash recovery and pruning keep the chain verifiable,
//! and records submitted concurrently are each written once, in one valid chain, whether
//! their groups are written by the submitters or by idle runtime workers.

use std::path::{Path, PathBuf};

use s9_audit::verify::{Kind, Report, Status, Window, verify};
use s9_audit::{
    AuditConfig, AuditLog, FsyncPolicy, IdleWriter, PublicKey, Signer, query, service_event,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);

struct Trail {
    _dir: tempfile::TempDir,
    logs: PathBuf,
    key: PathBuf,
}

fn config(logs: &Path, key: &Path, max_file_bytes: u64) -> AuditConfig {
    AuditConfig {
        dir: logs.to_owned(),
        key_path: key.to_owned(),
        fsync: FsyncPolicy::Always,
        max_file_bytes,
        retention: Duration::days(30),
        account_id: "123456789012".into(),
    }
}

async fn write(log: &AuditLog, n: usize, at: OffsetDateTime) {
    for i in 0..n {
        let event = service_event("123456789012", at, "Probe", serde_json::json!({"i": i}));
        log.record(event, at)
            .expect("queue")
            .wait()
            .await
            .expect("written");
    }
}

/// Two digests over several files, and one file written after the last digest.
async fn trail() -> Trail {
    let dir = tempfile::tempdir().expect("tmp");
    let logs = dir.path().join("audit");
    let key = dir.path().join("keys/audit.p8");
    let log = AuditLog::open(config(&logs, &key, 4_000), T0).expect("open");
    write(&log, 12, T0).await;
    log.digest(T0 + Duration::hours(1)).await.expect("digest 1");
    write(&log, 12, T0 + Duration::hours(1)).await;
    log.digest(T0 + Duration::hours(2)).await.expect("digest 2");
    write(&log, 3, T0 + Duration::hours(2)).await;
    Trail {
        _dir: dir,
        logs,
        key,
    }
}

fn public_key(key: &Path) -> PublicKey {
    Signer::open_or_create(key).expect("key").public_key()
}

fn logs_of(t: &Trail) -> Vec<PathBuf> {
    query::log_files(&t.logs).expect("files")
}

fn digests_of(t: &Trail) -> Vec<PathBuf> {
    let mut d: Vec<PathBuf> = std::fs::read_dir(t.logs.join("digests"))
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    d.sort();
    d
}

fn name(p: &Path) -> String {
    p.file_name().expect("name").to_string_lossy().into_owned()
}

fn check(t: &Trail) -> s9_audit::verify::Report {
    verify(&t.logs, &public_key(&t.key), Window::default()).expect("verify")
}

/// `t`, once its whole chain has verified.
fn verified(t: Trail) -> Trail {
    let report = check(&t);
    assert!(report.is_valid(), "{report:?}");
    t
}

fn rewrite_lines(path: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    f(&mut lines);
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .expect("write");
}

#[tokio::test]
async fn an_untouched_trail_verifies() {
    let t = trail().await;
    let report = check(&t);
    assert!(report.is_valid(), "{report:?}");
    assert!(logs_of(&t).len() >= 4, "size rotation made several files");
    assert_eq!(digests_of(&t).len(), 2);
    let last = logs_of(&t).last().map(|p| name(p)).expect("file");
    assert!(
        matches!(report.status_of(&last), Some(Status::NotYetSigned(d)) if d.starts_with("3 records")),
        "{report:?}"
    );
    let all = query::query(&t.logs, &query::Filter::default()).expect("query");
    assert_eq!(all.len(), 27);
}

#[tokio::test]
async fn each_kind_of_tampering_is_detected_and_named() {
    // An edited byte (line 0 is the file's header; record 2 is on line 2).
    let t = trail().await;
    let f = logs_of(&t)[0].clone();
    rewrite_lines(&f, |l| l[2] = l[2].replace("\"i\":1", "\"i\":7"));
    assert_eq!(
        check(&t).status_of(&name(&f)),
        Some(&Status::Modified("record 2: content edited".into()))
    );

    // An edited hash.
    let t = trail().await;
    let f = logs_of(&t)[0].clone();
    rewrite_lines(&f, |l| {
        l[1] = l[1].replacen("\"hash\":\"", "\"hash\":\"0", 1)
    });
    assert_eq!(
        check(&t).status_of(&name(&f)),
        Some(&Status::Modified("record 1: content edited".into()))
    );

    // A file renamed into another's place: its header still names it.
    let t = trail().await;
    let [a, b] = [0, 1].map(|i| logs_of(&t)[i].clone());
    std::fs::rename(&b, &a).expect("rename");
    assert!(
        matches!(check(&t).status_of(&name(&a)), Some(Status::Modified(d)) if d.contains("moved or renamed")),
        "{:?}",
        check(&t).status_of(&name(&a))
    );

    // A removed record.
    let t = trail().await;
    let f = logs_of(&t)[0].clone();
    rewrite_lines(&f, |l| {
        l.remove(2);
    });
    assert!(
        matches!(check(&t).status_of(&name(&f)), Some(Status::Modified(d)) if d.contains("record 3 where record 2")),
        "{:?}",
        check(&t)
    );

    // Reordered records.
    let t = trail().await;
    let f = logs_of(&t)[0].clone();
    rewrite_lines(&f, |l| l.swap(1, 2));
    assert!(matches!(
        check(&t).status_of(&name(&f)),
        Some(Status::Modified(_))
    ));

    // A truncated file.
    let t = trail().await;
    let f = logs_of(&t)[0].clone();
    rewrite_lines(&f, |l| l.truncate(2));
    assert!(
        matches!(check(&t).status_of(&name(&f)), Some(Status::Modified(d)) if d.contains("truncated")),
        "{:?}",
        check(&t).status_of(&name(&f))
    );

    // A deleted log file.
    let t = trail().await;
    let f = logs_of(&t)[1].clone();
    std::fs::remove_file(&f).expect("rm");
    assert_eq!(check(&t).status_of(&name(&f)), Some(&Status::Deleted));

    // A digest replaced by an edited copy (its signature no longer matches).
    let t = trail().await;
    let d = digests_of(&t)[0].clone();
    let text = std::fs::read_to_string(&d).expect("digest");
    std::fs::write(&d, text.replacen("\"records\":", "\"records\":1", 1)).expect("edit");
    assert_eq!(
        check(&t).status_of(&name(&d)),
        Some(&Status::InvalidSignature)
    );

    // A digest re-signed with another key.
    let t = trail().await;
    let d = digests_of(&t)[1].clone();
    let text = std::fs::read_to_string(&d).expect("digest");
    let file: serde_json::Value = serde_json::from_str(&text).expect("json");
    let body = file["digest"].to_string();
    let other = Signer::open_or_create(&t.logs.join("../other.p8")).expect("other key");
    std::fs::write(
        &d,
        format!(
            "{{\"digest\":{body},\"signature\":\"{}\"}}",
            other.sign(body.as_bytes())
        ),
    )
    .expect("re-sign");
    assert_eq!(
        check(&t).status_of(&name(&d)),
        Some(&Status::InvalidSignature)
    );

    // A deleted first digest: the chain start is missing, and its files no longer covered.
    let t = trail().await;
    let d = digests_of(&t)[0].clone();
    std::fs::remove_file(&d).expect("rm");
    let report = check(&t);
    assert!(
        matches!(report.status_of(&name(&d)), Some(Status::MissingDigest(_))),
        "{report:?}"
    );
    assert!(!report.is_valid());

    // A log file no digest lists, though older than the newest digest.
    let t = trail().await;
    let stray = t.logs.join("audit-20261101T003000Z-999999.jsonl");
    std::fs::write(&stray, "").expect("stray");
    assert!(matches!(
        check(&t).status_of(&name(&stray)),
        Some(Status::MissingDigest(_))
    ));

    // The trail stops: no digest for longer than two intervals.
    let t = trail().await;
    let window = Window {
        now: Some(T0 + Duration::hours(9)),
        digest_interval: Some(Duration::hours(1)),
        ..Window::default()
    };
    assert!(
        !verify(&t.logs, &public_key(&t.key), window)
            .expect("verify")
            .is_valid()
    );
}

#[tokio::test]
async fn a_torn_last_record_is_cut_on_restart_and_said_so() {
    let t = trail().await;
    let last = logs_of(&t).last().cloned().expect("file");
    let mut bytes = std::fs::read(&last).expect("read");
    // Torn inside a two-byte character.
    bytes.extend_from_slice(b"{\"seq\":4,\"event\":{\"userAgent\":\"caf\xc3");
    std::fs::write(&last, bytes).expect("tear");
    // Readers take the complete records and leave the torn line.
    let before = query::query(&t.logs, &query::Filter::default()).expect("query a torn file");
    assert_eq!(before.len(), 27);
    let log =
        AuditLog::open(config(&t.logs, &t.key, 4_000), T0 + Duration::hours(3)).expect("reopen");
    log.digest(T0 + Duration::hours(3)).await.expect("digest");
    drop(log);
    let report = check(&t);
    assert!(report.is_valid(), "{report:?}");
    let recovered = query::query(
        &t.logs,
        &query::Filter {
            event_name: Some("AuditLogRecovered".into()),
            ..Default::default()
        },
    )
    .expect("query");
    assert_eq!(recovered.len(), 1);
}

/// A crash and a restart within the same second: the new log file takes the next number
/// instead of failing on the name its predecessor took (which refused every read).
#[tokio::test]
async fn a_restart_within_the_same_second_writes_a_file_of_its_own() {
    let dir = tempfile::tempdir().expect("tmp");
    let logs = dir.path().join("audit");
    let key = dir.path().join("keys/audit.p8");
    let first = AuditLog::open(config(&logs, &key, 1_000_000), T0).expect("open");
    write(&first, 2, T0).await;
    drop(first); // no closing digest: as after kill -9
    let second = AuditLog::open(config(&logs, &key, 1_000_000), T0).expect("reopen");
    write(&second, 2, T0).await;
    second
        .digest(T0 + Duration::hours(1))
        .await
        .expect("digest");
    drop(second);
    let files: Vec<String> = query::log_files(&logs)
        .expect("files")
        .iter()
        .map(|p| name(p))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[0] < files[1],
        "the restart's file sorts after: {files:?}"
    );
    let t = Trail {
        _dir: dir,
        logs,
        key,
    };
    assert_eq!(
        query::query(&t.logs, &query::Filter::default())
            .expect("query")
            .iter()
            .filter(|e| e.event_name == "Probe")
            .count(),
        4
    );
    verified(t);
}

#[tokio::test]
async fn pruning_keeps_what_remains_verifiable_and_is_recorded() {
    let dir = tempfile::tempdir().expect("tmp");
    let logs = dir.path().join("audit");
    let key = dir.path().join("keys/audit.p8");
    let mut cfg = config(&logs, &key, 1_000_000);
    cfg.retention = Duration::days(1);
    let log = AuditLog::open(cfg, T0).expect("open");
    for h in 1..=3 {
        write(&log, 2, T0 + Duration::hours(h)).await;
        log.digest(T0 + Duration::hours(h)).await.expect("digest");
    }
    write(&log, 2, T0 + Duration::days(3)).await;
    let summary = log
        .digest(T0 + Duration::days(3))
        .await
        .expect("digest after retention");
    assert_eq!(
        summary.pruned_digests, 2,
        "the newest old digest is kept to continue the chain"
    );
    drop(log);
    let t = verified(Trail {
        _dir: dir,
        logs,
        key,
    });
    let pruned = query::query(
        &t.logs,
        &query::Filter {
            event_name: Some("AuditLogsPruned".into()),
            ..Default::default()
        },
    )
    .expect("query");
    assert_eq!(pruned.len(), 1);
}

/// A multi-thread runtime whose idle workers write the queue of the log `idle` is attached to.
fn runtime(workers: usize, idle: &IdleWriter) -> tokio::runtime::Runtime {
    let on_park = idle.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .on_thread_park(move || on_park.on_park())
        .build()
        .expect("runtime")
}

#[test]
fn concurrent_records_are_each_written_once_even_when_their_submitters_go_away() {
    // Groups written by their leaders only, then by idle workers too.
    for idle_workers_write in [false, true] {
        let idle = IdleWriter::default();
        runtime(4, &idle).block_on(concurrent_submitters(idle_workers_write.then_some(idle)));
    }
}

/// An empty trail under the default fsync policy, its log's queue written by idle workers
/// too when `idle` is given.
fn interval_trail(idle: Option<&IdleWriter>) -> (Trail, AuditLog) {
    let dir = tempfile::tempdir().expect("tmp");
    let logs = dir.path().join("audit");
    let key = dir.path().join("keys/audit.p8");
    let mut cfg = config(&logs, &key, 40_000);
    cfg.fsync = FsyncPolicy::DEFAULT;
    let log = AuditLog::open(cfg, T0).expect("open");
    if let Some(idle) = idle {
        idle.attach(&log);
    }
    let trail = Trail {
        _dir: dir,
        logs,
        key,
    };
    (trail, log)
}

async fn concurrent_submitters(idle: Option<IdleWriter>) {
    const TASKS: usize = 32;
    const EACH: usize = 60;
    let (trail, log) = interval_trail(idle.as_ref());
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    let mut event = service_event(
                        "123456789012",
                        T0,
                        "Probe",
                        serde_json::json!({"task": task, "i": i}),
                    );
                    // Half are answered once written, half once fsynced.
                    event.read_only = i % 2 == 0;
                    let pending = log.record(event, T0).expect("queue");
                    if i % 3 == 0 {
                        // Gone before its answer: possibly after being handed the queue.
                        tokio::task::yield_now().await;
                        drop(pending);
                    } else {
                        pending.wait().await.expect("written");
                    }
                }
            })
        })
        .collect();
    let all = async {
        for t in tasks {
            t.await.expect("task");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), all)
        .await
        .expect("no submitter waits forever");
    log.digest(T0 + Duration::hours(1)).await.expect("digest");

    let t = verified(trail);
    assert!(logs_of(&t).len() > 1, "size rotation under concurrency");
    let mut seen = std::collections::HashSet::new();
    for e in query::query(&t.logs, &query::Filter::default()).expect("query") {
        let details = e.response_elements.expect("details");
        let key = (details.get::<u64>("task"), details.get::<u64>("i"));
        assert!(seen.insert(key), "{key:?} written twice");
    }
    assert_eq!(seen.len(), TASKS * EACH, "every record is written");
}

/// A runtime worker that runs out of work writes the queue: the records queued behind a
/// submitter that leads but is not polled again are written all the same, and that
/// submitter finds its own record written when it gets to it.
#[test]
fn an_idle_worker_writes_the_queue_its_leader_left() {
    let idle = IdleWriter::default();
    runtime(2, &idle).block_on(async {
        let (trail, log) = interval_trail(Some(&idle));
        let probe = |i: u64| {
            let mut event = service_event("123456789012", T0, "Probe", serde_json::json!({"i": i}));
            event.read_only = true;
            event
        };
        let leader = log.record(probe(0), T0).expect("queue");
        let follower = log.record(probe(1), T0).expect("queue");
        let waited = tokio::spawn(follower.wait());
        tokio::time::timeout(std::time::Duration::from_secs(10), waited)
            .await
            .expect("written without its leader")
            .expect("task")
            .expect("written");
        leader.wait().await.expect("written");
        log.digest(T0 + Duration::hours(1)).await.expect("digest");
        let t = verified(trail);
        let written: Vec<_> = query::query(&t.logs, &query::Filter::default())
            .expect("query")
            .into_iter()
            .map(|e| e.response_elements.expect("details").get::<u64>("i"))
            .collect();
        assert_eq!(written, [Some(0), Some(1)], "both, in the order queued");
    });
}

/// A copy of the trail in `from`, with its digests.
fn copy_trail(from: &Path, to: &Path) {
    for sub in ["", "digests"] {
        std::fs::create_dir_all(to.join(sub)).expect("mkdir");
        for entry in std::fs::read_dir(from.join(sub)).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, to.join(sub).join(path.file_name().expect("name")))
                    .expect("copy");
            }
        }
    }
}

#[tokio::test]
async fn trails_written_before_files_had_headers_still_verify_and_read() {
    // Written by the build before format 2, and signed with a key whose public half is kept.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-trail");
    let key = PublicKey::from_base64(include_str!("fixtures/v1-trail.pub").trim()).expect("key");
    let report = verify(&fixture, &key, Window::default()).expect("verify");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.count(Kind::LogFile), 4);
    let records = query::query(&fixture, &query::Filter::default()).expect("query");
    assert_eq!(records.len(), 7);

    // Tampering with them is still named.
    let dir = tempfile::tempdir().expect("tmp");
    copy_trail(&fixture, dir.path());
    let f = query::log_files(dir.path()).expect("files")[0].clone();
    rewrite_lines(&f, |l| l[1] = l[1].replace("\"i\":1", "\"i\":7"));
    let report = verify(dir.path(), &key, Window::default()).expect("verify");
    assert_eq!(
        report.status_of(&name(&f)),
        Some(&Status::Modified("record 2: content edited".into()))
    );

    // A service opened on them without the key that signed them refuses to start: it would
    // go on under another key.
    let logs = dir.path().join("reopened");
    copy_trail(&fixture, &logs);
    let keys = dir.path().join("keys/audit.p8");
    std::fs::create_dir_all(keys.parent().expect("dir")).expect("mkdir");
    let refused = AuditLog::open(config(&logs, &keys, 4_000), T0 + Duration::hours(3))
        .expect_err("a signed trail without its key");
    assert!(
        refused.to_string().contains("audit.p8 is missing"),
        "{refused}"
    );
    assert!(!keys.exists(), "no key was created");

    // Without digests, a service opened on them goes on in files of the current format.
    std::fs::remove_dir_all(logs.join("digests")).expect("rm");
    let log = AuditLog::open(config(&logs, &keys, 4_000), T0 + Duration::hours(3)).expect("open");
    write(&log, 2, T0 + Duration::hours(3)).await;
    log.digest(T0 + Duration::hours(4)).await.expect("digest");
    drop(log);
    let newest = query::log_files(&logs).expect("files").pop().expect("file");
    let text = std::fs::read_to_string(&newest).expect("read");
    assert!(text.starts_with("{\"format\":\"s9-audit-log/3\""), "{text}");
}

/// One minute after the digest at `T0 + 1h`, a checkpoint signed the chain's head.
const CHECKPOINTED: OffsetDateTime = datetime!(2026-11-01 01:01 UTC);

/// A trail whose server ran past its last digest: thirteen records after the digest (several
/// files, the last open), a checkpoint signing them, and two records after the checkpoint.
async fn checkpointed() -> Trail {
    let dir = tempfile::tempdir().expect("tmp");
    let logs = dir.path().join("audit");
    let key = dir.path().join("keys/audit.p8");
    let log = AuditLog::open(config(&logs, &key, 4_000), T0).expect("open");
    write(&log, 12, T0).await;
    log.digest(T0 + Duration::hours(1)).await.expect("digest");
    write(&log, 13, T0 + Duration::hours(1)).await;
    log.checkpoint(CHECKPOINTED).await.expect("checkpoint");
    write(&log, 2, CHECKPOINTED + Duration::seconds(10)).await;
    drop(log); // no closing digest: the server is still running, or was killed
    Trail {
        _dir: dir,
        logs,
        key,
    }
}

fn check_at(t: &Trail, now: OffsetDateTime, strict: bool, anchors: &[PathBuf]) -> Report {
    let window = Window {
        now: Some(now),
        digest_interval: Some(Duration::hours(1)),
        checkpoint_interval: Some(Duration::minutes(1)),
        strict,
        anchors: anchors.to_vec(),
        ..Window::default()
    };
    verify(&t.logs, &public_key(&t.key), window).expect("verify")
}

fn failures(report: &Report) -> Vec<String> {
    report
        .files
        .iter()
        .filter(|f| f.status.is_failure())
        .map(|f| format!("{} {}: {}", f.kind, f.file, f.status))
        .collect()
}

/// The checkpoint's entry for the file it signed open.
fn open_entry(t: &Trail) -> (PathBuf, u64) {
    let text = std::fs::read_to_string(t.logs.join("checkpoint.json")).expect("checkpoint");
    let file: serde_json::Value = serde_json::from_str(&text).expect("json");
    let entries = file["checkpoint"]["logFiles"].as_array().expect("entries");
    let open = entries
        .iter()
        .find(|e| e["open"] == true)
        .expect("an open file");
    (
        t.logs.join(open["file"].as_str().expect("name")),
        open["records"].as_u64().expect("records"),
    )
}

#[tokio::test]
async fn a_checkpoint_signs_what_follows_the_last_digest() {
    let t = checkpointed().await;
    let soon = CHECKPOINTED + Duration::seconds(30);
    let report = check_at(&t, soon, true, &[]);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(
        report.status_of("checkpoint.json"),
        Some(&Status::Valid),
        "{report:?}"
    );
    let (open, signed) = open_entry(&t);
    assert!(signed > 0);
    assert!(
        matches!(report.status_of(&name(&open)), Some(Status::NotYetSigned(d))
            if d.starts_with(&format!("2 records after the {signed} records"))),
        "{report:?}"
    );

    // Long after, the two records are still unsigned: the server stopped without closing
    // its chain (or removed what signed them). Only `strict` fails on it.
    let later = CHECKPOINTED + Duration::minutes(10);
    assert!(check_at(&t, later, false, &[]).is_valid());
    let report = check_at(&t, later, true, &[]);
    let failed = failures(&report);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].contains("2 records after"), "{failed:?}");
    assert!(
        failed[1].starts_with("chain end: unsigned (no checkpoint since 2026-11-01T01:01:00Z"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn cutting_the_trail_back_past_its_checkpoint_is_detected() {
    let soon = CHECKPOINTED + Duration::seconds(30);

    // The newest records removed, signed ones among them.
    let t = checkpointed().await;
    let (open, signed) = open_entry(&t);
    rewrite_lines(&open, |l| l.truncate(l.len() - 3));
    let failed = failures(&check_at(&t, soon, false, &[]));
    assert_eq!(
        failed,
        [format!(
            "log file {}: modified (the file holds fewer than the {signed} records its checkpoint signed (truncated))",
            name(&open)
        )]
    );

    // The newest file removed.
    let t = checkpointed().await;
    let (open, _) = open_entry(&t);
    std::fs::remove_file(&open).expect("rm");
    assert_eq!(
        check_at(&t, soon, false, &[]).status_of(&name(&open)),
        Some(&Status::Deleted)
    );

    // The checkpoint removed with the records it signed: the chain was signed last by the
    // digest, and the records left after it are unsigned: fine for a minute or two (the
    // server signs every minute), failures once it should have signed them.
    let t = checkpointed().await;
    let (open, _) = open_entry(&t);
    std::fs::remove_file(&open).expect("rm");
    std::fs::remove_file(t.logs.join("checkpoint.json")).expect("rm");
    assert!(check_at(&t, T0 + Duration::seconds(3630), true, &[]).is_valid());
    let failed = failures(&check_at(&t, soon + Duration::minutes(3), true, &[]));
    assert!(
        failed.iter().any(|f| f.starts_with("chain end: unsigned (no checkpoint since 2026-11-01T01:00:00Z")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|f| f.contains("records written after the newest signature")),
        "{failed:?}"
    );

    // ... which a checkpoint kept off the host names, however old.
    let t = checkpointed().await;
    let anchor = t.logs.join("../anchor.json");
    std::fs::copy(t.logs.join("checkpoint.json"), &anchor).expect("keep");
    let (open, _) = open_entry(&t);
    std::fs::remove_file(&open).expect("rm");
    std::fs::remove_file(t.logs.join("checkpoint.json")).expect("rm");
    let failed = failures(&check_at(&t, soon, false, std::slice::from_ref(&anchor)));
    assert_eq!(
        failed,
        [format!(
            "anchor {}: modified ({}: deleted)",
            anchor.display(),
            name(&open)
        )]
    );

    // A file removed from among those written after the checkpoint: a gap in the numbers.
    let t = checkpointed().await;
    let log = AuditLog::open(config(&t.logs, &t.key, 4_000), soon).expect("reopen");
    let files_before = logs_of(&t).len();
    write(&log, 24, soon).await;
    drop(log);
    let after: Vec<PathBuf> = logs_of(&t).split_off(files_before);
    assert!(after.len() >= 3, "{after:?}");
    std::fs::remove_file(&after[1]).expect("rm");
    let number = name(&after[1])
        .trim_end_matches(".jsonl")
        .rsplit('-')
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .expect("number");
    let failed = failures(&check_at(&t, soon, false, &[]));
    assert_eq!(
        failed,
        [format!(
            "chain after log file {}: gap (log file number {number} is missing: removed)",
            number - 1
        )]
    );
}

#[tokio::test]
async fn a_closing_digest_ends_the_chain_and_numbers_go_on_after_it() {
    let t = checkpointed().await;
    let log = AuditLog::open(
        config(&t.logs, &t.key, 4_000),
        CHECKPOINTED + Duration::minutes(5),
    )
    .expect("restart");
    write(&log, 1, CHECKPOINTED + Duration::minutes(5)).await;
    log.closing_digest(CHECKPOINTED + Duration::minutes(6))
        .await
        .expect("closing digest");
    drop(log);
    // A week later, the trail of a stopped server is complete.
    let report = check_at(&t, CHECKPOINTED + Duration::days(7), true, &[]);
    assert!(report.is_valid(), "{report:?}");
    // Every file took the next number, across the restart.
    let numbers: Vec<u64> = logs_of(&t)
        .iter()
        .map(|p| {
            name(p)
                .trim_end_matches(".jsonl")
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("number")
        })
        .collect();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn a_signed_trail_is_never_continued_under_another_key() {
    let t = checkpointed().await;
    let at = CHECKPOINTED + Duration::minutes(5);
    std::fs::rename(&t.key, t.logs.join("../kept.p8")).expect("move the key away");
    let missing = AuditLog::open(config(&t.logs, &t.key, 4_000), at).expect_err("no key");
    assert!(
        missing.to_string().contains("audit.p8 is missing"),
        "{missing}"
    );
    assert!(!t.key.exists(), "no key was created beside a signed trail");

    Signer::open_or_create(&t.key).expect("another key");
    let other = AuditLog::open(config(&t.logs, &t.key, 4_000), at).expect_err("another key");
    assert!(
        other
            .to_string()
            .contains("is not the key that signed the trail"),
        "{other}"
    );

    std::fs::rename(t.logs.join("../kept.p8"), &t.key).expect("restore");
    AuditLog::open(config(&t.logs, &t.key, 4_000), at).expect("its own key");
}
