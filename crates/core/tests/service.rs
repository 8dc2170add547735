//! The service in-process on a real store and a real key, with time moved by a
//! [`ManualClock`]: deletion windows, purge, access dates, version pruning, tamper detection,
//! and a model check of staging-label moves.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use s9_core::staging::{CURRENT, PENDING, PREVIOUS, VersionMeta, Versions};
use s9_core::{Caller, ManualClock, SecretPayload, Service};
use s9_store::{Envelope, FileKeyProvider, Mutation, Store, Table};
use s9_wire::ErrorCode;
use s9_wire::shapes::*;
use time::{Duration, macros::datetime};

const REGION: &str = "us-east-1";

fn admin() -> Caller {
    Caller::administrator("arn:aws:iam::123456789012:user/admin")
}

fn open(dir: &Path, clock: Arc<ManualClock>) -> Service {
    let envelope = Envelope::new(Box::new(
        FileKeyProvider::open_or_create(&dir.join("master.key")).expect("key"),
    ));
    let store = Store::open(&dir.join("secrets.redb")).expect("store");
    Service::load("123456789012".into(), clock, envelope, store).expect("load")
}

fn token(n: u32) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

fn create(name: &str, value: &str, n: u32) -> CreateSecretRequest {
    CreateSecretRequest {
        name: Some(name.into()),
        secret_string: Some(s9_wire::SecretText::new(value.into())),
        client_request_token: Some(token(n)),
        ..Default::default()
    }
}

fn get(id: &str) -> GetSecretValueRequest {
    GetSecretValueRequest {
        secret_id: Some(id.into()),
        ..Default::default()
    }
}

fn text(v: &s9_core::SecretValue) -> &str {
    match &v.payload {
        SecretPayload::Text(t) => t.expose_secret(),
        SecretPayload::Binary(_) => panic!("binary"),
    }
}

#[tokio::test]
async fn deleted_secrets_are_purged_when_their_window_ends() {
    let dir = tempfile::tempdir().expect("tmp");
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    let service = open(dir.path(), Arc::clone(&clock));
    service
        .create_secret(&admin(), REGION, create("a", "v", 1))
        .await
        .expect("create");
    let req = DeleteSecretRequest {
        secret_id: Some("a".into()),
        recovery_window_in_days: Some(7),
        ..Default::default()
    };
    service
        .delete_secret(&admin(), REGION, req)
        .await
        .expect("delete");
    clock.advance(Duration::days(7) - Duration::seconds(1));
    assert!(service.purge_due().await.expect("purge").is_empty());
    clock.advance(Duration::seconds(1));
    assert_eq!(service.purge_due().await.expect("purge").len(), 1);
    assert_eq!(
        service
            .describe_secret(&admin(), REGION, "a")
            .expect_err("gone")
            .code,
        ErrorCode::ResourceNotFound
    );
    drop(service);
    let service = open(dir.path(), clock);
    assert_eq!(service.secret_count(), 0, "the purge was durable");
}

#[tokio::test]
async fn last_accessed_is_kept_to_the_day() {
    let dir = tempfile::tempdir().expect("tmp");
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-04 15:30 UTC)));
    let service = open(dir.path(), Arc::clone(&clock));
    service
        .create_secret(&admin(), REGION, create("a", "v", 1))
        .await
        .expect("create");
    service
        .get_secret_value(&admin(), REGION, &get("a"))
        .expect("get");
    let day = datetime!(2026-03-04 00:00 UTC).unix_timestamp() as f64;
    let described = service
        .describe_secret(&admin(), REGION, "a")
        .expect("describe");
    assert_eq!(described.last_accessed_date, Some(day));
    clock.advance(Duration::days(1));
    service
        .get_secret_value(&admin(), REGION, &get("a"))
        .expect("get");
    assert_eq!(
        service
            .describe_secret(&admin(), REGION, "a")
            .expect("describe")
            .last_accessed_date,
        Some(day + 86_400.0)
    );
}

