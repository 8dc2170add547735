//! TLS on the listeners, through real clients: the aws CLI, boto3 and aws-sdk-secretsmanager
//! trust a private CA through `AWS_CA_BUNDLE` / `verify=` / a custom trust store, and refuse
//! an untrusted, wrong-host or expired certificate; the listener speaks TLS 1.2 and 1.3
//! only, with modern suites, and negotiates X25519MLKEM768 with a client that offers it
//! (sslyze scans it); certificates reload under load without a failed request; plain HTTP
//! off loopback is refused; `aws:SecureTransport` follows the connection.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs::kx_group::{X25519, X25519MLKEM768};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::harness::{BIN, TestServer, canary, require};

/// What each client said when asked to list secrets: `None` for success, else its error.
struct Outcomes {
    aws_cli: Option<String>,
    boto3: Option<String>,
    sdk: Option<String>,
}

/// Lists secrets with the aws CLI, boto3 and the Rust SDK, each trusting `ca` (or the
/// system's roots only).
async fn list_with_each_client(server: &TestServer, ca: Option<&Path>) -> Outcomes {
    let (id, secret) = server.admin_keys();
    let mut aws = Command::new("aws");
    aws.args(["secretsmanager", "list-secrets", "--endpoint-url"])
        .arg(server.endpoint())
        .env("AWS_ACCESS_KEY_ID", &id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_CA_BUNDLE")
        .envs(ca.map(|ca| ("AWS_CA_BUNDLE", ca)));
    let boto3 = r#"
import os, boto3
sm = boto3.client("secretsmanager", endpoint_url=os.environ["EP"], region_name="us-east-1",
                  aws_access_key_id=os.environ["KID"], aws_secret_access_key=os.environ["KEY"],
                  verify=os.environ.get("CA") or True,
                  config=boto3.session.Config(retries={"max_attempts": 1}))
sm.list_secrets()
"#;
    let mut python = Command::new("python3");
    python
        .args(["-c", boto3])
        .env("EP", server.endpoint())
        .env("KID", &id)
        .env("KEY", &secret)
        .env_remove("AWS_CA_BUNDLE")
        .envs(ca.map(|ca| ("CA", ca)));
    let failed = |mut cmd: Command| {
        let out = cmd.output().expect("client");
        (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let mut config = aws_sdk_secretsmanager::Config::builder();
    if let Some(ca) = ca {
        config = config.http_client(s9_client::ca_bundle::http_client(ca).expect("bundle"));
    }
    let sdk = aws_sdk_secretsmanager::Client::from_conf(
        config
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .endpoint_url(server.endpoint())
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                id, secret, None, None, "tls-test",
            ))
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build(),
    );
    let sdk = sdk.list_secrets().send().await.err().map(|e| {
        format!(
            "{:?}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        )
    });
    Outcomes {
        aws_cli: failed(aws),
        boto3: failed(python),
        sdk,
    }
}

/// The leaf certificate the server presents to a new connection (not verified).
fn presented(server: &TestServer) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import ssl,sys; print(ssl.get_server_certificate(('127.0.0.1', int(sys.argv[1]))))",
            &server.addr.port().to_string(),
        ])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn pem_of(path: &Path) -> String {
    let der = CertificateDer::from_pem_file(path).expect("certificate");
    let b64 = base64_lines(der.as_ref());
    format!("-----BEGIN CERTIFICATE-----\n{b64}-----END CERTIFICATE-----")
}

/// Base64 in 64-character lines, as PEM (and Python's ssl) writes it.
fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    text.as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect()
}

