//! Attacks on the trust promises (SECURITY.md), each through the real binary: what an
//! attacker would do, and the service shown not to give way.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{TestServer, admin, signed_headers, token};

/// A client that sends a signed write and resets the connection at once (SO_LINGER 0)
/// must not get a change committed without its audit record: the request runs to its end
/// in a task of its own whatever the connection does.
#[tokio::test]
async fn a_client_that_resets_after_a_write_leaves_no_unaudited_change() {
    let server = TestServer::start();
    let sm = server.client();
    sm.create_secret()
        .name("reset/target")
        .secret_string("first")
        .send()
        .await
        .expect("create");
    let creds = admin(&server);
    let mut sent = Vec::new();
    for i in 0..150 {
        let version = token();
        let body = serde_json::json!({
            "SecretId": "reset/target",
            "ClientRequestToken": version,
            "SecretString": format!("value-{i}"),
        })
        .to_string();
        let headers = signed_headers(
            &server,
            "secretsmanager.PutSecretValue",
            body.as_bytes(),
            &creds,
            time::OffsetDateTime::now_utc(),
        );
        let mut request = format!("POST / HTTP/1.1\r\ncontent-length: {}\r\n", body.len());
        for (k, v) in &headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let mut stream = TcpStream::connect(server.addr).expect("connect");
        stream.write_all(request.as_bytes()).expect("send");
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(stream); // RST, before any answer
        sent.push(version);
    }

    // Every version the server committed has its record, however the connection ended.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = sm
            .list_secret_version_ids()
            .secret_id("reset/target")
            .include_deprecated(true)
            .max_results(100)
            .send()
            .await
            .expect("list");
        let mut versions: Vec<String> = listed
            .versions()
            .iter()
            .filter_map(|v| v.version_id().map(str::to_owned))
            .collect();
        let mut next = listed.next_token().map(str::to_owned);
        while let Some(t) = next {
            let page = sm
                .list_secret_version_ids()
                .secret_id("reset/target")
                .include_deprecated(true)
                .max_results(100)
                .next_token(t)
                .send()
                .await
                .expect("list");
            versions.extend(
                page.versions()
                    .iter()
                    .filter_map(|v| v.version_id().map(str::to_owned)),
            );
            next = page.next_token().map(str::to_owned);
        }
        let audit = server.audit_text();
        let unrecorded: Vec<&String> = versions
            .iter()
            .filter(|v| sent.contains(v))
            .filter(|v| !audit.contains(&format!("\"clientRequestToken\":\"{v}\"")))
            .collect();
        let committed = versions.iter().filter(|v| sent.contains(v)).count();
        if unrecorded.is_empty() && committed > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {committed} committed changes have no audit record",
            unrecorded.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs `body` for `target` with only the headers in `signed` (plus what signing adds),
/// then adds `extra` headers unsigned: what an attacker who captured a signature can send.
fn resigned(
    server: &TestServer,
    signed: &[(&'static str, String)],
    extra: &[(&'static str, String)],
    body: &[u8],
    region: &str,
) -> Vec<(String, String)> {
    let creds = admin(server);
    let uri: http::Uri = server.endpoint().parse().expect("uri");
    let mut headers = http::HeaderMap::new();
    for (k, v) in signed {
        headers.insert(*k, v.parse().expect("header"));
    }
    let params = s9_sigv4::SigningParams {
        credentials: &creds,
        region,
        service: "secretsmanager",
        time: time::OffsetDateTime::now_utc(),
    };
    s9_sigv4::sign(&http::Method::POST, &uri, &mut headers, body, &params).expect("sign");
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().expect("ascii").to_owned()))
        .collect();
    out.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    out
}

fn send(
    server: &TestServer,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let borrowed: Vec<(&str, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    crate::harness::raw(server, &borrowed, body)
}

/// A signature that does not cover `x-amz-target` cannot be replayed as another operation;
/// two `Authorization` headers are refused; a credential scope whose region is not a region
/// (`us-east-1:999999999999`) makes no namespace and no ARN with a spoofed account.
#[tokio::test]
async fn sigv4_covers_the_operation_and_scopes_to_a_real_region() {
    let server = TestServer::start();
    let sm = server.client();
    sm.create_secret()
        .name("replay/target")
        .secret_string("kept")
        .send()
        .await
        .expect("create");
    let body = br#"{"SecretId":"replay/target","ForceDeleteWithoutRecovery":true}"#;
    let host = ("host", server.addr.to_string());
    let content = ("content-type", "application/x-amz-json-1.1".to_owned());
    // Signed over host and the date only; the operation is chosen afterwards.
    let forged = resigned(
        &server,
        &[host.clone(), content.clone()],
        &[("x-amz-target", "secretsmanager.DeleteSecret".to_owned())],
        body,
        "us-east-1",
    );
    let (status, answer) = send(&server, &forged, body);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["__type"], "IncompleteSignatureException", "{answer}");
    assert!(
        answer["Message"]
            .as_str()
            .unwrap_or_default()
            .contains("x-amz-target"),
        "{answer}"
    );
    sm.describe_secret()
        .secret_id("replay/target")
        .send()
        .await
        .expect("not deleted");

    // The same request signed properly, sent with a second Authorization header.
    let target = ("x-amz-target", "secretsmanager.DescribeSecret".to_owned());
    let describe = br#"{"SecretId":"replay/target"}"#;
    let mut twice = resigned(
        &server,
        &[host.clone(), content.clone(), target.clone()],
        &[],
        describe,
        "us-east-1",
    );
    let authorization = twice
        .iter()
        .find(|(k, _)| k == "authorization")
        .cloned()
        .expect("signed");
    let (status, answer) = send(&server, &twice, describe);
    assert_eq!(status, 200, "the request alone is fine: {answer}");
    twice.push(authorization);
    let (status, answer) = send(&server, &twice, describe);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["__type"], "IncompleteSignatureException", "{answer}");

    // A spoofed account in the region field of the scope.
    let create = br#"{"Name":"spoofed","SecretString":"x"}"#;
    let spoofed = resigned(
        &server,
        &[
            host,
            content,
            ("x-amz-target", "secretsmanager.CreateSecret".to_owned()),
        ],
        &[],
        create,
        "us-east-1:999999999999",
    );
    let (status, answer) = send(&server, &spoofed, create);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["__type"], "InvalidSignatureException", "{answer}");
    assert!(
        !server.audit_text().contains("999999999999:secret"),
        "no ARN with the spoofed account"
    );
}

/// Every file the server writes is readable by its user alone (0600, directories 0700),
/// in a data directory it made and in one someone else made open to others (which it warns
/// about).
#[tokio::test]
async fn the_data_directory_holds_only_private_files() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut server = TestServer::start();
    let sm = server.client();
    sm.create_secret()
        .name("private/one")
        .secret_string("v")
        .send()
        .await
        .expect("create");
    server.terminate();
    let data = server.data_dir();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::remove_file(data.join("alarms.json")).expect("rm");
    server.restart();
    server
        .client()
        .get_secret_value()
        .secret_id("private/one")
        .send()
        .await
        .expect("read");
    server.terminate();
    assert!(
        server
            .log()
            .contains("the data directory is open to other users"),
        "{}",
        server.log()
    );
    fn check(dir: &std::path::Path) {
        for entry in std::fs::read_dir(dir).expect("dir") {
            let path = entry.expect("entry").path();
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            if path.is_dir() {
                assert_eq!(mode, 0o700, "{}", path.display());
                check(&path);
            } else {
                assert_eq!(mode, 0o600, "{}", path.display());
            }
        }
    }
    check(&data);
}

