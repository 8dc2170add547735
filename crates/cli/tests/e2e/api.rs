//! Every operation through aws-sdk-secretsmanager against the real binary, over plain HTTP
//! on loopback and over TLS (the SDK trusting the server's private CA, as `AWS_CA_BUNDLE`
//! makes it): each scenario runs on both.

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{
    Filter, FilterNameStringType, ReplicaRegionType, RotationRulesType, SortOrderType, Tag,
};

use crate::harness::{ACCOUNT, TestServer, answer, code, message, token};

/// Each scenario as a test against a plaintext server (`plaintext::…`) and a TLS one
/// (`tls::…`).
macro_rules! on_both_transports {
    ($($name:ident),* $(,)?) => {
        mod plaintext {
            $(#[tokio::test]
            async fn $name() {
                super::$name(crate::harness::TestServer::start()).await;
            })*
        }
        mod tls {
            $(#[tokio::test]
            async fn $name() {
                super::$name(crate::harness::TestServer::start_tls(&[])).await;
            })*
        }
    };
}

on_both_transports!(
    create_get_put_and_staging_labels_follow_aws,
    binary_secrets_partial_arns_and_update_secret,
    delete_restore_force_and_recovery_windows,
    tags_filters_sorting_and_pagination,
    batch_get_reports_per_secret_errors,
    random_passwords_policies_and_rotation_configuration,
    regions_are_namespaces_and_replication_copies_between_them,
    validation_and_token_rules,
    answers_where_aws_was_seen_to_differ,
);

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

async fn create_get_put_and_staging_labels_follow_aws(server: TestServer) {
    let sm = server.client();
    let v1 = token();
    let created = sm
        .create_secret()
        .name("app/db")
        .secret_string("one")
        .client_request_token(&v1)
        .send()
        .await
        .expect("create");
    let arn = created.arn().expect("arn").to_owned();
    assert!(arn.starts_with(&format!(
        "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app/db-"
    )));
    assert_eq!(
        arn.len(),
        format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app/db-").len() + 6
    );
    assert_eq!(created.version_id(), Some(v1.as_str()));

    let got = sm
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .expect("get");
    assert_eq!(got.secret_string(), Some("one"));
    assert_eq!(got.version_stages(), ["AWSCURRENT"]);
    assert!(got.created_date().is_some());

    let v2 = token();
    let put = sm
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("two")
        .client_request_token(&v2)
        .send()
        .await
        .expect("put");
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);
    let prev = sm
        .get_secret_value()
        .secret_id("app/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .expect("previous");
    assert_eq!(prev.secret_string(), Some("one"));
    assert_eq!(prev.version_id(), Some(v1.as_str()));

    // Idempotent retry: same token, same value.
    let again = sm
        .put_secret_value()
        .secret_id("app/db")
        .secret_string("two")
        .client_request_token(&v2)
        .send()
        .await
        .expect("retry");
    assert_eq!(again.version_id(), Some(v2.as_str()));
    // Same token, different value.
    let err = sm
        .put_secret_value()
        .secret_id("app/db")
        .secret_string("other")
        .client_request_token(&v2)
        .send()
        .await
        .expect_err("conflict");
    assert_eq!(code(err), "ResourceExistsException");

    // A pending version, then promote it.
    let v3 = token();
    let pending = sm
        .put_secret_value()
        .secret_id("app/db")
        .secret_string("three")
        .client_request_token(&v3)
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("pending");
    assert_eq!(pending.version_stages(), ["AWSPENDING"]);
    let err = sm
        .update_secret_version_stage()
        .secret_id("app/db")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v3)
        .send()
        .await
        .expect_err("must name holder");
    assert_eq!(code(err), "InvalidParameterException");
    sm.update_secret_version_stage()
        .secret_id("app/db")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v3)
        .remove_from_version_id(&v2)
        .send()
        .await
        .expect("promote");
    let desc = sm
        .describe_secret()
        .secret_id("app/db")
        .send()
        .await
        .expect("describe");
    let stages = desc.version_ids_to_stages().expect("stages");
    assert_eq!(stages[&v3], ["AWSCURRENT", "AWSPENDING"]);
    assert_eq!(stages[&v2], ["AWSPREVIOUS"]);
    assert!(
        !stages.contains_key(&v1),
        "deprecated versions are not listed"
    );

    let versions = sm
        .list_secret_version_ids()
        .secret_id("app/db")
        .send()
        .await
        .expect("versions");
    assert_eq!(versions.versions().len(), 2);
    let all = sm
        .list_secret_version_ids()
        .secret_id("app/db")
        .include_deprecated(true)
        .send()
        .await
        .expect("versions");
    assert_eq!(all.versions().len(), 3);
    assert_eq!(all.versions()[0].kms_key_ids(), ["DefaultEncryptionKey"]);

    // VersionId + VersionStage must agree.
    let err = sm
        .get_secret_value()
        .secret_id("app/db")
        .version_id(&v1)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect_err("mismatch");
    assert_eq!(
        message(&err),
        "You provided a VersionStage that is not associated to the provided VersionId."
    );
    let err = sm
        .get_secret_value()
        .secret_id("app/db")
        .version_stage("NOPE")
        .send()
        .await
        .expect_err("no stage");
    assert_eq!(
        message(&err),
        "Secrets Manager can't find the specified secret value for staging label: NOPE"
    );
}

