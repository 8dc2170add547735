//! The audit trail end to end: one record per request of every kind, verification of what a
//! real server wrote, fail-closed reads when the log cannot be written, and JSON operational
//! logs that carry the request id.

use std::process::Command;

use crate::harness::{BIN, TestServer, canary, code, error_type, raw, signed, token};

fn audit_cli(server: &TestServer, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .expect("audit command");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn records(server: &TestServer, filters: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["query", "--output", "json"];
    args.extend_from_slice(filters);
    let (ok, out) = audit_cli(server, &args);
    assert!(ok, "{out}");
    out.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record per line"))
        .collect()
}

#[tokio::test]
async fn every_request_gets_exactly_one_record_and_the_trail_verifies() {
    let mut server = TestServer::start();
    let sm = server.client();
    let value = canary();
    sm.create_secret()
        .name("audited")
        .secret_string(&value)
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    let got = sm
        .get_secret_value()
        .secret_id("audited")
        .send()
        .await
        .expect("get");
    assert_eq!(got.secret_string(), Some(value.as_str()));
    let err = sm
        .get_secret_value()
        .secret_id("missing")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(err), "ResourceNotFoundException");
    sm.get_random_password().send().await.expect("password");
    let (status, _) = raw(
        &server,
        &[("x-amz-target", "secretsmanager.ListSecrets".into())],
        b"{}",
    );
    assert_eq!(status, 403);
    let (status, body) = signed(&server, "secretsmanager.GetSecretValue", b"[not json");
    assert_eq!((status, error_type(&body)), (400, "SerializationException"));

    let status = server.terminate();
    assert!(status.success());
    let all = records(&server, &[]);
    let api: Vec<&serde_json::Value> = all
        .iter()
        .filter(|r| r["eventType"] == "AwsApiCall")
        .collect();
    assert_eq!(api.len(), 6, "one record per request: {api:#?}");
    let names: Vec<&str> = api
        .iter()
        .map(|r| r["eventName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "CreateSecret",
            "GetSecretValue",
            "GetSecretValue",
            "GetRandomPassword",
            "ListSecrets",
            "GetSecretValue"
        ]
    );
    let get = api[1];
    assert_eq!(get["eventSource"], "secretsmanager.amazonaws.com");
    assert_eq!(get["requestParameters"]["secretId"], "audited");
    assert!(
        get["responseElements"].is_null(),
        "CloudTrail does not record GetSecretValue's response"
    );
    assert_eq!(get["readOnly"], true);
    assert_eq!(get["userIdentity"]["type"], "IAMUser");
    assert_eq!(
        get["userIdentity"]["arn"],
        "arn:aws:iam::123456789012:user/default"
    );
    assert_eq!(get["sourceIPAddress"], "127.0.0.1");
    assert_eq!(get["recipientAccountId"], "123456789012");
    assert!(
        api[0]["resources"][0]["ARN"]
            .as_str()
            .unwrap_or_default()
            .contains(":secret:audited-")
    );
    assert_eq!(api[2]["errorCode"], "ResourceNotFoundException");
    assert_eq!(api[4]["errorCode"], "MissingAuthenticationTokenException");
    assert_eq!(api[4]["userIdentity"]["type"], "Unknown");
    assert_eq!(api[5]["errorCode"], "SerializationException");
    assert!(
        !all.iter().any(|r| r.to_string().contains(&value)),
        "a value reached the audit log"
    );

    let filtered = records(
        &server,
        &["--event", "GetSecretValue", "--error-code", "none"],
    );
    assert_eq!(filtered.len(), 1);
    let by_secret = records(&server, &["--secret", "audited"]);
    assert_eq!(by_secret.len(), 2);

    let (ok, out) = audit_cli(&server, &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("valid: 1 digests"), "{out}");
    let (ok, key) = audit_cli(&server, &["public-key"]);
    assert!(ok);
    let (ok, out) = audit_cli(&server, &["verify", "--public-key", key.trim()]);
    assert!(ok, "{out}");

    // Tampering with what the server wrote is caught by the command, with a non-zero exit.
    let log = std::fs::read_dir(server.data_dir().join("audit"))
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("log file");
    let text = std::fs::read_to_string(&log).expect("read");
    std::fs::write(&log, text.replacen("audited", "AUDITED", 1)).expect("tamper");
    let (ok, out) = audit_cli(&server, &["verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("modified (record") && out.contains("INVALID"),
        "{out}"
    );
}

#[tokio::test]
async fn reads_fail_closed_when_the_audit_log_cannot_be_written() {
    let server = TestServer::start_with(&["--audit-max-file-bytes", "1500"]);
    let sm = server.client();
    let value = canary();
    sm.create_secret()
        .name("guarded")
        .secret_string(&value)
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    assert_eq!(
        sm.get_secret_value()
            .secret_id("guarded")
            .send()
            .await
            .expect("get")
            .secret_string(),
        Some(value.as_str())
    );

    // Take the audit directory away: the next log file cannot be created.
    let audit = server.data_dir().join("audit");
    let moved = server.data_dir().join("audit.moved");
    std::fs::rename(&audit, &moved).expect("move");
    std::fs::write(&audit, b"not a directory").expect("block");
    let mut refused = 0;
    for _ in 0..6 {
        match sm.get_secret_value().secret_id("guarded").send().await {
            Ok(v) => assert_eq!(
                v.secret_string(),
                Some(value.as_str()),
                "only a recorded read returns the value"
            ),
            Err(e) => {
                assert!(
                    format!("{e:?}").contains("could not be recorded in the audit log"),
                    "{e:?}"
                );
                assert!(!format!("{e:?}").contains(&value));
                refused += 1;
            }
        }
    }
    assert!(
        refused >= 4,
        "reads went on without an audit log ({refused} refused)"
    );
    assert!(
        server.log().contains("the audit log could not be written"),
        "the service says why"
    );

    std::fs::remove_file(&audit).expect("unblock");
    std::fs::rename(&moved, &audit).expect("restore");
    assert_eq!(
        sm.get_secret_value()
            .secret_id("guarded")
            .send()
            .await
            .expect("recovered")
            .secret_string(),
        Some(value.as_str())
    );
}

#[tokio::test]
async fn operational_logs_are_json_lines_carrying_the_request_id() {
    let server = TestServer::start_with(&["--log-format", "json"]);
    let (status, body) = signed(
        &server,
        "secretsmanager.DescribeSecret",
        br#"{"SecretId": "nope"}"#,
    );
    assert_eq!(
        (status, error_type(&body)),
        (400, "ResourceNotFoundException")
    );
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(!lines.is_empty());
    let rejected = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request rejected")
        .expect("a line for the request");
    let id = rejected["span"]["request_id"]
        .as_str()
        .expect("request id on the line");
    assert_eq!(id.len(), 36);
}

#[tokio::test]
async fn query_follows_new_records_live() {
    use std::io::BufRead as _;
    let server = TestServer::start();
    let mut follower = Command::new(BIN)
        .args([
            "audit",
            "query",
            "--follow",
            "--output",
            "json",
            "--event",
            "DescribeSecret",
            "--data-dir",
        ])
        .arg(server.data_dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("follow");
    let stdout = follower.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Each record once, in order: what was printed is not printed again as the file grows.
    let mut followed = Vec::new();
    for id in ["followed-1", "followed-2"] {
        let err = server
            .client()
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .expect_err("missing");
        assert_eq!(code(err), "ResourceNotFoundException");
        let line = rx.recv_timeout(std::time::Duration::from_secs(10));
        followed.push(line);
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let ids: Vec<String> = followed
        .into_iter()
        .map(|line| {
            let record: serde_json::Value =
                serde_json::from_str(&line.expect("a followed record")).expect("json");
            record["requestParameters"]["secretId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["followed-1", "followed-2"]);
}
