//! Behind a load balancer: a connection from a `--trusted-proxy` address may start with a
//! PROXY protocol header (v1 or v2, before TLS as an NLB sends it), and the client it names
//! is the source of the requests — in `aws:SourceIp` conditions and in the audit trail.
//! From any other address such a header is refused, so nobody can claim an address.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use s9_sigv4::{SecretKey, SigningCredentials};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::{TestServer, parse_response, read_profile, signed_headers};

/// A PROXY v2 header: a TCP/IPv4 connection from `src`:`port`.
fn v2_header(src: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend([0x21, 0x11, 0, 12]);
    h.extend(src);
    h.extend([127, 0, 0, 1]);
    h.extend(port.to_be_bytes());
    h.extend(7780u16.to_be_bytes());
    h
}

/// A signed GetSecretValue of `secret` as `creds`, as HTTP/1.1 bytes.
fn get_request(server: &TestServer, creds: &SigningCredentials, secret: &str) -> Vec<u8> {
    let body = serde_json::json!({ "SecretId": secret }).to_string();
    let headers = signed_headers(
        server,
        "secretsmanager.GetSecretValue",
        body.as_bytes(),
        creds,
        time::OffsetDateTime::now_utc(),
    );
    let mut request = format!(
        "POST / HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    request.into_bytes()
}

/// `prefix`, then the request, on one plain connection; the answer's status and error.
fn exchange(server: &TestServer, prefix: &[u8], request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(prefix).expect("prefix");
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let (status, body) = parse_response(&response);
    (
        status,
        body["__type"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A config whose `reader` may read only from 203.0.113.0/24; the reader's credentials.
fn source_limited_config(dir: &std::path::Path) -> (std::path::PathBuf, SigningCredentials) {
    std::fs::write(
        dir.join("reader.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}"#,
    )
    .expect("policy");
    let config = crate::harness::admin_config(
        dir,
        &["reader"],
        "[[principal]]\nname = \"reader\"\narn = \"arn:aws:iam::123456789012:role/reader\"\nprofile = \"reader\"\npolicies = [\"reader.json\"]\n",
    );
    let (id, secret) = read_profile(&dir.join("credentials"), "reader");
    (
        config,
        SigningCredentials {
            access_key_id: id,
            secret_key: SecretKey::new(secret),
            session_token: None,
        },
    )
}

async fn create(server: &TestServer, dir: &std::path::Path) {
    let (id, secret) = read_profile(&dir.join("credentials"), "default");
    server
        .client_with("us-east-1", &id, &secret)
        .create_secret()
        .name("lb/one")
        .secret_string("v")
        .send()
        .await
        .expect("create");
}

#[tokio::test]
async fn the_client_a_trusted_proxy_names_is_the_source_and_nobody_else_can_claim_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let (config, reader) = source_limited_config(dir.path());
    let cfg = config.to_str().expect("utf-8");
    let server = TestServer::start_with(&["--config", cfg, "--trusted-proxy", "127.0.0.1/32"]);
    create(&server, dir.path()).await;

    let request = get_request(&server, &reader, "lb/one");
    assert_eq!(
        exchange(&server, &v2_header([203, 0, 113, 7], 5555), &request),
        (200, String::new())
    );
    let v1 = b"PROXY TCP4 198.51.100.9 127.0.0.1 4444 7780\r\n";
    let request = get_request(&server, &reader, "lb/one");
    assert_eq!(
        exchange(&server, v1, &request),
        (400, "AccessDeniedException".to_owned())
    );
    // The proxy's own connection, without a header: the proxy is the source.
    let request = get_request(&server, &reader, "lb/one");
    assert_eq!(
        exchange(&server, b"", &request),
        (400, "AccessDeniedException".to_owned())
    );
    let trail = server.audit_text();
    assert!(
        trail.contains(r#""sourceIPAddress":"203.0.113.7""#),
        "{trail}"
    );
    assert!(trail.contains(r#""sourceIPAddress":"198.51.100.9""#));

    // A server that trusts no proxy takes the header for what it is: not HTTP.
    let dir = tempfile::tempdir().expect("tmp");
    let (config, reader) = source_limited_config(dir.path());
    let server = TestServer::start_with(&["--config", config.to_str().expect("utf-8")]);
    create(&server, dir.path()).await;
    let request = get_request(&server, &reader, "lb/one");
    let (status, _) = exchange(&server, &v2_header([203, 0, 113, 7], 5555), &request);
    assert_eq!(status, 400);
    assert!(!server.audit_text().contains("203.0.113.7"));
}

/// The header comes before the TLS handshake, as a TCP load balancer sends it.
#[tokio::test]
async fn the_proxy_header_precedes_tls() {
    let dir = tempfile::tempdir().expect("tmp");
    let (config, reader) = source_limited_config(dir.path());
    let cfg = config.to_str().expect("utf-8");
    let server = TestServer::start_tls(&["--config", cfg, "--trusted-proxy", "127.0.0.0/8"]);
    create(&server, dir.path()).await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.ca.as_ref().expect("ca")).expect("ca") {
        roots.add(cert.expect("cert")).expect("root");
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(&v2_header([203, 0, 113, 42], 6000))
        .await
        .expect("header");
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    stream
        .write_all(&get_request(&server, &reader, "lb/one"))
        .await
        .expect("request");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    assert_eq!(parse_response(&response).0, 200);
    assert!(
        server
            .audit_text()
            .contains(r#""sourceIPAddress":"203.0.113.42""#)
    );
}
