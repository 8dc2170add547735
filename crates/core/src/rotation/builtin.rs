//! Rotation functions that run inside the service. They use the service's API as the
//! rotation's own principal, exactly as an AWS rotation Lambda uses Secrets Manager's, and
//! follow the same idempotent steps: `createSecret` fills the `AWSPENDING` version once,
//! `finishSecret` moves `AWSCURRENT` to it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use s9_wire::shapes::{
    GetRandomPasswordRequest, GetSecretValueRequest, PutSecretValueRequest,
    UpdateSecretVersionStageRequest,
};
use s9_wire::{ErrorCode, SecretText};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{
    RotationEvent, RotationHandler, Step, StepContext, StepError, StepFuture, StepOutcome,
};
use crate::service::SecretPayload;
use crate::staging::{CURRENT, PENDING};

/// The value of the version being rotated in, if it has one yet.
fn pending(ctx: &StepContext<'_>, event: &RotationEvent) -> Result<Option<SecretText>, StepError> {
    let req = GetSecretValueRequest {
        secret_id: Some(event.secret_id.clone()),
        version_id: Some(event.client_request_token.clone()),
        version_stage: Some(PENDING.to_owned()),
    };
    match ctx.service.get_secret_value(ctx.caller, ctx.region, &req) {
        Ok(v) => match v.payload {
            SecretPayload::Text(t) => Ok(Some(t)),
            SecretPayload::Binary(_) => Err(StepError(
                "the pending version holds a binary value; this rotation function rotates text"
                    .into(),
            )),
        },
        Err(e) if e.code == ErrorCode::ResourceNotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn current(ctx: &StepContext<'_>, event: &RotationEvent) -> Result<SecretText, StepError> {
    let req = GetSecretValueRequest {
        secret_id: Some(event.secret_id.clone()),
        version_id: None,
        version_stage: Some(CURRENT.to_owned()),
    };
    match ctx
        .service
        .get_secret_value(ctx.caller, ctx.region, &req)?
        .payload
    {
        SecretPayload::Text(t) => Ok(t),
        SecretPayload::Binary(_) => Err(StepError(
            "the current version holds a binary value; this rotation function rotates text".into(),
        )),
    }
}

/// `finishSecret`: `AWSCURRENT` moves to the new version (the old one keeps `AWSPREVIOUS`).
async fn finish(ctx: &StepContext<'_>, event: &RotationEvent) -> Result<StepOutcome, StepError> {
    let description = ctx
        .service
        .describe_secret(ctx.caller, ctx.region, &event.secret_id)?;
    let holder = description
        .version_ids_to_stages
        .unwrap_or_default()
        .into_iter()
        .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
        .map(|(id, _)| id);
    if holder.as_deref() == Some(event.client_request_token.as_str()) {
        return Ok(StepOutcome::Done);
    }
    let req = UpdateSecretVersionStageRequest {
        secret_id: Some(event.secret_id.clone()),
        version_stage: Some(CURRENT.to_owned()),
        remove_from_version_id: holder,
        move_to_version_id: Some(event.client_request_token.clone()),
    };
    ctx.service
        .update_secret_version_stage(ctx.caller, ctx.region, req)
        .await?;
    Ok(StepOutcome::Done)
}

/// Why a document's field is not a usable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    NotAnObject,
    Missing,
    NotAString,
    /// Empty, or with whitespace (no API key or generated password has any).
    Blank,
}

/// The first of `fields` that `value` (a JSON object) does not carry as a non-empty string
/// without whitespace. Shared with the rotation Lambda, so both test new values alike; the
/// problem names the field, never its value.
pub fn check_document_fields<'f>(
    value: &str,
    fields: &'f [String],
) -> Result<(), (Option<&'f str>, FieldProblem)> {
    if fields.is_empty() {
        return Ok(());
    }
    let doc: BTreeMap<&str, &RawValue> =
        serde_json::from_str(value).map_err(|_| (None, FieldProblem::NotAnObject))?;
    for field in fields {
        let problem = match doc.get(field.as_str()) {
            None => FieldProblem::Missing,
            Some(raw) => match serde_json::from_str::<String>(raw.get()).map(Zeroizing::new) {
                Err(_) => FieldProblem::NotAString,
                Ok(s) if s.is_empty() || s.chars().any(char::is_whitespace) => FieldProblem::Blank,
                Ok(_) => continue,
            },
        };
        return Err((Some(field.as_str()), problem));
    }
    Ok(())
}