/// A secret holds at most 100 versions, as on AWS: within a day the 101st is refused with
/// LimitExceededException (nothing held in memory or the store for it); after a day the
/// oldest deprecated versions make room.
#[tokio::test]
async fn old_deprecated_versions_are_pruned_beyond_one_hundred() {
    let dir = tempfile::tempdir().expect("tmp");
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    let service = open(dir.path(), Arc::clone(&clock));
    service
        .create_secret(&admin(), REGION, create("a", "v0", 0))
        .await
        .expect("create");
    for n in 1..=110 {
        let put = PutSecretValueRequest {
            secret_id: Some("a".into()),
            secret_string: Some(s9_wire::SecretText::new(format!("v{n}"))),
            client_request_token: Some(token(n)),
            ..Default::default()
        };
        let put = service.put_secret_value(&admin(), REGION, put).await;
        if n < 100 {
            put.expect("put");
        } else {
            let e = put.expect_err("the 101st version within a day");
            assert_eq!(e.code, s9_wire::ErrorCode::LimitExceeded, "{e:?}");
        }
    }
    let count = |service: &Service| {
        let mut n = 0;
        let mut next = None;
        loop {
            let req = ListSecretVersionIdsRequest {
                secret_id: Some("a".into()),
                include_deprecated: Some(true),
                next_token: next,
                ..Default::default()
            };
            let page = service
                .list_secret_version_ids(&admin(), REGION, &req)
                .expect("list");
            n += page.versions.len();
            match page.next_token {
                Some(t) => next = Some(t),
                None => return n,
            }
        }
    };
    assert_eq!(
        count(&service),
        100,
        "versions younger than a day are kept, no more"
    );
    clock.advance(Duration::days(2));
    let put = PutSecretValueRequest {
        secret_id: Some("a".into()),
        secret_string: Some(s9_wire::SecretText::new("last".into())),
        client_request_token: Some(token(999)),
        ..Default::default()
    };
    service
        .put_secret_value(&admin(), REGION, put)
        .await
        .expect("put");
    assert_eq!(count(&service), 100);
    let current = service
        .get_secret_value(&admin(), REGION, &get("a"))
        .expect("get");
    assert_eq!(text(&current), "last");
}

#[tokio::test]
async fn swapped_or_edited_ciphertexts_fail_with_decryption_failure() {
    let dir = tempfile::tempdir().expect("tmp");
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    let service = open(dir.path(), Arc::clone(&clock));
    let a = service
        .create_secret(&admin(), REGION, create("a", "value-a", 1))
        .await
        .expect("a")
        .arn
        .expect("arn");
    let b = service
        .create_secret(&admin(), REGION, create("b", "value-b", 2))
        .await
        .expect("b")
        .arn
        .expect("arn");
    drop(service);

    // Swap the two sealed values in the store, as an attacker with write access to the file
    // could.
    let store = Store::open(&dir.path().join("secrets.redb")).expect("store");
    let key_a = format!("{a}\n{}", token(1));
    let key_b = format!("{b}\n{}", token(2));
    let blob_a = store.get(Table::Versions, &key_a).expect("get").expect("a");
    let blob_b = store.get(Table::Versions, &key_b).expect("get").expect("b");
    store
        .commit(vec![
            Mutation::Put {
                table: Table::Versions,
                key: key_a.clone(),
                value: blob_b,
            },
            Mutation::Put {
                table: Table::Versions,
                key: key_b,
                value: blob_a.clone(),
            },
        ])
        .await
        .expect("swap");
    drop(store);
    let service = open(dir.path(), Arc::clone(&clock));
    assert_eq!(
        service
            .get_secret_value(&admin(), REGION, &get("a"))
            .expect_err("swapped")
            .code,
        ErrorCode::DecryptionFailure
    );
    assert_eq!(
        service
            .get_secret_value(&admin(), REGION, &get("b"))
            .expect_err("swapped")
            .code,
        ErrorCode::DecryptionFailure
    );
    drop(service);

    // Flip one byte of a ciphertext.
    let store = Store::open(&dir.path().join("secrets.redb")).expect("store");
    let mut sealed: serde_json::Value = serde_json::from_slice(&blob_a).expect("sealed");
    let ct = sealed["ciphertext"].as_array_mut().expect("bytes");
    let last = ct.len() - 1;
    ct[last] = serde_json::json!((ct[last].as_u64().expect("byte") ^ 1));
    store
        .commit(vec![Mutation::Put {
            table: Table::Versions,
            key: key_a,
            value: serde_json::to_vec(&sealed).expect("json"),
        }])
        .await
        .expect("edit");
    drop(store);
    let service = open(dir.path(), clock);
    let err = service
        .get_secret_value(&admin(), REGION, &get("a"))
        .expect_err("edited");
    assert_eq!(err.code, ErrorCode::DecryptionFailure);
    assert!(!err.message.contains("value-"));
}

