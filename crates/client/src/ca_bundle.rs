//! Trusting a private CA the AWS way: `AWS_CA_BUNDLE` names a PEM file whose certificates
//! are trusted besides the system's roots, as the aws CLI, boto3 and the other SDKs read it
//! (the Rust SDK does not read it by itself).

use std::path::{Path, PathBuf};

use aws_sdk_secretsmanager::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// The variable the AWS tools read.
pub const ENV: &str = "AWS_CA_BUNDLE";

/// Why a CA bundle cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("CA bundle {path}: {reason}")]
pub struct CaBundleError {
    pub path: PathBuf,
    pub reason: String,
}

/// The bundle `AWS_CA_BUNDLE` names, if it is set and not empty.
pub fn from_env() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// An HTTPS client (rustls on aws-lc-rs) trusting the system's roots and every certificate
/// in the PEM file at `path`.
pub fn http_client(path: &Path) -> Result<SharedHttpClient, CaBundleError> {
    let fail = |reason: String| CaBundleError {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(fail(
            "holds no certificate (PEM `CERTIFICATE` blocks)".into(),
        ));
    }
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default().with_pem_certificate(pem))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}
