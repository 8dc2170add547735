//! The whole operator path a new user follows in the README: serve the example config,
//! `apply` the example stack spec as `operator` (plan first, then idempotent), `populate`
//! the keys, read them as `asset-sync` with `get` and through `run`, and `synth` a template
//! that passes cfn-lint and cfn-guard (both required: scripts/test.sh installs them).

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{BIN, TestServer, canary, example_config, require};

fn example(file: &str) -> String {
    format!(
        "{}/../../examples/signal9/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `s9-secrets ARGS` against `server` with the example's credentials file (`--profile` picks
/// the principal).
fn s9(server: &TestServer, credentials: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    server
        .cli_command()
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run s9-secrets")
}

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// cfn-lint or cfn-guard, which scripts/test.sh installs: a missing tool fails the test.
fn tool(program: &str) -> Command {
    require(program, &["--version"]);
    Command::new(program)
}

#[test]
fn apply_populate_read_and_synth_as_the_readme_shows() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = example_config(dir.path(), &[]);
    let credentials = dir.path().join("credentials");
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    let spec = example("signal9.toml");
    let operator = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = args.to_vec();
        all.extend(["--profile", "operator"]);
        s9(&server, &credentials, &all, env)
    };

    let plan = ok(&operator(&["apply", &spec, "--dry-run"], &[]));
    assert!(
        plan.contains("+ create secret signal9-advisor/api-credentials")
            && plan.contains("by signal9-vendor-keys"),
        "apply wires the config's vendor-key function, with its vendor check: {plan}"
    );
    assert!(
        ok(&operator(&["list"], &[])).lines().count() == 1,
        "a dry run changes nothing"
    );
    let applied = ok(&operator(&["apply", &spec], &[]));
    assert!(applied.contains("Applied 2 changes."), "{applied}");
    let again = ok(&operator(&["apply", &spec], &[]));
    assert!(again.contains("No changes"), "apply is idempotent: {again}");
    let described = ok(&operator(
        &[
            "describe",
            "signal9-advisor/api-credentials",
            "--output",
            "json",
        ],
        &[],
    ));
    assert!(
        described.contains(":function:signal9-vendor-keys"),
        "{described}"
    );

    // Someone retags the secret by hand: apply puts it back.
    ok(&operator(
        &[
            "tag",
            "signal9-advisor/api-credentials",
            "Project=Other",
            "stray=1",
        ],
        &[],
    ));
    let drift = ok(&operator(&["apply", &spec], &[]));
    assert!(
        drift.contains("tag Project=Signal9Advisor") && drift.contains("untag stray"),
        "{drift}"
    );
    assert!(ok(&operator(&["apply", &spec], &[])).contains("No changes"));

    let hex = || canary().replace('-', "").to_ascii_uppercase();
    let (av, key, secret) = (
        hex()[..16].to_owned(),
        format!("PK{}", &hex()[..18]),
        format!("{}{}", hex(), hex())[..40].to_owned(),
    );
    let populated = ok(&operator(
        &["populate"],
        &[
            ("ALPHAVANTAGE_API_KEY", &av),
            ("ALPACA_API_KEY", &key),
            ("ALPACA_API_SECRET", &secret),
        ],
    ));
    assert!(
        populated.contains("new version") && !populated.contains(&key),
        "{populated}"
    );
    // The operator manages the secret but cannot read it; the pipeline can.
    let refused = operator(&["get", "signal9-advisor/api-credentials"], &[]);
    assert_eq!(refused.status.code(), Some(4));
    let reader = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--profile", "asset-sync"]);
        s9(&server, &credentials, &all, &[])
    };
    let shown = ok(&reader(&["get", "signal9-advisor/api-credentials"]));
    assert!(
        shown.contains("alpacaApiSecret (40 chars)") && !shown.contains(&secret),
        "{shown}"
    );
    let env = ok(&s9(
        &server,
        &credentials,
        &["run", "--profile", "asset-sync", "--", "env"],
        &[],
    ));
    assert!(
        env.contains(&format!("ALPACA_API_KEY={key}"))
            && env.contains(&format!("ALPHAVANTAGE_API_KEY={av}"))
    );

    let template = dir.path().join("template.json");
    let synth = s9(&server, &credentials, &["synth", &spec], &[]);
    ok(&synth);
    std::fs::write(&template, &synth.stdout).expect("write template");
    ok(&tool("cfn-lint").arg(&template).output().expect("cfn-lint"));
    let rules = format!("{}/../../rules/signal9.guard", env!("CARGO_MANIFEST_DIR"));
    let guard = tool("cfn-guard")
        .args([
            "validate",
            "--show-summary",
            "fail",
            "--rules",
            &rules,
            "--data",
        ])
        .arg(&template)
        .output()
        .expect("cfn-guard");
    ok(&guard);
}

#[test]
fn cfn_guard_rules_catch_a_broken_template() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(BIN)
        .args(["synth", &example("signal9.toml")])
        .output()
        .expect("synth");
    let mut t: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    t["Resources"]["AuditTrail"]["Properties"]["EnableLogFileValidation"] = false.into();
    t["Resources"]["AuditTrailLogGroup"]["Properties"]["RetentionInDays"] = 7.into();
    t["Resources"]["ApiCredentialsSecret"]["Properties"]["Tags"] = serde_json::json!([]);
    t["Resources"]["ReaderPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"] =
        serde_json::json!(["*"]);
    let path = dir.path().join("broken.json");
    std::fs::write(&path, t.to_string()).expect("write");
    let rules = format!("{}/../../rules/signal9.guard", env!("CARGO_MANIFEST_DIR"));
    let guard = tool("cfn-guard")
        .args([
            "validate",
            "--show-summary",
            "all",
            "--rules",
            &rules,
            "--data",
        ])
        .arg(&path)
        .output()
        .expect("cfn-guard");
    assert!(!guard.status.success());
    let report = String::from_utf8_lossy(&guard.stdout);
    for rule in [
        "trails_validated",
        "log_retention_30_days",
        "secrets_tagged_without_placeholder",
        "no_wildcard_resource_in_reader_allows",
    ] {
        assert!(report.contains(rule), "{rule}: {report}");
    }
}