/// The fields a JSON document must carry, each a non-empty string.
fn check_fields(text: &SecretText, fields: &[String]) -> Result<(), StepError> {
    check_document_fields(text.expose_secret(), fields).map_err(|(field, _)| match field {
        None => StepError("the new value is not a JSON object".into()),
        Some(field) => StepError(format!(
            "the new value has no non-empty string field `{field}`"
        )),
    })
}

/// `current` (a JSON object) with each of `fresh`'s fields set to its new value and the
/// other fields kept byte for byte. The output buffer is sized up front, so the new values
/// are never left behind in a reallocated copy. Shared with the rotation Lambda.
pub fn replace_fields(
    current: &str,
    fresh: &[(String, Zeroizing<String>)],
) -> Result<Zeroizing<String>, FieldProblem> {
    let doc: BTreeMap<&str, &RawValue> =
        serde_json::from_str(current).map_err(|_| FieldProblem::NotAnObject)?;
    let mut out: BTreeMap<&str, Entry<'_>> =
        doc.into_iter().map(|(k, v)| (k, Entry::Kept(v))).collect();
    for (field, value) in fresh {
        out.insert(field.as_str(), Entry::New(value.as_str()));
    }
    let capacity = current.len()
        + fresh
            .iter()
            .map(|(f, v)| f.len() + 2 * v.len() + 8)
            .sum::<usize>();
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *buf, &out).map_err(|_| FieldProblem::NotAnObject)?;
    String::from_utf8(std::mem::take(&mut *buf))
        .map(Zeroizing::new)
        .map_err(|_| FieldProblem::NotAString)
}

/// What a `random` rotation generates: the whole value, or the named fields of the current
/// JSON document (other fields are kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RandomTemplate {
    /// Fields to regenerate; empty: the whole value is one random string.
    pub fields: Vec<String>,
    /// As GetRandomPassword takes them.
    pub length: Option<i64>,
    pub exclude_characters: Option<String>,
    pub exclude_punctuation: bool,
}

impl RandomTemplate {
    fn generate(&self) -> Result<Zeroizing<String>, StepError> {
        let req = GetRandomPasswordRequest {
            password_length: self.length,
            exclude_characters: self.exclude_characters.clone(),
            exclude_punctuation: Some(self.exclude_punctuation),
            ..GetRandomPasswordRequest::default()
        };
        crate::password::generate(&req).map_err(StepError::from)
    }