/// A principal's request whose SecretId holds escape sequences and a newline cannot forge
/// lines or move the cursor in the terminal of an operator reading the trail.
#[test]
fn audit_query_escapes_control_characters() {
    let server = TestServer::start();
    let forged = "\u{1b}[2J\u{1b}[31mFORGED\nFORGED 2026-12-04T00:00:00Z GetSecretValue ok\u{9b}2J";
    let body = serde_json::json!({ "SecretId": forged }).to_string();
    let (status, _) =
        crate::harness::signed(&server, "secretsmanager.GetSecretValue", body.as_bytes());
    assert_eq!(status, 400);
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["audit", "query", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("query");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        !shown.chars().any(|c| c.is_control() && c != '\n'),
        "{shown:?}"
    );
    assert!(
        !shown.lines().any(|l| l.starts_with("FORGED")),
        "a forged line: {shown}"
    );
    assert!(shown.contains("\\u{1b}[31mFORGED\\u{a}FORGED"), "{shown}");
}

/// The master key never goes missing silently: without it, or with another key, a store
/// holding sealed values refuses to start, naming the file, and no key is created beside it.
/// Nor does the audit signing key beside a signed trail.
#[tokio::test]
async fn a_missing_or_different_master_key_stops_the_service_at_start() {
    let mut server = TestServer::start();
    server
        .client()
        .create_secret()
        .name("custody/one")
        .secret_string("sealed")
        .send()
        .await
        .expect("create");
    server.terminate();
    let key = server.data_dir().join("master.key");
    let saved = std::fs::read(&key).expect("key");
    let start = |server: &TestServer| {
        std::process::Command::new(crate::harness::BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--account-id",
                crate::harness::ACCOUNT,
            ])
            .arg("--data-dir")
            .arg(server.data_dir())
            .output()
            .expect("serve")
    };

    std::fs::remove_file(&key).expect("rm");
    let out = start(&server);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("master.key is missing"), "{said}");
    assert!(
        !key.exists(),
        "no new key beside a store with sealed values"
    );

    // Another data directory's key.
    let other = TestServer::start();
    std::fs::copy(other.data_dir().join("master.key"), &key).expect("copy");
    let out = start(&server);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("master.key is not the master key"), "{said}");

    // The audit trail's signing key likewise: a signed trail is never continued under a
    // key created to replace a missing one.
    std::fs::write(&key, saved).expect("restore");
    let audit_key = server.data_dir().join("keys/audit-signing.p8");
    let kept = server.dir.path().join("kept.p8");
    std::fs::rename(&audit_key, &kept).expect("move");
    let out = start(&server);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("audit-signing.p8 is missing"), "{said}");
    assert!(!audit_key.exists(), "no new key beside a signed trail");
    std::fs::rename(&kept, &audit_key).expect("restore");

    // The right keys back: the service starts and reads its secret.
    server.restart();
    let got = server
        .client()
        .get_secret_value()
        .secret_id("custody/one")
        .send()
        .await
        .expect("read");
    assert_eq!(got.secret_string(), Some("sealed"));
}

