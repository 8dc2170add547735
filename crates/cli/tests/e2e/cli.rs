//! The operator commands of `s9-secrets` against the real server: populate (environment,
//! stdin JSON, idempotence, validation), get without and with --reveal, run, the other API
//! commands with their exit codes, completions and the man page; and
//! scripts/populate-secrets.sh through the aws CLI.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use crate::harness::{BIN, TestServer, canary};

const NAME: &str = "signal9-advisor/api-credentials";

/// Fresh plausible keys (AlphaVantage, Alpaca key id, Alpaca secret).
pub fn keys() -> [String; 3] {
    let hex = || canary().replace('-', "").to_ascii_uppercase();
    [
        hex()[..16].to_owned(),
        format!("PK{}", &hex()[..18]),
        format!("{}{}", hex(), hex()).chars().take(40).collect(),
    ]
}

pub fn cli(
    server: &TestServer,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = server.cli_command();
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).expect("json output")
}

fn env_of(k: &[String; 3]) -> [(&'static str, &str); 3] {
    [
        ("ALPHAVANTAGE_API_KEY", k[0].as_str()),
        ("ALPACA_API_KEY", k[1].as_str()),
        ("ALPACA_API_SECRET", k[2].as_str()),
    ]
}

#[test]
fn populate_get_and_run_never_show_a_key_unless_asked() {
    let server = TestServer::start();
    let k = keys();
    let first = cli(&server, &["populate"], &env_of(&k), Some(""));
    assert!(first.status.success(), "{}", text(&first));
    let shown = text(&first);
    assert!(
        shown.contains("created") && shown.contains("alpacaApiSecret"),
        "{shown}"
    );
    let again = json(&cli(
        &server,
        &["populate", "--output", "json"],
        &env_of(&k),
        Some(""),
    ));
    assert_eq!(
        again["Outcome"], "unchanged",
        "the same keys make no new version"
    );
    let versions = json(&cli(
        &server,
        &["versions", NAME, "--output", "json"],
        &[],
        None,
    ));
    assert_eq!(versions.as_array().map(Vec::len), Some(1));
    let described = json(&cli(
        &server,
        &["describe", NAME, "--output", "json"],
        &[],
        None,
    ));
    assert_eq!(
        described["Tags"],
        serde_json::json!([{"Key": "Project", "Value": "Signal9Advisor"}])
    );

    // A key with a quote and a backslash survives the JSON encoding (stdin document).
    let odd = serde_json::json!({"alphaVantageApiKey": k[0], "alpacaApiKey": k[1],
        "alpacaApiSecret": format!("{}/+=-_", &k[2][..32])});
    let out = json(&cli(
        &server,
        &["populate", "--stdin-json", "--output", "json"],
        &[],
        Some(&odd.to_string()),
    ));
    assert_eq!(out["Outcome"], "new version");

    // Going back to the first keys makes their version current again, and says so.
    let back = json(&cli(
        &server,
        &["populate", "--output", "json"],
        &env_of(&k),
        Some(""),
    ));
    assert_eq!(back["Outcome"], "earlier version made current again");
    assert_eq!(back["VersionId"], again["VersionId"]);
    let versions = json(&cli(
        &server,
        &["versions", NAME, "--output", "json"],
        &[],
        None,
    ));
    let current: Vec<_> = versions
        .as_array()
        .expect("versions")
        .iter()
        .filter(|v| v["VersionStages"].to_string().contains("AWSCURRENT"))
        .map(|v| v["VersionId"].clone())
        .collect();
    assert_eq!(current, [again["VersionId"].clone()], "{versions}");
    let same = json(&cli(
        &server,
        &["populate", "--output", "json"],
        &env_of(&k),
        Some(""),
    ));
    assert_eq!(same["Outcome"], "unchanged");

    let masked = cli(&server, &["get", NAME], &[], None);
    let masked_text = text(&masked);
    assert!(
        masked.status.success() && masked_text.contains("alpacaApiKey (20 chars)"),
        "{masked_text}"
    );
    for key in &k {
        for shown in [&shown, &masked_text] {
            assert!(!shown.contains(key.as_str()), "a key was printed: {shown}");
        }
    }
    let revealed = cli(
        &server,
        &["get", NAME, "--field", "alpacaApiKey", "--reveal"],
        &[],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&revealed.stdout).trim(), k[1]);
    let refused = cli(
        &server,
        &["get", NAME, "--field", "alpacaApiKey"],
        &[],
        None,
    );
    assert_eq!(refused.status.code(), Some(6), "{}", text(&refused));

    let run = cli(
        &server,
        &[
            "run",
            "--",
            "sh",
            "-c",
            "printf %s \"$ALPACA_API_KEY:$ALPHAVANTAGE_API_KEY\"",
        ],
        &[],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        format!("{}:{}", k[1], k[0]),
        "{}",
        text(&run)
    );
}