    /// The new value from the current one.
    fn next_value(&self, current: &SecretText) -> Result<SecretText, StepError> {
        if self.fields.is_empty() {
            return Ok(SecretText::new(self.generate()?.to_string()));
        }
        let fresh: Vec<(String, Zeroizing<String>)> = self
            .fields
            .iter()
            .map(|f| Ok((f.clone(), self.generate()?)))
            .collect::<Result<_, StepError>>()?;
        let mut next = replace_fields(current.expose_secret(), &fresh).map_err(|_| {
            StepError(
                "the current value is not a JSON object, and the template names fields".into(),
            )
        })?;
        Ok(SecretText::new(std::mem::take(&mut *next)))
    }
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Entry<'a> {
    Kept(&'a RawValue),
    New(&'a str),
}

/// Rotates to a new random value (the `random` handler).
#[derive(Debug, Clone)]
pub struct RandomHandler {
    template: RandomTemplate,
}

impl RandomHandler {
    pub fn new(template: RandomTemplate) -> Self {
        Self { template }
    }

    async fn step(
        &self,
        ctx: &StepContext<'_>,
        event: &RotationEvent,
    ) -> Result<StepOutcome, StepError> {
        match event.step {
            Step::CreateSecret => {
                if pending(ctx, event)?.is_some() {
                    return Ok(StepOutcome::Done);
                }
                let value = self.template.next_value(&current(ctx, event)?)?;
                let req = PutSecretValueRequest {
                    secret_id: Some(event.secret_id.clone()),
                    client_request_token: Some(event.client_request_token.clone()),
                    secret_string: Some(value),
                    version_stages: Some(vec![PENDING.to_owned()]),
                    ..PutSecretValueRequest::default()
                };
                ctx.service
                    .put_secret_value(ctx.caller, ctx.region, req)
                    .await?;
                Ok(StepOutcome::Done)
            }
            // No system downstream holds this value.
            Step::SetSecret => Ok(StepOutcome::Done),
            Step::TestSecret => {
                let value = pending(ctx, event)?
                    .ok_or_else(|| StepError("the pending version has no value".into()))?;
                check_fields(&value, &self.template.fields)?;
                Ok(StepOutcome::Done)
            }
            Step::FinishSecret => finish(ctx, event).await,
        }
    }
}

impl RotationHandler for RandomHandler {
    fn run<'a>(&'a self, ctx: &'a StepContext<'a>, event: &'a RotationEvent) -> StepFuture<'a> {
        Box::pin(self.step(ctx, event))
    }
}

/// Checks a new key with the vendor that issued it (an authenticated call that must
/// succeed). Errors say what failed, never the key.
pub trait ProviderCheck: Send + Sync + std::fmt::Debug {
    fn check<'a>(
        &'a self,
        value: &'a SecretText,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Rotates keys only a vendor can issue (the `vendor-key` handler): `createSecret` waits
/// until an operator supplies the new key into the `AWSPENDING` version (`s9-secrets rotate
/// complete`); `testSecret` checks its fields and then checks it with the vendor; only then
/// does `finishSecret` make it current.
#[derive(Debug, Clone)]
pub struct VendorKeyHandler {
    fields: Vec<String>,
    check: Option<Arc<dyn ProviderCheck>>,
}

impl VendorKeyHandler {
    pub fn new(fields: Vec<String>, check: Option<Arc<dyn ProviderCheck>>) -> Self {
        Self { fields, check }
    }

    async fn step(
        &self,
        ctx: &StepContext<'_>,
        event: &RotationEvent,
    ) -> Result<StepOutcome, StepError> {
        match event.step {
            Step::CreateSecret => Ok(match pending(ctx, event)? {
                Some(_) => StepOutcome::Done,
                None => StepOutcome::Waiting(
                    "awaiting the new key from the vendor: supply it with `s9-secrets rotate complete`".into(),
                ),
            }),
            // The vendor already holds the key it issued.
            Step::SetSecret => Ok(StepOutcome::Done),
            Step::TestSecret => {
                let value = pending(ctx, event)?
                    .ok_or_else(|| StepError("the pending version has no value".into()))?;
                check_fields(&value, &self.fields)?;
                if let Some(check) = &self.check {
                    check
                        .check(&value)
                        .await
                        .map_err(|e| StepError(format!("the vendor rejected the new key: {e}")))?;
                }
                Ok(StepOutcome::Done)
            }
            Step::FinishSecret => finish(ctx, event).await,
        }
    }
}

impl RotationHandler for VendorKeyHandler {
    fn run<'a>(&'a self, ctx: &'a StepContext<'a>, event: &'a RotationEvent) -> StepFuture<'a> {
        Box::pin(self.step(ctx, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_regenerates_only_its_fields_and_keeps_the_rest() {
        let template = RandomTemplate {
            fields: vec!["password".into()],
            length: Some(24),
            exclude_punctuation: true,
            ..RandomTemplate::default()
        };
        let current = SecretText::new(r#"{"username":"svc","password":"old-canary-1"}"#.into());
        let next = template.next_value(&current).expect("next");
        let doc: serde_json::Value = serde_json::from_str(next.expose_secret()).expect("json");
        assert_eq!(doc["username"], "svc");
        let password = doc["password"].as_str().expect("password");
        assert_eq!(password.len(), 24);
        assert_ne!(password, "old-canary-1");
        assert!(password.chars().all(char::is_alphanumeric));
        assert!(
            template
                .next_value(&SecretText::new("not json".into()))
                .is_err()
        );
        let whole = RandomTemplate::default()
            .next_value(&current)
            .expect("whole");
        assert_eq!(whole.expose_secret().len(), 32);
    }

    #[test]
    fn field_checks_name_the_field_never_the_value() {
        let value = SecretText::new(r#"{"a":"canary-9","b":" "}"#.into());
        assert!(check_fields(&value, &["a".into()]).is_ok());
        let e = check_fields(&value, &["a".into(), "b".into()]).expect_err("b is blank");
        assert!(e.0.contains("`b`") && !e.0.contains("canary"));
        assert!(check_fields(&value, &["c".into()]).is_err());
    }
}