async fn binary_secrets_partial_arns_and_update_secret(server: TestServer) {
    let sm = server.client();
    let bytes = vec![0u8, 1, 2, 255, 254];
    let created = sm
        .create_secret()
        .name("bin")
        .secret_binary(Blob::new(bytes.clone()))
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    let arn = created.arn().expect("arn");
    let partial = &arn[..arn.len() - 7];
    let got = sm
        .get_secret_value()
        .secret_id(partial)
        .send()
        .await
        .expect("partial arn");
    assert_eq!(
        got.secret_binary().expect("binary").as_ref(),
        bytes.as_slice()
    );
    assert!(got.secret_string().is_none());

    let err = sm
        .create_secret()
        .name("both")
        .secret_string("a")
        .secret_binary(Blob::new(vec![1]))
        .client_request_token(token())
        .send()
        .await
        .expect_err("both");
    assert_eq!(code(err), "InvalidParameterException");

    let updated = sm
        .update_secret()
        .secret_id("bin")
        .description("new description")
        .send()
        .await
        .expect("update");
    assert!(updated.version_id().is_none());
    let updated = sm
        .update_secret()
        .secret_id("bin")
        .secret_string("now text")
        .client_request_token(token())
        .send()
        .await
        .expect("update value");
    assert!(updated.version_id().is_some());
    let got = sm
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .expect("get");
    assert_eq!(got.secret_string(), Some("now text"));
    let desc = sm
        .describe_secret()
        .secret_id("bin")
        .send()
        .await
        .expect("describe");
    assert_eq!(desc.description(), Some("new description"));

    // A secret with no value yet.
    sm.create_secret()
        .name("empty")
        .send()
        .await
        .expect("create empty");
    let err = sm
        .get_secret_value()
        .secret_id("empty")
        .send()
        .await
        .expect_err("no value");
    assert_eq!(code(err), "ResourceNotFoundException");
    let put = sm
        .put_secret_value()
        .secret_id("empty")
        .secret_string("first")
        .client_request_token(token())
        .send()
        .await
        .expect("put");
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);

    let err = sm
        .create_secret()
        .name("bin")
        .secret_string("x")
        .client_request_token(token())
        .send()
        .await
        .expect_err("exists");
    assert_eq!(code(err), "ResourceExistsException");
    let err = sm
        .create_secret()
        .name("Inv Name")
        .send()
        .await
        .expect_err("bad name");
    assert_eq!(code(err), "ValidationException");
}

