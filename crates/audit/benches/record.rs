//! What the audit log costs a request, without the network: a GetSecretValue record as the
//! server builds it, submitted and awaited alone (a group of one) and 32 at a time (one
//! group, as under load), on one thread, with the default fsync policy.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use s9_audit::{AuditConfig, AuditEvent, AuditLog, FsyncPolicy, Members, UserIdentity};
use time::OffsetDateTime;

const ACCOUNT: &str = "123456789012";

/// A GetSecretValue record like the server's (about 850 bytes of JSON).
fn event(now: OffsetDateTime) -> AuditEvent<'static> {
    let user = "arn:aws:iam::123456789012:user/asset-sync";
    AuditEvent {
        event_version: "1.08".into(),
        user_identity: UserIdentity {
            kind: "IAMUser".into(),
            principal_id: Some("AKIAZM6N5X4N7CZD4P2V".into()),
            arn: Some(user.into()),
            account_id: Some(ACCOUNT.into()),
            access_key_id: Some("AKIAZM6N5X4N7CZD4P2V".into()),
            user_name: Some("asset-sync".into()),
            invoked_by: None,
        },
        event_time: s9_audit::event_time(now),
        event_source: "secretsmanager.amazonaws.com".into(),
        event_name: "GetSecretValue".into(),
        aws_region: "us-east-1".into(),
        source_ip_address: "127.0.0.1".into(),
        user_agent: "aws-sdk-rust/1.3.9 os/linux lang/rust/1.88.0".into(),
        request_parameters: Members::sanitize(br#"{"SecretId":"signal9-advisor/api-credentials"}"#),
        response_elements: None,
        error_code: None,
        error_message: None,
        request_id: s9_audit::new_id().into(),
        event_id: s9_audit::new_id(),
        read_only: true,
        resources: Vec::new(),
        event_type: "AwsApiCall".into(),
        management_event: true,
        recipient_account_id: ACCOUNT.into(),
        event_category: "Management".into(),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let now = OffsetDateTime::now_utc();
    let log = runtime.block_on(async {
        AuditLog::open(
            AuditConfig {
                dir: dir.path().join("audit"),
                key_path: dir.path().join("keys/audit.p8"),
                fsync: FsyncPolicy::DEFAULT,
                max_file_bytes: 64 << 20,
                retention: time::Duration::days(30),
                account_id: ACCOUNT.into(),
            },
            now,
        )
        .expect("open")
    });
    let template = event(now);
    let mut group = c.benchmark_group("audit record");
    group.sample_size(20);
    for size in [1u64, 32] {
        group.throughput(Throughput::Elements(size));
        group.bench_function(format!("groups of {size}"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let pending: Vec<_> = (0..size)
                        .map(|_| log.record(template.clone(), now).expect("queued"))
                        .collect();
                    for p in pending {
                        p.wait().await.expect("written");
                    }
                });
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