/// Waits until new connections get the certificate in `cert`.
fn wait_until_presented(server: &TestServer, cert: &Path) {
    let want = pem_of(cert);
    let deadline = Instant::now() + Duration::from_secs(15);
    while presented(server) != want {
        assert!(
            Instant::now() < deadline,
            "the server did not reload {}: {}",
            cert.display(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A certificate for `names`, valid from `from` to `until`, signed by the CA `tls init`
/// made in `certs`, written over the server's pair (the key first, then the certificate,
/// each replaced at once, as certificate renewers do).
fn issue(certs: &Path, names: &[&str], from: time::OffsetDateTime, until: time::OffsetDateTime) {
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(certs.join("ca.key")).expect("ca key"))
            .expect("key");
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(certs.join("ca.pem")).expect("ca"),
        ca_key,
    )
    .expect("issuer");
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    params.not_before = from;
    params.not_after = until;
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("sign");
    replace(&certs.join("server.key"), &key.serialize_pem());
    replace(&certs.join("server.pem"), &cert.pem());
}

fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text).expect("write");
    std::fs::rename(&staged, path).expect("rename");
}

fn certs_of(server: &TestServer) -> PathBuf {
    server.dir.path().join("certs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_trust_the_ca_bundle_and_refuse_untrusted_wrong_host_and_expired_certificates() {
    require("aws", &["--version"]);
    require("python3", &["-c", "import boto3"]);
    let server = TestServer::start_tls(&[]);
    let ca = server.ca.clone().expect("ca");
    let certs = certs_of(&server);
    for file in ["ca.pem", "ca.key", "server.pem", "server.key"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(certs.join(file))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }

    let trusted = list_with_each_client(&server, Some(&ca)).await;
    assert_eq!(trusted.aws_cli, None);
    assert_eq!(trusted.boto3, None);
    assert_eq!(trusted.sdk, None);

    // Without the bundle: the system's roots do not know the local CA.
    let untrusted = list_with_each_client(&server, None).await;
    let says = |o: &Option<String>, what: &str| o.as_deref().is_some_and(|e| e.contains(what));
    assert!(
        says(&untrusted.aws_cli, "CERTIFICATE_VERIFY_FAILED"),
        "{:?}",
        untrusted.aws_cli
    );
    assert!(
        says(&untrusted.boto3, "CERTIFICATE_VERIFY_FAILED"),
        "{:?}",
        untrusted.boto3
    );
    assert!(says(&untrusted.sdk, "UnknownIssuer"), "{:?}", untrusted.sdk);
    let cli = server
        .cli_command()
        .env_remove("AWS_CA_BUNDLE")
        .args(["list"])
        .output()
        .expect("cli");
    assert!(!cli.status.success());
    let said = String::from_utf8_lossy(&cli.stderr);
    assert!(said.contains("UnknownIssuer"), "{said}");
    assert!(
        said.contains(
            "hint: the server's TLS certificate is not trusted here: export AWS_CA_BUNDLE"
        ),
        "{said}"
    );

    // A certificate for another host, from the same CA.
    let now = time::OffsetDateTime::now_utc();
    issue(
        &certs,
        &["other.example"],
        now - time::Duration::hours(1),
        now + time::Duration::days(1),
    );
    wait_until_presented(&server, &certs.join("server.pem"));
    let wrong_host = list_with_each_client(&server, Some(&ca)).await;
    assert!(
        says(&wrong_host.aws_cli, "match"),
        "{:?}",
        wrong_host.aws_cli
    );
    assert!(says(&wrong_host.boto3, "match"), "{:?}", wrong_host.boto3);
    assert!(
        says(&wrong_host.sdk, "NotValidForName"),
        "{:?}",
        wrong_host.sdk
    );

    // An expired one.
    issue(
        &certs,
        &["localhost", "127.0.0.1"],
        now - time::Duration::days(30),
        now - time::Duration::days(1),
    );
    wait_until_presented(&server, &certs.join("server.pem"));
    let expired = list_with_each_client(&server, Some(&ca)).await;
    assert!(says(&expired.aws_cli, "expired"), "{:?}", expired.aws_cli);
    assert!(says(&expired.boto3, "expired"), "{:?}", expired.boto3);
    assert!(says(&expired.sdk, "Expired"), "{:?}", expired.sdk);
}

/// A TLS connection from a rustls client offering `groups` and `versions`: what it
/// negotiated (protocol, suite, key exchange group).
async fn negotiate(
    server: &TestServer,
    groups: Vec<&'static dyn SupportedKxGroup>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (String, String, String) {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = groups;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.ca.as_ref().expect("ca")).expect("ca") {
        roots.add(cert.expect("cert")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    let conn = tls.get_ref().1;
    (
        format!("{:?}", conn.protocol_version().expect("version")),
        format!(
            "{:?}",
            conn.negotiated_cipher_suite().expect("suite").suite()
        ),
        format!(
            "{:?}",
            conn.negotiated_key_exchange_group().expect("group").name()
        ),
    )
}

#[tokio::test]
async fn the_listener_speaks_modern_tls_only_and_prefers_post_quantum_key_exchange() {
    require("sslyze", &["--help"]);
    let server = TestServer::start_tls(&[]);
    let tls13 = &[&rustls::version::TLS13][..];
    // A client offering the hybrid group and a classical one gets the hybrid.
    let (version, _, group) = negotiate(&server, vec![X25519MLKEM768, X25519], tls13).await;
    assert_eq!(
        (version.as_str(), group.as_str()),
        ("TLSv1_3", "X25519MLKEM768")
    );
    // A client offering only classical groups is still served, over TLS 1.3 and 1.2.
    let (_, _, group) = negotiate(&server, vec![X25519], tls13).await;
    assert_eq!(group, "X25519");
    let (version, suite, _) = negotiate(&server, vec![X25519], &[&rustls::version::TLS12]).await;
    assert_eq!(version, "TLSv1_2");
    assert!(
        suite.starts_with("TLS_ECDHE_") && !suite.contains("CBC"),
        "{suite}"
    );

    // A scanner: nothing below TLS 1.2, only forward-secret AEAD suites.
    let report = server.dir.path().join("sslyze.json");
    let out = Command::new("sslyze")
        .args([
            "--sslv2",
            "--sslv3",
            "--tlsv1",
            "--tlsv1_1",
            "--tlsv1_2",
            "--tlsv1_3",
        ])
        .arg(format!("--json_out={}", report.display()))
        .arg(server.addr.to_string())
        .output()
        .expect("sslyze");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let result = &report["server_scan_results"][0]["scan_result"];
    let accepted = |scan: &str| -> Vec<String> {
        result[scan]["result"]["accepted_cipher_suites"]
            .as_array()
            .unwrap_or_else(|| panic!("{scan}: {result}"))
            .iter()
            .map(|c| c["cipher_suite"]["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    for old in ["ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"] {
        assert_eq!(
            accepted(&format!("{old}_cipher_suites")),
            Vec::<String>::new(),
            "{old}"
        );
    }
    let tls12 = accepted("tls_1_2_cipher_suites");
    assert!(!tls12.is_empty());
    for suite in &tls12 {
        assert!(
            suite.starts_with("TLS_ECDHE_")
                && (suite.contains("_GCM_") || suite.contains("CHACHA20")),
            "{suite}"
        );
    }
    assert_eq!(accepted("tls_1_3_cipher_suites").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_reload_under_load_without_a_failed_request() {
    let server = TestServer::start_tls(&[]);
    let client = server.client();
    let value = canary();
    client
        .create_secret()
        .name("reload/one")
        .secret_string(&value)
        .send()
        .await
        .expect("create");
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for fresh_connections in [false, false, true] {
        let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
        // One worker makes a new connection (a new handshake) for every request.
        let pooled = server.client();
        let server_endpoint = (server.endpoint(), server.ca.clone(), server.admin_keys());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let c = if fresh_connections {
                    fresh_client(&server_endpoint)
                } else {
                    pooled.clone()
                };
                match c.get_secret_value().secret_id("reload/one").send().await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!(
                            "{:?}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                        );
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Renewed by `tls init` (same CA, new key), as a cron job would.
    let certs = certs_of(&server);
    let before = pem_of(&certs.join("server.pem"));
    let renewed = Command::new(BIN)
        .args(["tls", "init", "--out"])
        .arg(&certs)
        .output()
        .expect("renew");
    assert!(renewed.status.success());
    assert_ne!(pem_of(&certs.join("server.pem")), before);
    let new_cert = certs.join("server.pem");
    tokio::task::block_in_place(|| wait_until_presented(&server, &new_cert));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{}", server.log());
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "{}",
        ok.load(Ordering::Relaxed)
    );
    assert!(server.log().contains("reloaded the TLS certificate"));

    // A broken pair, then SIGHUP: the reload fails, says why, and the certificate in use
    // stays.
    replace(&certs.join("server.key"), "not a key\n");
    let pid = server.pid();
    let hup = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .log()
        .contains("could not reload the TLS certificate")
    {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(presented(&server), pem_of(&new_cert));
    let got = fresh_client(&(server.endpoint(), server.ca.clone(), server.admin_keys()))
        .get_secret_value()
        .secret_id("reload/one")
        .send()
        .await
        .expect("still served");
    assert_eq!(got.secret_string(), Some(value.as_str()));
}

/// A client with a connection pool of its own.
fn fresh_client(
    (endpoint, ca, (id, secret)): &(String, Option<PathBuf>, (String, String)),
) -> aws_sdk_secretsmanager::Client {
    let http = s9_client::ca_bundle::http_client(ca.as_ref().expect("ca")).expect("bundle");
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .http_client(http)
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                id, secret, None, None, "tls-test",
            ))
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build(),
    )
}

#[test]
fn plain_http_off_loopback_is_refused_unless_asked_for() {
    let dir = tempfile::tempdir().expect("tmp");
    let serve = |extra: &[&str]| {
        Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(extra)
            .output()
            .expect("serve")
    };
    for listen in [
        &["--listen", "0.0.0.0:0"][..],
        &["--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0"][..],
    ] {
        let out = serve(listen);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(
            said.contains("is not a loopback address, and there is no TLS"),
            "{said}"
        );
    }
    assert!(!dir.path().join("data").exists(), "nothing created");

    // Asked for: it starts, and says what it does.
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure-plaintext",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    while !banner.contains("listening on") {
        banner.clear();
        let read = std::io::BufRead::read_line(&mut stdout, &mut banner).expect("banner");
        assert!(read > 0, "no banner");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    assert!(banner.contains("listening on http://0.0.0.0:"), "{banner}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("serving plain HTTP on a non-loopback address"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn secure_transport_follows_the_connection_and_metrics_are_tls_too() {
    require("curl", &["--version"]);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
    let run = |tls: bool| async move {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("secure.json"), policy).expect("policy");
        let config = crate::harness::admin_config(
            dir.path(),
            &["reader"],
            "[[principal]]\nname = \"reader\"\narn = \"arn:aws:iam::123456789012:role/reader\"\nprofile = \"reader\"\npolicies = [\"secure.json\"]\n",
        );
        let args = ["--config", config.to_str().expect("utf-8")];
        let server = if tls {
            TestServer::start_tls(&args)
        } else {
            TestServer::start_with(&args)
        };
        let admin = {
            let (id, secret) =
                crate::harness::read_profile(&dir.path().join("credentials"), "default");
            server.client_with("us-east-1", &id, &secret)
        };
        admin
            .create_secret()
            .name("secure/one")
            .secret_string("v")
            .send()
            .await
            .expect("create");
        let (id, secret) = crate::harness::read_profile(&dir.path().join("credentials"), "reader");
        let read = server
            .client_with("us-east-1", &id, &secret)
            .get_secret_value()
            .secret_id("secure/one")
            .send()
            .await;
        (server, dir, read.map(drop).map_err(crate::harness::code))
    };
    let (_, _, plain) = run(false).await;
    assert_eq!(plain, Err("AccessDeniedException".to_owned()));
    let (server, _dir, secure) = run(true).await;
    assert_eq!(secure, Ok(()));

    // The metrics listener serves TLS with the same certificate.
    let ca = server.ca.clone().expect("ca");
    let url = format!("https://{}/metrics", server.metrics_addr);
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(&ca)
        .arg(&url)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("s9_requests_total"));
    let plain = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "5"])
        .arg(format!("http://{}/metrics", server.metrics_addr))
        .output()
        .expect("curl");
    assert!(!plain.status.success());
}

/// `deploy/s9-secrets.service` is a valid unit (`systemd-analyze verify`, no unknown
/// directive), and its command line, with the unit's paths moved into a scratch directory,
/// starts a TLS server on an audit key made by `audit new-key`, which its reload command
/// (SIGHUP) makes re-read its certificate.
#[test]
fn the_systemd_unit_is_valid_and_its_command_line_serves() {
    require("systemd-analyze", &["--version"]);
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/s9-secrets.service"
    ))
    .expect("unit");
    let dir = tempfile::tempdir().expect("tmp");
    let local = dir.path().join("s9-secrets.service");
    std::fs::write(&local, unit.replace("/usr/local/bin/s9-secrets", BIN)).expect("write");
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .expect("systemd-analyze");
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && said.trim().is_empty(),
        "{said}"
    );

    // The ExecStart line, with the unit's paths moved into the scratch directory.
    let exec = unit
        .replace("\\\n", " ")
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart")
        .to_owned();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("tls")).expect("mkdir");
    let config = crate::harness::admin_config(&etc, &[], "");
    let made = Command::new(BIN)
        .args(["tls", "init", "--out"])
        .arg(etc.join("tls"))
        .output()
        .expect("tls init");
    assert!(made.status.success());
    let key = dir.path().join("credentials/audit-signing.p8");
    std::fs::create_dir_all(key.parent().expect("dir")).expect("mkdir");
    let new_key = Command::new(BIN)
        .args(["audit", "new-key", "--out"])
        .arg(&key)
        .output()
        .expect("new-key");
    assert!(new_key.status.success());
    let again = Command::new(BIN)
        .args(["audit", "new-key", "--out"])
        .arg(&key)
        .output()
        .expect("new-key");
    assert!(!again.status.success(), "an existing key is never replaced");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let exec = exec
        .replace("/usr/local/bin/s9-secrets", BIN)
        .replace("0.0.0.0:7780", &format!("127.0.0.1:{port}"))
        .replace("/etc/s9-secrets/s9.toml", config.to_str().expect("utf-8"))
        .replace(
            "/etc/s9-secrets/tls",
            etc.join("tls").to_str().expect("utf-8"),
        )
        .replace(
            "/var/lib/s9-secrets",
            dir.path().join("data").to_str().expect("utf-8"),
        )
        .replace("%d", key.parent().and_then(Path::to_str).expect("utf-8"));
    let words: Vec<&str> = exec.split_whitespace().collect();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(words[0])
        .args(&words[1..])
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(
            std::fs::File::options()
                .append(true)
                .open(&log)
                .expect("log"),
        )
        .spawn()
        .expect("serve");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read_log().contains("listening on https://127.0.0.1:") {
        assert!(
            Instant::now() < deadline && child.try_wait().expect("wait").is_none(),
            "{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let reload = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecReload="))
        .expect("ExecReload")
        .replace("$MAINPID", &child.id().to_string());
    let words: Vec<&str> = reload.split_whitespace().collect();
    assert!(
        Command::new(words[0])
            .args(&words[1..])
            .status()
            .expect("reload")
            .success()
    );
    while !read_log().contains("reloaded the TLS certificate") {
        assert!(Instant::now() < deadline, "{}", read_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("wait").success(), "{}", read_log());
}

