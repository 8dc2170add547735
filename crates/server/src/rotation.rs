//! Rotation in the server: the rotation functions (built in, or named in the config file),
//! the handlers that run outside the service — a command or an HTTP endpoint that receives
//! AWS's rotation event, like a rotation Lambda — the vendor check of `vendor-key`, and
//! where the engine's notices go (the audit trail, the log, `/metrics`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use s9_audit::{AuditLog, Resource};
use s9_core::Service;
use s9_core::rotation::{
    EngineConfig, ProviderCheck, RandomHandler, RandomTemplate, RotationEngine, RotationEvent,
    RotationEvents, RotationHandler, RotationNotice, StepContext, StepError, StepFuture,
    StepOutcome, VendorKeyHandler,
};
use s9_wire::SecretText;
use serde_json::value::RawValue;
use tokio::io::AsyncWriteExt as _;

use crate::metrics::Metrics;
use crate::outbound::{self, HttpsClient};

/// The built-in functions every server has (a config entry of the same name replaces one).
pub const RANDOM: &str = "s9-rotation-random";
pub const VENDOR_KEY: &str = "s9-rotation-vendor-key";

/// What runs a rotation function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionKind {
    /// A new random value (the whole value, or the named fields of a JSON document).
    Random(RandomTemplate),
    /// Waits for an operator to supply the new key, then checks it with the vendor.
    VendorKey {
        fields: Vec<String>,
        check: Option<HttpCheck>,
    },
    /// Runs `argv` with the rotation event as JSON on stdin; exit 0 is success.
    Command {
        argv: Vec<String>,
        env: BTreeMap<String, String>,
    },
    /// POSTs the rotation event as JSON; 2xx is success (202: still waiting).
    Http { url: String },
}

/// A vendor check: an authenticated request with the new key that must answer 2xx.
/// `{field}` in header and query values is replaced by that field of the new document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
}

/// How rotations run.
#[derive(Debug, Clone)]
pub struct RotationSettings {
    /// How often due rotations are looked for (RotateSecret starts one at once).
    pub interval: Duration,
    pub engine: EngineConfig,
    /// Rotation functions by name.
    pub functions: BTreeMap<String, FunctionKind>,
}

impl Default for RotationSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            engine: EngineConfig::default(),
            functions: BTreeMap::new(),
        }
    }
}

/// Builds the engine for `service` with the built-in functions and `settings`'.
pub(crate) fn engine(
    service: Arc<Service>,
    settings: &RotationSettings,
    notices: Arc<Notices>,
) -> RotationEngine {
    let mut functions = BTreeMap::from([
        (
            RANDOM.to_owned(),
            FunctionKind::Random(RandomTemplate::default()),
        ),
        (
            VENDOR_KEY.to_owned(),
            FunctionKind::VendorKey {
                fields: Vec::new(),
                check: None,
            },
        ),
    ]);
    functions.extend(settings.functions.clone());
    // Loading the system's TLS roots takes a while: only when a function calls out.
    let calls_out = functions.values().any(|f| {
        matches!(
            f,
            FunctionKind::Http { .. } | FunctionKind::VendorKey { check: Some(_), .. }
        )
    });
    let client = if calls_out { outbound::client() } else { None };
    let mut engine = RotationEngine::new(service, settings.engine.clone(), notices);
    for (name, kind) in functions {
        let handler: Arc<dyn RotationHandler> = match kind {
            FunctionKind::Random(template) => Arc::new(RandomHandler::new(template)),
            FunctionKind::VendorKey { fields, check } => {
                let check = check.map(|c| {
                    Arc::new(VendorCheck {
                        check: c,
                        client: client.clone(),
                    }) as Arc<dyn ProviderCheck>
                });
                Arc::new(VendorKeyHandler::new(fields, check))
            }
            FunctionKind::Command { argv, env } => Arc::new(CommandHandler { argv, env }),
            FunctionKind::Http { url } => Arc::new(HttpHandler {
                url,
                client: client.clone(),
            }),
        };
        engine.register(name, handler);
    }
    engine
}

