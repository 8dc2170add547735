//! `s9-secrets populate`: fills the Signal9 API-credentials secret without a key ever being
//! on a command line, in a shell history or on the screen.
//!
//! Values come from `ALPHAVANTAGE_API_KEY`, `ALPACA_API_KEY`, `ALPACA_API_SECRET`, or from
//! prompts without echo on a terminal, or as a JSON document on stdin (`--stdin-json`). They
//! are checked as the client library checks them, encoded by a real JSON encoder, and
//! written idempotently: the ClientRequestToken is derived from the document, so running
//! the same population twice leaves one version.

use std::io::{IsTerminal as _, Read as _};

use anyhow::Context as _;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
use aws_sdk_secretsmanager::types::Tag;
use s9_client::ApiCredentials;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use zeroize::Zeroizing;

use crate::api::{ApiArgs, Failure, Output, exit, failed, print_fields, print_json};

/// Environment variables read, in the document's field order.
const ENV: [&str; 3] = [
    "ALPHAVANTAGE_API_KEY",
    "ALPACA_API_KEY",
    "ALPACA_API_SECRET",
];

#[derive(Debug, clap::Args)]
pub(crate) struct PopulateArgs {
    /// Name or ARN of the secret.
    #[arg(default_value = "signal9-advisor/api-credentials")]
    secret_id: String,
    /// Read the whole document (`{"alphaVantageApiKey": …}`) from stdin.
    #[arg(long)]
    stdin_json: bool,
    /// Description, when the secret is created.
    #[arg(
        long,
        default_value = "External API credentials for AlphaVantage and Alpaca"
    )]
    description: String,
    /// Tags KEY=VALUE when the secret is created (default: Project=Signal9Advisor).
    #[arg(long = "tag", value_parser = crate::secrets::parse_tag)]
    tags: Vec<(String, String)>,
    /// KMS key for a new secret (AWS only).
    #[arg(long)]
    kms_key_id: Option<String>,
    #[command(flatten)]
    api: ApiArgs,
}

fn invalid(e: &s9_client::Error) -> Failure {
    Failure::from_client(e).hint("nothing was written; fix the value and run populate again")
}

/// The credentials, from stdin JSON, the environment, or prompts.
fn read_credentials(stdin_json: bool) -> anyhow::Result<ApiCredentials> {
    if stdin_json {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        return ApiCredentials::parse(&text).map_err(|e| invalid(&e).into());
    }
    let mut values = Vec::with_capacity(3);
    let interactive = std::io::stdin().is_terminal();
    for (name, field) in ENV.iter().zip(ApiCredentials::FIELDS) {
        let value = match std::env::var(name) {
            Ok(v) if !v.is_empty() => v,
            _ if interactive => rpassword::prompt_password(format!("{field} ({name}): "))
                .context("reading from the terminal")?,
            _ => {
                return Err(Failure::new(
                    exit::INVALID,
                    format!("{name} is not set"),
                    Some("set ALPHAVANTAGE_API_KEY, ALPACA_API_KEY and ALPACA_API_SECRET, run on a terminal to be prompted, or pipe the JSON document with --stdin-json"),
                )
                .into());
            }
        };
        values.push(SecretString::from(value));
    }
    let mut values = values.into_iter();
    let mut next = || values.next().unwrap_or_else(|| SecretString::from(""));
    ApiCredentials::new(next(), next(), next()).map_err(|e| invalid(&e).into())
}