async fn delete_restore_force_and_recovery_windows(server: TestServer) {
    let sm = server.client();
    sm.create_secret()
        .name("gone")
        .secret_string("v")
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    let err = sm
        .delete_secret()
        .secret_id("gone")
        .recovery_window_in_days(3)
        .send()
        .await
        .expect_err("window");
    assert_eq!(code(err), "InvalidParameterException");
    let err = sm
        .delete_secret()
        .secret_id("gone")
        .recovery_window_in_days(7)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect_err("both");
    assert_eq!(code(err), "InvalidParameterException");
    let deleted = sm
        .delete_secret()
        .secret_id("gone")
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("delete");
    let when = deleted.deletion_date().expect("date").secs();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((when - now - 7 * 86_400).abs() < 60, "deletion in 7 days");

    let err = sm
        .get_secret_value()
        .secret_id("gone")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(
        message(&err),
        "You can't perform this operation on the secret because it was marked for deletion."
    );
    let err = sm
        .create_secret()
        .name("gone")
        .send()
        .await
        .expect_err("scheduled");
    assert_eq!(code(err), "InvalidRequestException");
    let err = sm
        .tag_resource()
        .secret_id("gone")
        .tags(tag("a", "b"))
        .send()
        .await
        .expect_err("tag deleted");
    assert_eq!(code(err), "InvalidRequestException");
    let desc = sm
        .describe_secret()
        .secret_id("gone")
        .send()
        .await
        .expect("describe deleted");
    assert!(desc.deleted_date().is_some());
    let listed = sm.list_secrets().send().await.expect("list");
    assert!(listed.secret_list().is_empty());
    let listed = sm
        .list_secrets()
        .include_planned_deletion(true)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.secret_list().len(), 1);

    sm.restore_secret()
        .secret_id("gone")
        .send()
        .await
        .expect("restore");
    assert_eq!(
        sm.get_secret_value()
            .secret_id("gone")
            .send()
            .await
            .expect("get")
            .secret_string(),
        Some("v")
    );

    let first = sm
        .describe_secret()
        .secret_id("gone")
        .send()
        .await
        .expect("describe")
        .arn()
        .expect("arn")
        .to_owned();
    sm.delete_secret()
        .secret_id("gone")
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("force");
    let err = sm
        .describe_secret()
        .secret_id("gone")
        .send()
        .await
        .expect_err("purged");
    assert_eq!(code(err), "ResourceNotFoundException");
    let again = sm
        .create_secret()
        .name("gone")
        .send()
        .await
        .expect("recreate");
    assert_ne!(
        again.arn(),
        Some(first.as_str()),
        "a recreated secret gets a new suffix"
    );
}

async fn tags_filters_sorting_and_pagination(server: TestServer) {
    let sm = server.client();
    for i in 0..7 {
        sm.create_secret()
            .name(format!("svc/{i}"))
            .description(if i % 2 == 0 {
                "Even Secret"
            } else {
                "odd secret"
            })
            .tags(tag(
                "Project",
                if i < 3 { "Signal9Advisor" } else { "Other" },
            ))
            .send()
            .await
            .expect("create");
    }
    sm.create_secret().name("zzz").send().await.expect("create");

    sm.tag_resource()
        .secret_id("zzz")
        .tags(tag("a", "1"))
        .tags(tag("b", "2"))
        .send()
        .await
        .expect("tag");
    sm.untag_resource()
        .secret_id("zzz")
        .tag_keys("a")
        .send()
        .await
        .expect("untag");
    let desc = sm
        .describe_secret()
        .secret_id("zzz")
        .send()
        .await
        .expect("describe");
    assert_eq!(desc.tags().len(), 1);
    sm.untag_resource()
        .secret_id("zzz")
        .tag_keys("b")
        .send()
        .await
        .expect("untag");
    let desc = sm
        .describe_secret()
        .secret_id("zzz")
        .send()
        .await
        .expect("describe");
    assert!(
        desc.tags.as_ref().is_some_and(Vec::is_empty),
        "Tags: [] after the last tag is removed"
    );

    let by = |key: FilterNameStringType, v: &str| Filter::builder().key(key).values(v).build();
    let names =
        |out: &aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput| -> Vec<String> {
            out.secret_list()
                .iter()
                .filter_map(|s| s.name().map(str::to_owned))
                .collect()
        };
    let out = sm
        .list_secrets()
        .filters(by(FilterNameStringType::TagValue, "Signal9"))
        .send()
        .await
        .expect("list");
    assert_eq!(names(&out), ["svc/0", "svc/1", "svc/2"]);
    let out = sm
        .list_secrets()
        .filters(by(FilterNameStringType::Description, "even"))
        .send()
        .await
        .expect("list");
    assert_eq!(names(&out).len(), 4, "description is case-insensitive");
    let out = sm
        .list_secrets()
        .filters(by(FilterNameStringType::Name, "!svc"))
        .send()
        .await
        .expect("list");
    assert_eq!(names(&out), ["zzz"]);
    let out = sm
        .list_secrets()
        .filters(by(FilterNameStringType::TagKey, "Project"))
        .filters(by(FilterNameStringType::Description, "odd"))
        .send()
        .await
        .expect("list");
    assert_eq!(names(&out), ["svc/1", "svc/3", "svc/5"]);
    let out = sm
        .list_secrets()
        .filters(by(FilterNameStringType::All, "signal9advisor"))
        .send()
        .await
        .expect("list");
    assert_eq!(names(&out).len(), 3);

    let out = sm
        .list_secrets()
        .sort_order(SortOrderType::Desc)
        .send()
        .await
        .expect("list");
    assert_eq!(names(&out).first().map(String::as_str), Some("zzz"));

    let mut seen = Vec::new();
    let mut next = None;
    loop {
        let out = sm
            .list_secrets()
            .max_results(3)
            .set_next_token(next.clone())
            .send()
            .await
            .expect("page");
        assert!(out.secret_list().len() <= 3);
        seen.extend(names(&out));
        next = out.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 8);
    let err = sm
        .list_secrets()
        .next_token("bogus")
        .send()
        .await
        .expect_err("bad token");
    assert_eq!(code(err), "InvalidNextTokenException");
}

