//! A Signal9 pipeline function (asset sync) reading its API credentials through the caching
//! client, and logging — without a single value — which keys it got.
//!
//! Against the local service (see README, "Client library"):
//!
//! ```sh
//! AWS_SHARED_CREDENTIALS_FILE=s9-data/credentials AWS_REGION=us-east-1 \
//!   cargo run -p s9-client --example asset_sync -- http://127.0.0.1:7780
//! ```
//!
//! Without an argument it talks to real AWS Secrets Manager as the environment says.

use secrecy::ExposeSecret as _;

const SECRET_ID: &str = "signal9-advisor/api-credentials";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber_init();
    let endpoint = std::env::args().nth(1);
    let sdk = match s9_client::load_sdk_config(endpoint.as_deref()).await {
        Ok(sdk) => sdk,
        Err(e) => {
            eprintln!("asset-sync: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cache = s9_client::SecretsCache::builder().build_from_sdk_config(&sdk);

    let span = tracing::info_span!("asset_sync", correlation_id = %uuid_like());
    let _entered = span.enter();
    match cache.api_credentials(SECRET_ID).await {
        Ok(creds) => {
            // What a real function would hand to its HTTP clients; only lengths are shown.
            tracing::info!(
                alpha_vantage_key_chars = creds.alpha_vantage_api_key().expose_secret().len(),
                alpaca_key_chars = creds.alpaca_api_key().expose_secret().len(),
                alpaca_secret_chars = creds.alpaca_api_secret().expose_secret().len(),
                "asset sync has its AlphaVantage and Alpaca credentials"
            );
            // Read again: served from the cache, no call to Secrets Manager.
            let again = cache.api_credentials(SECRET_ID).await.is_ok();
            let stats = cache.stats();
            tracing::info!(
                again,
                backend_calls = stats.backend_calls,
                hits = stats.hits,
                "cache"
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "asset sync cannot run without its credentials");
            std::process::ExitCode::FAILURE
        }
    }
}

/// JSON lines on stderr, each with the span (and so the correlation id) it happened in.
fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(std::io::stderr)
        .init();
}

fn uuid_like() -> String {
    format!("{:016x}", fastrand::u64(..))
}
