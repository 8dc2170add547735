//! `bootstrap`: the rotation Lambda's entry point on `provided.al2023`. Secrets Manager
//! invokes it with the rotation event; `SECRETS_MANAGER_ENDPOINT` (optional) points the SDK
//! at another endpoint, such as `s9-secrets serve`.

use aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use s9_rotation_lambda::{Event, Settings, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
    let settings = Settings::from_env(|k| std::env::var(k).ok())?;
    let mut config = aws_config::load_from_env().await;
    if let Ok(endpoint) = std::env::var("SECRETS_MANAGER_ENDPOINT") {
        config = config.into_builder().endpoint_url(endpoint).build();
    }
    // A Signal9 Secrets server whose certificate a private CA signed.
    if let Some(bundle) = s9_client::ca_bundle::from_env() {
        let client = s9_client::ca_bundle::http_client(&bundle).map_err(Error::from)?;
        config = config.into_builder().http_client(client).build();
    }
    let client = aws_sdk_secretsmanager::Client::new(&config);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<SecretsManagerSecretRotationEvent>| {
            let (client, settings) = (&client, &settings);
            async move {
                let event = Event::from(event.payload);
                tracing::info!(
                    step = event.step,
                    secret = event.secret_id,
                    version = event.token,
                    "rotation step"
                );
                handle(client, settings, &event).await.map_err(Error::from)
            }
        },
    ))
    .await
}
