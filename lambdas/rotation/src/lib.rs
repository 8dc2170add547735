//! The rotation Lambda: Secrets Manager's four rotation steps, done through the Secrets
//! Manager API, so the same code rotates against AWS and against `s9-secrets serve`.
//!
//! Two modes (environment variable `ROTATION_MODE`):
//! - `vendor-key` (default; the AlphaVantage and Alpaca keys): only the vendor can issue a
//!   key, so `createSecret` succeeds only once an operator has put the new keys into the
//!   `AWSPENDING` version (`s9-secrets rotate complete`). Until then it fails, the rotation
//!   stays pending, `AWSCURRENT` is untouched, and the rotation-failure alarm tells people.
//! - `random`: `createSecret` fills each field of `REQUIRED_FIELDS` with a new random value
//!   from GetRandomPassword (the whole value if there are no fields).
//!
//! `testSecret` checks that every field of `REQUIRED_FIELDS` is a non-empty string without
//! whitespace; `setSecret` has nothing to do (the keys live only in the secret);
//! `finishSecret` moves `AWSCURRENT` to the new version. Every step is idempotent, as
//! Secrets Manager may invoke one more than once. No value is ever logged or put in an
//! error.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
use s9_core::rotation::{FieldProblem, check_document_fields, replace_fields};
use zeroize::Zeroizing;

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";

/// One invocation, as Secrets Manager sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub step: String,
    pub secret_id: String,
    pub token: String,
}

impl From<aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent> for Event {
    fn from(
        e: aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent,
    ) -> Self {
        Self {
            step: e.step,
            secret_id: e.secret_id,
            token: e.client_request_token,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    VendorKey,
    Random { length: i64 },
}

/// How this function rotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub required_fields: Vec<String>,
}

impl Settings {
    /// From `ROTATION_MODE` (`vendor-key` or `random`), `REQUIRED_FIELDS` (comma-separated)
    /// and `PASSWORD_LENGTH` (random mode; 32 by default).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let fields = var("REQUIRED_FIELDS")
            .map(|f| {
                f.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mode = match var("ROTATION_MODE").as_deref() {
            None | Some("vendor-key") => Mode::VendorKey,
            Some("random") => Mode::Random {
                length: match var("PASSWORD_LENGTH") {
                    None => 32,
                    Some(l) => l
                        .parse()
                        .ok()
                        .filter(|l| (8..=4096).contains(l))
                        .ok_or_else(|| format!("PASSWORD_LENGTH {l:?}: 8 to 4096"))?,
                },
            },
            Some(other) => return Err(format!("ROTATION_MODE {other:?}: vendor-key or random")),
        };
        Ok(Self {
            mode,
            required_fields: fields,
        })
    }
}

/// Why a step did not complete. Messages name secrets, versions and fields, never values.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("unknown step {0:?}")]
    UnknownStep(String),
    #[error("rotation is not enabled for {0}")]
    NotEnabled(String),
    #[error("version {token} of {secret} is not being rotated (no AWSPENDING)")]
    NotPending { secret: String, token: String },
    #[error(
        "{secret}: waiting for the new vendor keys; supply them with `s9-secrets rotate complete {secret}` (or PutSecretValue with this rotation's token and AWSPENDING)"
    )]
    AwaitingKeys { secret: String },
    #[error("{secret}: the new version is invalid: {problem}")]
    Invalid { secret: String, problem: String },
    #[error("{operation} on {secret}: {code}: {message}")]
    Api {
        operation: &'static str,
        secret: String,
        code: String,
        message: String,
    },
}

fn api<E: aws_sdk_secretsmanager::error::ProvideErrorMetadata>(
    operation: &'static str,
    secret: &str,
) -> impl FnOnce(aws_sdk_secretsmanager::error::SdkError<E>) -> RotationError {
    move |e| RotationError::Api {
        operation,
        secret: secret.to_owned(),
        code: e.code().unwrap_or("Unknown").to_owned(),
        message: e.message().unwrap_or("no message").to_owned(),
    }
}

/// Runs one step of one rotation.
pub async fn handle(
    client: &Client,
    settings: &Settings,
    event: &Event,
) -> Result<(), RotationError> {
    let id = event.secret_id.as_str();
    let token = event.token.as_str();
    let described = client
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(api("DescribeSecret", id))?;
    if described.rotation_enabled() != Some(true) {
        return Err(RotationError::NotEnabled(id.to_owned()));
    }
    let stages = described.version_ids_to_stages();
    let Some(token_stages) = stages.and_then(|s| s.get(token)) else {
        return Err(RotationError::NotPending {
            secret: id.to_owned(),
            token: token.to_owned(),
        });
    };
    if token_stages.iter().any(|s| s == CURRENT) {
        tracing::info!(secret = id, version = token, "already AWSCURRENT");
        return Ok(());
    }
    if !token_stages.iter().any(|s| s == PENDING) {
        return Err(RotationError::NotPending {
            secret: id.to_owned(),
            token: token.to_owned(),
        });
    }
    match event.step.as_str() {
        "createSecret" => create(client, settings, id, token).await,
        "setSecret" => Ok(()),
        "testSecret" => {
            let pending =
                pending_value(client, id, token)
                    .await?
                    .ok_or_else(|| RotationError::Invalid {
                        secret: id.to_owned(),
                        problem: "the AWSPENDING version has no value".into(),
                    })?;
            check(id, &pending, &settings.required_fields)
        }
        "finishSecret" => {
            let current = stages
                .into_iter()
                .flatten()
                .find(|(_, st)| st.iter().any(|s| s == CURRENT))
                .map(|(v, _)| v.clone());
            client
                .update_secret_version_stage()
                .secret_id(id)
                .version_stage(CURRENT)
                .move_to_version_id(token)
                .set_remove_from_version_id(current)
                .send()
                .await
                .map_err(api("UpdateSecretVersionStage", id))?;
            tracing::info!(
                secret = id,
                version = token,
                "AWSCURRENT moved to the new version"
            );
            Ok(())
        }
        other => Err(RotationError::UnknownStep(other.to_owned())),
    }
}

