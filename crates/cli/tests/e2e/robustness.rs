//! Bad input, bad signatures, crashes and leaks: the server answers with AWS's 4xx error,
//! changes nothing it should not, loses no acknowledged write, and writes no value in
//! plaintext anywhere.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use s9_sigv4::SecretKey;
use tokio::sync::Mutex;

use crate::harness::{
    TestServer, admin, canary, code, error_type, parse_response, raw, signed, signed_headers, token,
};

#[tokio::test]
async fn bad_signatures_get_aws_errors_and_change_nothing() {
    let server = TestServer::start();
    let body = br#"{"Name":"should-not-exist","SecretString":"x","ClientRequestToken":"00000000-0000-0000-0000-000000000001"}"#;
    let target = "secretsmanager.CreateSecret";

    let (status, resp) = raw(&server, &[("x-amz-target", target.into())], body);
    assert_eq!(
        (status, error_type(&resp)),
        (403, "MissingAuthenticationTokenException")
    );

    let mut wrong = admin(&server);
    wrong.secret_key = SecretKey::new("definitely-not-the-key");
    let (status, resp) = raw(
        &server,
        &signed_headers(
            &server,
            target,
            body,
            &wrong,
            time::OffsetDateTime::now_utc(),
        ),
        body,
    );
    assert_eq!(
        (status, error_type(&resp)),
        (400, "InvalidSignatureException")
    );

    let mut unknown = admin(&server);
    unknown.access_key_id = "AKIAUNKNOWNUNKNOWN00".into();
    let (status, resp) = raw(
        &server,
        &signed_headers(
            &server,
            target,
            body,
            &unknown,
            time::OffsetDateTime::now_utc(),
        ),
        body,
    );
    assert_eq!(
        (status, error_type(&resp)),
        (400, "UnrecognizedClientException")
    );

    let stale = time::OffsetDateTime::now_utc() - time::Duration::minutes(20);
    let (status, resp) = raw(
        &server,
        &signed_headers(&server, target, body, &admin(&server), stale),
        body,
    );
    assert_eq!(
        (status, error_type(&resp)),
        (400, "InvalidSignatureException")
    );
    assert!(
        resp["Message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Signature expired"),
        "{resp}"
    );

    // A signed body that was altered in flight.
    let headers = signed_headers(
        &server,
        target,
        body,
        &admin(&server),
        time::OffsetDateTime::now_utc(),
    );
    let (status, resp) = raw(&server, &headers, br#"{"Name":"tampered"}"#);
    assert_eq!(
        (status, error_type(&resp)),
        (400, "InvalidSignatureException")
    );

    let mut headers = signed_headers(
        &server,
        target,
        body,
        &admin(&server),
        time::OffsetDateTime::now_utc(),
    );
    for (k, v) in &mut headers {
        if *k == "authorization" {
            *v = v
                .split(", Signature=")
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    }
    let (status, resp) = raw(&server, &headers, body);
    assert_eq!(
        (status, error_type(&resp)),
        (400, "IncompleteSignatureException")
    );

    let listed = server.client().list_secrets().send().await.expect("list");
    assert!(
        listed.secret_list().is_empty(),
        "no rejected request created anything"
    );
}

#[tokio::test]
async fn malformed_requests_get_4xx_never_5xx() {
    let server = TestServer::start();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "secretsmanager.GetSecretValue",
            b"not json".to_vec(),
            "SerializationException",
        ),
        (
            "secretsmanager.GetSecretValue",
            br#"{"SecretId": 5}"#.to_vec(),
            "SerializationException",
        ),
        (
            "secretsmanager.GetSecretValue",
            br#"["SecretId"]"#.to_vec(),
            "SerializationException",
        ),
        (
            "secretsmanager.GetSecretValue",
            b"{\"SecretId\": \"\xff\xfe\"}".to_vec(),
            "SerializationException",
        ),
        (
            "secretsmanager.GetSecretValue",
            "[".repeat(100_000).into_bytes(),
            "SerializationException",
        ),
        (
            "secretsmanager.CreateSecret",
            br#"{"Name": "n", "SecretBinary": "%%%not-base64"}"#.to_vec(),
            "SerializationException",
        ),
        (
            "secretsmanager.CreateSecret",
            br#"{"Name": "n", "Tags": {"Key": "k"}}"#.to_vec(),
            "SerializationException",
        ),
        (
            "secretsmanager.GetSecretValue",
            b"{}".to_vec(),
            "ValidationException",
        ),
        (
            "secretsmanager.ListSecrets",
            br#"{"MaxResults": 0}"#.to_vec(),
            "ValidationException",
        ),
        (
            "secretsmanager.ListSecrets",
            br#"{"Filters": [{"Key": "bogus", "Values": ["x"]}]}"#.to_vec(),
            "ValidationException",
        ),
        (
            "secretsmanager.DoesNotExist",
            b"{}".to_vec(),
            "UnknownOperationException",
        ),
        ("", b"{}".to_vec(), "UnknownOperationException"),
        (
            "secretsmanager.PutSecretValue",
            br#"{"SecretId": "x", "SecretString": "v"}"#.to_vec(),
            "InvalidRequestException",
        ),
    ];
    for (target, body, expected) in cases {
        let (status, resp) = signed(&server, target, &body);
        assert!(
            (400..500).contains(&status),
            "{target} {:?} gave {status}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        assert_eq!(error_type(&resp), expected, "{target}: {resp}");
    }
    let huge = vec![b' '; 2 * 1024 * 1024];
    let (status, resp) = signed(&server, "secretsmanager.ListSecrets", &huge);
    assert_eq!(
        (status, error_type(&resp)),
        (413, "RequestEntityTooLargeException")
    );

    // Still healthy.
    server
        .client()
        .list_secrets()
        .send()
        .await
        .expect("server still answers");
}

#[test]
fn a_stalled_body_times_out_instead_of_hanging() {
    let server = TestServer::start_with(&["--request-timeout-secs", "1"]);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"Sec")
        .expect("write");
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let (status, body) = parse_response(&response);
    assert_eq!(
        (status, error_type(&body)),
        (408, "RequestTimeoutException")
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let mut server = TestServer::start();
    let sm = server.client();
    for w in 0..8 {
        sm.create_secret()
            .name(format!("crash/{w}"))
            .send()
            .await
            .expect("create");
    }
    let acked: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8 {
        let (sm, acked) = (sm.clone(), Arc::clone(&acked));
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let (version, value) = (token(), format!("value-{w}-{i}"));
                match sm
                    .put_secret_value()
                    .secret_id(format!("crash/{w}"))
                    .secret_string(&value)
                    .client_request_token(&version)
                    .send()
                    .await
                {
                    Ok(_) => acked
                        .lock()
                        .await
                        .push((format!("crash/{w}"), version, value)),
                    Err(_) => break,
                }
            }
        }));
    }
    // Kill while the writers are busy, once enough writes are acknowledged to make the check
    // mean something, however slow the machine is.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while acked.lock().await.len() < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than 50 writes acknowledged in two minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill9();
    for w in writers {
        w.await.expect("writer");
    }
    let acked = acked.lock().await.clone();
    server.restart();
    let sm = server.client();
    for (secret, version, value) in &acked {
        let got = sm
            .get_secret_value()
            .secret_id(secret)
            .version_id(version)
            .send()
            .await
            .unwrap_or_else(|e| {
                let log = server.log();
                let tail = &log[log.len().saturating_sub(4000)..];
                panic!("acknowledged {secret}/{version} lost: {}\n{tail}", code(e))
            });
        assert_eq!(got.secret_string(), Some(value.as_str()));
    }
}