/// A rotation function run as a command: the event JSON on stdin, exit 0 for success. Its
/// output is not read (it could hold a value); a step that outlives the timeout is killed.
#[derive(Debug)]
struct CommandHandler {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
}

impl CommandHandler {
    async fn step(&self, event: &RotationEvent) -> Result<StepOutcome, StepError> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| StepError("the rotation command is empty".into()))?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .envs(&self.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StepError(format!("could not run {program}: {e}")))?;
        let body = serde_json::to_vec(event).map_err(|e| StepError(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input still gets to answer by its status.
            let _ = stdin.write_all(&body).await;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| StepError(format!("{program}: {e}")))?;
        match status.code() {
            Some(0) => Ok(StepOutcome::Done),
            Some(code) => Err(StepError(format!(
                "{} exited with status {code} at {}",
                program,
                event.step.name()
            ))),
            None => Err(StepError(format!(
                "{program} was killed at {}",
                event.step.name()
            ))),
        }
    }
}

impl RotationHandler for CommandHandler {
    fn run<'a>(&'a self, _: &'a StepContext<'a>, event: &'a RotationEvent) -> StepFuture<'a> {
        Box::pin(self.step(event))
    }
}

/// A rotation function behind an HTTP endpoint.
#[derive(Debug)]
struct HttpHandler {
    url: String,
    client: Option<HttpsClient>,
}

impl HttpHandler {
    async fn step(&self, event: &RotationEvent) -> Result<StepOutcome, StepError> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| StepError("no HTTP client (TLS roots missing)".into()))?;
        let body = serde_json::to_vec(event).map_err(|e| StepError(e.to_string()))?;
        let req = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| StepError(format!("{}: {e}", self.url)))?;
        let resp = client
            .request(req)
            .await
            .map_err(|e| StepError(format!("{}: {e}", self.url)))?;
        let status = resp.status();
        // The answer is drained, never logged.
        let _ = resp.into_body().collect().await;
        match status.as_u16() {
            202 => Ok(StepOutcome::Waiting(format!(
                "{} is still working on {}",
                self.url,
                event.step.name()
            ))),
            200..=299 => Ok(StepOutcome::Done),
            code => Err(StepError(format!(
                "{} answered HTTP {code} at {}",
                self.url,
                event.step.name()
            ))),
        }
    }
}

impl RotationHandler for HttpHandler {
    fn run<'a>(&'a self, _: &'a StepContext<'a>, event: &'a RotationEvent) -> StepFuture<'a> {
        Box::pin(self.step(event))
    }
}

#[derive(Debug)]
struct VendorCheck {
    check: HttpCheck,
    client: Option<HttpsClient>,
}

/// `template` with each `{field}` replaced by that field of `doc`; errors name the field.
fn fill(
    template: &str,
    doc: &BTreeMap<&str, &RawValue>,
) -> Result<zeroize::Zeroizing<String>, String> {
    let mut out = zeroize::Zeroizing::new(String::with_capacity(template.len() + 256));
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("unclosed {{ in {template:?}"))?;
        out.push_str(&rest[..open]);
        let field = &rest[open + 1..open + close];
        let value = doc
            .get(field)
            .and_then(|raw| serde_json::from_str::<&str>(raw.get()).ok())
            .ok_or_else(|| format!("the new value has no string field `{field}`"))?;
        out.push_str(value);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl VendorCheck {
    async fn run(&self, value: &SecretText) -> Result<(), String> {
        let client = self
            .client
            .as_ref()
            .ok_or("no HTTP client (TLS roots missing)")?;
        let doc: BTreeMap<&str, &RawValue> = serde_json::from_str(value.expose_secret())
            .map_err(|_| "the new value is not a JSON object".to_owned())?;
        let mut url = zeroize::Zeroizing::new(self.check.url.clone());
        for (i, (key, template)) in self.check.query.iter().enumerate() {
            url.push(if i == 0 && !self.check.url.contains('?') {
                '?'
            } else {
                '&'
            });
            url.push_str(&percent(key));
            url.push('=');
            url.push_str(&percent(&fill(template, &doc)?));
        }
        let mut req = http::Request::get(url.as_str());
        for (name, template) in &self.check.headers {
            req = req.header(name.as_str(), fill(template, &doc)?.as_str());
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|_| format!("{}: the check request is malformed", self.check.url))?;
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("{}: {e}", self.check.url))?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "{} answered HTTP {}",
                self.check.url,
                status.as_u16()
            ))
        }
    }
}

