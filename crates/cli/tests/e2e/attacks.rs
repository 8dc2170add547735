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
