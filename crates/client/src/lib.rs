//! A caching reader for AWS Secrets Manager — real AWS or Signal9 Secrets, through
//! `aws-sdk-secretsmanager` and nothing of the server's — built for the Signal9 pipeline's
//! API keys.
//!
//! ```no_run
//! # async fn run() -> Result<(), s9_client::Error> {
//! use secrecy::ExposeSecret as _;
//! let sdk = s9_client::load_sdk_config(None).await;
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
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL` work as well.
pub async fn load_sdk_config(endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    match endpoint_url {
        Some(url) => loader.endpoint_url(url).load().await,
        None => loader.load().await,
    }
}
