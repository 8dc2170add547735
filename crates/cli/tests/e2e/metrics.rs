//! `GET /metrics` on the real server: Prometheus text with requests by operation, outcome
//! and principal, per-secret reads, denials, latency and audit-write histograms and the
//! store size — and never a secret value.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{TestServer, canary};

pub fn scrape(server: &TestServer) -> String {
    let mut stream = TcpStream::connect(server.metrics_addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the first sample whose line contains every fragment.
pub fn sample(text: &str, fragments: &[&str]) -> f64 {
    sample_or_zero(text, fragments)
        .unwrap_or_else(|| panic!("no sample with {fragments:?} in:\n{text}"))
}

/// The value of the first sample whose line contains every fragment, if there is one.
pub fn sample_or_zero(text: &str, fragments: &[&str]) -> Option<f64> {
    text.lines()
        .find(|l| !l.starts_with('#') && fragments.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_reads_and_denials_without_values() {
    let server = TestServer::start();
    let client = server.client();
    let value = canary();
    client
        .create_secret()
        .name("metered")
        .secret_string(&value)
        .send()
        .await
        .expect("create");
    for _ in 0..2 {
        client
            .get_secret_value()
            .secret_id("metered")
            .send()
            .await
            .expect("get");
    }
    assert!(
        client
            .get_secret_value()
            .secret_id("missing")
            .send()
            .await
            .is_err()
    );
    let deny = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
    client
        .put_resource_policy()
        .secret_id("metered")
        .resource_policy(deny.to_string())
        .send()
        .await
        .expect("deny");
    assert!(
        client
            .get_secret_value()
            .secret_id("metered")
            .send()
            .await
            .is_err()
    );

    let text = scrape(&server);
    assert!(!text.contains(&value), "a secret value in the metrics");
    let ok = [
        "s9_requests_total{",
        "operation=\"GetSecretValue\"",
        "outcome=\"OK\"",
        ":user/",
    ];
    assert_eq!(sample(&text, &ok), 2.0);
    assert_eq!(
        sample(
            &text,
            &[
                "s9_requests_total{",
                "outcome=\"ResourceNotFoundException\""
            ]
        ),
        1.0
    );
    assert_eq!(
        sample(&text, &["s9_secret_reads_total{", "secret=\"metered\""]),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            &["s9_access_denied_total{", "operation=\"GetSecretValue\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            &[
                "s9_request_duration_seconds_count{",
                "operation=\"GetSecretValue\""
            ]
        ),
        4.0
    );
    assert!(sample(&text, &["s9_audit_write_duration_seconds_count"]) >= 6.0);
    assert!(sample(&text, &["s9_store_bytes"]) > 0.0);
}