#[test]
fn populate_refuses_bad_or_missing_keys_and_writes_nothing() {
    let server = TestServer::start();
    let k = keys();
    let spaced = format!("{} x", k[1]);
    let mut env = env_of(&k);
    env[1].1 = &spaced;
    let out = cli(&server, &["populate"], &env, Some(""));
    assert_eq!(out.status.code(), Some(6));
    let shown = text(&out);
    assert!(
        shown.contains("alpacaApiKey: contains whitespace") && !shown.contains(&k[1]),
        "{shown}"
    );
    let out = cli(&server, &["populate"], &env_of(&k)[..2], Some(""));
    assert_eq!(out.status.code(), Some(6));
    assert!(text(&out).contains("ALPACA_API_SECRET is not set"));
    let out = cli(
        &server,
        &["populate", "--stdin-json"],
        &[],
        Some(r#"{"alphaVantageApiKey": "x"}"#),
    );
    assert_eq!(out.status.code(), Some(6));
    let listed = json(&cli(&server, &["list", "--output", "json"], &[], None));
    assert_eq!(listed, serde_json::json!([]), "nothing was created");
}

#[test]
fn api_commands_and_their_exit_codes() {
    let server = TestServer::start();
    let value = canary();
    let put = json(&cli(
        &server,
        &[
            "put",
            "app/db",
            "--create",
            "--tag",
            "team=data",
            "--output",
            "json",
        ],
        &[],
        Some(&value),
    ));
    assert_eq!(put["Created"], true);
    let put = json(&cli(
        &server,
        &["put", "app/db", "--output", "json"],
        &[],
        Some("second"),
    ));
    assert_eq!(put["Created"], false);
    let got = json(&cli(
        &server,
        &[
            "get",
            "app/db",
            "--version-stage",
            "AWSPREVIOUS",
            "--reveal",
            "--output",
            "json",
        ],
        &[],
        None,
    ));
    assert_eq!(got["SecretString"], value.as_str());
    assert!(
        cli(&server, &["tag", "app/db", "owner=ops"], &[], None)
            .status
            .success()
    );
    assert!(
        cli(&server, &["untag", "app/db", "team"], &[], None)
            .status
            .success()
    );
    let listed = json(&cli(
        &server,
        &["list", "--filter", "tag-key=owner", "--output", "json"],
        &[],
        None,
    ));
    assert_eq!(listed[0]["Name"], "app/db");
    assert_eq!(
        listed[0]["Tags"],
        serde_json::json!([{"Key": "owner", "Value": "ops"}])
    );
    let table = cli(&server, &["list"], &[], None);
    assert!(text(&table).starts_with("NAME"), "{}", text(&table));

    let deleted = json(&cli(
        &server,
        &[
            "delete",
            "app/db",
            "--recovery-days",
            "7",
            "--output",
            "json",
        ],
        &[],
        None,
    ));
    assert!(
        deleted["DeletionDate"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(
        cli(&server, &["get", "app/db"], &[], None).status.code(),
        Some(6),
        "marked for deletion"
    );
    assert!(
        cli(&server, &["restore", "app/db"], &[], None)
            .status
            .success()
    );
    let rotated = cli(
        &server,
        &[
            "rotate",
            "app/db",
            "--lambda",
            "arn:aws:lambda:us-east-1:123456789012:function:s9-rotation-vendor-key",
            "--days",
            "30",
            "--not-now",
        ],
        &[],
        None,
    );
    assert!(rotated.status.success(), "{}", text(&rotated));
    let described = json(&cli(
        &server,
        &["describe", "app/db", "--output", "json"],
        &[],
        None,
    ));
    assert_eq!(described["RotationRules"]["AutomaticallyAfterDays"], 30);

    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/signal9/resource-policy.json"
    );
    assert!(
        cli(
            &server,
            &["policy", "put", "app/db", "--file", policy],
            &[],
            None
        )
        .status
        .success()
    );
    let got = json(&cli(&server, &["policy", "get", "app/db"], &[], None));
    assert_eq!(got["Statement"][1]["Sid"], "NeverDelete");
    assert!(
        cli(&server, &["policy", "delete", "app/db"], &[], None)
            .status
            .success()
    );

    let missing = cli(&server, &["describe", "nope"], &[], None);
    assert_eq!(missing.status.code(), Some(3));
    assert!(text(&missing).contains("hint: check the name with `s9-secrets list`"));
    let no_stdin_value = cli(
        &server,
        &["put", "app/db", "--value-file", "/nonexistent"],
        &[],
        None,
    );
    assert_eq!(no_stdin_value.status.code(), Some(1));
    let (id, _) = server.admin_keys();
    let denied = cli(
        &server,
        &["list"],
        &[
            ("AWS_ACCESS_KEY_ID", id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", "wrong"),
        ],
        None,
    );
    assert_eq!(denied.status.code(), Some(4), "{}", text(&denied));
    let down = Command::new(BIN)
        .args([
            "list",
            "--endpoint",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .output()
        .expect("run");
    assert_eq!(down.status.code(), Some(5), "{}", text(&down));
}

#[test]
fn completions_and_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("populate"));
    }
    // bash completes below the top level too: subcommands of `audit`, flags of `audit verify`.
    let script = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .expect("run");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("s9-secrets.bash");
    std::fs::write(&path, &script.stdout).expect("write");
    let complete = |words: &str, cur: &str, prev: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 _s9__secrets s9-secrets '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                path.display()
            ))
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let audit = complete("s9-secrets audit ''", "", "audit");
    assert!(audit.lines().any(|l| l == "verify"), "{audit}");
    let verify = complete("s9-secrets audit verify --publ", "--publ", "verify");
    assert_eq!(verify.trim(), "--public-key");
    let man = Command::new(BIN).arg("man").output().expect("run");
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH s9-secrets"));
}

