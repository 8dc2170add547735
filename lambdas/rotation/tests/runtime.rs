//! The `bootstrap` executable under a fake Lambda Runtime API (the HTTP interface the
//! Lambda service gives `provided.al2023` functions): it polls for the next invocation,
//! runs the rotation step, and reports the step's failure — here, a Secrets Manager
//! endpoint that refuses connections — on the invocation's error route, naming the
//! operation and secret.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_bootstrap");
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signal9-AbCdEf";

/// Reads one request: (request line, body); `None` if the connection closes first.
fn request(conn: &mut TcpStream) -> Option<(String, String)> {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).expect("header");
        if header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().expect("length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    Some((
        line.trim().to_owned(),
        String::from_utf8(body).expect("utf-8"),
    ))
}

fn bootstrap(runtime_api: &str, mode: &str) -> std::process::Child {
    let refused = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    Command::new(BIN)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "signal9-rotation")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/signal9-rotation")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-key")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SECRETS_MANAGER_ENDPOINT", format!("http://{refused}"))
        .env("ROTATION_MODE", mode)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bootstrap")
}

#[test]
fn bootstrap_polls_runs_the_step_and_reports_its_failure() {
    let api = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = api.local_addr().expect("addr");
    let mut child = bootstrap(&addr.to_string(), "vendor-key");

    let (mut conn, _) = api.accept().expect("the function polls");
    let (line, _) = request(&mut conn).expect("poll");
    assert_eq!(line, "GET /2018-06-01/runtime/invocation/next HTTP/1.1");
    let event =
        format!(r#"{{"Step":"createSecret","SecretId":"{SECRET}","ClientRequestToken":"tok-1"}}"#);
    let deadline =
        SystemTime::now().duration_since(UNIX_EPOCH).expect("now") + Duration::from_secs(60);
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-1\r\n\
         Lambda-Runtime-Deadline-Ms: {}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:signal9-rotation\r\n\
         Content-Length: {}\r\n\r\n{event}",
        deadline.as_millis(),
        event.len()
    )
    .expect("invocation");

    // The error comes back on the invocation's error route, on the same keep-alive
    // connection or a new one.
    let (mut conn, line, body) = match request(&mut conn) {
        Some((line, body)) => (conn, line, body),
        None => {
            let (mut next, _) = api.accept().expect("report");
            let (line, body) = request(&mut next).expect("report request");
            (next, line, body)
        }
    };
    let _ = write!(conn, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        line,
        "POST /2018-06-01/runtime/invocation/req-1/error HTTP/1.1"
    );
    assert!(
        body.contains("DescribeSecret on") && body.contains(SECRET),
        "{body}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_bad_mode_stops_the_function_before_it_polls() {
    let api = TcpListener::bind("127.0.0.1:0").expect("bind");
    let child = bootstrap(&api.local_addr().expect("addr").to_string(), "sometimes");
    let out = child.wait_with_output().expect("exit");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ROTATION_MODE"));
}