impl ProviderCheck for VendorCheck {
    fn check<'a>(
        &'a self,
        value: &'a SecretText,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(self.run(value))
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where rotation notices go: an audit record (an AWS service event, as CloudTrail has
/// `RotationStarted`, `RotationSucceeded`, `RotationFailed`, `RotationAbandoned`), a log
/// line, and the rotation metrics.
#[derive(Debug)]
pub(crate) struct Notices {
    pub(crate) audit: Option<AuditLog>,
    pub(crate) service: Arc<Service>,
    pub(crate) metrics: Arc<Metrics>,
}

impl RotationEvents for Notices {
    fn pass_done(&self) {
        self.metrics.observe_rotation_pass();
    }

    fn notice(&self, notice: &RotationNotice) {
        let (name, arn, details) = match notice {
            RotationNotice::Started {
                arn,
                token,
                scheduled,
                missed_window,
            } => {
                tracing::info!(
                    secret = arn,
                    version = token,
                    scheduled,
                    missed_window,
                    "rotation started"
                );
                (
                    "RotationStarted",
                    arn,
                    serde_json::json!({"versionId": token, "scheduled": scheduled, "missedWindow": missed_window}),
                )
            }
            RotationNotice::Waiting {
                arn,
                token,
                step,
                reason,
            } => {
                tracing::warn!(
                    secret = arn,
                    version = token,
                    step = step.name(),
                    reason,
                    "rotation waits for an operator"
                );
                (
                    "RotationAwaitingInput",
                    arn,
                    serde_json::json!({"versionId": token, "step": step.name(), "reason": reason}),
                )
            }
            RotationNotice::Succeeded {
                arn,
                token,
                seconds,
            } => {
                tracing::info!(secret = arn, version = token, seconds, "rotation succeeded");
                self.metrics.observe_rotation("succeeded", Some(*seconds));
                (
                    "RotationSucceeded",
                    arn,
                    serde_json::json!({"versionId": token}),
                )
            }
            RotationNotice::Failed {
                arn,
                token,
                step,
                reason,
                attempts,
            } => {
                tracing::error!(
                    secret = arn,
                    version = token,
                    step = step.name(),
                    reason,
                    attempts,
                    "rotation failed; AWSCURRENT is unchanged"
                );
                self.metrics.observe_rotation("failed", None);
                (
                    "RotationFailed",
                    arn,
                    serde_json::json!({"versionId": token, "step": step.name(), "reason": reason, "attempts": attempts}),
                )
            }
            RotationNotice::Abandoned { arn, token } => {
                tracing::warn!(secret = arn, version = token, "rotation abandoned");
                self.metrics.observe_rotation("abandoned", None);
                (
                    "RotationAbandoned",
                    arn,
                    serde_json::json!({"versionId": token}),
                )
            }
        };
        if let Some(audit) = &self.audit {
            let now = self.service.now();
            let account = self.service.account_id();
            let mut event = s9_audit::service_event(account, now, name, details);
            event.resources.push(Resource {
                arn: arn.as_str().into(),
                account_id: account.into(),
                kind: "AWS::SecretsManager::Secret".into(),
            });
            audit.record_detached(event, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_fields_and_name_missing_ones() {
        let doc: BTreeMap<&str, &RawValue> =
            serde_json::from_str(r#"{"k":"canary-1","n":5}"#).expect("doc");
        assert_eq!(
            fill("Bearer {k}", &doc).expect("fill").as_str(),
            "Bearer canary-1"
        );
        let e = fill("{missing}", &doc).expect_err("missing");
        assert!(e.contains("`missing`"));
        assert!(fill("{n}", &doc).is_err(), "not a string");
        assert!(fill("{k", &doc).is_err());
        assert_eq!(percent("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
