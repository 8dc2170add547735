//! Smoke tests with the aws CLI and boto3, unchanged but for the endpoint (and, over TLS,
//! the CA bundle `s9-secrets tls init` made). scripts/test.sh installs both; without them
//! these tests fail.

use std::process::Command;

use crate::harness::{TestServer, canary, require};

fn aws(server: &TestServer, args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new("aws")
        .args(["--output", "json", "secretsmanager"])
        .args(args)
        .env("AWS_SHARED_CREDENTIALS_FILE", server.credentials_path())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", server.endpoint())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .envs(server.ca.as_ref().map(|ca| ("AWS_CA_BUNDLE", ca)))
        .output()
        .expect("aws");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn aws_cli_drives_every_operation() {
    every_operation_through_the_aws_cli(&TestServer::start());
}

#[test]
fn aws_cli_drives_every_operation_over_tls() {
    every_operation_through_the_aws_cli(&TestServer::start_tls(&[]));
}

fn every_operation_through_the_aws_cli(server: &TestServer) {
    require("aws", &["--version"]);
    let value = canary();
    let (ok, created, err) = aws(
        server,
        &[
            "create-secret",
            "--name",
            "cli/one",
            "--secret-string",
            &value,
            "--tags",
            "Key=Project,Value=Signal9Advisor",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        created["ARN"]
            .as_str()
            .unwrap_or_default()
            .contains(":secret:cli/one-")
    );
    let (ok, got, err) = aws(server, &["get-secret-value", "--secret-id", "cli/one"]);
    assert!(ok, "{err}");
    assert_eq!(got["SecretString"], value.as_str());
    let (ok, _, err) = aws(
        server,
        &[
            "put-secret-value",
            "--secret-id",
            "cli/one",
            "--secret-binary",
            "aGVsbG8=",
        ],
    );
    assert!(ok, "{err}");
    let (ok, listed, _) = aws(
        server,
        &[
            "list-secrets",
            "--filters",
            "Key=tag-value,Values=Signal9Advisor",
        ],
    );
    assert!(ok);
    assert_eq!(listed["SecretList"].as_array().map(Vec::len), Some(1));
    let (ok, _, err) = aws(server, &["get-secret-value", "--secret-id", "cli/missing"]);
    assert!(!ok);
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    // Every other operation, as a user would type it.
    let [older, current] = version_ids(server);
    let lambda = "arn:aws:lambda:us-east-1:123456789012:function:s9-rotation-vendor-key";
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/reader"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let commands: Vec<Vec<&str>> = vec![
        vec!["describe-secret", "--secret-id", "cli/one"],
        vec![
            "update-secret",
            "--secret-id",
            "cli/one",
            "--description",
            "API keys",
        ],
        vec![
            "tag-resource",
            "--secret-id",
            "cli/one",
            "--tags",
            "Key=Owner,Value=pipeline",
        ],
        vec![
            "untag-resource",
            "--secret-id",
            "cli/one",
            "--tag-keys",
            "Owner",
        ],
        vec![
            "update-secret-version-stage",
            "--secret-id",
            "cli/one",
            "--version-stage",
            "AWSCURRENT",
            "--move-to-version-id",
            &older,
            "--remove-from-version-id",
            &current,
        ],
        vec![
            "list-secret-version-ids",
            "--secret-id",
            "cli/one",
            "--include-deprecated",
        ],
        vec!["batch-get-secret-value", "--secret-id-list", "cli/one"],
        vec![
            "get-random-password",
            "--password-length",
            "24",
            "--exclude-punctuation",
        ],
        vec![
            "put-resource-policy",
            "--secret-id",
            "cli/one",
            "--resource-policy",
            policy,
            "--block-public-policy",
        ],
        vec!["get-resource-policy", "--secret-id", "cli/one"],
        vec!["validate-resource-policy", "--resource-policy", policy],
        vec!["delete-resource-policy", "--secret-id", "cli/one"],
        vec![
            "rotate-secret",
            "--secret-id",
            "cli/one",
            "--rotation-lambda-arn",
            lambda,
            "--rotation-rules",
            "AutomaticallyAfterDays=90",
            "--no-rotate-immediately",
        ],
        vec!["cancel-rotate-secret", "--secret-id", "cli/one"],
        vec![
            "replicate-secret-to-regions",
            "--secret-id",
            "cli/one",
            "--add-replica-regions",
            "Region=eu-west-1",
        ],
        vec![
            "remove-regions-from-replication",
            "--secret-id",
            "cli/one",
            "--remove-replica-regions",
            "eu-west-1",
        ],
        vec![
            "replicate-secret-to-regions",
            "--secret-id",
            "cli/one",
            "--add-replica-regions",
            "Region=eu-west-2",
        ],
        vec![
            "--region",
            "eu-west-2",
            "stop-replication-to-replica",
            "--secret-id",
            "cli/one",
        ],
        vec![
            "delete-secret",
            "--secret-id",
            "cli/one",
            "--recovery-window-in-days",
            "7",
        ],
        vec!["restore-secret", "--secret-id", "cli/one"],
        vec![
            "delete-secret",
            "--secret-id",
            "cli/one",
            "--force-delete-without-recovery",
        ],
    ];
    for command in commands {
        let (ok, _, err) = aws(server, &command);
        assert!(ok, "aws secretsmanager {}: {err}", command.join(" "));
    }
    let (ok, _, err) = aws(server, &["describe-secret", "--secret-id", "cli/one"]);
    assert!(!ok && err.contains("ResourceNotFoundException"), "{err}");
}

/// The two version ids of cli/one: the older one, then the current one.
fn version_ids(server: &TestServer) -> [String; 2] {
    let (ok, listed, err) = aws(
        server,
        &["list-secret-version-ids", "--secret-id", "cli/one"],
    );
    assert!(ok, "{err}");
    let mut versions: Vec<(bool, String)> = listed["Versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let current = v["VersionStages"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x == "AWSCURRENT"));
            (
                current,
                v["VersionId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    versions.sort();
    assert_eq!(versions.len(), 2);
    [versions[0].1.clone(), versions[1].1.clone()]
}

#[test]
fn boto3_works_unchanged() {
    boto3_drives(&TestServer::start());
}

#[test]
fn boto3_works_over_tls_with_verify_set_to_the_ca() {
    boto3_drives(&TestServer::start_tls(&[]));
}

fn boto3_drives(server: &TestServer) {
    require("python3", &["-c", "import boto3"]);
    let (id, secret) = server.admin_keys();
    let value = canary();
    let script = r#"
import base64, os, sys, boto3, botocore
sm = boto3.client("secretsmanager", endpoint_url=os.environ["EP"], region_name="eu-central-1",
                  aws_access_key_id=os.environ["KID"], aws_secret_access_key=os.environ["KEY"],
                  verify=os.environ.get("CA") or None)
arn = sm.create_secret(Name="py/one", SecretString=os.environ["VAL"])["ARN"]
assert ":eu-central-1:" in arn, arn
assert sm.get_secret_value(SecretId="py/one")["SecretString"] == os.environ["VAL"]
sm.put_secret_value(SecretId="py/one", SecretBinary=b"\x00\x01\xff")
assert sm.get_secret_value(SecretId=arn)["SecretBinary"] == b"\x00\x01\xff"
pages = list(sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 1}))
assert sum(len(p["SecretList"]) for p in pages) == 1
try:
    sm.describe_secret(SecretId="py/missing")
    sys.exit("expected an error")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .env("EP", server.endpoint())
        .env("KID", id)
        .env("KEY", secret)
        .env("VAL", &value)
        .envs(server.ca.as_ref().map(|ca| ("CA", ca)))
        .env_remove("AWS_CA_BUNDLE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// Runs `s9-secrets bench ARGS --json`, which must succeed, and returns its report.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(crate::harness::BIN)
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json report")
}

/// The benchmark runs end to end: against a server it starts itself, and against a running
/// one named by `--endpoint`. (It measures; this only checks that it works and counts.)
#[test]
fn bench_runs_against_its_own_server_and_an_endpoint() {
    let report = bench_json(&["--duration-secs", "1", "--connections", "2"]);
    assert_eq!(report["operation"], "GetSecretValue");
    assert!(report["requests"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["errors"], 0);

    let server = TestServer::start();
    let out = Command::new(crate::harness::BIN)
        .args([
            "bench",
            "--op",
            "put",
            "--duration-secs",
            "1",
            "--connections",
            "2",
            "--endpoint",
            &server.endpoint(),
            "--credentials",
        ])
        .arg(server.credentials_path())
        .output()
        .expect("bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PutSecretValue x2 connections") && text.contains("(0 errors)"),
        "{text}"
    );
}

/// `--compare-audit` loads an audited and an unaudited server in turn and reports both.
#[test]
fn bench_compares_audit_on_and_off_in_alternating_rounds() {
    let report = bench_json(&[
        "--compare-audit",
        "--rounds",
        "2",
        "--duration-secs",
        "1",
        "--connections",
        "2",
    ]);
    let rounds = report["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 2, "{report}");
    for r in rounds {
        let (on, off) = (r["audit_on"].as_f64(), r["audit_off"].as_f64());
        assert!(
            on.is_some_and(|v| v > 0.0) && off.is_some_and(|v| v > 0.0),
            "{r}"
        );
    }
    let (on, off) = (
        report["audit_on_requests_per_second"].as_f64().expect("on"),
        report["audit_off_requests_per_second"]
            .as_f64()
            .expect("off"),
    );
    let ratio = report["ratio"].as_f64().expect("ratio");
    assert!((ratio - on / off).abs() < 1e-9, "{report}");
    let low = report["lowest_round_ratio"].as_f64().expect("low");
    let high = report["highest_round_ratio"].as_f64().expect("high");
    let median = report["median_round_ratio"].as_f64().expect("median");
    assert!(low <= median && median <= high, "{report}");
    let mean = report["mean_round_ratio"].as_f64().expect("mean");
    let interval = report["round_ratio_interval95"]
        .as_array()
        .expect("interval");
    let (lo, hi) = (
        interval[0].as_f64().expect("lo"),
        interval[1].as_f64().expect("hi"),
    );
    assert!(
        lo <= mean && mean <= hi && low <= mean && mean <= high,
        "{report}"
    );

    // A change measured against a baseline build (here the same binary).
    let report = bench_json(&[
        "--baseline-bin",
        crate::harness::BIN,
        "--rounds",
        "2",
        "--duration-secs",
        "1",
        "--connections",
        "2",
    ]);
    let (base, current) = (
        report["baseline_requests_per_second"]
            .as_f64()
            .expect("baseline"),
        report["current_requests_per_second"]
            .as_f64()
            .expect("current"),
    );
    assert!(base > 0.0 && current > 0.0, "{report}");
    assert!(
        (report["ratio"].as_f64().expect("ratio") - current / base).abs() < 1e-9,
        "{report}"
    );

    let refused = Command::new(crate::harness::BIN)
        .args(["bench", "--compare-audit", "--no-audit"])
        .output()
        .expect("bench");
    assert_eq!(
        refused.status.code(),
        Some(2),
        "conflicting flags are refused"
    );
}

#[test]
fn keygen_writes_private_profiles_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("credentials");
    let run = || {
        Command::new(crate::harness::BIN)
            .args([
                "keygen",
                "--profile",
                "asset-sync",
                "--profile",
                "operator",
                "--out",
            ])
            .arg(&out)
            .output()
            .expect("keygen")
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let (id, secret) = crate::harness::read_profile(&out, "operator");
    assert!(id.starts_with("AKIA") && secret.len() == 40);
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(
        printed.contains(&id) && !printed.contains(&secret),
        "{printed}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&out).expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        !run().status.success(),
        "an existing file is never overwritten"
    );
    assert_eq!(crate::harness::read_profile(&out, "operator").1, secret);
}

/// `bench --tls` loads a plaintext and a TLS server in turn and counts new TLS connections:
/// full handshakes never resume, resumed ones do. (It measures; this checks it works.)
#[test]
fn bench_compares_tls_with_plaintext_and_counts_handshakes() {
    let report = bench_json(&[
        "--tls",
        "--rounds",
        "2",
        "--duration-secs",
        "1",
        "--connections",
        "2",
    ]);
    let rounds = report["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 2, "{report}");
    for r in rounds {
        assert!(r["tls"].as_f64().is_some_and(|v| v > 0.0), "{r}");
        assert!(r["plaintext"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    }
    assert!(
        report["tls_latency_ms"]["p99"]
            .as_f64()
            .is_some_and(|v| v > 0.0),
        "{report}"
    );
    let rates = &report["new_connections_per_second"];
    for full in ["full_hybrid", "full_classical"] {
        assert!(
            rates[full]["per_second"].as_f64().is_some_and(|v| v > 0.0),
            "{rates}"
        );
        assert_eq!(rates[full]["resumed_fraction"], 0.0, "{rates}");
    }
    assert!(
        rates["resumed"]["resumed_fraction"]
            .as_f64()
            .is_some_and(|v| v > 0.5),
        "{rates}"
    );
}
