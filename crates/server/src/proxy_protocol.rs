//! The PROXY protocol (HAProxy's versions 1 and 2) from trusted load balancers: a
//! connection from a `--trusted-proxy` address may start with a header naming the client's
//! own address, which then stands for the peer everywhere — `aws:SourceIp`, the audit
//! trail's `sourceIPAddress`, the alarms, the authentication throttle. From any other
//! address nothing is read ahead: a header is just bytes an HTTP or TLS parser refuses, so
//! nobody can claim another address.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};

/// The addresses whose connections may carry a PROXY header (shared: every accepted
/// connection takes a handle).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(std::sync::Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets.into())
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The signature a version 2 header starts with.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// What a version 1 header starts with.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest header taken: version 1's limit is 107 bytes; version 2 with the addresses
/// and the TLVs load balancers send fits easily.
const MAX_HEADER: usize = 1024;

/// Why a trusted connection's PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyHeaderError {
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
    #[error("the connection closed inside its PROXY header")]
    Closed,
    #[error("the PROXY header is longer than {MAX_HEADER} bytes")]
    TooLong,
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
}

/// A stream whose first bytes were read ahead, given back before the rest.
#[derive(Debug)]
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            prefix: Vec::new(),
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let rest = &self.prefix[self.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How far `bytes` go toward a PROXY header.
enum Seen {
    /// Not a header: the connection speaks for itself.
    NoHeader,
    /// A header's beginning; more bytes are needed.
    Partial,
    /// A whole header of this many bytes, naming this source (`None`: the proxy's own
    /// connection, `LOCAL` or `UNKNOWN`).
    Header(usize, Option<SocketAddr>),
}

fn seen(bytes: &[u8]) -> Result<Seen, ProxyHeaderError> {
    let starts =
        |sig: &[u8]| bytes.len() >= sig.len() && bytes.starts_with(sig) || sig.starts_with(bytes);
    if starts(V2_SIGNATURE) {
        if bytes.len() < 16 {
            return Ok(Seen::Partial);
        }
        let len = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
        if len > MAX_HEADER {
            return Err(ProxyHeaderError::TooLong);
        }
        if bytes.len() < len {
            return Ok(Seen::Partial);
        }
        return match ppp::v2::Header::try_from(&bytes[..len]) {
            Ok(header) => {
                let source = match header.addresses {
                    ppp::v2::Addresses::IPv4(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    ppp::v2::Addresses::IPv6(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    _ => None,
                };
                let local = header.command == ppp::v2::Command::Local;
                Ok(Seen::Header(len, source.filter(|_| !local)))
            }
            Err(e) => Err(ProxyHeaderError::Malformed(e.to_string())),
        };
    }
    if starts(V1_PREFIX) {
        let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return if bytes.len() > 107 {
                Err(ProxyHeaderError::TooLong)
            } else {
                Ok(Seen::Partial)
            };
        };
        let len = end + 2;
        return match ppp::v1::Header::try_from(&bytes[..len]) {
            Ok(header) => {
                let source = match header.addresses {
                    ppp::v1::Addresses::Tcp4(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    ppp::v1::Addresses::Tcp6(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    ppp::v1::Addresses::Unknown => None,
                };
                Ok(Seen::Header(len, source))
            }
            Err(e) => Err(ProxyHeaderError::Malformed(e.to_string())),
        };
    }
    Ok(Seen::NoHeader)
}

/// `stream` from `peer`, ready for TLS or HTTP: from a trusted proxy, its PROXY header (if
/// it sends one) is taken off and the client it names is the peer.
pub(crate) async fn accept<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    trusted: &TrustedProxies,
) -> Result<(Prefixed<S>, SocketAddr), ProxyHeaderError> {
    if !trusted.trusts(peer.ip()) {
        return Ok((Prefixed::new(stream), peer));
    }
    let mut read = Vec::with_capacity(256);
    loop {
        let mut chunk = [0u8; 512];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(ProxyHeaderError::Closed);
        }
        read.extend_from_slice(&chunk[..n]);
        let (consumed, client) = match seen(&read)? {
            Seen::Partial if read.len() < MAX_HEADER => continue,
            Seen::Partial => return Err(ProxyHeaderError::TooLong),
            Seen::NoHeader => (0, peer),
            Seen::Header(len, source) => (len, source.unwrap_or(peer)),
        };
        read.drain(..consumed);
        return Ok((
            Prefixed {
                prefix: read,
                at: 0,
                inner: stream,
            },
            client,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(src: [u8; 4], port: u16) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend([0x21, 0x11, 0, 12]);
        h.extend(src);
        h.extend([10, 0, 0, 5]);
        h.extend(port.to_be_bytes());
        h.extend(443u16.to_be_bytes());
        h
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(vec!["127.0.0.0/8".parse().expect("net")])
    }

    async fn through(bytes: &[u8], from: &str) -> Result<(Vec<u8>, SocketAddr), ProxyHeaderError> {
        let (mut s, peer) = accept(bytes, from.parse().expect("addr"), &trusted()).await?;
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await?;
        Ok((rest, peer))
    }

    #[tokio::test]
    async fn a_trusted_proxy_names_the_client_and_the_rest_is_left_whole() {
        let mut bytes = v2([203, 0, 113, 7], 5555);
        bytes.extend(b"POST / HTTP/1.1\r\n");
        let (rest, peer) = through(&bytes, "127.0.0.1:40000").await.expect("v2");
        assert_eq!(peer, "203.0.113.7:5555".parse().expect("addr"));
        assert_eq!(rest, b"POST / HTTP/1.1\r\n");
        let (rest, peer) = through(
            b"PROXY TCP4 198.51.100.9 10.0.0.5 4444 443\r\n\x16\x03",
            "127.0.0.1:1",
        )
        .await
        .expect("v1");
        assert_eq!(peer, "198.51.100.9:4444".parse().expect("addr"));
        assert_eq!(rest, b"\x16\x03");
        // No header from a trusted address: the connection is the proxy's own.
        let (rest, peer) = through(b"POST /", "127.0.0.1:2").await.expect("none");
        assert_eq!((rest.as_slice(), peer.port()), (&b"POST /"[..], 2));
    }

    #[tokio::test]
    async fn nobody_else_can_claim_an_address() {
        let bytes = v2([203, 0, 113, 7], 5555);
        let (rest, peer) = through(&bytes, "192.0.2.1:9").await.expect("untrusted");
        assert_eq!(peer, "192.0.2.1:9".parse().expect("addr"));
        assert_eq!(rest, bytes, "nothing taken off");
        // A header cut short, or malformed, from a trusted proxy is an error.
        assert!(matches!(
            through(&bytes[..20], "127.0.0.1:1").await,
            Err(ProxyHeaderError::Closed)
        ));
        assert!(matches!(
            through(b"PROXY TCP4 nonsense\r\n", "127.0.0.1:1").await,
            Err(ProxyHeaderError::Malformed(_))
        ));
    }
}
