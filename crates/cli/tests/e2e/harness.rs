//! Spawns the real `s9-secrets` binary on a free loopback port and a temporary data
//! directory, and builds aws-sdk-secretsmanager clients for it. Every server is killed when
//! its handle drops.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use http::{HeaderMap, HeaderValue, Method, Uri};
use s9_sigv4::{SecretKey, SigningCredentials};

pub const BIN: &str = env!("CARGO_BIN_EXE_s9-secrets");
pub const ACCOUNT: &str = "123456789012";

/// The start of the line a server prints once it listens.
const BANNER: &str = "Signal9 Secrets is listening on";

pub struct TestServer {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    /// The metrics listener (`--metrics-listen`).
    pub metrics_addr: SocketAddr,
    stderr_path: PathBuf,
    extra_args: Vec<String>,
    /// The CA that signed the server's certificate, when it serves TLS.
    pub ca: Option<PathBuf>,
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Self::unstarted(dir, extra);
        server.spawn();
        server
    }

    fn unstarted(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        Self {
            child: None,
            stderr_path: dir.path().join("server.log"),
            dir,
            addr: free_addr(),
            metrics_addr: free_addr(),
            extra_args: extra.iter().map(|s| (*s).to_owned()).collect(),
            ca: None,
        }
    }

    /// A server on TLS, with a certificate for localhost, 127.0.0.1 and ::1 from
    /// `tls init` (its CA in `ca`).
    pub fn start_tls(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        let made = Command::new(BIN)
            .args(["tls", "init", "--out"])
            .arg(&certs)
            .output()
            .expect("tls init");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let (cert, key) = (certs.join("server.pem"), certs.join("server.key"));
        let mut args = vec![
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        let mut server = Self::unstarted(dir, &args);
        server.ca = Some(certs.join("ca.pem"));
        server.spawn();
        server
    }

    /// `s9-secrets` pointed at this server as its administrator, with no AWS or Signal9
    /// variables of the machine leaking in.
    pub fn cli_command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env("S9_ENDPOINT", self.endpoint())
            .env("AWS_SHARED_CREDENTIALS_FILE", self.credentials_path())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("ALPHAVANTAGE_API_KEY")
            .env_remove("ALPACA_API_KEY")
            .env_remove("ALPACA_API_SECRET");
        match &self.ca {
            Some(ca) => cmd.env("AWS_CA_BUNDLE", ca),
            None => cmd.env_remove("AWS_CA_BUNDLE"),
        };
        cmd
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.data_dir().join("credentials")
    }

    fn spawn(&mut self) {
        let banners_before = self.log().matches(BANNER).count();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("log file");
        let child = Command::new(BIN)
            .args(["serve", "--listen", &self.addr.to_string()])
            .args([
                "--metrics-listen",
                &self.metrics_addr.to_string(),
                "--data-dir",
            ])
            .arg(self.data_dir())
            .args(if self.extra_args.iter().any(|a| a == "--config") {
                &[][..]
            } else {
                &["--account-id", ACCOUNT][..]
            })
            .args(&self.extra_args)
            .env("S9_LOG", "debug")
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .spawn()
            .expect("spawn s9-secrets");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(self.addr).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("server exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // The banner follows the listener by a moment; tests that read it wait for it.
        while self.log().matches(BANNER).count() <= banners_before {
            assert!(Instant::now() < deadline, "no banner: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        child.wait().expect("wait")
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Every audit log file of the server, concatenated.
    pub fn audit_text(&self) -> String {
        let dir = self.data_dir().join("audit");
        let mut all = String::new();
        for entry in std::fs::read_dir(dir).expect("audit dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                all.push_str(&std::fs::read_to_string(path).expect("read"));
            }
        }
        all
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The administrator key pair generated on first start.
    pub fn admin_keys(&self) -> (String, String) {
        read_profile(&self.credentials_path(), "default")
    }

    pub fn client(&self) -> Client {
        self.client_in("us-east-1")
    }

    pub fn client_in(&self, region: &str) -> Client {
        let (id, secret) = self.admin_keys();
        self.client_with(region, &id, &secret)
    }

    pub fn client_with(&self, region: &str, id: &str, secret: &str) -> Client {
        let mut config = aws_sdk_secretsmanager::Config::builder();
        if let Some(ca) = &self.ca {
            config = config.http_client(s9_client::ca_bundle::http_client(ca).expect("CA bundle"));
        }
        let config = config
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(id, secret, None, None, "s9-test"))
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }
}

impl Drop for TestServer {
    /// Stops the server gracefully (so it flushes what it must, coverage data included),
    /// and kills it if it has not exited within ten seconds.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn read_profile(path: &Path, profile: &str) -> (String, String) {
    let text = std::fs::read_to_string(path).expect("credentials file");
    let mut in_profile = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_profile = line == format!("[{profile}]");
        } else if in_profile && let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    (id.expect("access key"), secret.expect("secret key"))
}

/// The AWS error code of a failed SDK call.
pub fn code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> String {
    match err.as_service_error() {
        Some(e) => e.code().unwrap_or("<no code>").to_owned(),
        None => format!("<not a service error: {err:?}>"),
    }
}

/// The message of a failed SDK call.
/// A service error's code and message, to compare with AWS's whole answer at once.
pub fn answer<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> (String, String) {
    let text = message(&err);
    (code(err), text)
}

pub fn message<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: &aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> String {
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_owned()
}

/// A unique canary value: if it ever shows up in a log or on disk, a value leaked.
pub fn canary() -> String {
    format!("CANARY-{}", uuid::Uuid::new_v4().simple())
}

pub fn token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Sends one HTTP/1.1 request over a fresh connection and returns (status, body).
pub fn raw(
    server: &TestServer,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut head = format!(
        "POST / HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    parse_response(&response)
}

pub fn parse_response(response: &[u8]) -> (u16, serde_json::Value) {
    let text = String::from_utf8_lossy(response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Headers of a request signed with `creds` for `target` at time `at`.
pub fn signed_headers(
    server: &TestServer,
    target: &str,
    body: &[u8],
    creds: &SigningCredentials,
    at: time::OffsetDateTime,
) -> Vec<(&'static str, String)> {
    let uri: Uri = server.endpoint().parse().expect("uri");
    let mut headers = HeaderMap::new();
    headers.insert(
        "host",
        HeaderValue::from_str(&server.addr.to_string()).expect("host"),
    );
    headers.insert(
        "x-amz-target",
        HeaderValue::from_str(target).expect("target"),
    );
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    let params = s9_sigv4::SigningParams {
        credentials: creds,
        region: "us-east-1",
        service: "secretsmanager",
        time: at,
    };
    s9_sigv4::sign(&Method::POST, &uri, &mut headers, body, &params).expect("sign");
    [
        "host",
        "x-amz-target",
        "content-type",
        "x-amz-date",
        "authorization",
    ]
    .into_iter()
    .filter_map(|k| {
        headers
            .get(k)
            .map(|v| (k, v.to_str().expect("ascii").to_owned()))
    })
    .collect()
}

pub fn admin(server: &TestServer) -> SigningCredentials {
    let (id, secret) = server.admin_keys();
    SigningCredentials {
        access_key_id: id,
        secret_key: SecretKey::new(secret),
        session_token: None,
    }
}

pub fn signed(server: &TestServer, target: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let headers = signed_headers(
        server,
        target,
        body,
        &admin(server),
        time::OffsetDateTime::now_utc(),
    );
    raw(server, &headers, body)
}

pub fn error_type(body: &serde_json::Value) -> &str {
    body["__type"].as_str().unwrap_or_default()
}

/// A service config in `dir`: a credentials file with profiles `default` and `extra`, an
/// administrator principal (`user/admin`, profile `default`, every action), and `more`
/// (TOML: further principals, `[rotation]`, `[alarms]`) appended.
pub fn admin_config(dir: &Path, extra: &[&str], more: &str) -> PathBuf {
    let profiles: Vec<String> = std::iter::once("default")
        .chain(extra.iter().copied())
        .map(str::to_owned)
        .collect();
    s9_server::principals::generate_profiles_file(&dir.join("credentials"), &profiles)
        .expect("credentials");
    std::fs::write(
        dir.join("admin.json"),
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    )
    .expect("policy");
    let config = format!(
        "account_id = \"{ACCOUNT}\"\ncredentials = \"credentials\"\n\n[[principal]]\nname = \"admin\"\narn = \"arn:aws:iam::{ACCOUNT}:user/admin\"\nprofile = \"default\"\npolicies = [\"admin.json\"]\n\n{more}"
    );
    std::fs::write(dir.join("s9.toml"), config).expect("config");
    dir.join("s9.toml")
}

/// The Signal9 example (`examples/signal9`) copied into `dir` with a fresh credentials file
/// for each of its principals, `extra` profiles and `admin` included; returns its `s9.toml`.
pub fn example_config(dir: &Path, extra: &[&str]) -> PathBuf {
    const PROFILES: [&str; 6] = [
        "admin",
        "asset-sync",
        "earnings-sync",
        "data-processing",
        "rotation",
        "operator",
    ];
    copy_dir(Path::new(EXAMPLE), dir);
    let profiles: Vec<String> = PROFILES
        .iter()
        .chain(extra)
        .map(|p| (*p).to_owned())
        .collect();
    s9_server::principals::generate_profiles_file(&dir.join("credentials"), &profiles)
        .expect("credentials");
    dir.join("s9.toml")
}

/// `examples/signal9` in the repository.
pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/signal9");

/// Copies a directory tree, leaving out any `credentials` file.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("source dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "credentials" {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Fails the test, with what to do, unless `program ARGS` runs and succeeds: the aws CLI,
/// boto3, cfn-lint and cfn-guard are installed by scripts/test.sh, and a test that needs
/// one never passes without it.
pub fn require(program: &str, args: &[&str]) {
    let found = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{program} {}` failed: run scripts/test.sh, which installs what the tests need",
        args.join(" ")
    );
}
