//! Least privilege, end to end: the Signal9 example config (`examples/signal9`) served by the
//! real binary, and every cell of a principal × action × secret × resource-policy matrix
//! called through aws-sdk-secretsmanager and checked against a table written by hand from
//! AWS's documented evaluation rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;

use crate::harness::{TestServer, code, message, read_profile, token};

const PRINCIPALS: [&str; 7] = [
    "asset-sync",
    "earnings-sync",
    "data-processing",
    "rotation",
    "operator",
    "auditor",
    "team-reader",
];
/// S1 is the pipeline's secret (tagged, under `signal9-advisor/`); S2 is under the path but
/// untagged; S3 is tagged but outside the path.
const SECRETS: [&str; 3] = [
    "signal9-advisor/api-credentials",
    "signal9-advisor/untagged",
    "other/tagged",
];

/// Expected decisions, A = allowed, D = denied, for S1 S2 S3, without and with the example
/// resource policy (plus an Allow of DescribeSecret for the auditor) on S1.
///
/// The rules, from AWS's documentation: an explicit Deny in any policy wins; otherwise an
/// Allow in an identity policy or the resource policy allows; otherwise deny. A condition
/// on a tag the secret lacks is false.
const TABLE: &str = "
# principal        action                     no policy   with policy on S1
asset-sync         GetSecretValue             A D D       A D D
asset-sync         DescribeSecret             A D D       A D D
asset-sync         PutSecretValue             D D D       D D D
asset-sync         UpdateSecretVersionStage   D D D       D D D
asset-sync         TagResource                D D D       D D D
asset-sync         UntagResource              D D D       D D D
asset-sync         DeleteSecret               D D D       D D D
asset-sync         PutResourcePolicy          D D D       D D D
earnings-sync      GetSecretValue             A D D       A D D
earnings-sync      DescribeSecret             A D D       A D D
earnings-sync      PutSecretValue             D D D       D D D
earnings-sync      TagResource                D D D       D D D
data-processing    GetSecretValue             A D D       A D D
data-processing    DescribeSecret             A D D       A D D
data-processing    UntagResource              D D D       D D D
data-processing    DeleteSecret               D D D       D D D
rotation           GetSecretValue             A D D       A D D
rotation           DescribeSecret             A D D       A D D
rotation           PutSecretValue             A D D       A D D
rotation           UpdateSecretVersionStage   A D D       A D D
rotation           TagResource                D D D       D D D
rotation           DeleteSecret               D D D       D D D
rotation           PutResourcePolicy          D D D       D D D
operator           GetSecretValue             D D D       D D D
operator           DescribeSecret             A A D       A A D
operator           PutSecretValue             A A D       A A D
operator           UpdateSecretVersionStage   A A D       A A D
operator           TagResource                A A D       A A D
operator           UntagResource              A A D       A A D
operator           DeleteSecret               A A D       D A D
operator           PutResourcePolicy          A A D       A A D
auditor            GetSecretValue             D D D       D D D
auditor            DescribeSecret             D D D       A D D
auditor            PutSecretValue             D D D       D D D
auditor            DeleteSecret               D D D       D D D
team-reader        GetSecretValue             A D A       D D A
team-reader        DescribeSecret             A D A       A D A
team-reader        PutSecretValue             D D D       D D D
team-reader        DeleteSecret               D D D       D D D
";

/// `team-reader`'s identity policy: attribute-based, with policy variables — it reads the
/// secrets of its own account whose Project tag equals its own.
const TEAM_READER: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"SameProject","Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"arn:aws:secretsmanager:*:${aws:PrincipalAccount}:secret:*","Condition":{"StringEquals":{"secretsmanager:ResourceTag/Project":"${aws:PrincipalTag/Project}"}}}]}"#;

const AUDITOR_GRANT: &str = r#"{"Sid":"AuditorDescribes","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/auditor"},"Action":"secretsmanager:DescribeSecret","Resource":"*"}"#;