/// The ClientRequestToken for a document: HMAC-SHA256 keyed by the document itself, over
/// the secret's name, as a UUID. The same population gives the same token (AWS then keeps
/// one version); the token reveals nothing practical about the keys, which are far too
/// long to guess.
fn request_token(secret_id: &str, document: &SecretString) -> String {
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        document.expose_secret().as_bytes(),
    );
    let tag = aws_lc_rs::hmac::sign(&key, format!("s9-populate-v1:{secret_id}").as_bytes());
    let h = hex::encode(&tag.as_ref()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The version holding `AWSCURRENT`.
fn current_version(
    secret: &aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput,
) -> Option<&str> {
    secret
        .version_ids_to_stages()?
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
        .map(|(id, _)| id.as_str())
}

pub(crate) fn run(args: PopulateArgs) -> anyhow::Result<()> {
    let creds = read_credentials(args.stdin_json)?;
    let document = creds.to_json();
    let token = request_token(&args.secret_id, &document);
    let runtime = crate::api::runtime()?;
    runtime.block_on(async {
        let client = args.api.client().await?;
        let existing = match client
            .describe_secret()
            .secret_id(&args.secret_id)
            .send()
            .await
        {
            Ok(d) => Some(d),
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => {
                return Err(
                    Failure::from_sdk(&format!("looking up {}", args.secret_id), &e).into(),
                );
            }
        };
        let (outcome, version) = match existing {
            None => {
                let mut tags = args.tags.clone();
                if tags.is_empty() {
                    tags.push(("Project".into(), "Signal9Advisor".into()));
                }
                let o = client
                    .create_secret()
                    .name(&args.secret_id)
                    .description(&args.description)
                    .client_request_token(&token)
                    .secret_string(document.expose_secret())
                    .set_kms_key_id(args.kms_key_id.clone())
                    .set_tags(Some(
                        tags.iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(failed(format!("creating {}", args.secret_id)))?;
                ("created", o.version_id().unwrap_or_default().to_owned())
            }
            Some(d) if current_version(&d) == Some(token.as_str()) => ("unchanged", token.clone()),
            Some(_) => {
                client
                    .put_secret_value()
                    .secret_id(&args.secret_id)
                    .client_request_token(&token)
                    .secret_string(document.expose_secret())
                    .send()
                    .await
                    .map_err(failed(format!("writing {}", args.secret_id)))?;
                // A version these keys made before keeps its stages when written again (AWS
                // changes nothing for a known token and value): going back to earlier keys
                // means moving AWSCURRENT to it.
                let after = client
                    .describe_secret()
                    .secret_id(&args.secret_id)
                    .send()
                    .await
                    .map_err(failed(format!("looking up {}", args.secret_id)))?;
                match current_version(&after) {
                    Some(current) if current == token => ("new version", token.clone()),
                    current => {
                        client
                            .update_secret_version_stage()
                            .secret_id(&args.secret_id)
                            .version_stage("AWSCURRENT")
                            .move_to_version_id(&token)
                            .set_remove_from_version_id(current.map(str::to_owned))
                            .send()
                            .await
                            .map_err(failed(format!(
                                "making the earlier version of {} current",
                                args.secret_id
                            )))?;
                        ("earlier version made current again", token.clone())
                    }
                }
            }
        };
        match args.api.output {
            Output::Json => print_json(&json!({"Secret": args.secret_id, "VersionId": version,
                "Outcome": outcome, "FieldsSet": ApiCredentials::FIELDS})),
            Output::Table => print_fields(&[
                ("Secret", args.secret_id.clone()),
                ("Version", version),
                ("Outcome", outcome.to_owned()),
                ("Fields set", ApiCredentials::FIELDS.join(", ")),
            ]),
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct CompleteArgs {
    /// Name or ARN of the secret whose rotation waits for new keys.
    #[arg(default_value = "signal9-advisor/api-credentials")]
    secret_id: String,
    /// Read the whole document (`{"alphaVantageApiKey": …}`) from stdin.
    #[arg(long)]
    stdin_json: bool,
    /// Seconds to wait for the rotation to check the keys and make them current (0: don't).
    #[arg(long, default_value_t = 60)]
    wait: u64,
    #[command(flatten)]
    api: ApiArgs,
}

/// `rotate complete`: writes the new keys into the `AWSPENDING` version the rotation waits
/// on (its ClientRequestToken), then follows the rotation until they are current.
pub(crate) fn complete(args: CompleteArgs) -> anyhow::Result<()> {
    let creds = read_credentials(args.stdin_json)?;
    let document = creds.to_json();
    let secret = args.secret_id.as_str();
    crate::api::runtime()?.block_on(async {
        let client = args.api.client().await?;
        let versions = client
            .list_secret_version_ids()
            .secret_id(secret)
            .send()
            .await
            .map_err(failed(format!("listing the versions of {secret}")))?;
        let pending = versions
            .versions()
            .iter()
            .filter(|v| {
                v.version_stages().iter().any(|s| s == "AWSPENDING")
                    && !v.version_stages().iter().any(|s| s == "AWSCURRENT")
            })
            .find_map(|v| v.version_id().map(str::to_owned))
            .ok_or_else(|| {
                Failure::new(
                    exit::INVALID,
                    format!("no rotation of {secret} is waiting for keys"),
                    Some("start one with `s9-secrets rotate SECRET`; nothing was written"),
                )
            })?;
        // A failure already recorded before these keys arrive is not theirs.
        let before = follow(&client, secret, &pending).await?.failure;
        client
            .put_secret_value()
            .secret_id(secret)
            .client_request_token(&pending)
            .secret_string(document.expose_secret())
            .version_stages("AWSPENDING")
            .send()
            .await
            .map_err(failed(format!("supplying the new keys of {secret}")))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.wait);
        let mut current = false;
        while args.wait > 0 && std::time::Instant::now() < deadline {
            let seen = follow(&client, secret, &pending).await?;
            current = seen.current;
            if current {
                break;
            }
            if let Some(reason) = seen.failure.filter(|f| Some(f) != before.as_ref()) {
                return Err(Failure::new(
                    exit::UNAVAILABLE,
                    format!("the rotation of {secret} failed with the new keys: {reason}"),
                    Some(
                        "nothing changed: AWSCURRENT holds the old keys. To try other keys: `s9-secrets rotate SECRET --cancel`, `s9-secrets rotate SECRET`, then `rotate complete` again",
                    ),
                )
                .into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        let outcome = match (current, args.wait) {
            (true, _) => "current",
            (false, 0) => "supplied",
            (false, _) => "not current yet",
        };
        match args.api.output {
            Output::Json => print_json(&json!({"Secret": secret, "VersionId": pending,
                "Outcome": outcome, "FieldsSet": ApiCredentials::FIELDS})),
            Output::Table => print_fields(&[
                ("Secret", secret.to_owned()),
                ("Version", pending.clone()),
                ("Outcome", outcome.to_owned()),
                ("Fields set", ApiCredentials::FIELDS.join(", ")),
            ]),
        }
        if current || args.wait == 0 {
            Ok(())
        } else {
            Err(Failure::new(
                exit::UNAVAILABLE,
                format!("the new keys of {secret} are not current after {} s", args.wait),
                Some("the vendor check may have refused them: see `s9-secrets audit query --event RotationFailed`"),
            )
            .into())
        }
    })
}

/// What `rotate complete` follows: whether the supplied version is current, and why the
/// rotation last failed (the server's `x-s9-rotation-failure` header of DescribeSecret).
struct Followed {
    current: bool,
    failure: Option<String>,
}

async fn follow(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
    version: &str,
) -> anyhow::Result<Followed> {
    let failure = FailureHeader::default();
    let described = client
        .describe_secret()
        .secret_id(secret)
        .customize()
        .interceptor(failure.clone())
        .send()
        .await
        .map_err(failed(format!("following the rotation of {secret}")))?;
    Ok(Followed {
        current: current_version(&described) == Some(version),
        failure: failure.take(),
    })
}

/// Keeps the `x-s9-rotation-failure` header of the response it sees.
#[derive(Debug, Clone, Default)]
struct FailureHeader(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl FailureHeader {
    fn take(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl aws_sdk_secretsmanager::config::Intercept for FailureHeader {
    fn name(&self) -> &'static str {
        "FailureHeader"
    }

    fn read_after_transmit(
        &self,
        context: &aws_sdk_secretsmanager::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _components: &aws_sdk_secretsmanager::config::RuntimeComponents,
        _cfg: &mut aws_sdk_secretsmanager::config::ConfigBag,
    ) -> Result<(), aws_sdk_secretsmanager::error::BoxError> {
        let header = context
            .response()
            .headers()
            .get(s9_server::ROTATION_FAILURE_HEADER)
            .map(str::to_owned);
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = header;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_document_and_secret_and_fit_aws_limits() {
        let doc = SecretString::from("{\"a\":\"b\"}");
        let t = request_token("s", &doc);
        assert_eq!(t, request_token("s", &doc));
        assert_ne!(t, request_token("other", &doc));
        assert_ne!(t, request_token("s", &SecretString::from("{\"a\":\"c\"}")));
        assert_eq!(t.len(), 36);
    }
}