#[tokio::test]
async fn secret_values_never_reach_disk_logs_or_errors_in_plaintext() {
    let mut server = TestServer::start();
    let sm = server.client();
    let canaries: Vec<String> = (0..6).map(|_| canary()).collect();
    sm.create_secret()
        .name("leak/a")
        .secret_string(&canaries[0])
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    sm.put_secret_value()
        .secret_id("leak/a")
        .secret_string(&canaries[1])
        .client_request_token(token())
        .send()
        .await
        .expect("put");
    sm.update_secret()
        .secret_id("leak/a")
        .secret_string(&canaries[2])
        .client_request_token(token())
        .send()
        .await
        .expect("update");
    sm.create_secret()
        .name("leak/b")
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            canaries[3].as_bytes().to_vec(),
        ))
        .client_request_token(token())
        .send()
        .await
        .expect("binary");
    sm.get_secret_value()
        .secret_id("leak/a")
        .send()
        .await
        .expect("get");
    sm.batch_get_secret_value()
        .secret_id_list("leak/a")
        .secret_id_list("leak/b")
        .send()
        .await
        .expect("batch");
    let conflict_token = token();
    sm.put_secret_value()
        .secret_id("leak/a")
        .secret_string(&canaries[4])
        .client_request_token(&conflict_token)
        .send()
        .await
        .expect("put");
    let err = sm
        .put_secret_value()
        .secret_id("leak/a")
        .secret_string(&canaries[5])
        .client_request_token(&conflict_token)
        .send()
        .await
        .expect_err("conflict");
    assert!(
        !format!("{err:?}").contains(&canaries[5]),
        "an error echoed a value"
    );
    // A parse error must not echo the body: a (non-secret) description stands in for any
    // member a careless parser might quote back. The audit log records descriptions.
    let description = canary();
    let (_, resp) = signed(
        &server,
        "secretsmanager.CreateSecret",
        format!(r#"{{"Name": "leak/c", "SecretString": "{}", "Tags": 5, "Description": "{description}"}}"#, canaries[5]).as_bytes(),
    );
    assert!(!resp.to_string().contains(&description) && !resp.to_string().contains(&canaries[5]));
    let password = sm
        .get_random_password()
        .send()
        .await
        .expect("password")
        .random_password()
        .expect("pw")
        .to_owned();
    // Restart so every log line and the store's file are flushed.
    server.restart();
    server.client().list_secrets().send().await.expect("list");

    let mut files = vec![server.dir.path().join("server.log")];
    files.extend(all_files(&server.data_dir()));
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("/audit/audit-")),
        "the audit log is searched too"
    );
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        for c in canaries.iter().chain(std::iter::once(&password)) {
            assert!(
                !bytes.windows(c.len()).any(|w| w == c.as_bytes()),
                "{} holds secret value {c} in plaintext",
                file.display()
            );
        }
    }
    #[cfg(unix)]
    for private in ["master.key", "credentials"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(server.data_dir().join(private))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{private} must be private");
    }
}

#[test]
fn sigterm_stops_gracefully_and_every_start_prints_how_to_connect() {
    let mut server = TestServer::start();
    let log = server.log();
    assert!(log.contains("AWS_SHARED_CREDENTIALS_FILE="), "{log}");
    let (_, secret) = server.admin_keys();
    assert!(!log.contains(&secret), "the secret key was printed");
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(server.log().contains("stopped"));
    server.restart();
    let log = server.log();
    assert_eq!(
        log.matches("AWS_SHARED_CREDENTIALS_FILE=").count(),
        2,
        "how to connect, at every start"
    );
    assert_eq!(
        log.matches("Created administrator credentials").count(),
        1,
        "keys are created once"
    );
    assert!(!log.contains(&secret), "the secret key was printed");
}

/// Every file below `dir`.
fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