/// A client CA and certificates it signs for `names` (client authentication), written as
/// `DIR/ca.pem` and `DIR/NAME.pem` / `DIR/NAME.key`.
fn client_certificates(dir: &Path, names: &[&str]) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "pipeline clients");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    for name in names {
        let mut params = rcgen::CertificateParams::new(vec![(*name).to_owned()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, *name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("sign");
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write");
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write");
    }
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_and_binds_keys_to_theirs() {
    require("python3", &["-c", "import boto3"]);
    let dir = tempfile::tempdir().expect("tmp");
    let clients = dir.path().join("clients");
    std::fs::create_dir_all(&clients).expect("mkdir");
    client_certificates(&clients, &["reader.pipeline", "other.pipeline"]);
    std::fs::write(
        dir.path().join("reader.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
    )
    .expect("policy");
    let config = crate::harness::admin_config(
        dir.path(),
        &["reader"],
        "[[principal]]\nname = \"reader\"\narn = \"arn:aws:iam::123456789012:role/reader\"\nprofile = \"reader\"\npolicies = [\"reader.json\"]\ncertificate = \"reader.pipeline\"\n",
    );
    // Bound keys without client certificates required: refused at start.
    let refused = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("refused"))
        .output()
        .expect("serve");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pass --tls-client-ca"));

    let client_ca = clients.join("ca.pem");
    let server = TestServer::start_tls(&[
        "--config",
        config.to_str().expect("utf-8"),
        "--tls-client-ca",
        client_ca.to_str().expect("utf-8"),
    ]);
    // Without a client certificate the handshake fails (the Rust SDK has no way to send one).
    let (id, secret) = crate::harness::read_profile(&dir.path().join("credentials"), "default");
    let err = server
        .client_with("us-east-1", &id, &secret)
        .list_secrets()
        .send()
        .await
        .expect_err("no client certificate");
    assert!(
        format!(
            "{:?}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(&err)
        )
        .contains("CertificateRequired"),
        "{err:?}"
    );

    let script = r#"
import json, os, sys, boto3, botocore
creds = json.loads(os.environ["CREDS"])
def client(profile, cert):
    kid, key = creds[profile]
    return boto3.client("secretsmanager", endpoint_url=os.environ["EP"], region_name="us-east-1",
        aws_access_key_id=kid, aws_secret_access_key=key, verify=os.environ["CA"],
        config=botocore.config.Config(retries={"max_attempts": 1},
            client_cert=None if cert is None else (os.environ["CLIENTS"] + "/" + cert + ".pem",
                                                   os.environ["CLIENTS"] + "/" + cert + ".key")))
out = {}
client("default", "other.pipeline").create_secret(Name="mtls/one", SecretString="v")
for profile, cert in [("reader", "reader.pipeline"), ("reader", "other.pipeline"), ("reader", None)]:
    try:
        client(profile, cert).get_secret_value(SecretId="mtls/one")
        out[f"{profile} {cert}"] = "ok"
    except botocore.exceptions.ClientError as e:
        out[f"{profile} {cert}"] = e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"]
    except Exception as e:
        out[f"{profile} {cert}"] = type(e).__name__
print(json.dumps(out))
"#;
    let creds = ["default", "reader"].map(|p| {
        let (id, secret) = crate::harness::read_profile(&dir.path().join("credentials"), p);
        (p, [id, secret])
    });
    let creds: serde_json::Map<String, serde_json::Value> = creds
        .into_iter()
        .map(|(p, pair)| (p.to_owned(), serde_json::json!(pair)))
        .collect();
    let out = Command::new("python3")
        .args(["-c", script])
        .env("EP", server.endpoint())
        .env("CA", server.ca.as_ref().expect("ca"))
        .env("CLIENTS", &clients)
        .env("CREDS", serde_json::Value::Object(creds).to_string())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(seen["reader reader.pipeline"], "ok", "{seen}");
    assert_eq!(
        seen["reader other.pipeline"],
        "AccessDeniedException: The key of arn:aws:iam::123456789012:role/reader is bound to the client certificate reader.pipeline; this connection presented a client certificate for other.pipeline.",
        "{seen}"
    );
    assert_eq!(seen["reader None"], "SSLError", "{seen}");
}