async fn batch_get_reports_per_secret_errors(server: TestServer) {
    let sm = server.client();
    sm.create_secret()
        .name("b/1")
        .secret_string("one")
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    sm.create_secret()
        .name("b/2")
        .secret_string("two")
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    let out = sm
        .batch_get_secret_value()
        .secret_id_list("b/1")
        .secret_id_list("b/2")
        .secret_id_list("b/missing")
        .send()
        .await
        .expect("batch");
    let mut values: Vec<&str> = out
        .secret_values()
        .iter()
        .filter_map(|v| v.secret_string())
        .collect();
    values.sort_unstable();
    assert_eq!(values, ["one", "two"]);
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].secret_id(), Some("b/missing"));
    assert_eq!(
        out.errors()[0].error_code(),
        Some("ResourceNotFoundException")
    );

    let out = sm
        .batch_get_secret_value()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values("b/")
                .build(),
        )
        .max_results(1)
        .send()
        .await
        .expect("batch by filter");
    assert_eq!(out.secret_values().len(), 1);
    assert!(out.next_token().is_some());
}

async fn random_passwords_policies_and_rotation_configuration(server: TestServer) {
    let sm = server.client();
    let pw = sm
        .get_random_password()
        .password_length(64)
        .exclude_punctuation(true)
        .send()
        .await
        .expect("password");
    let pw = pw.random_password().expect("pw");
    assert_eq!(pw.len(), 64);
    assert!(pw.chars().all(char::is_alphanumeric));
    let err = sm
        .get_random_password()
        .password_length(5000)
        .send()
        .await
        .expect_err("too long");
    assert_eq!(code(err), "ValidationException");

    sm.create_secret()
        .name("p")
        .secret_string("v")
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/reader"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    sm.put_resource_policy()
        .secret_id("p")
        .resource_policy(policy)
        .send()
        .await
        .expect("put policy");
    let got = sm
        .get_resource_policy()
        .secret_id("p")
        .send()
        .await
        .expect("get policy");
    assert_eq!(got.resource_policy(), Some(policy));
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let err = sm
        .put_resource_policy()
        .secret_id("p")
        .resource_policy(public)
        .block_public_policy(true)
        .send()
        .await
        .expect_err("public");
    assert_eq!(code(err), "PublicPolicyException");
    let err = sm
        .put_resource_policy()
        .secret_id("p")
        .resource_policy("{not json")
        .send()
        .await
        .expect_err("malformed");
    assert_eq!(code(err), "MalformedPolicyDocumentException");
    let v = sm
        .validate_resource_policy()
        .resource_policy(public)
        .send()
        .await
        .expect("validate");
    assert!(!v.policy_validation_passed());
    sm.delete_resource_policy()
        .secret_id("p")
        .send()
        .await
        .expect("delete policy");
    assert!(
        sm.get_resource_policy()
            .secret_id("p")
            .send()
            .await
            .expect("get")
            .resource_policy()
            .is_none()
    );

    let err = sm
        .rotate_secret()
        .secret_id("p")
        .send()
        .await
        .expect_err("no lambda");
    assert_eq!(
        message(&err),
        "No Lambda rotation function ARN is associated with this secret."
    );
    let lambda = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:s9-rotation-vendor-key");
    let rules = RotationRulesType::builder()
        .automatically_after_days(90)
        .build();
    let rotated = sm
        .rotate_secret()
        .secret_id("p")
        .rotation_lambda_arn(&lambda)
        .rotation_rules(rules)
        .rotate_immediately(false)
        .send()
        .await
        .expect("rotate");
    assert!(rotated.version_id().is_none());
    let desc = sm
        .describe_secret()
        .secret_id("p")
        .send()
        .await
        .expect("describe");
    assert_eq!(desc.rotation_enabled(), Some(true));
    assert_eq!(desc.rotation_lambda_arn(), Some(lambda.as_str()));
    assert_eq!(
        desc.rotation_rules()
            .and_then(|r| r.automatically_after_days()),
        Some(90)
    );
    let next = desc.next_rotation_date().expect("next").secs();
    assert!((next - time::OffsetDateTime::now_utc().unix_timestamp() - 90 * 86_400).abs() < 60);
    let bad = RotationRulesType::builder()
        .schedule_expression("rate(2 hours)")
        .build();
    let err = sm
        .rotate_secret()
        .secret_id("p")
        .rotation_rules(bad)
        .send()
        .await
        .expect_err("bad rate");
    assert_eq!(code(err), "InvalidParameterException");
    sm.cancel_rotate_secret()
        .secret_id("p")
        .send()
        .await
        .expect("cancel");
    let desc = sm
        .describe_secret()
        .secret_id("p")
        .send()
        .await
        .expect("describe");
    assert_eq!(desc.rotation_enabled(), Some(false));
}

