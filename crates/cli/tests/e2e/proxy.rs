//! A fault-injecting TCP proxy in front of a real server: pass, delay, reset, or answer
//! HTTP 500 — the way a flaky network or an overloaded backend would, with no hook in the
//! code under test. Changing the mode drops open connections, so pooled ones see it too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Wait this long before forwarding a new connection.
    Delay(Duration),
    /// Reset every connection at once.
    Reset,
    /// Answer every request with HTTP 500 InternalServiceError.
    Http500,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Requests answered with 500 before passing (counted down), whatever the mode.
    fail_next: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let (mode, rx) = watch::channel(Mode::Pass);
        let fail_next = Arc::new(AtomicU32::new(0));
        let fails = Arc::clone(&fail_next);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let rx = rx.clone();
                let fails = Arc::clone(&fails);
                tokio::spawn(connection(client, upstream, rx, fails));
            }
        });
        Self {
            addr,
            mode,
            fail_next,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    fails: Arc<AtomicU32>,
) {
    let current = *mode.borrow_and_update();
    let take_fail = || {
        fails
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    };
    match current {
        Mode::Reset => {
            // A zero linger makes the close a reset, and never blocks.
            #[allow(deprecated)]
            let _ = client.set_linger(Some(Duration::ZERO));
            return;
        }
        Mode::Http500 => return answer_500s(client, &mut || true).await,
        Mode::Delay(d) => tokio::time::sleep(d).await,
        Mode::Pass => {}
    }
    if fails.load(Ordering::SeqCst) > 0 {
        return answer_500s(client, &mut || take_fail()).await;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = mode.changed() => {}
    }
}

/// Reads requests and answers each with a 500 while `again()` says so, then closes.
async fn answer_500s(mut client: TcpStream, again: &mut (dyn FnMut() -> bool + Send)) {
    let body = r#"{"__type":"InternalServiceError","message":"injected by the test proxy"}"#;
    if read_request(&mut client, &mut Vec::new()).await.is_some() && again() {
        let response = format!(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(response.as_bytes()).await;
    }
}

/// Reads the next HTTP/1.1 request from `conn` (bytes already read but not yet used wait in
/// `buf`): its body, or `None` once the connection closes.
pub async fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let body = buf[end + 4..end + 4 + length].to_vec();
                buf.drain(..end + 4 + length);
                return Some(body);
            }
        }
        let mut chunk = [0u8; 8192];
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