/// AWS's authorization rules for what a call implies: CreateSecret with tags needs
/// TagResource (tags are what tag-based policies trust), BatchGetSecretValue with filters
/// needs ListSecrets (or the per-secret errors would list what matches), and a denial names
/// the secret as the caller did, so it cannot tell an existing secret from a missing one.
#[tokio::test]
async fn implied_actions_are_authorized_and_denials_reveal_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("creator.json"),
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:CreateSecret","secretsmanager:BatchGetSecretValue","secretsmanager:GetSecretValue"],"Resource":"*"}}"#,
    )
    .expect("policy");
    let config = crate::harness::admin_config(
        dir.path(),
        &["creator"],
        &format!(
            "[[principal]]\nname = \"creator\"\narn = \"arn:aws:iam::{}:user/creator\"\nprofile = \"creator\"\npolicies = [\"creator.json\"]\n",
            crate::harness::ACCOUNT
        ),
    );
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    let creds = dir.path().join("credentials");
    let (id, secret) = crate::harness::read_profile(&creds, "default");
    let admin = server.client_with("us-east-1", &id, &secret);
    let (id, secret) = crate::harness::read_profile(&creds, "creator");
    let creator = server.client_with("us-east-1", &id, &secret);
    for name in ["team/alpha-db", "team/beta-db"] {
        admin
            .create_secret()
            .name(name)
            .secret_string("v")
            .send()
            .await
            .expect("create");
    }

    // Tags the creator may not set.
    let err = creator
        .create_secret()
        .name("team/tagged")
        .secret_string("v")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("Project")
                .value("Signal9Advisor")
                .build(),
        )
        .send()
        .await
        .expect_err("tags need TagResource");
    assert!(crate::harness::message(&err).contains("secretsmanager:TagResource"));
    assert_eq!(crate::harness::code(err), "AccessDeniedException");
    admin
        .describe_secret()
        .secret_id("team/tagged")
        .send()
        .await
        .expect_err("nothing was created");
    creator
        .create_secret()
        .name("team/untagged")
        .secret_string("v")
        .send()
        .await
        .expect("without tags it may create");

    // Filters list secrets: without ListSecrets, the whole call is refused.
    let err = creator
        .batch_get_secret_value()
        .filters(
            aws_sdk_secretsmanager::types::Filter::builder()
                .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                .values("team/")
                .build(),
        )
        .send()
        .await
        .expect_err("filters need ListSecrets");
    assert!(!crate::harness::message(&err).contains("alpha"));
    assert_eq!(crate::harness::code(err), "AccessDeniedException");

    // The same denial for a secret that exists and one that does not.
    let denial = |id: &'static str| {
        let creator = creator.clone();
        async move {
            let err = creator
                .describe_secret()
                .secret_id(id)
                .send()
                .await
                .expect_err("no DescribeSecret");
            crate::harness::message(&err)
        }
    };
    let existing = denial("team/alpha-db").await;
    let missing = denial("team/gamma-db").await;
    assert_eq!(
        existing.replace("alpha", "gamma"),
        missing,
        "a denial tells nothing of existence"
    );
    assert!(
        existing.contains("on resource: team/alpha-db because"),
        "{existing}"
    );
}

/// The metrics name principals and secrets: the API port, which anyone on the network can
/// reach, never serves them; the metrics listener labels reads by the resolved secret only,
/// so made-up ids cannot grow a series each.
#[tokio::test]
async fn metrics_stay_off_the_api_port_and_label_resolved_names() {
    let server = TestServer::start();
    let sm = server.client();
    let arn = sm
        .create_secret()
        .name("metered/one")
        .secret_string("v")
        .send()
        .await
        .expect("create")
        .arn()
        .expect("arn")
        .to_owned();
    for id in ["metered/one", arn.as_str()] {
        sm.get_secret_value()
            .secret_id(id)
            .send()
            .await
            .expect("read");
    }
    for i in 0..20 {
        let _ = sm
            .get_secret_value()
            .secret_id(format!("made-up/{i}"))
            .send()
            .await;
    }

    let mut api = TcpStream::connect(server.addr).expect("connect");
    api.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut api, &mut answer);
    assert!(!answer.contains("s9_requests_total"), "{answer}");
    assert!(
        !answer.contains(":user/"),
        "a principal on the API port: {answer}"
    );

    let metrics = crate::metrics::scrape(&server);
    let reads: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("s9_secret_reads_total{"))
        .collect();
    assert_eq!(
        reads,
        ["s9_secret_reads_total{secret=\"metered/one\"} 2"],
        "{metrics}"
    );
}