async fn regions_are_namespaces_and_replication_copies_between_them(server: TestServer) {
    let east = server.client_in("us-east-1");
    let west = server.client_in("eu-west-1");
    east.create_secret()
        .name("shared")
        .secret_string("v1")
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    let err = west
        .get_secret_value()
        .secret_id("shared")
        .send()
        .await
        .expect_err("other region");
    assert_eq!(code(err), "ResourceNotFoundException");

    let out = east
        .replicate_secret_to_regions()
        .secret_id("shared")
        .add_replica_regions(ReplicaRegionType::builder().region("eu-west-1").build())
        .send()
        .await
        .expect("replicate");
    assert_eq!(
        out.replication_status()[0].status().map(|s| s.as_str()),
        Some("InSync")
    );
    let replica = west
        .get_secret_value()
        .secret_id("shared")
        .send()
        .await
        .expect("replica");
    assert_eq!(replica.secret_string(), Some("v1"));
    assert!(replica.arn().expect("arn").contains(":eu-west-1:"));
    east.put_secret_value()
        .secret_id("shared")
        .secret_string("v2")
        .client_request_token(token())
        .send()
        .await
        .expect("put");
    assert_eq!(
        west.get_secret_value()
            .secret_id("shared")
            .send()
            .await
            .expect("replica")
            .secret_string(),
        Some("v2")
    );
    let err = west
        .put_secret_value()
        .secret_id("shared")
        .secret_string("x")
        .client_request_token(token())
        .send()
        .await
        .expect_err("replica is read-only");
    assert_eq!(
        message(&err),
        "Operation not permitted on a replica secret. Call must be made in primary secret's region."
    );
    assert_eq!(code(err), "InvalidParameterException");
    let desc = west
        .describe_secret()
        .secret_id("shared")
        .send()
        .await
        .expect("describe");
    assert_eq!(desc.primary_region(), Some("us-east-1"));

    let err = east
        .delete_secret()
        .secret_id("shared")
        .send()
        .await
        .expect_err("has replicas");
    assert!(
        message(&err).starts_with("You can't delete secret arn:aws:secretsmanager:us-east-1:")
            && message(&err).ends_with(" that still has replica regions [eu-west-1]."),
        "{}",
        message(&err)
    );
    assert_eq!(code(err), "InvalidParameterException");
    west.stop_replication_to_replica()
        .secret_id("shared")
        .send()
        .await
        .expect("promote");
    west.put_secret_value()
        .secret_id("shared")
        .secret_string("independent")
        .client_request_token(token())
        .send()
        .await
        .expect("standalone");
    assert_eq!(
        east.get_secret_value()
            .secret_id("shared")
            .send()
            .await
            .expect("primary")
            .secret_string(),
        Some("v2")
    );

    east.create_secret()
        .name("two")
        .secret_string("t")
        .client_request_token(token())
        .add_replica_regions(ReplicaRegionType::builder().region("ap-south-1").build())
        .send()
        .await
        .expect("create replicated");
    let south = server.client_in("ap-south-1");
    assert_eq!(
        south
            .get_secret_value()
            .secret_id("two")
            .send()
            .await
            .expect("replica")
            .secret_string(),
        Some("t")
    );
    east.remove_regions_from_replication()
        .secret_id("two")
        .remove_replica_regions("ap-south-1")
        .send()
        .await
        .expect("remove");
    let err = south
        .get_secret_value()
        .secret_id("two")
        .send()
        .await
        .expect_err("removed");
    assert_eq!(code(err), "ResourceNotFoundException");
}

