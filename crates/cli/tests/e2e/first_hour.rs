//! What a new user meets in the first hour, through the real binary: the start-up banner
//! (pasted into a shell, it works with the installed aws CLI), start-up failures that say
//! what went wrong once and leave nothing behind, one server per data directory and per
//! account, and the operator commands' answers when something is missing.

use std::process::{Command, Stdio};

use crate::cli::{cli, text};
use crate::harness::{ACCOUNT, BIN, TestServer, canary};

/// Runs `s9-secrets ARGS` in `dir` with no AWS or Signal9 settings of the machine.
fn bare(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("S9_DATA_DIR")
        .env_remove("S9_ENDPOINT")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .output()
        .expect("run s9-secrets")
}

#[test]
fn the_banner_pasted_into_a_shell_lets_the_aws_cli_create_and_read_a_secret() {
    let server = TestServer::start();
    let log = server.log();
    let exports: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("export "))
        .collect();
    assert_eq!(exports.len(), 3, "{log}");
    assert!(
        log.contains("AWS_DEFAULT_REGION=us-east-1"),
        "the aws CLI v1 reads only AWS_DEFAULT_REGION: {log}"
    );
    let value = canary();
    let script = format!(
        "set -e\n{}\nprintf '%s' \"$VALUE\" > value.txt\n\
         aws secretsmanager create-secret --name first --secret-string file://value.txt >/dev/null\n\
         aws secretsmanager get-secret-value --secret-id first --query SecretString --output text\n",
        exports.join("\n")
    );
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("VALUE", &value)
        .output()
        .expect("bash");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        value,
        "{}",
        text(&out)
    );
}

#[test]
fn a_failed_start_says_why_once_and_creates_nothing() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().expect("tmp");
    let out = bare(
        dir.path(),
        &[
            "serve",
            "--listen",
            &server.addr.to_string(),
            "--data-dir",
            "fresh",
        ],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert_eq!(shown.matches("os error 98").count(), 1, "{shown}");
    assert!(shown.contains(&format!("cannot listen on {}", server.addr)));
    assert!(
        !dir.path().join("fresh").exists(),
        "no data directory, master key or admin key for a server that did not start"
    );
}

#[test]
fn one_server_per_data_directory_and_per_account() {
    let mut server = TestServer::start();
    let data = server.data_dir();
    let dir = tempfile::tempdir().expect("tmp");
    let data_arg = data.to_string_lossy().into_owned();
    let serve_as = |account: &str| {
        bare(
            dir.path(),
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                &data_arg,
                "--account-id",
                account,
            ],
        )
    };
    let out = serve_as(ACCOUNT);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("is in use by another process: one server per data directory"),
        "{}",
        text(&out)
    );

    server.terminate();
    let out = serve_as("999999999999");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(&format!(
            "was created for account {ACCOUNT}, not 999999999999"
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn commands_say_what_is_missing() {
    let dir = tempfile::tempdir().expect("tmp");

    // A bare file name for keygen.
    let out = bare(
        dir.path(),
        &["keygen", "--out", "credentials", "--profile", "a"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.path().join("credentials").is_file());

    // No region anywhere: said so, with what to set.
    let out = bare(dir.path(), &["list", "--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("no AWS region is configured")
            && text(&out).contains("AWS_DEFAULT_REGION"),
        "{}",
        text(&out)
    );

    // No credentials anywhere: said so, with where they come from.
    let list = [
        "list",
        "--endpoint",
        "http://127.0.0.1:9",
        "--region",
        "us-east-1",
    ];
    let out = bare(dir.path(), &list);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("no AWS credentials were found"));

    // Nothing listening: the OS's reason, not "io error".
    let out = Command::new(BIN)
        .args(list)
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", canary())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("Connection refused"), "{}", text(&out));

    // A directory no server used has no alarms to list.
    let out = bare(dir.path(), &["alarms", "list", "--data-dir", "nowhere"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is not the data directory"));

    // A copied trail is verified against a key the auditor names, never ./s9-data's.
    let out = bare(
        dir.path(),
        &["audit", "verify", "--audit-dir", "copy/audit"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--public-key"));
}

#[test]
fn describe_shows_last_rotated_and_query_names_secrets_alike() {
    let server = TestServer::start();
    let value = canary();
    let put = cli(&server, &["put", "named", "--create"], &[], Some(&value));
    assert!(put.status.success(), "{}", text(&put));
    let describe = || {
        let out = cli(
            &server,
            &["describe", "named", "--output", "json"],
            &[],
            None,
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let arn = describe()["ARN"].as_str().expect("arn").to_owned();
    let lambda = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:s9-rotation-random");
    let rotate = cli(
        &server,
        &["rotate", "named", "--days", "30", "--lambda", &lambda],
        &[],
        None,
    );
    assert!(rotate.status.success(), "{}", text(&rotate));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let described = loop {
        let v = describe();
        if v["LastRotatedDate"].is_string() {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "never rotated: {v}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(described["NextRotationDate"].is_string());
    let table = text(&cli(&server, &["describe", "named"], &[], None));
    assert!(table.contains("Last rotated"), "{table}");

    // Read by name and by full ARN: the SECRET column says the name both times.
    for id in ["named", arn.as_str()] {
        let got = cli(&server, &["get", id, "--reveal"], &[], None);
        assert!(got.status.success(), "{}", text(&got));
    }
    let query = Command::new(BIN)
        .args(["audit", "query", "--event", "GetSecretValue", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("query");
    let rows: Vec<String> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    assert!(rows.len() >= 2, "{rows:?}");
    for row in &rows {
        assert!(row.contains(" named ") && !row.contains(&arn), "{row}");
    }
}

/// `cargo run --release -- serve`, the README's first command, needs exactly one binary
/// among the workspace's default members: a second one (the rotation Lambda's `bootstrap`
/// once was) makes cargo refuse to choose.
#[test]
fn cargo_run_at_the_root_means_the_service() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", text(&out));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata");
    let defaults: Vec<&str> = meta["workspace_default_members"]
        .as_array()
        .expect("cargo reports default members")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let bins: Vec<&str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| defaults.contains(&p["id"].as_str().unwrap_or_default()))
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(bins, ["s9-secrets"]);
}

/// The example config pages once per incident: the stack spec's rules take the place of the
/// default rules of their kinds.
#[test]
fn the_example_config_runs_one_rule_per_kind() {
    let dir = tempfile::tempdir().expect("tmp");
    crate::harness::example_config(dir.path(), &[]);
    let out = bare(dir.path(), &["alarms", "rules", "--config", "s9.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut kinds: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let all = kinds.len();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), all, "a kind runs twice: {listed}");
    for kind in [
        "read-rate",
        "access-denied",
        "rotation-failed",
        "outside-business-hours",
    ] {
        assert!(kinds.contains(&kind), "{listed}");
    }
    assert!(listed.contains("stack-read-rate") && !listed.contains("secret-read-rate"));
}