/// Versions per secret are capped as AWS caps them (100, those of the last day kept): a
/// principal writing large values in a loop is refused with LimitExceededException instead
/// of growing the store and the server's memory without bound.
#[tokio::test]
async fn a_flood_of_versions_is_refused_at_one_hundred() {
    let server = TestServer::start();
    let sm = server.client();
    let big = "x".repeat(60 * 1024);
    sm.create_secret()
        .name("flood/target")
        .secret_string(&big)
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    let mut refused = 0;
    for _ in 0..120 {
        match sm
            .put_secret_value()
            .secret_id("flood/target")
            .secret_string(&big)
            .client_request_token(token())
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(crate::harness::code(e), "LimitExceededException");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 21, "100 versions, then refusals");
    let mut versions = 0;
    let mut next: Option<String> = None;
    loop {
        let page = sm
            .list_secret_version_ids()
            .secret_id("flood/target")
            .include_deprecated(true)
            .set_next_token(next.take())
            .send()
            .await
            .expect("list");
        versions += page.versions().len();
        match page.next_token() {
            Some(t) => next = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(versions, 100);
    // Refused writes keep nothing: the store does not grow while they go on.
    let store = || {
        std::fs::metadata(server.data_dir().join("secrets.redb"))
            .expect("store")
            .len()
    };
    let before = store();
    for _ in 0..30 {
        let e = sm
            .put_secret_value()
            .secret_id("flood/target")
            .secret_string(&big)
            .client_request_token(token())
            .send()
            .await
            .expect_err("refused");
        assert_eq!(crate::harness::code(e), "LimitExceededException");
    }
    assert_eq!(store(), before, "refused versions were stored");
}

/// The durability boundary: when the store cannot commit (here the disk refuses to let
/// secrets.redb grow: RLIMIT_FSIZE on the real process), the write is refused, and so is
/// every request after it, reads included: a value that was never persisted is never
/// served. After a restart, what was acknowledged is there and nothing else.
#[tokio::test]
async fn a_failed_commit_stops_reads_too_and_loses_nothing_acknowledged() {
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    /// The server on `data`, its files limited to `limit_kib` if given (the signal that
    /// would kill it is ignored, so a write past the limit fails with EFBIG as on a full
    /// disk); returns once it listens.
    fn serve(data: &std::path::Path, limit_kib: Option<u32>) -> (Killed, std::net::SocketAddr) {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr");
        let limit = limit_kib.map_or(String::new(), |k| format!("trap '' XFSZ; ulimit -f {k}; "));
        let mut server = Killed(
            std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("{limit}exec \"$0\" \"$@\""))
                .arg(crate::harness::BIN)
                .args(["serve", "--listen", &addr.to_string()])
                .args(["--account-id", crate::harness::ACCOUNT, "--data-dir"])
                .arg(data)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("serve"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            assert!(
                server.0.try_wait().expect("wait").is_none(),
                "the server exited"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        (server, addr)
    }
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let (limited, addr) = serve(&data, Some(2048));
    let (id, secret) = crate::harness::read_profile(&data.join("credentials"), "default");
    let client = |addr: std::net::SocketAddr| {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
                .endpoint_url(format!("http://{addr}"))
                .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                    &id, &secret, None, None, "test",
                ))
                .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
                .build(),
        )
    };
    let sm = client(addr);
    sm.create_secret()
        .name("durable/one")
        .secret_string("v0")
        .client_request_token(token())
        .send()
        .await
        .expect("create");
    let mut acknowledged = "v0".to_owned();
    let mut failed_value = None;
    for i in 0..200 {
        let value = format!("{i:04}{}", "x".repeat(60 * 1024));
        match sm
            .put_secret_value()
            .secret_id("durable/one")
            .secret_string(&value)
            .client_request_token(token())
            .send()
            .await
        {
            Ok(_) => acknowledged = value,
            Err(e) => {
                assert_eq!(crate::harness::code(e), "InternalServiceError");
                failed_value = Some(value);
                break;
            }
        }
    }
    let failed_value = failed_value.expect("the store refused a commit before 200 puts");
    // Fail-stop: the value whose commit failed sits in memory, and is never served.
    let read = sm
        .get_secret_value()
        .secret_id("durable/one")
        .send()
        .await
        .map(|o| o.secret_string().map(str::to_owned));
    assert!(
        read.is_err(),
        "a read after the failed commit answered (with the value that was never persisted: {})",
        read.ok().flatten().is_some_and(|v| v == failed_value)
    );
    drop(limited);

    // Restarted without the limit: the acknowledged value, not the failed one.
    let (_server, addr) = serve(&data, None);
    let got = client(addr)
        .get_secret_value()
        .secret_id("durable/one")
        .send()
        .await
        .expect("read after restart");
    assert_eq!(got.secret_string(), Some(acknowledged.as_str()));
}

/// A record names the secret the service acted on, resolved: a second spelling of
/// `SecretId` the decoder ignores does not become the record's secret; a batch read with
/// filters names every secret it returned; an ARN in another partition names no secret.
#[tokio::test]
async fn records_name_the_resolved_secret_not_the_raw_input() {
    let server = TestServer::start();
    let sm = server.client();
    let mut arns = Vec::new();
    for (name, value) in [("named/a", "value-a"), ("named/b", "value-b")] {
        let out = sm
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create");
        arns.push(out.arn().expect("arn").to_owned());
    }
    let body = br#"{"SecretId":"named/a","secretId":"named/b"}"#;
    let (status, answer) = crate::harness::signed(&server, "secretsmanager.GetSecretValue", body);
    assert_eq!(status, 200);
    assert_eq!(
        answer["SecretString"], "value-a",
        "the decoder reads SecretId"
    );

    let (status, _) = crate::harness::signed(
        &server,
        "secretsmanager.BatchGetSecretValue",
        br#"{"Filters":[{"Key":"name","Values":["named/"]}]}"#,
    );
    assert_eq!(status, 200);

    let junk = format!(
        "arn:junk0x:secretsmanager:us-east-1:{}:secret:named/a",
        crate::harness::ACCOUNT
    );
    let err = sm
        .get_secret_value()
        .secret_id(&junk)
        .send()
        .await
        .expect_err("another partition");
    assert_eq!(crate::harness::code(err), "ResourceNotFoundException");

    let records: Vec<serde_json::Value> = server
        .audit_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| r["event"].clone())
        .filter(|e| e.is_object())
        .collect();
    let single = records
        .iter()
        .find(|e| e["eventName"] == "GetSecretValue" && e["errorCode"].is_null())
        .expect("the read's record");
    assert_eq!(
        single["requestParameters"],
        serde_json::json!({"secretId": "named/a"})
    );
    assert_eq!(single["resources"][0]["ARN"], arns[0].as_str(), "{single}");
    let batch = records
        .iter()
        .find(|e| e["eventName"] == "BatchGetSecretValue")
        .expect("the batch's record");
    let mut named: Vec<&str> = batch["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["ARN"].as_str())
        .collect();
    named.sort_unstable();
    assert_eq!(named, [arns[0].as_str(), arns[1].as_str()], "{batch}");
    assert!(
        !server
            .audit_text()
            .contains("junk0x:secretsmanager:us-east-1:123456789012:secret:named/a\"}]"),
        "no resource under the junk ARN"
    );

    // The operator's query finds the read under the secret read, not the other spelling.
    let query = |secret: &str| {
        let out = std::process::Command::new(crate::harness::BIN)
            .args([
                "audit",
                "query",
                "--event",
                "GetSecretValue",
                "--error-code",
                "none",
                "--output",
                "json",
                "--secret",
                secret,
                "--data-dir",
            ])
            .arg(server.data_dir())
            .output()
            .expect("query");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(query("named/a"), 1);
    assert_eq!(query("named/b"), 0);
}

/// A request no known key signed is recorded (target, source, user agent, error) but none
/// of its body: an anonymous client cannot fill the audit volume with what it sends.
#[test]
fn unauthenticated_bodies_never_reach_the_trail() {
    let server = TestServer::start();
    let size = || {
        std::fs::read_dir(server.data_dir().join("audit"))
            .expect("audit dir")
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum::<u64>()
    };
    let before = size();
    let filler = "A".repeat(200_000);
    let body = format!(r#"{{"SecretId":"{filler}"}}"#);
    for i in 0..20 {
        let mut headers = vec![("x-amz-target", "secretsmanager.GetSecretValue".to_owned())];
        if i % 2 == 1 {
            // Badly signed: a well-formed header with a key nobody knows.
            headers.push((
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIANOBODY/20261204/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00".to_owned(),
            ));
            headers.push(("x-amz-date", "20261204T000000Z".to_owned()));
        }
        let (status, _) = crate::harness::raw(&server, &headers, body.as_bytes());
        assert!((400..500).contains(&status), "{status}");
    }
    let grown = size() - before;
    assert!(
        grown < 20 * 2_048,
        "the trail grew by {grown} bytes for 20 anonymous requests"
    );
    let anonymous: Vec<serde_json::Value> = server
        .audit_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| r["event"].clone())
        .filter(|e| e["userIdentity"]["type"] == "Unknown")
        .collect();
    assert_eq!(anonymous.len(), 20, "each is recorded");
    for e in &anonymous {
        assert!(e["requestParameters"].is_null(), "{e}");
        assert!(e["errorCode"].is_string(), "{e}");
        assert_eq!(e["eventName"], "GetSecretValue");
    }
}

/// A source that keeps failing authentication is throttled: after a burst it is answered
/// ThrottlingException without its signature being checked, and its refusals are recorded
/// once a minute, not one each, so it cannot fill the trail or spend the CPU of checking.
#[test]
fn failing_authentication_is_throttled_per_source() {
    let server = TestServer::start();
    let body = format!(r#"{{"SecretId":"{}"}}"#, "B".repeat(50_000));
    let mut throttled = 0;
    for _ in 0..300 {
        let (status, answer) = crate::harness::raw(
            &server,
            &[("x-amz-target", "secretsmanager.GetSecretValue".to_owned())],
            body.as_bytes(),
        );
        if answer["__type"] == "ThrottlingException" {
            assert_eq!(status, 400);
            throttled += 1;
        }
    }
    assert!(throttled >= 150, "only {throttled} of 300 were throttled");
    let records = server
        .audit_text()
        .lines()
        .filter(|l| l.contains("\"type\":\"Unknown\""))
        .count();
    assert!(
        records <= 300 - throttled + 1,
        "{records} records for {} refusals that were checked",
        300 - throttled
    );
}

/// Long before a full audit volume makes reads fail closed, the audit-disk-space alarm
/// fires (here with a floor over any disk's free space) and names the volume.
#[test]
fn a_low_audit_volume_raises_an_alarm_before_reads_stop() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = crate::harness::admin_config(
        dir.path(),
        &[],
        "[alarms]\ninterval_secs = 1\ndefaults = false\n\n[[alarms.rule]]\nname = \"disk\"\nkind = \"audit-disk-space\"\nmin_free_mb = 1000000000\n\n[[alarms.rule]]\nname = \"roomy\"\nkind = \"audit-disk-space\"\nmin_free_mb = 1\n",
    );
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let out = std::process::Command::new(crate::harness::BIN)
            .args(["alarms", "list", "--data-dir"])
            .arg(server.data_dir())
            .output()
            .expect("alarms list");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.code() == Some(3) {
            break text;
        }
        assert!(Instant::now() < deadline, "no alarm: {text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        listed.contains("ALARM") && listed.contains("disk") && listed.contains("audit"),
        "{listed}"
    );
    assert!(
        !listed.contains("roomy"),
        "a floor under the free space does not fire: {listed}"
    );
    assert!(
        server.log().contains("under the floor"),
        "the service log says so"
    );
}

/// The example's operator manages the secrets but cannot read them, even by rewriting the
/// secret's resource policy to grant itself GetSecretValue: its identity policy denies the
/// read explicitly, and an explicit Deny wins over any resource-policy Allow.
#[tokio::test]
async fn the_operator_cannot_grant_itself_the_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = crate::harness::example_config(dir.path(), &[]);
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    let creds = dir.path().join("credentials");
    let as_ = |profile: &str| {
        let (id, secret) = crate::harness::read_profile(&creds, profile);
        server.client_with("us-east-1", &id, &secret)
    };
    let (admin, operator) = (as_("admin"), as_("operator"));
    let name = deploy_the_example_secret(&admin, dir.path(), "keys").await;

    // The escalation the review found: drop the resource policy, grant itself the read.
    operator
        .delete_resource_policy()
        .secret_id(name)
        .send()
        .await
        .expect("the operator manages resource policies");
    let grant = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/operator"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
    let err = put_policy_then_read(&operator, name, &grant)
        .await
        .expect_err("still no read");
    assert!(
        crate::harness::message(&err).contains("with an explicit deny in an identity-based policy"),
        "{}",
        crate::harness::message(&err)
    );
    assert_eq!(crate::harness::code(err), "AccessDeniedException");
}

/// Requests the HTTP layer refuses before they are requests (too many header fields,
/// malformed headers) leave a connection-level event in the trail, once a minute per
/// source, so they are on record and cannot fill it.
#[test]
fn refused_connections_are_on_record_once_a_minute() {
    let server = TestServer::start();
    let send = |request: &[u8]| {
        let mut stream = TcpStream::connect(server.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(request).expect("write");
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let mut many = String::from("POST / HTTP/1.1\r\nhost: x\r\n");
    for i in 0..150 {
        many.push_str(&format!("x-filler-{i}: {i}\r\n"));
    }
    many.push_str("content-length: 0\r\n\r\n");
    for _ in 0..20 {
        let answer = send(many.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        let answer = send(b"POST / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events: Vec<String> = server
            .audit_text()
            .lines()
            .filter(|l| l.contains("\"eventName\":\"ConnectionRefused\""))
            .map(str::to_owned)
            .collect();
        if !events.is_empty() || Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        events.len(),
        1,
        "40 refusals, one record a minute: {events:?}"
    );
    assert!(
        events[0].contains("127.0.0.1") && events[0].contains("(431)"),
        "{}",
        events[0]
    );
}

/// Cutting the newest records out of the trail, its newest file, or a file from its middle
/// is caught by `audit verify --strict`: the server signs its chain's head every checkpoint
/// interval (one second here) and numbers its files across restarts. Removing the checkpoint
/// too leaves records no signature covers, which `--strict` fails once the server should
/// have signed them, and a checkpoint kept off the host fails it without `--strict`.
#[tokio::test]
async fn cutting_the_newest_audit_records_is_caught() {
    let mut server = TestServer::start_with(&[
        "--audit-checkpoint-interval-secs",
        "1",
        "--audit-max-file-bytes",
        "3000",
    ]);
    let sm = server.client();
    for i in 0..12 {
        sm.create_secret()
            .name(format!("cut/{i}"))
            .secret_string(crate::harness::canary())
            .send()
            .await
            .expect("create");
    }
    let written = Instant::now();
    let audit = server.data_dir().join("audit");
    // Every record written is signed once a checkpoint counts them all.
    let deadline = Instant::now() + Duration::from_secs(30);
    while signed_records(&audit) != trail_records(&audit) {
        assert!(Instant::now() < deadline, "no checkpoint covered the trail");
        std::thread::sleep(Duration::from_millis(50));
    }
    let key = server
        .cli_command()
        .args(["audit", "public-key", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("public key");
    let key = String::from_utf8(key.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    server.kill9(); // no closing digest: the trail ends as the last checkpoint left it
    // Records are overdue for a signature two checkpoint intervals after they were written.
    std::thread::sleep(Duration::from_millis(2500).saturating_sub(written.elapsed()));

    let verify = |copy: &std::path::Path, extra: &[&str]| {
        let out = server
            .cli_command()
            .args(["audit", "verify", "--checkpoint-interval-secs", "1"])
            .args(["--public-key", &key, "--audit-dir"])
            .arg(copy)
            .args(extra)
            .output()
            .expect("verify");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let attack = |name: &str, cut: &dyn Fn(&std::path::Path, &[std::path::PathBuf])| {
        let copy = server.dir.path().join(name);
        std::fs::create_dir_all(&copy).expect("mkdir");
        crate::harness::copy_dir(&audit, &copy);
        let files = log_files(&copy);
        assert!(
            files.len() >= 3,
            "size rotation made several files: {files:?}"
        );
        cut(&copy, &files);
        copy
    };

    let untouched = attack("untouched", &|_, _| {});
    let (code, out) = verify(&untouched, &["--strict"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("checkpoint checkpoint.json: valid"), "{out}");

    let cut_records = attack("records", &|_, files| {
        let newest = files.last().expect("newest");
        let text = std::fs::read_to_string(newest).expect("read");
        let kept: Vec<&str> = text.lines().collect();
        let kept = kept[..kept.len() - 2].join("\n") + "\n";
        std::fs::write(newest, kept).expect("cut");
    });
    let (code, out) = verify(&cut_records, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("modified (the file "), "{out}");
    assert!(out.contains("(truncated"), "{out}");

    let cut_file = attack("file", &|_, files| {
        std::fs::remove_file(files.last().expect("newest")).expect("rm");
    });
    let (code, out) = verify(&cut_file, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(": deleted"), "{out}");

    // With the checkpoint gone too, nothing signed the remaining records.
    let cut_all = attack("all", &|copy, files| {
        std::fs::remove_file(files.last().expect("newest")).expect("rm");
        std::fs::remove_file(copy.join("checkpoint.json")).expect("rm");
    });
    let (code, out) = verify(&cut_all, &["--strict"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("unsigned ("), "{out}");
    // Without --strict an unsigned tail is only reported: why the README says --strict.
    let (code, out) = verify(&cut_all, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("not yet signed"), "{out}");
    // A checkpoint kept off the host names what was cut, however old.
    let anchor = untouched.join("checkpoint.json");
    let (code, out) = verify(&cut_all, &["--anchor", anchor.to_str().expect("path")]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("anchor "), "{out}");
    assert!(out.contains(": deleted)"), "{out}");

    // A file from the middle, checkpoint and all: the numbers have a gap.
    let cut_middle = attack("middle", &|copy, files| {
        std::fs::remove_file(&files[1]).expect("rm");
        std::fs::remove_file(copy.join("checkpoint.json")).expect("rm");
    });
    let (code, out) = verify(&cut_middle, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("chain      after log file 1: gap (log file number 2 is missing: removed)"),
        "{out}"
    );
}

/// The trail's log files in `dir`, oldest first.
fn log_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("audit dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// The records in the trail's log files.
fn trail_records(dir: &std::path::Path) -> u64 {
    log_files(dir)
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("read");
            text.lines().filter(|l| l.starts_with("{\"seq\":")).count() as u64
        })
        .sum()
}

/// The records the checkpoint signed.
fn signed_records(dir: &std::path::Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(dir.join("checkpoint.json")) else {
        return 0;
    };
    let Ok(file) = serde_json::from_str::<serde_json::Value>(&text) else {
        return 0;
    };
    file["checkpoint"]["logFiles"]
        .as_array()
        .map(|files| files.iter().filter_map(|f| f["records"].as_u64()).sum())
        .unwrap_or(0)
}

/// `policy who-can` sees the escalation the review found: on the example as it was (no
/// explicit Deny for the operator), the operator reaches the API keys by putting a resource
/// policy; the calls it names work against a real server, and on the example as it is, the
/// operator cannot. Readers whose condition needs a tag are reached through whoever may tag.
#[tokio::test]
async fn who_can_names_the_escalation_and_its_calls_work() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = crate::harness::example_config(dir.path(), &[]);
    let who_can = |extra: &[&str]| -> serde_json::Value {
        let out = std::process::Command::new(crate::harness::BIN)
            .args(["policy", "who-can", "--config"])
            .arg(&config)
            .args([
                "--action",
                "secretsmanager:GetSecretValue",
                "--secret",
                "signal9-advisor/api-credentials",
                "--json",
            ])
            .args(extra)
            .output()
            .expect("who-can");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let calls = |report: &serde_json::Value, name: &str| -> Option<Vec<String>> {
        let p = report["principals"]
            .as_array()
            .expect("principals")
            .iter()
            .find(|p| p["name"] == name)
            .expect("listed");
        p["calls"].as_array().map(|calls| {
            calls
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["principal"].as_str().unwrap_or(""),
                        c["action"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
    };
    let stack = dir.path().join("signal9.toml");
    let resource_policy = dir.path().join("resource-policy.json");
    let as_deployed = [
        "--stack",
        stack.to_str().expect("utf-8"),
        "--resource-policy",
        resource_policy.to_str().expect("utf-8"),
    ];

    // The example as it is: readers and rotation directly, the administrator by removing
    // the resource policy, the operator not at all.
    let report = who_can(&as_deployed);
    for reader in ["asset-sync", "earnings-sync", "data-processing", "rotation"] {
        assert_eq!(calls(&report, reader), Some(vec![]), "{reader}: {report:#}");
    }
    assert_eq!(
        calls(&report, "admin"),
        Some(vec!["admin secretsmanager:DeleteResourcePolicy".to_owned()]),
        "{report:#}"
    );
    assert_eq!(calls(&report, "operator"), None, "{report:#}");

    // Untagged, the readers get there once someone who may tag tags it.
    let untagged = who_can(&[
        "--resource-policy",
        resource_policy.to_str().expect("utf-8"),
    ]);
    let reader = &untagged["principals"]
        .as_array()
        .expect("principals")
        .iter()
        .find(|p| p["name"] == "asset-sync")
        .expect("listed")["calls"];
    assert_eq!(
        reader[0]["call"], "secretsmanager:TagResource Project=Signal9Advisor",
        "{untagged:#}"
    );
    assert_eq!(reader.as_array().map(Vec::len), Some(1), "{untagged:#}");

    // The example as the review found it.
    let operator_policy = dir.path().join("policies/operator.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&operator_policy).expect("read"))
            .expect("json");
    doc["Statement"]
        .as_array_mut()
        .expect("statements")
        .retain(|s| s["Sid"] != "NeverReadTheKeys");
    std::fs::write(&operator_policy, doc.to_string()).expect("weaken");
    let report = who_can(&as_deployed);
    assert_eq!(
        calls(&report, "operator"),
        Some(vec!["operator secretsmanager:PutResourcePolicy".to_owned()]),
        "{report:#}"
    );

    // Its calls, made against a server running that config.
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    let creds = dir.path().join("credentials");
    let as_ = |profile: &str| {
        let (id, secret) = crate::harness::read_profile(&creds, profile);
        server.client_with("us-east-1", &id, &secret)
    };
    let (admin, operator) = (as_("admin"), as_("operator"));
    let value = crate::harness::canary();
    let name = deploy_the_example_secret(&admin, dir.path(), &value).await;

    // The same answer from the secret as the service has it (`--live`): its real ARN.
    let live = std::process::Command::new(crate::harness::BIN)
        .args(["policy", "who-can", "--live", "--config"])
        .arg(&config)
        .args([
            "--action",
            "secretsmanager:GetSecretValue",
            "--secret",
            name,
            "--json",
        ])
        .args(["--endpoint", &server.endpoint(), "--profile", "admin"])
        .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("who-can --live");
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let live: serde_json::Value = serde_json::from_slice(&live.stdout).expect("json");
    assert!(
        live["resource"]
            .as_str()
            .is_some_and(|a| !a.ends_with("-??????") && a.contains(name)),
        "{live:#}"
    );
    assert_eq!(
        calls(&live, "operator"),
        Some(vec!["operator secretsmanager:PutResourcePolicy".to_owned()]),
        "{live:#}"
    );
    assert!(
        operator
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .is_err(),
        "not as things are"
    );
    let grant = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/operator"},
        "Action": "secretsmanager:*", "Resource": "*"}]});
    let got = put_policy_then_read(&operator, name, &grant)
        .await
        .expect("the call who-can named, then the read");
    assert_eq!(got.secret_string(), Some(value.as_str()));
}

/// The example's API-credentials secret holding `value`, tagged and with the example's
/// resource policy (from the example copied to `dir`), as the administrator sets it up;
/// its name.
async fn deploy_the_example_secret(
    admin: &aws_sdk_secretsmanager::Client,
    dir: &std::path::Path,
    value: &str,
) -> &'static str {
    let name = "signal9-advisor/api-credentials";
    admin
        .create_secret()
        .name(name)
        .secret_string(value)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("Project")
                .value("Signal9Advisor")
                .build(),
        )
        .send()
        .await
        .expect("create");
    let policy = std::fs::read_to_string(dir.join("resource-policy.json")).expect("policy");
    admin
        .put_resource_policy()
        .secret_id(name)
        .resource_policy(policy)
        .send()
        .await
        .expect("the example's resource policy");
    name
}

/// `client` puts `policy` on `name` (which must succeed), then reads the value.
async fn put_policy_then_read(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    policy: &serde_json::Value,
) -> Result<
    aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput,
    aws_sdk_secretsmanager::error::SdkError<
        aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
    >,
> {
    client
        .put_resource_policy()
        .secret_id(name)
        .resource_policy(policy.to_string())
        .block_public_policy(true)
        .send()
        .await
        .expect("put the resource policy");
    client.get_secret_value().secret_id(name).send().await
}
