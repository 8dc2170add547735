//! The service config file (`serve --config FILE`, TOML): the account, the credentials file,
//! and the principals with their tags and identity policies. Every error names the file, the
//! line and the reason; nothing falls back to a default silently.
//!
//! ```toml
//! account_id = "123456789012"
//! credentials = "credentials"          # relative to this file
//!
//! [[principal]]
//! name = "asset-sync"
//! arn = "arn:aws:iam::123456789012:role/asset-sync"
//! profile = "asset-sync"               # the credentials-file profile with its keys
//! tags = { team = "pipeline" }
//! policies = ["policies/reader.json"]  # IAM identity policies, relative to this file
//! certificate = "asset-sync.pipeline"  # optional: its key works only with this client
//!                                      # certificate (serve --tls-client-ca)
//!
//! [rotation]                           # all optional
//! interval_secs = 60                   # how often due rotations are looked for
//! step_timeout_secs = 60
//! retry_backoff_secs = 300             # doubles per failed attempt, at most a day
//! await_timeout_hours = 168            # how long vendor-key waits for the new key
//!
//! [alarms]                             # all optional; the default rules apply without it
//! interval_secs = 10                   # how often time-driven alarms are evaluated
//! topic_arn = "arn:aws:sns:us-east-1:123456789012:signal9-alarms"  # named in notifications
//! defaults = true                      # keep the default rules
//! stack = "signal9.toml"               # also the rules of its [audit.alarms]
//! webhook = { url = "https://hooks.example/s9", key_file = "webhook.key", attempts = 5, backoff_ms = 1000 }
//!
//! [[alarms.rule]]
//! name = "after-hours"
//! kind = "outside-business-hours"      # read-rate, access-denied, new-principal, rotation-failed, rotation-overdue, audit-disk-space (min_free_mb)
//! time_zone = "America/New_York"
//! days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
//! hours = [8, 18]
//!
//! [[rotation.function]]                # RotationLambdaARN …:function:signal9-vendor-keys
//! name = "signal9-vendor-keys"
//! kind = "vendor-key"                  # or "random", "command", "http"
//! fields = ["alphaVantageApiKey", "alpacaApiKey", "alpacaApiSecret"]
//! check = { url = "https://paper-api.alpaca.markets/v2/account", headers = { "APCA-API-KEY-ID" = "{alpacaApiKey}", "APCA-API-SECRET-KEY" = "{alpacaApiSecret}" } }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use s9_policy::{NamedPolicy, Policy, PolicyKind};
use serde::Deserialize;
use toml::Spanned;

use crate::alarms::AlarmSettings;
use crate::notify::WebhookSettings;
use crate::principals::{self, Principal, Principals};
use crate::rotation::{FunctionKind, HttpCheck, RotationSettings};
use s9_core::alarms::{BusinessHours, Rule, RuleKind};
use s9_core::rotation::RandomTemplate;
use zeroize::Zeroizing;