/// Concurrent writes and access-date updates to one secret reach the disk in the order they
/// were applied: what is reloaded equals what was served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_reload_exactly_as_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    let service = Arc::new(open(dir.path(), Arc::clone(&clock)));
    service
        .create_secret(&admin(), REGION, create("hot", "v", 0))
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let (service, clock) = (Arc::clone(&service), Arc::clone(&clock));
        tasks.push(tokio::spawn(async move {
            for i in 0..25u32 {
                let n = 1 + t * 100 + i;
                let put = PutSecretValueRequest {
                    secret_id: Some("hot".into()),
                    secret_string: Some(s9_wire::SecretText::new(format!("v{n}"))),
                    client_request_token: Some(token(n)),
                    version_stages: (i % 3 == 0).then(|| vec![PENDING.to_owned()]),
                    ..Default::default()
                };
                service
                    .put_secret_value(&admin(), REGION, put)
                    .await
                    .expect("put");
                clock.advance(Duration::hours(7));
                service
                    .get_secret_value(&admin(), REGION, &get("hot"))
                    .expect("get");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let all = ListSecretVersionIdsRequest {
        secret_id: Some("hot".into()),
        include_deprecated: Some(true),
        max_results: Some(100),
        ..Default::default()
    };
    let served = serde_json::to_value(
        service
            .list_secret_version_ids(&admin(), REGION, &all)
            .expect("list"),
    )
    .expect("json");
    let described = serde_json::to_value(
        service
            .describe_secret(&admin(), REGION, "hot")
            .expect("describe"),
    )
    .expect("json");
    // Every change was submitted before its call returned; closing the store drains them.
    drop(service);
    let service = open(dir.path(), clock);
    assert_eq!(
        serde_json::to_value(
            service
                .list_secret_version_ids(&admin(), REGION, &all)
                .expect("list")
        )
        .expect("json"),
        served
    );
    assert_eq!(
        serde_json::to_value(
            service
                .describe_secret(&admin(), REGION, "hot")
                .expect("describe")
        )
        .expect("json"),
        described
    );
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        stages: Vec<usize>,
    },
    Move {
        stage: usize,
        to: usize,
        name_holder: bool,
    },
    Remove {
        stage: usize,
    },
}

const LABELS: [&str; 5] = [CURRENT, PREVIOUS, PENDING, "blue", "green"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        proptest::collection::vec(0..LABELS.len(), 0..3).prop_map(|stages| Op::Put { stages }),
        (0..LABELS.len(), 0..12usize, any::<bool>()).prop_map(|(stage, to, name_holder)| {
            Op::Move {
                stage,
                to,
                name_holder,
            }
        }),
        (1..LABELS.len()).prop_map(|stage| Op::Remove { stage }),
    ]
}

/// The model: which version holds each label. AWSCURRENT moving leaves AWSPREVIOUS behind;
/// a first version is always current.
#[derive(Debug, Default)]
struct Model {
    holder: HashMap<&'static str, usize>,
    versions: usize,
}

impl Model {
    fn attach(&mut self, label: &'static str, to: usize) {
        if label == CURRENT
            && let Some(&from) = self.holder.get(CURRENT)
            && from != to
        {
            self.holder.insert(PREVIOUS, from);
        }
        self.holder.insert(label, to);
    }
}

proptest! {
    /// Every sequence of puts, moves and removals leaves each label on exactly the version the
    /// model says, and AWSCURRENT on some version once one exists.
    #[test]
    fn staging_labels_follow_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mut versions = Versions::default();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Put { stages } => {
                    let id = model.versions;
                    let labels: BTreeSet<String> = stages.iter().map(|&i| LABELS[i].to_owned()).collect();
                    let meta = VersionMeta { id: id.to_string(), stages: BTreeSet::new(), created: 0.0, last_accessed: None, kms_key_id: "k".into() };
                    versions.add(meta, &labels).expect("add");
                    model.versions += 1;
                    let mut labels: Vec<&'static str> = stages.iter().map(|&i| LABELS[i]).collect();
                    if !model.holder.contains_key(CURRENT) { labels.push(CURRENT); }
                    // A new current value drops AWSPENDING from the version it replaces.
                    if labels.contains(&CURRENT) && model.holder.get(PENDING) == model.holder.get(CURRENT)
                        && model.holder.contains_key(CURRENT) { model.holder.remove(PENDING); }
                    labels.sort_unstable();
                    labels.dedup();
                    // Moving AWSCURRENT first, as the implementation may, must not matter.
                    for label in labels { model.attach(label, id); }
                }
                Op::Move { stage, to, name_holder } => {
                    if model.versions == 0 { continue; }
                    let to = to % model.versions;
                    let label = LABELS[stage];
                    let holder = model.holder.get(label).copied();
                    let remove_from = if name_holder { holder.map(|h| h.to_string()) } else { None };
                    let result = versions.update_stage(label, remove_from.as_deref(), Some(&to.to_string()));
                    let must_name = holder.is_some_and(|h| h != to) && !name_holder;
                    prop_assert_eq!(result.is_err(), must_name);
                    if !must_name { model.attach(label, to); }
                }
                Op::Remove { stage } => {
                    let label = LABELS[stage];
                    let Some(holder) = model.holder.get(label).copied() else { continue };
                    versions.update_stage(label, Some(&holder.to_string()), None).expect("remove");
                    model.holder.remove(label);
                }
            }
            for label in LABELS {
                let actual = versions.with_stage(label).map(|v| v.id.clone());
                let expected = model.holder.get(label).map(ToString::to_string);
                prop_assert_eq!(actual, expected, "label {}", label);
            }
            if model.versions > 0 {
                prop_assert!(versions.with_stage(CURRENT).is_some());
            }
        }
    }
}