/// The example config, copied next to fresh credentials, plus an `auditor` principal with
/// no identity policy, a `team-reader` whose policy uses policy variables, and an `admin`
/// for setting up.
fn setup_config(dir: &Path) -> PathBuf {
    crate::harness::example_config(dir, &["auditor", "team-reader"]);
    std::fs::write(dir.join("team-reader.json"), TEAM_READER).expect("policy");
    let mut config = std::fs::read_to_string(dir.join("s9.toml")).expect("config");
    config.push_str(
        "\n[[principal]]\nname = \"auditor\"\narn = \"arn:aws:iam::123456789012:role/auditor\"\nprofile = \"auditor\"\n\n[[principal]]\nname = \"team-reader\"\narn = \"arn:aws:iam::123456789012:role/team-reader\"\nprofile = \"team-reader\"\ntags = { Project = \"Signal9Advisor\" }\npolicies = [\"team-reader.json\"]\n",
    );
    std::fs::write(dir.join("s9.toml"), config).expect("config");
    dir.join("s9.toml")
}

fn clients(server: &TestServer, credentials: &Path) -> BTreeMap<String, Client> {
    let mut out = BTreeMap::new();
    for name in PRINCIPALS.iter().copied().chain(["admin"]) {
        let (id, secret) = read_profile(credentials, name);
        out.insert(
            name.to_owned(),
            server.client_with("us-east-1", &id, &secret),
        );
    }
    out
}

/// Calls `action` on `secret` as `sm`; `true` if it was allowed (any answer but
/// AccessDeniedException). Calls that change something are harmless or undone by `admin`.
async fn allowed(
    sm: &Client,
    admin: &Client,
    action: &str,
    secret: &str,
    policy: Option<&str>,
) -> bool {
    macro_rules! outcome {
        ($call:expr) => {
            match $call.await {
                Ok(_) => true,
                Err(e) => {
                    let c = code(e);
                    assert!(c != "InternalServiceError", "{action} on {secret}: {c}");
                    c != "AccessDeniedException"
                }
            }
        };
    }
    match action {
        "GetSecretValue" => outcome!(sm.get_secret_value().secret_id(secret).send()),
        "DescribeSecret" => outcome!(sm.describe_secret().secret_id(secret).send()),
        "PutSecretValue" => outcome!(
            sm.put_secret_value()
                .secret_id(secret)
                .secret_string("{\"probe\":true}")
                .client_request_token(token())
                .version_stages("PROBE")
                .send()
        ),
        "UpdateSecretVersionStage" => {
            let current = admin
                .describe_secret()
                .secret_id(secret)
                .send()
                .await
                .expect("describe");
            let version = current
                .version_ids_to_stages()
                .and_then(|m| {
                    m.iter()
                        .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
                        .map(|(v, _)| v.clone())
                })
                .expect("current");
            outcome!(
                sm.update_secret_version_stage()
                    .secret_id(secret)
                    .version_stage("AWSCURRENT")
                    .move_to_version_id(version)
                    .send()
            )
        }
        "TagResource" => outcome!(
            sm.tag_resource()
                .secret_id(secret)
                .tags(Tag::builder().key("Probe").value("1").build())
                .send()
        ),
        "UntagResource" => outcome!(
            sm.untag_resource()
                .secret_id(secret)
                .tag_keys("Probe")
                .send()
        ),
        "DeleteSecret" => {
            let ok = outcome!(
                sm.delete_secret()
                    .secret_id(secret)
                    .recovery_window_in_days(7)
                    .send()
            );
            let _ = admin.restore_secret().secret_id(secret).send().await;
            ok
        }
        "PutResourcePolicy" => {
            let probe = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/nobody"},"Action":"secretsmanager:*","Resource":"*"}}"#;
            let ok = outcome!(
                sm.put_resource_policy()
                    .secret_id(secret)
                    .resource_policy(probe)
                    .send()
            );
            match policy {
                Some(p) => admin
                    .put_resource_policy()
                    .secret_id(secret)
                    .resource_policy(p)
                    .send()
                    .await
                    .map(drop)
                    .expect("restore policy"),
                None => admin
                    .delete_resource_policy()
                    .secret_id(secret)
                    .send()
                    .await
                    .map(drop)
                    .expect("restore no policy"),
            }
            ok
        }
        other => panic!("no call for {other}"),
    }
}

