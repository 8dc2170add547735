//! A caching reader for AWS Secrets Manager — real AWS or Signal9 Secrets, through
//! `aws-sdk-secretsmanager` and nothing of the server's — built for the Signal9 pipeline's
//! API keys.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use secrecy::ExposeSecret as _;
//! let sdk = s9_client::load_sdk_config(None).await?;
//! let cache = s9_client::SecretsCache::builder().build_from_sdk_config(&sdk);
//! let creds = cache.api_credentials("signal9-advisor/api-credentials").await?;
//! let _key = creds.alpaca_api_key().expose_secret();
//! # Ok(()) }
//! ```
//!
//! * [`cache`]: TTL, single flight, refresh ahead, retries, circuit breaker, stale serving.
//! * [`credentials`]: the typed, validated Signal9 credentials.
//! * [`decode`]: typed decoding whose errors never quote a value.

mod breaker;
pub mod ca_bundle;
pub mod cache;
pub mod clock;
pub mod credentials;
pub mod decode;
mod error;
mod value;

pub use cache::{CacheBuilder, CacheConfig, CacheStats, SecretsCache, Version};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::ApiCredentials;
pub use decode::{FieldError, SecretDocument};
pub use error::{Error, TransientKind};
pub use value::SecretValue;

/// The SDK configuration from the environment (credentials, region, profile, as the aws CLI
/// resolves them), with the endpoint overridden when given — e.g. a Signal9 Secrets server.
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL` work as well, and so does
/// `AWS_CA_BUNDLE` (a server whose certificate a private CA signed); a bundle that cannot
/// be read is an error, not a silent fallback to the system's roots.
pub async fn load_sdk_config(
    endpoint_url: Option<&str>,
) -> Result<aws_config::SdkConfig, ca_bundle::CaBundleError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(bundle) = ca_bundle::from_env() {
        loader = loader.http_client(ca_bundle::http_client(&bundle)?);
    }
    Ok(loader.load().await)
}