async fn validation_and_token_rules(server: TestServer) {
    let sm = server.client();
    let err = sm
        .create_secret()
        .name("t")
        .secret_string("v")
        .client_request_token("short")
        .send()
        .await
        .expect_err("short token");
    assert_eq!(code(err), "ValidationException");
    let big = "x".repeat(65_537);
    let err = sm
        .create_secret()
        .name("t")
        .secret_string(big)
        .client_request_token(token())
        .send()
        .await
        .expect_err("too big");
    assert_eq!(code(err), "ValidationException");
    let max = "y".repeat(65_536);
    sm.create_secret()
        .name("max")
        .secret_string(&max)
        .client_request_token(token())
        .send()
        .await
        .expect("64 KiB fits");
    assert_eq!(
        sm.get_secret_value()
            .secret_id("max")
            .send()
            .await
            .expect("get")
            .secret_string()
            .map(str::len),
        Some(65_536)
    );
    let err = sm
        .describe_secret()
        .secret_id(format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:nope-abcdef"
        ))
        .send()
        .await
        .expect_err("none");
    assert_eq!(code(err), "ResourceNotFoundException");
}

/// The cases issue 21 found answered differently from AWS, each as AWS answers it.
async fn answers_where_aws_was_seen_to_differ(server: TestServer) {
    let sm = server.client();
    // A forced delete of a secret that does not exist succeeds and deletes nothing.
    let gone = sm
        .delete_secret()
        .secret_id("parity/never-was")
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("idempotent forced delete");
    assert_eq!(gone.name(), Some("parity/never-was"));
    assert!(
        gone.arn()
            .is_some_and(|a| a.contains(":secret:parity/never-was-"))
    );
    assert!(gone.deletion_date().is_some());
    // The window's range is checked first, before the secret and before "not both".
    let err = sm
        .delete_secret()
        .secret_id("parity/never-was")
        .force_delete_without_recovery(true)
        .recovery_window_in_days(0)
        .send()
        .await
        .expect_err("0 days");
    assert_eq!(
        answer(err),
        (
            "InvalidParameterException".to_owned(),
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).".to_owned()
        )
    );

    // A secret created without a value has no version, whatever token the SDK sent.
    let empty = sm
        .create_secret()
        .name("parity/empty")
        .send()
        .await
        .expect("create");
    assert_eq!(empty.version_id(), None);

    // CreateSecret again with the same token: the same value succeeds and changes nothing;
    // another value names the token.
    let t = token();
    let first = sm
        .create_secret()
        .name("parity/token")
        .secret_string("one")
        .client_request_token(&t)
        .send()
        .await
        .expect("create");
    let again = sm
        .create_secret()
        .name("parity/token")
        .secret_string("one")
        .client_request_token(&t)
        .send()
        .await
        .expect("a retried create");
    assert_eq!(
        (again.arn(), again.name(), again.version_id()),
        (first.arn(), Some("parity/token"), Some(t.as_str()))
    );
    let arn = first.arn().expect("arn").to_owned();
    let in_use = format!(
        "You can't use ClientRequestToken {t} because that value is already in use for a version of secret {arn}."
    );
    let err = sm
        .create_secret()
        .name("parity/token")
        .secret_string("two")
        .client_request_token(&t)
        .send()
        .await
        .expect_err("same token, other value");
    assert_eq!(
        answer(err),
        ("ResourceExistsException".to_owned(), in_use.clone())
    );
    let err = sm
        .create_secret()
        .name("parity/token")
        .secret_string("two")
        .send()
        .await
        .expect_err("exists");
    assert_eq!(
        message(&err),
        "The operation failed because the secret parity/token already exists."
    );
    // PutSecretValue and UpdateSecret with that token and another value say the same.
    let err = sm
        .put_secret_value()
        .secret_id("parity/token")
        .secret_string("three")
        .client_request_token(&t)
        .send()
        .await
        .expect_err("put");
    assert_eq!(
        answer(err),
        ("ResourceExistsException".to_owned(), in_use.clone())
    );
    let err = sm
        .update_secret()
        .secret_id("parity/token")
        .secret_string("three")
        .client_request_token(&t)
        .send()
        .await
        .expect_err("update");
    assert_eq!(answer(err), ("ResourceExistsException".to_owned(), in_use));

    // Moving AWSCURRENT without naming the version it leaves.
    let second = sm
        .put_secret_value()
        .secret_id("parity/token")
        .secret_string("four")
        .client_request_token(token())
        .send()
        .await
        .expect("put");
    let err = sm
        .update_secret_version_stage()
        .secret_id("parity/token")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&t)
        .send()
        .await
        .expect_err("no RemoveFromVersionId");
    assert_eq!(
        answer(err),
        (
            "InvalidParameterException".to_owned(),
            format!(
                "The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version {}, so you must explicitly reference that version in RemoveFromVersionId.",
                second.version_id().expect("version")
            )
        )
    );

    // A replica in the secret's own region.
    let err = sm
        .replicate_secret_to_regions()
        .secret_id("parity/token")
        .add_replica_regions(ReplicaRegionType::builder().region("us-east-1").build())
        .send()
        .await
        .expect_err("own region");
    assert_eq!(
        answer(err),
        (
            "InvalidParameterException".to_owned(),
            "Invalid replica region.".to_owned()
        )
    );

    // A space may be included, but each type required covers only the four classes.
    let password = sm
        .get_random_password()
        .password_length(4)
        .include_space(true)
        .send()
        .await
        .expect("length 4 with a space allowed");
    assert_eq!(
        password.random_password().map(|p| p.chars().count()),
        Some(4)
    );

    // Filters match words, split as AWS's search splits them.
    for (name, description) in [
        ("words/uat/COMPANY/x", "DescTwo"),
        ("words/uat/COMPANYthings/x", "plain"),
        ("words/prod/AppBeta/x", "plain"),
        ("words/prod_AppBeta_y", "plain"),
    ] {
        sm.create_secret()
            .name(name)
            .description(description)
            .send()
            .await
            .expect("create");
    }
    let listed = |key: FilterNameStringType, value: &'static str| {
        let sm = sm.clone();
        async move {
            let mut names: Vec<String> = sm
                .list_secrets()
                .filters(
                    Filter::builder()
                        .key(FilterNameStringType::Name)
                        .values("words")
                        .build(),
                )
                .filters(Filter::builder().key(key).values(value).build())
                .send()
                .await
                .expect("list")
                .secret_list()
                .iter()
                .filter_map(|s| s.name().map(str::to_owned))
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        listed(FilterNameStringType::Description, "d t").await,
        ["words/uat/COMPANY/x"]
    );
    assert_eq!(
        listed(FilterNameStringType::All, "Beta").await,
        ["words/prod/AppBeta/x", "words/prod_AppBeta_y"]
    );
    assert_eq!(
        listed(FilterNameStringType::Name, "company").await,
        ["words/uat/COMPANY/x"]
    );
    assert_eq!(
        listed(FilterNameStringType::All, "Ythings").await,
        ["words/uat/COMPANYthings/x"]
    );
    for nothing in ["things", "pany", "ret"] {
        assert!(
            listed(FilterNameStringType::All, nothing).await.is_empty(),
            "{nothing}"
        );
    }

    // A malformed resource policy.
    let err = sm
        .put_resource_policy()
        .secret_id("parity/token")
        .resource_policy(r#"{"Statement": 5}"#)
        .send()
        .await
        .expect_err("malformed");
    assert_eq!(
        answer(err),
        (
            "MalformedPolicyDocumentException".to_owned(),
            "This policy has invalid syntax.".to_owned()
        )
    );
}