#[tokio::test]
async fn every_cell_of_the_signal9_matrix_matches_aws_rules() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = setup_config(dir.path());
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8 path")]);
    let sm = clients(&server, &dir.path().join("credentials"));
    let admin = &sm["admin"];
    for (i, secret) in SECRETS.iter().enumerate() {
        let mut create = admin
            .create_secret()
            .name(*secret)
            .secret_string("{\"alpha_vantage_api_key\":\"canary\"}")
            .client_request_token(token());
        if i != 1 {
            create = create.tags(
                Tag::builder()
                    .key("Project")
                    .value("Signal9Advisor")
                    .build(),
            );
        }
        create.send().await.expect("create");
    }
    let example_policy =
        std::fs::read_to_string(dir.path().join("resource-policy.json")).expect("resource policy");
    let mut with_policy: serde_json::Value = serde_json::from_str(&example_policy).expect("json");
    with_policy["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(serde_json::from_str(AUDITOR_GRANT).expect("grant"));
    let with_policy = with_policy.to_string();

    let mut mismatches = Vec::new();
    let mut cells = 0;
    for state in 0..2 {
        let policy = (state == 1).then_some(with_policy.as_str());
        if let Some(p) = policy {
            admin
                .put_resource_policy()
                .secret_id(SECRETS[0])
                .resource_policy(p)
                .block_public_policy(true)
                .send()
                .await
                .expect("resource policy");
        }
        for line in TABLE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (principal, action) = (cols[0], cols[1]);
            let expected = &cols[2 + state * 3..5 + state * 3];
            for (secret, want) in SECRETS.iter().zip(expected) {
                let got = allowed(
                    &sm[principal],
                    admin,
                    action,
                    secret,
                    if *secret == SECRETS[0] { policy } else { None },
                )
                .await;
                cells += 1;
                if got != (*want == "A") {
                    mismatches.push(format!(
                        "{principal} {action} {secret} (policy: {}): expected {want}, got {}",
                        state == 1,
                        if got { "A" } else { "D" }
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(cells >= 200, "only {cells} cells");
}

#[tokio::test]
async fn denials_say_why_and_change_nothing_and_batches_report_per_secret() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = setup_config(dir.path());
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8 path")]);
    let sm = clients(&server, &dir.path().join("credentials"));
    let admin = &sm["admin"];
    let tag = Tag::builder()
        .key("Project")
        .value("Signal9Advisor")
        .build();
    admin
        .create_secret()
        .name(SECRETS[0])
        .secret_string("v1")
        .client_request_token(token())
        .tags(tag)
        .send()
        .await
        .expect("create");
    admin
        .create_secret()
        .name(SECRETS[1])
        .secret_string("v2")
        .client_request_token(token())
        .send()
        .await
        .expect("create");

    let err = sm["asset-sync"]
        .put_secret_value()
        .secret_id(SECRETS[0])
        .secret_string("evil")
        .client_request_token(token())
        .send()
        .await
        .expect_err("denied");
    assert!(
        message(&err).starts_with(
            "User: arn:aws:iam::123456789012:role/asset-sync is not authorized to perform: secretsmanager:PutSecretValue \
             on resource: signal9-advisor/api-credentials because"
        ),
        "{}",
        message(&err)
    );
    assert!(message(&err).ends_with(
        "because no identity-based policy allows the secretsmanager:PutSecretValue action"
    ));
    assert_eq!(code(err), "AccessDeniedException");
    let err = sm["asset-sync"]
        .tag_resource()
        .secret_id(SECRETS[0])
        .tags(Tag::builder().key("Project").value("x").build())
        .send()
        .await
        .expect_err("tag");
    assert!(
        message(&err).ends_with("with an explicit deny in an identity-based policy"),
        "{}",
        message(&err)
    );
    let value = admin
        .get_secret_value()
        .secret_id(SECRETS[0])
        .send()
        .await
        .expect("get");
    assert_eq!(
        value.secret_string(),
        Some("v1"),
        "the denied write changed nothing"
    );

    // A name the caller may not touch: denied, whether or not it exists.
    let err = sm["auditor"]
        .describe_secret()
        .secret_id("signal9-advisor/does-not-exist")
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(err), "AccessDeniedException");
    let err = sm["operator"]
        .describe_secret()
        .secret_id("signal9-advisor/does-not-exist")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(err), "ResourceNotFoundException");

    let batch = sm["asset-sync"]
        .batch_get_secret_value()
        .secret_id_list(SECRETS[0])
        .secret_id_list(SECRETS[1])
        .send()
        .await
        .expect("batch");
    assert_eq!(batch.secret_values().len(), 1);
    assert_eq!(batch.secret_values()[0].secret_string(), Some("v1"));
    assert_eq!(batch.errors().len(), 1);
    assert_eq!(
        batch.errors()[0].error_code(),
        Some("AccessDeniedException")
    );
    assert_eq!(batch.errors()[0].secret_id(), Some(SECRETS[1]));

    // The operator may create secrets only with the project tag.
    let err = sm["operator"]
        .create_secret()
        .name("signal9-advisor/new")
        .send()
        .await
        .expect_err("untagged create");
    assert!(message(&err).contains("explicit deny"), "{}", message(&err));
    let tag = Tag::builder()
        .key("Project")
        .value("Signal9Advisor")
        .build();
    sm["operator"]
        .create_secret()
        .name("signal9-advisor/new")
        .tags(tag)
        .send()
        .await
        .expect("tagged create");

    // A public resource policy is refused with BlockPublicPolicy; a malformed one says why.
    let public = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;
    let err = sm["operator"]
        .put_resource_policy()
        .secret_id(SECRETS[0])
        .resource_policy(public)
        .block_public_policy(true)
        .send()
        .await
        .expect_err("public");
    assert_eq!(code(err), "PublicPolicyException");
    let err = sm["operator"]
        .put_resource_policy()
        .secret_id(SECRETS[0])
        .resource_policy(r#"{"Statement":{"Effect":"Allow"}}"#)
        .send()
        .await
        .expect_err("malformed");
    // AWS's answer; the JSON path of the problem goes to the service log (and `policy
    // validate` prints it).
    assert_eq!(message(&err), "This policy has invalid syntax.");
    assert_eq!(code(err), "MalformedPolicyDocumentException");
}

#[test]
fn the_simulator_names_the_deciding_statement_and_validate_the_json_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = setup_config(dir.path());
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signal9-advisor/api-credentials-AbCdEf";
    let simulate = |principal: &str, action: &str, extra: &[&str]| -> String {
        let out = std::process::Command::new(crate::harness::BIN)
            .args(["policy", "simulate", "--config"])
            .arg(&config)
            .args([
                "--principal",
                principal,
                "--action",
                action,
                "--resource",
                secret,
            ])
            .args(extra)
            .output()
            .expect("simulate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tagged = [
        "--context",
        "secretsmanager:ResourceTag/Project=Signal9Advisor",
    ];
    let out = simulate("asset-sync", "secretsmanager:GetSecretValue", &tagged);
    assert!(
        out.contains(": allowed") && out.contains("Sid ReadSignal9ApiKeys"),
        "{out}"
    );
    let out = simulate("asset-sync", "secretsmanager:GetSecretValue", &[]);
    assert!(
        out.contains("implicitly denied") && out.contains("no identity-based policy allows"),
        "{out}"
    );
    // Policy variables in the simulator: the tag must equal the principal's own.
    let out = simulate("team-reader", "secretsmanager:GetSecretValue", &tagged);
    assert!(
        out.contains(": allowed") && out.contains("Sid SameProject"),
        "{out}"
    );
    let out = simulate(
        "team-reader",
        "secretsmanager:GetSecretValue",
        &["--context", "secretsmanager:ResourceTag/Project=Other"],
    );
    assert!(out.contains("implicitly denied"), "{out}");
    let out = simulate("data-processing", "secretsmanager:UntagResource", &tagged);
    assert!(
        out.contains("explicitly denied") && out.contains("Sid NeverChangeTags"),
        "{out}"
    );
    let policy = dir.path().join("resource-policy.json");
    let out = simulate(
        "operator",
        "secretsmanager:DeleteSecret",
        &[
            "--resource-policy",
            policy.to_str().expect("path"),
            "--json",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["decision"], "explicitly denied");
    assert_eq!(json["decided_by"]["policy"], "resource policy");
    assert_eq!(json["decided_by"]["sid"], "NeverDelete");

    let validate = |file: &Path, kind: &str| {
        std::process::Command::new(crate::harness::BIN)
            .args(["policy", "validate", "--kind", kind])
            .arg(file)
            .output()
            .expect("validate")
    };
    let out = validate(&dir.path().join("policies/operator.json"), "identity");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(validate(&policy, "resource").status.success());
    let out = validate(&policy, "identity");
    assert!(!out.status.success());
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"k":"ten"}}}]}"#).expect("write");
    let out = validate(&bad, "identity");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("$.Statement[0].Condition.NumericLessThan.k"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
