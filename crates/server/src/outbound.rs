//! The HTTP(S) client for what the service calls out to: rotation functions, vendor
//! checks and alarm webhooks. Loading the system's TLS roots takes a while, so a client
//! that only needs plain HTTP is built without them.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub(crate) type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for `https://` (the system's roots) and `http://` URLs.
pub(crate) fn client() -> Option<HttpsClient> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| tracing::warn!(error = %e, "no TLS roots: calls to https:// URLs fail"))
        .ok()?
        .https_or_http()
        .enable_http1()
        .build();
    Some(Client::builder(TokioExecutor::new()).build(connector))
}

/// A client for `http://` URLs only (no roots loaded: an `https://` URL fails).
pub(crate) fn plain_client() -> Option<HttpsClient> {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Some(Client::builder(TokioExecutor::new()).build(connector))
}

/// The client `url` needs.
pub(crate) fn client_for(url: &str) -> Option<HttpsClient> {
    if url.starts_with("https://") {
        client()
    } else {
        plain_client()
    }
}
