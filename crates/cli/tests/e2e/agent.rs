//! `s9-secrets agent` in front of the real server, spoken to as code written for the AWS
//! Secrets Manager Agent / Lambda extension speaks to it.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, TestServer, canary, parse_response};

struct Agent {
    child: Child,
    addr: SocketAddr,
    token: String,
}

impl Agent {
    fn start(server: &TestServer) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let token = canary();
        let (id, secret) = server.admin_keys();
        let child = Command::new(BIN)
            .args([
                "agent",
                "--listen",
                &addr.to_string(),
                "--endpoint",
                &server.endpoint(),
            ])
            .env("AWS_TOKEN", &token)
            .env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env_remove("AWS_CA_BUNDLE")
            .envs(server.ca.as_ref().map(|ca| ("AWS_CA_BUNDLE", ca)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn agent");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "agent did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, addr, token }
    }

    fn get(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut head =
            format!("{method} {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("write");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = parse_response(&response).0;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    fn authed(&self, target: &str) -> (u16, serde_json::Value) {
        let (status, body) = self.get(
            "GET",
            target,
            &[("X-Aws-Parameters-Secrets-Token", &self.token)],
        );
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        )
    }
}

impl Drop for Agent {
    /// SIGTERM, so the agent stops as it would in production; SIGKILL if it does not.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_agent_answers_like_the_aws_secrets_manager_agent() {
    let mut server = TestServer::start();
    let value = canary();
    server
        .client()
        .create_secret()
        .name("signal9-advisor/api-credentials")
        .secret_string(&value)
        .send()
        .await
        .expect("create");
    let agent = Agent::start(&server);

    let (status, body) =
        agent.authed("/secretsmanager/get?secretId=signal9-advisor%2Fapi-credentials");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["SecretString"], value.as_str());
    assert_eq!(body["Name"], "signal9-advisor/api-credentials");
    assert_eq!(body["VersionStages"], serde_json::json!(["AWSCURRENT"]));
    assert!(
        body["ARN"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:secretsmanager:"))
    );
    // A string of seconds with milliseconds, as AWS's agent writes it.
    let created = body["CreatedDate"].as_str().expect("a string");
    let (secs, millis) = created.split_once('.').expect("seconds.millis");
    assert!(
        secs.parse::<u64>().is_ok() && millis.len() == 3 && millis.parse::<u16>().is_ok(),
        "{created}"
    );

    let (status, path_style) =
        agent.authed("/v1/signal9-advisor%2Fapi-credentials?versionStage=AWSCURRENT");
    assert_eq!(
        (status, &path_style["SecretString"]),
        (200, &body["SecretString"])
    );
    let version = body["VersionId"].as_str().expect("version id");
    let (status, by_id) = agent.authed(&format!(
        "/secretsmanager/get?secretId=signal9-advisor/api-credentials&versionId={version}&refreshNow=true"
    ));
    assert_eq!((status, &by_id["VersionId"]), (200, &body["VersionId"]));

    let (status, missing) = agent.authed("/secretsmanager/get?secretId=nope");
    assert_eq!(
        (status, missing["__type"].as_str()),
        (400, Some("ResourceNotFoundException"))
    );
    let (status, _) = agent.authed("/secretsmanager/get");
    assert_eq!(status, 400);
    let (status, _) = agent.authed("/elsewhere");
    assert_eq!(status, 404);

    assert_eq!(agent.get("GET", "/ping", &[]), (200, "healthy".to_owned()));
    let target = "/secretsmanager/get?secretId=signal9-advisor/api-credentials";
    for (headers, expected) in [
        (vec![], 403),
        (vec![("X-Aws-Parameters-Secrets-Token", "wrong")], 403),
        (
            vec![("X-Aws-Parameters-Secrets-Token", &agent.token[..10])],
            403,
        ),
        (vec![("X-Vault-Token", agent.token.as_str())], 200),
        (
            vec![
                ("X-Aws-Parameters-Secrets-Token", agent.token.as_str()),
                ("X-Forwarded-For", "10.0.0.1"),
            ],
            400,
        ),
    ] {
        let (status, body) = agent.get("GET", target, &headers);
        assert_eq!(status, expected, "{headers:?}");
        if expected != 200 {
            assert!(!body.contains(&value));
        }
    }
    let (status, _) = agent.get(
        "POST",
        target,
        &[("X-Aws-Parameters-Secrets-Token", &agent.token)],
    );
    assert_eq!(status, 405);
    // The token is checked before the method.
    assert_eq!(agent.get("POST", target, &[]).0, 403);

    // refreshNow always asks the service, however often.
    for n in 0..2 {
        let newer = canary();
        server
            .client()
            .put_secret_value()
            .secret_id("signal9-advisor/api-credentials")
            .secret_string(&newer)
            .send()
            .await
            .expect("put");
        let (status, cached) = agent.authed(target);
        assert_eq!(
            (
                status,
                cached["SecretString"].as_str() == Some(newer.as_str())
            ),
            (200, false),
            "cached ({n})"
        );
        let (status, fresh) = agent.authed(&format!("{target}&refreshNow=true"));
        assert_eq!(
            (status, fresh["SecretString"].as_str()),
            (200, Some(newer.as_str())),
            "refreshed ({n})"
        );
    }
    // The service unreachable: refreshNow answers the failure, and the cache keeps what it
    // had for the reads that do not ask for a refresh.
    let (_, before) = agent.authed(target);
    server.kill9();
    let (status, failed) = agent.authed(&format!("{target}&refreshNow=true"));
    assert!(status >= 500, "{status} {failed}");
    assert!(failed.get("SecretString").is_none());
    let (status, after) = agent.authed(target);
    assert_eq!(
        (status, &after["SecretString"]),
        (200, &before["SecretString"])
    );
}

#[test]
fn the_agent_refuses_non_loopback_addresses_and_a_missing_token() {
    let out = Command::new(BIN)
        .args(["agent", "--listen", "0.0.0.0:0"])
        .env("AWS_TOKEN", "t")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = Command::new(BIN)
        .args(["agent", "--listen", "127.0.0.1:0"])
        .env_remove("AWS_TOKEN")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no SSRF token"));
}

/// Upstream over TLS: the agent trusts the server's private CA through `AWS_CA_BUNDLE`, as
/// the AWS tools do.
#[tokio::test]
async fn the_agent_reads_through_tls_with_the_ca_bundle() {
    let server = TestServer::start_tls(&[]);
    let value = canary();
    server
        .client()
        .create_secret()
        .name("agent/tls")
        .secret_string(&value)
        .send()
        .await
        .expect("create");
    let agent = Agent::start(&server);
    let (status, body) = agent.authed("/secretsmanager/get?secretId=agent/tls");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["SecretString"], value.as_str());
}