/// A config error: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    account_id: Spanned<String>,
    credentials: Spanned<String>,
    #[serde(default, rename = "principal")]
    principals: Vec<PrincipalEntry>,
    #[serde(default)]
    rotation: Option<RotationSection>,
    #[serde(default)]
    alarms: Option<AlarmsSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmsSection {
    interval_secs: Option<u64>,
    topic_arn: Option<String>,
    /// Keep the default rules (those of the same name as a listed rule are replaced).
    #[serde(default = "yes")]
    defaults: bool,
    /// A stack spec whose `[audit.alarms]` adds its rules (relative to this file).
    stack: Option<String>,
    webhook: Option<Spanned<WebhookEntry>>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RuleEntry>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookEntry {
    url: String,
    key_file: Option<String>,
    key_env: Option<String>,
    attempts: Option<u32>,
    backoff_ms: Option<u64>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: String,
    kind: String,
    description: Option<String>,
    ok_after_secs: Option<u64>,
    threshold: Option<u32>,
    period_secs: Option<u64>,
    time_zone: Option<String>,
    #[serde(default)]
    days: Vec<String>,
    hours: Option<[u8; 2]>,
    #[serde(default)]
    ignore_principals: Vec<String>,
    grace_hours: Option<u64>,
    min_free_mb: Option<u64>,
}

impl RuleEntry {
    fn rule(self) -> Result<Rule, String> {
        let secs = |v: u64| time::Duration::seconds(i64::try_from(v).unwrap_or(i64::MAX));
        let name = self.name;
        if name.is_empty() {
            return Err("an alarm rule needs a name".into());
        }
        let kind = match self.kind.as_str() {
            "read-rate" => RuleKind::ReadRate {
                threshold: self.threshold.unwrap_or(10),
                period: secs(self.period_secs.unwrap_or(60).max(1)),
            },
            "access-denied" => RuleKind::AccessDenied,
            "outside-business-hours" => {
                let (Some(zone), Some(hours)) = (self.time_zone, self.hours) else {
                    return Err(format!(
                        "alarm {name:?}: outside-business-hours needs time_zone, days and hours"
                    ));
                };
                let hours = BusinessHours::new(&zone, &self.days, hours)
                    .map_err(|e| format!("alarm {name:?}: {e}"))?;
                RuleKind::OutsideBusinessHours {
                    hours,
                    ignore: self.ignore_principals.into_iter().collect(),
                }
            }
            "new-principal" => RuleKind::NewPrincipal,
            "rotation-failed" => RuleKind::RotationFailed,
            "rotation-awaiting-input" => RuleKind::RotationAwaitingInput,
            "rotation-overdue" => RuleKind::RotationOverdue {
                grace: time::Duration::hours(
                    i64::try_from(self.grace_hours.unwrap_or(24)).unwrap_or(i64::MAX),
                ),
            },
            "audit-disk-space" => RuleKind::AuditDiskSpace {
                min_free_bytes: self
                    .min_free_mb
                    .map_or(s9_core::alarms::DEFAULT_MIN_FREE_BYTES, |mb| {
                        mb.saturating_mul(1 << 20)
                    }),
            },
            other => {
                return Err(format!(
                    "alarm {name:?}: kind {other:?} is not read-rate, access-denied, outside-business-hours, new-principal, rotation-failed, rotation-awaiting-input, rotation-overdue or audit-disk-space"
                ));
            }
        };
        let ok_after = self.ok_after_secs.map_or_else(
            || match kind {
                RuleKind::ReadRate { period, .. } => period,
                _ => time::Duration::minutes(5),
            },
            secs,
        );
        Ok(Rule {
            name,
            description: self.description,
            kind,
            ok_after,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationSection {
    interval_secs: Option<u64>,
    step_timeout_secs: Option<u64>,
    retry_backoff_secs: Option<u64>,
    await_timeout_hours: Option<u64>,
    #[serde(default, rename = "function")]
    functions: Vec<Spanned<FunctionEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionEntry {
    name: String,
    kind: String,
    #[serde(default)]
    fields: Vec<String>,
    length: Option<i64>,
    exclude_characters: Option<String>,
    #[serde(default)]
    exclude_punctuation: bool,
    check: Option<CheckEntry>,
    command: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckEntry {
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
}

impl FunctionEntry {
    fn kind(self) -> Result<(String, FunctionKind), String> {
        let name = self.name;
        if name.is_empty() || name.contains(':') {
            return Err(format!(
                "rotation function name {name:?} must be non-empty, without ':'"
            ));
        }
        let kind = match (self.kind.as_str(), self.command, self.url) {
            ("random", None, None) if self.check.is_none() => {
                if self.length.is_some_and(|l| !(1..=4096).contains(&l)) {
                    return Err("length must be between 1 and 4096".into());
                }
                FunctionKind::Random(RandomTemplate {
                    fields: self.fields,
                    length: self.length,
                    exclude_characters: self.exclude_characters,
                    exclude_punctuation: self.exclude_punctuation,
                })
            }
            ("vendor-key", None, None) => FunctionKind::VendorKey {
                fields: self.fields,
                check: self.check.map(|c| HttpCheck {
                    url: c.url,
                    headers: c.headers,
                    query: c.query,
                }),
            },
            ("command", Some(argv), None) if !argv.is_empty() => FunctionKind::Command {
                argv,
                env: self.env,
            },
            ("http", None, Some(url))
                if url.starts_with("http://") || url.starts_with("https://") =>
            {
                FunctionKind::Http { url }
            }
            ("random" | "vendor-key" | "command" | "http", _, _) => {
                return Err(format!(
                    "rotation function {name:?}: kind {:?} takes {}",
                    self.kind,
                    match self.kind.as_str() {
                        "random" => "fields, length, exclude_characters, exclude_punctuation",
                        "vendor-key" => "fields and check",
                        "command" => "a non-empty command (and env)",
                        _ => "a url (http:// or https://)",
                    }
                ));
            }
            (other, _, _) => {
                return Err(format!(
                    "rotation function {name:?}: kind {other:?} is not random, vendor-key, command or http"
                ));
            }
        };
        Ok((name, kind))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalEntry {
    name: Spanned<String>,
    arn: Spanned<String>,
    profile: Spanned<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    policies: Vec<Spanned<String>>,
    /// The client certificate (subject CN, DNS or URI name) the key is bound to; needs
    /// `serve --tls-client-ca`.
    #[serde(default)]
    certificate: Option<Spanned<String>>,
}

/// A loaded config.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub account_id: String,
    pub credentials: PathBuf,
    pub principals: Principals,
    /// Principals by name, for the policy simulator.
    pub by_name: BTreeMap<String, Principal>,
    pub rotation: RotationSettings,
    pub alarms: AlarmSettings,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl ServiceConfig {
    /// Reads and checks `path`: the account id, the credentials file, every principal's ARN,
    /// profile and policies.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let fail = |line: usize, reason: String| ConfigError {
            file: path.to_owned(),
            line,
            reason,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(0, format!("cannot read: {e}")))?;
        let at = |span: std::ops::Range<usize>| line_of(&text, span.start);
        let file: File = toml::from_str(&text).map_err(|e| {
            fail(
                e.span().map_or(0, |s| line_of(&text, s.start)),
                e.message().to_owned(),
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));

        let account_id = file.account_id.get_ref().clone();
        if account_id.len() != 12 || !account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(fail(
                at(file.account_id.span()),
                format!("account_id must be 12 digits, not {account_id:?}"),
            ));
        }
        let credentials = base.join(file.credentials.get_ref());
        let profiles = principals::read_profiles(&credentials)
            .map_err(|e| fail(at(file.credentials.span()), e.to_string()))?;

        let mut principals = Principals::default();
        let mut by_name = BTreeMap::new();
        let mut used_profiles = HashSet::new();
        for entry in file.principals {
            let name = entry.name.get_ref().clone();
            if by_name.contains_key(&name) {
                return Err(fail(
                    at(entry.name.span()),
                    format!("principal {name:?} is defined twice"),
                ));
            }
            let arn = entry.arn.get_ref().clone();
            let valid_arn = arn
                .strip_prefix(&format!("arn:aws:iam::{account_id}:"))
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(kind, n)| matches!(kind, "user" | "role") && !n.is_empty());
            if !valid_arn {
                return Err(fail(
                    at(entry.arn.span()),
                    format!(
                        "arn must be arn:aws:iam::{account_id}:user/NAME or :role/NAME, not {arn:?}"
                    ),
                ));
            }
            let profile = entry.profile.get_ref().clone();
            let Some((key_id, secret)) = profiles.get(&profile).cloned() else {
                return Err(fail(
                    at(entry.profile.span()),
                    format!("profile [{profile}] is not in {}", credentials.display()),
                ));
            };
            if !used_profiles.insert(profile.clone()) {
                return Err(fail(
                    at(entry.profile.span()),
                    format!("profile [{profile}] is used by two principals"),
                ));
            }
            let mut policies = Vec::new();
            for p in &entry.policies {
                let file_path = base.join(p.get_ref());
                let doc = std::fs::read_to_string(&file_path).map_err(|e| {
                    fail(at(p.span()), format!("policy {}: {e}", file_path.display()))
                })?;
                let policy = Policy::parse(&doc, PolicyKind::Identity).map_err(|e| {
                    fail(at(p.span()), format!("policy {}: {e}", file_path.display()))
                })?;
                policies.push(NamedPolicy {
                    name: p.get_ref().clone(),
                    policy,
                });
            }
            if let Some(c) = &entry.certificate
                && c.get_ref().trim().is_empty()
            {
                return Err(fail(
                    at(c.span()),
                    "certificate must name the client certificate (its subject CN, a DNS or URI name)".into(),
                ));
            }
            let principal = Principal::new(
                arn,
                profile,
                key_id,
                secret,
                Arc::from(policies),
                &entry.tags,
            )
            .bound_to_certificate(entry.certificate.map(Spanned::into_inner));
            principals.insert(principal.clone());
            by_name.insert(name, principal);
        }
        if by_name.is_empty() {
            return Err(fail(
                line_of(&text, text.len()),
                "no [[principal]] is defined: nobody could call the service".into(),
            ));
        }
        for profile in profiles.keys().filter(|p| !used_profiles.contains(*p)) {
            tracing::warn!(
                profile,
                "credentials profile belongs to no principal; its keys are refused"
            );
        }
        let mut rotation = RotationSettings::default();
        if let Some(section) = file.rotation {
            let secs = |v: Option<u64>, default: std::time::Duration| {
                v.map_or(default, |s| std::time::Duration::from_secs(s.max(1)))
            };
            rotation.interval = secs(section.interval_secs, rotation.interval);
            let engine = &mut rotation.engine;
            engine.step_timeout = secs(section.step_timeout_secs, engine.step_timeout);
            engine.retry_backoff = secs(section.retry_backoff_secs, engine.retry_backoff);
            engine.await_timeout = secs(
                section.await_timeout_hours.map(|h| h.saturating_mul(3600)),
                engine.await_timeout,
            );
            for entry in section.functions {
                let line = at(entry.span());
                let (name, kind) = entry.into_inner().kind().map_err(|e| fail(line, e))?;
                if rotation.functions.insert(name.clone(), kind).is_some() {
                    return Err(fail(
                        line,
                        format!("rotation function {name:?} is defined twice"),
                    ));
                }
            }
        }
        let mut alarms = AlarmSettings::default();
        if let Some(section) = file.alarms {
            if let Some(secs) = section.interval_secs {
                alarms.interval = std::time::Duration::from_secs(secs.max(1));
            }
            alarms.topic_arn = section.topic_arn;
            alarms.stack = section.stack.map(|p| base.join(p));
            if !section.defaults {
                alarms.rules.clear();
            }
            for entry in section.rules {
                let line = at(entry.span());
                let rule = entry.into_inner().rule().map_err(|e| fail(line, e))?;
                alarms.rules.retain(|r| r.name != rule.name);
                alarms.rules.push(rule);
            }
            if let Some(entry) = section.webhook {
                let line = at(entry.span());
                alarms.webhook =
                    Some(webhook(entry.into_inner(), base).map_err(|e| fail(line, e))?);
            }
        }
        Ok(Self {
            account_id,
            credentials,
            principals,
            by_name,
            rotation,
            alarms,
        })
    }
}

fn webhook(entry: WebhookEntry, base: &Path) -> Result<WebhookSettings, String> {
    if !(entry.url.starts_with("http://") || entry.url.starts_with("https://")) {
        return Err(format!(
            "webhook url {:?} must be http:// or https://",
            entry.url
        ));
    }
    let mut settings = WebhookSettings::new(entry.url);
    settings.key = match (entry.key_file, entry.key_env) {
        (Some(_), Some(_)) => return Err("webhook: key_file or key_env, not both".into()),
        (Some(file), None) => {
            let path = base.join(file);
            let text = Zeroizing::new(
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("webhook key_file {}: {e}", path.display()))?,
            );
            Some(Zeroizing::new(text.trim().as_bytes().to_vec()))
        }
        (None, Some(var)) => {
            let text = Zeroizing::new(
                std::env::var(&var).map_err(|_| format!("webhook key_env: ${var} is not set"))?,
            );
            Some(Zeroizing::new(text.trim().as_bytes().to_vec()))
        }
        (None, None) => None,
    };
    if settings.key.as_ref().is_some_and(|k| k.len() < 16) {
        return Err("webhook key: at least 16 bytes".into());
    }
    if let Some(a) = entry.attempts {
        settings.attempts = a.clamp(1, 20);
    }
    if let Some(ms) = entry.backoff_ms {
        settings.backoff = std::time::Duration::from_millis(ms);
    }
    if let Some(s) = entry.timeout_secs {
        settings.timeout = std::time::Duration::from_secs(s.max(1));
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "[reader]\naws_access_key_id = AKIAREADER\naws_secret_access_key = s1\n[admin]\naws_access_key_id = AKIAADMIN\naws_secret_access_key = s2\n";
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;

    fn write(dir: &Path, config: &str) -> PathBuf {
        std::fs::write(dir.join("credentials"), CREDENTIALS).expect("credentials");
        std::fs::write(dir.join("reader.json"), POLICY).expect("policy");
        std::fs::write(
            dir.join("bad.json"),
            r#"{"Statement":{"Effect":"Allow","Action":"x","Resource":"*"}}"#,
        )
        .expect("policy");
        let path = dir.join("s9.toml");
        std::fs::write(&path, config).expect("config");
        path
    }

    #[test]
    fn loads_principals_with_policies_and_tags() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = write(
            dir.path(),
            "account_id = \"123456789012\"\ncredentials = \"credentials\"\n\n[[principal]]\nname = \"reader\"\narn = \"arn:aws:iam::123456789012:role/reader\"\nprofile = \"reader\"\ntags = { team = \"pipeline\" }\npolicies = [\"reader.json\"]\n",
        );
        let config = ServiceConfig::load(&path).expect("config");
        let reader = config.principals.get("AKIAREADER").expect("reader");
        assert_eq!(reader.arn, "arn:aws:iam::123456789012:role/reader");
        assert_eq!(reader.policies.len(), 1);
        assert_eq!(
            reader.context.get("aws:PrincipalTag/team"),
            Some(&["pipeline".to_owned()][..])
        );
        assert!(
            config.principals.get("AKIAADMIN").is_none(),
            "profiles without a principal are refused"
        );
    }

    const ADMIN: &str = "account_id = \"123456789012\"\ncredentials = \"credentials\"\n\n[[principal]]\nname = \"p\"\narn = \"arn:aws:iam::123456789012:role/p\"\nprofile = \"reader\"\n\n";

    #[test]
    fn alarms_take_rules_of_every_kind_and_a_signed_webhook() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("hook.key"), "0123456789abcdef0123\n").expect("key");
        let path = write(
            dir.path(),
            &format!(
                "{ADMIN}[alarms]\ninterval_secs = 5\ndefaults = false\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:t\"\nstack = \"signal9.toml\"\nwebhook = {{ url = \"https://hooks.example/s9\", key_file = \"hook.key\", attempts = 99, backoff_ms = 10, timeout_secs = 3 }}\n\n\
                 [[alarms.rule]]\nname = \"rate\"\nkind = \"read-rate\"\nthreshold = 3\nperiod_secs = 30\n\n\
                 [[alarms.rule]]\nname = \"denied\"\nkind = \"access-denied\"\nok_after_secs = 60\n\n\
                 [[alarms.rule]]\nname = \"hours\"\nkind = \"outside-business-hours\"\ntime_zone = \"Europe/Berlin\"\ndays = [\"Mon\"]\nhours = [9, 17]\nignore_principals = [\"arn:x\"]\n\n\
                 [[alarms.rule]]\nname = \"new\"\nkind = \"new-principal\"\n\n\
                 [[alarms.rule]]\nname = \"failed\"\nkind = \"rotation-failed\"\n\n\
                 [[alarms.rule]]\nname = \"waiting\"\nkind = \"rotation-awaiting-input\"\n\n\
                 [[alarms.rule]]\nname = \"overdue\"\nkind = \"rotation-overdue\"\ngrace_hours = 2\n"
            ),
        );
        let alarms = ServiceConfig::load(&path).expect("config").alarms;
        let kinds: Vec<&str> = alarms.rules.iter().map(|r| r.kind.name()).collect();
        assert_eq!(
            kinds,
            [
                "read-rate",
                "access-denied",
                "outside-business-hours",
                "new-principal",
                "rotation-failed",
                "rotation-awaiting-input",
                "rotation-overdue"
            ]
        );
        assert_eq!(
            alarms.rules[0].ok_after,
            time::Duration::seconds(30),
            "the period"
        );
        assert_eq!(alarms.rules[1].ok_after, time::Duration::minutes(1));
        assert_eq!(alarms.interval, std::time::Duration::from_secs(5));
        assert_eq!(alarms.stack, Some(dir.path().join("signal9.toml")));
        let hook = alarms.webhook.expect("webhook");
        assert_eq!(hook.attempts, 20, "clamped");
        assert_eq!(
            hook.key.as_deref().map(Vec::as_slice),
            Some(&b"0123456789abcdef0123"[..])
        );
        assert!(
            !format!("{hook:?}").contains("0123456789abcdef"),
            "the key is redacted"
        );

        // Without [alarms], the defaults.
        let path = write(dir.path(), ADMIN);
        let defaults = ServiceConfig::load(&path).expect("config").alarms;
        assert_eq!(defaults.rules.len(), Rule::defaults().len());
        assert!(defaults.webhook.is_none());
    }

    #[test]
    fn alarm_errors_name_the_line() {
        let cases = [
            (
                "[[alarms.rule]]\nname = \"x\"\nkind = \"sometimes\"\n",
                "is not read-rate",
            ),
            (
                "[[alarms.rule]]\nname = \"\"\nkind = \"access-denied\"\n",
                "needs a name",
            ),
            (
                "[[alarms.rule]]\nname = \"h\"\nkind = \"outside-business-hours\"\n",
                "needs time_zone",
            ),
            (
                "[[alarms.rule]]\nname = \"h\"\nkind = \"outside-business-hours\"\ntime_zone = \"Nowhere/City\"\nhours = [8, 18]\n",
                "not in the IANA",
            ),
            (
                "[alarms]\nwebhook = { url = \"ftp://x\" }\n",
                "must be http",
            ),
            (
                "[alarms]\nwebhook = { url = \"http://x\", key_env = \"S9_TEST_UNSET_KEY\" }\n",
                "is not set",
            ),
            (
                "[alarms]\nwebhook = { url = \"http://x\", key_file = \"short.key\" }\n",
                "at least 16 bytes",
            ),
            (
                "[alarms]\nwebhook = { url = \"http://x\", key_file = \"short.key\", key_env = \"K\" }\n",
                "not both",
            ),
        ];
        for (alarms, reason) in cases {
            let dir = tempfile::tempdir().expect("tmp");
            std::fs::write(dir.path().join("short.key"), "short").expect("key");
            let config = format!("{ADMIN}{alarms}");
            let err = ServiceConfig::load(&write(dir.path(), &config)).expect_err(&config);
            assert!(err.reason.contains(reason), "{config}\n{err}");
            assert!(err.line > 7, "{err}");
        }
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let head = "account_id = \"123456789012\"\ncredentials = \"credentials\"\n";
        let principal = |arn: &str, profile: &str, policy: &str| {
            format!(
                "\n[[principal]]\nname = \"p\"\narn = \"{arn}\"\nprofile = \"{profile}\"\npolicies = [\"{policy}\"]\n"
            )
        };
        let good_arn = "arn:aws:iam::123456789012:role/p";
        let cases: Vec<(String, usize, &str)> = vec![
            (
                "account_id = \"12\"\ncredentials = \"credentials\"\n".into(),
                1,
                "12 digits",
            ),
            (
                format!(
                    "{head}{}",
                    principal("arn:aws:iam::999999999999:role/p", "reader", "reader.json")
                ),
                6,
                "arn must be",
            ),
            (
                format!("{head}{}", principal(good_arn, "nobody", "reader.json")),
                7,
                "profile [nobody]",
            ),
            (
                format!("{head}{}", principal(good_arn, "reader", "missing.json")),
                8,
                "missing.json",
            ),
            (
                format!("{head}{}", principal(good_arn, "reader", "bad.json")),
                8,
                "$.Statement.Action[0]",
            ),
            (format!("{head}bogus = 1\n"), 3, "unknown field"),
            (head.to_owned(), 3, "no [[principal]]"),
            (
                "account_id = \"123456789012\"\ncredentials = \"nope\"\n".into(),
                2,
                "nope",
            ),
        ];
        for (config, line, reason) in cases {
            let dir = tempfile::tempdir().expect("tmp");
            let err = ServiceConfig::load(&write(dir.path(), &config)).expect_err(&config);
            assert_eq!(err.line, line, "{config}\n{err}");
            assert!(err.reason.contains(reason), "{err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("{}:{line}: ", err.file.display()))
            );
        }
    }
}