/// `scripts/populate-secrets.sh` through the real aws CLI (installed by scripts/test.sh; a
/// missing CLI fails this test).
#[test]
fn populate_script_writes_through_the_aws_cli_without_argv_values() {
    let server = TestServer::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/populate-secrets.sh"
    );
    let run = |env: &[(&str, &str)]| {
        Command::new(script)
            .args(["--endpoint-url", &server.endpoint()])
            .env("AWS_SHARED_CREDENTIALS_FILE", server.credentials_path())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("ALPHAVANTAGE_API_KEY")
            .env_remove("ALPACA_API_KEY")
            .env_remove("ALPACA_API_SECRET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("script (and the aws CLI it runs)")
    };
    let current = || {
        let got = cli(
            &server,
            &["get", NAME, "--field", "alpacaApiSecret", "--reveal"],
            &[],
            None,
        );
        String::from_utf8_lossy(&got.stdout)
            .trim_end_matches('\n')
            .to_owned()
    };

    // Keys every reader would reject are refused by the script exactly as by populate (and
    // the client library): same field, same problem, nothing written, no value shown.
    let k = keys();
    let bad_cases: [(usize, String, &str); 6] = [
        (0, "x".into(), "is not 8 to 64 characters long"),
        (1, "lower".into(), "is not 16 to 64 characters long"),
        (
            1,
            k[1].to_ascii_lowercase(),
            "has characters other than upper-case letters and digits",
        ),
        (2, "short".into(), "is not 32 to 128 characters long"),
        (
            2,
            format!("{}\u{2003}x", &k[2][..33]),
            "contains whitespace",
        ),
        (
            2,
            format!("{}\"\\", &k[2][..32]),
            "has characters other than",
        ),
    ];
    for (field, value, problem) in &bad_cases {
        let mut env = env_of(&k);
        env[*field].1 = value;
        let name = s9_client::ApiCredentials::FIELDS[*field];
        let by_script = run(&env);
        let by_populate = cli(&server, &["populate"], &env, Some(""));
        for (tool, out, code) in [("script", &by_script, 1), ("populate", &by_populate, 6)] {
            let shown = text(out);
            assert_eq!(out.status.code(), Some(code), "{tool}: {shown}");
            assert!(
                shown.contains(name) && shown.contains(problem),
                "{tool} names {name} and {problem:?}: {shown}"
            );
            assert!(
                value.len() < 6 || !shown.contains(value.as_str()),
                "{tool} showed the value"
            );
        }
    }
    let listed = json(&cli(&server, &["list", "--output", "json"], &[], None));
    assert_eq!(listed, serde_json::json!([]), "nothing was created");

    // Idempotent, and going back to earlier keys makes them current again.
    let a = keys();
    let b = keys();
    let out = run(&env_of(&a));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("created signal9-advisor/api-credentials"));
    for key in &a {
        assert!(!text(&out).contains(key.as_str()));
    }
    let again = run(&env_of(&a));
    assert!(text(&again).contains("unchanged"), "{}", text(&again));
    let out = run(&env_of(&b));
    assert!(text(&out).contains("new version"), "{}", text(&out));
    assert_eq!(current(), b[2]);
    let back = run(&env_of(&a));
    assert!(
        back.status.success() && text(&back).contains("made current again"),
        "{}",
        text(&back)
    );
    assert_eq!(current(), a[2], "the earlier keys are AWSCURRENT");
    // The script and populate derive the same token: each recognises the other's versions.
    let by_populate = json(&cli(
        &server,
        &["populate", "--output", "json"],
        &env_of(&a),
        Some(""),
    ));
    assert_eq!(by_populate["Outcome"], "unchanged");
    let versions = json(&cli(
        &server,
        &["versions", NAME, "--output", "json"],
        &[],
        None,
    ));
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions}");

    let missing = run(&env_of(&a)[..1]);
    assert!(!missing.status.success() && text(&missing).contains("ALPACA_API_KEY is not set"));
}
