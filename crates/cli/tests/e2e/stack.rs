//! The whole operator path a new user follows in the README: start the service, `apply` the
//! example stack spec (plan first, then idempotent), `populate` the keys, read them with
//! `get` and through `run`, and `synth` a template that passes cfn-lint and cfn-guard.

use std::process::{Command, Output};

use crate::harness::{BIN, TestServer, canary};

fn example(file: &str) -> String {
    format!(
        "{}/../../examples/signal9/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn s9(server: &TestServer, args: &[&str], env: &[(&str, &str)]) -> Output {
    server
        .cli_command()
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

fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn apply_populate_read_and_synth_as_the_readme_shows() {
    let server = TestServer::start();
    let spec = example("signal9.toml");

    let plan = ok(&s9(&server, &["apply", &spec, "--dry-run"], &[]));
    assert!(
        plan.contains("+ create secret signal9-advisor/api-credentials"),
        "{plan}"
    );
    assert!(
        ok(&s9(&server, &["list"], &[])).lines().count() == 1,
        "a dry run changes nothing"
    );
    let applied = ok(&s9(&server, &["apply", &spec], &[]));
    assert!(applied.contains("Applied 2 changes."), "{applied}");
    let again = ok(&s9(&server, &["apply", &spec], &[]));
    assert!(again.contains("No changes"), "apply is idempotent: {again}");

    // Someone retags the secret by hand: apply puts it back.
    ok(&s9(
        &server,
        &[
            "tag",
            "signal9-advisor/api-credentials",
            "Project=Other",
            "stray=1",
        ],
        &[],
    ));
    let drift = ok(&s9(&server, &["apply", &spec], &[]));
    assert!(
        drift.contains("tag Project=Signal9Advisor") && drift.contains("untag stray"),
        "{drift}"
    );
    assert!(ok(&s9(&server, &["apply", &spec], &[])).contains("No changes"));

    let hex = || canary().replace('-', "").to_ascii_uppercase();
    let (av, key, secret) = (
        hex()[..16].to_owned(),
        format!("PK{}", &hex()[..18]),
        format!("{}{}", hex(), hex())[..40].to_owned(),
    );
    let populated = ok(&s9(
        &server,
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
    let shown = ok(&s9(
        &server,
        &["get", "signal9-advisor/api-credentials"],
        &[],
    ));
    assert!(
        shown.contains("alpacaApiSecret (40 chars)") && !shown.contains(&secret),
        "{shown}"
    );
    let env = ok(&s9(&server, &["run", "--", "env"], &[]));
    assert!(
        env.contains(&format!("ALPACA_API_KEY={key}"))
            && env.contains(&format!("ALPHAVANTAGE_API_KEY={av}"))
    );

    let template = server.dir.path().join("template.json");
    let synth = s9(&server, &["synth", &spec], &[]);
    ok(&synth);
    std::fs::write(&template, &synth.stdout).expect("write template");
    if available("cfn-lint") {
        let lint = Command::new("cfn-lint")
            .arg(&template)
            .output()
            .expect("cfn-lint");
        ok(&lint);
    } else {
        eprintln!("cfn-lint not installed; skipping (scripts/test.sh installs it)");
    }
    if available("cfn-guard") {
        let rules = format!("{}/../../rules/signal9.guard", env!("CARGO_MANIFEST_DIR"));
        let guard = Command::new("cfn-guard")
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
    } else {
        eprintln!("cfn-guard not installed; skipping (scripts/test.sh installs it)");
    }
}

#[test]
fn cfn_guard_rules_catch_a_broken_template() {
    if !available("cfn-guard") {
        eprintln!("cfn-guard not installed; skipping");
        return;
    }
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
    let guard = Command::new("cfn-guard")
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