/// The value of the AWSPENDING version `token`, if it has one yet.
async fn pending_value(
    client: &Client,
    id: &str,
    token: &str,
) -> Result<Option<Zeroizing<String>>, RotationError> {
    match client
        .get_secret_value()
        .secret_id(id)
        .version_id(token)
        .version_stage(PENDING)
        .send()
        .await
    {
        Ok(v) => Ok(Some(Zeroizing::new(
            v.secret_string().unwrap_or_default().to_owned(),
        ))),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(api("GetSecretValue", id)(e)),
    }
}

async fn create(
    client: &Client,
    settings: &Settings,
    id: &str,
    token: &str,
) -> Result<(), RotationError> {
    if let Some(pending) = pending_value(client, id, token).await? {
        check(id, &pending, &settings.required_fields)?;
        tracing::info!(
            secret = id,
            version = token,
            "the new version already has its value"
        );
        return Ok(());
    }
    let Mode::Random { length } = settings.mode else {
        tracing::warn!(
            secret = id,
            version = token,
            "rotation waits for new vendor keys"
        );
        return Err(RotationError::AwaitingKeys {
            secret: id.to_owned(),
        });
    };
    let password = || async {
        client
            .get_random_password()
            .password_length(length)
            .exclude_punctuation(true)
            .send()
            .await
            .map(|p| Zeroizing::new(p.random_password().unwrap_or_default().to_owned()))
            .map_err(api("GetRandomPassword", id))
    };
    let value = if settings.required_fields.is_empty() {
        password().await?
    } else {
        let current = client
            .get_secret_value()
            .secret_id(id)
            .version_stage(CURRENT)
            .send()
            .await
            .map_err(api("GetSecretValue", id))?;
        let current = Zeroizing::new(current.secret_string().unwrap_or("{}").to_owned());
        let mut fresh = Vec::new();
        for field in &settings.required_fields {
            fresh.push((field.clone(), password().await?));
        }
        replace_fields(&current, &fresh).map_err(|_| RotationError::Invalid {
            secret: id.to_owned(),
            problem: "the current value is not a JSON object".into(),
        })?
    };
    client
        .put_secret_value()
        .secret_id(id)
        .client_request_token(token)
        .secret_string(value.as_str())
        .version_stages(PENDING)
        .send()
        .await
        .map_err(api("PutSecretValue", id))?;
    tracing::info!(
        secret = id,
        version = token,
        "new value stored as AWSPENDING"
    );
    Ok(())
}

/// Every required field is a non-empty string without whitespace (the service's own
/// check, [`check_document_fields`]); without fields, the value is non-empty.
fn check(id: &str, value: &str, fields: &[String]) -> Result<(), RotationError> {
    let invalid = |problem: String| RotationError::Invalid {
        secret: id.to_owned(),
        problem,
    };
    if fields.is_empty() && value.is_empty() {
        return Err(invalid("the value is empty".into()));
    }
    check_document_fields(value, fields).map_err(|(field, problem)| {
        let field = field.unwrap_or_default();
        invalid(match problem {
            FieldProblem::NotAnObject => "not a JSON object".into(),
            FieldProblem::Missing => format!("field {field} is missing"),
            FieldProblem::NotAString => format!("field {field} is not a string"),
            FieldProblem::Blank => format!("field {field} is empty or has whitespace"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            Settings::from_env(env(&[])).expect("default"),
            Settings {
                mode: Mode::VendorKey,
                required_fields: vec![]
            }
        );
        let s = Settings::from_env(env(&[
            ("ROTATION_MODE", "random"),
            ("REQUIRED_FIELDS", "a, b,"),
        ]))
        .expect("random");
        assert_eq!(s.mode, Mode::Random { length: 32 });
        assert_eq!(s.required_fields, ["a", "b"]);
        assert!(Settings::from_env(env(&[("ROTATION_MODE", "manual")])).is_err());
        assert!(
            Settings::from_env(env(&[
                ("ROTATION_MODE", "random"),
                ("PASSWORD_LENGTH", "4")
            ]))
            .is_err()
        );
    }

    #[test]
    fn checks_name_the_field_never_the_value() {
        let fields = vec!["key".to_owned()];
        let err = check("s", r#"{"key":"has space CANARY"}"#, &fields).expect_err("whitespace");
        assert!(err.to_string().contains("field key") && !err.to_string().contains("CANARY"));
        assert!(check("s", r#"{"other":"x"}"#, &fields).is_err());
        assert!(check("s", r#"{"key":7}"#, &fields).is_err());
        assert!(check("s", r#"{"key":"GOODKEY123"}"#, &fields).is_ok());
        assert!(check("s", "", &[]).is_err());
    }
}
