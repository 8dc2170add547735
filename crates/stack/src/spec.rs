//! `signal9.toml`: the one declarative description of the Signal9 deployment — secrets,
//! rotation, readers and their least-privilege policy, audit and alarms — that `apply`
//! makes true on a local server and `synth` turns into CloudFormation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A problem with a spec file, naming the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    pub stack: StackMeta,
    #[serde(rename = "secret")]
    pub secrets: Vec<SecretSpec>,
    #[serde(rename = "reader", default)]
    pub readers: Vec<ReaderSpec>,
    pub audit: AuditSpec,
    /// The directory the spec was read from: relative paths in it are relative to this.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackMeta {
    /// CloudFormation-safe name: letters, digits and hyphens.
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// Logical id in templates (letters and digits), e.g. `ApiCredentials`.
    pub id: String,
    /// The secret's name, e.g. `signal9-advisor/api-credentials`.
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Fields the JSON value must have (checked by `populate` and the client).
    #[serde(default)]
    pub required_fields: Vec<String>,
    /// KMS key id, ARN or alias (AWS); default: the account's `aws/secretsmanager` key.
    pub kms_key_id: Option<String>,
    /// A resource policy file (JSON), relative to the spec.
    pub resource_policy: Option<PathBuf>,
    pub rotation: Option<RotationSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationSpec {
    /// `rate(90 days)`, `cron(0 4 1 */3 ? *)`, or a number of days.
    pub schedule: Schedule,
    /// Rotation window, e.g. `4h`.
    pub window: Option<String>,
    /// The rotation handler: `vendor-key` (a person supplies the new key) or `random`.
    pub handler: String,
    /// The rotation function `apply` wires on a local service, declared in its config
    /// (`[[rotation.function]]`, e.g. a vendor-key function with the vendor's check);
    /// default: the built-in `s9-rotation-HANDLER`. `synth` uses the Lambda instead.
    pub function: Option<String>,
}

impl RotationSpec {
    /// The local service's rotation function for this secret.
    pub fn local_function(&self) -> String {
        self.function
            .clone()
            .unwrap_or_else(|| format!("s9-rotation-{}", self.handler))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Schedule {
    Days(u32),
    Expression(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderSpec {
    /// IAM role name of the function that reads, e.g. `asset-sync`.
    pub role: String,
    /// Ids of the secrets it reads.
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSpec {
    /// Days the trail's logs are kept (CloudWatch Logs and local audit files).
    pub retention_days: u32,
    #[serde(default)]
    pub notify_emails: Vec<String>,
    pub alarms: AlarmSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSpec {
    /// GetSecretValue calls per minute above which the alarm fires.
    pub get_secret_value_per_minute: u32,
    /// Alarm on any AccessDenied on the secrets.
    pub access_denied: bool,
    /// Alarm when a rotation fails.
    pub rotation_failure: bool,
    pub business_hours: Option<BusinessHours>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    pub time_zone: String,
    /// e.g. `["Mon", "Tue", "Wed", "Thu", "Fri"]`.
    pub days: Vec<String>,
    /// `[start, end)` hours, e.g. `[8, 18]`.
    pub hours: [u8; 2],
}

/// The rotation handlers the service knows (issue 8 runs them; the spec names them).
pub const HANDLERS: [&str; 2] = ["vendor-key", "random"];

fn is_identifier(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

impl StackSpec {
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut spec: Self = toml::from_str(&text).map_err(|source| SpecError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        spec.base_dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        spec.validate().map_err(|message| SpecError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(spec)
    }

    pub fn secret(&self, id: &str) -> Option<&SecretSpec> {
        self.secrets.iter().find(|s| s.id == id)
    }

    /// A resource policy file's document, parsed.
    pub fn resource_policy(
        &self,
        secret: &SecretSpec,
    ) -> Result<Option<serde_json::Value>, SpecError> {
        let Some(rel) = &secret.resource_policy else {
            return Ok(None);
        };
        let path = self.base_dir.join(rel);
        let text = std::fs::read_to_string(&path).map_err(|source| SpecError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SpecError::Invalid {
                path,
                message: format!("not JSON: {e}"),
            })
    }

    fn validate(&self) -> Result<(), String> {
        if self.stack.name.is_empty()
            || !self
                .stack
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!(
                "stack.name `{}`: letters, digits and hyphens only",
                self.stack.name
            ));
        }
        if self.secrets.is_empty() {
            return Err("no [[secret]]".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for s in &self.secrets {
            if !is_identifier(&s.id) {
                return Err(format!(
                    "secret id `{}`: letters and digits, starting with a letter",
                    s.id
                ));
            }
            if !ids.insert(&s.id) {
                return Err(format!("secret id `{}` is used twice", s.id));
            }
            let name_ok = (1..=512).contains(&s.name.len())
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
            if !name_ok {
                return Err(format!(
                    "secret `{}`: name `{}` is not a valid secret name",
                    s.id, s.name
                ));
            }
            if let Some(r) = &s.rotation {
                validate_schedule(&r.schedule)
                    .map_err(|e| format!("secret `{}` rotation: {e}", s.id))?;
                if !HANDLERS.contains(&r.handler.as_str()) {
                    return Err(format!(
                        "secret `{}` rotation: unknown handler `{}` (one of {})",
                        s.id,
                        r.handler,
                        HANDLERS.join(", ")
                    ));
                }
            }
        }
        for r in &self.readers {
            if r.role.is_empty()
                || !r
                    .role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            {
                return Err(format!(
                    "reader role `{}` is not a valid IAM role name",
                    r.role
                ));
            }
            if let Some(unknown) = r.secrets.iter().find(|id| self.secret(id).is_none()) {
                return Err(format!(
                    "reader `{}` reads unknown secret id `{unknown}`",
                    r.role
                ));
            }
        }
        if self.audit.retention_days == 0 {
            return Err("audit.retention_days must be at least 1".into());
        }
        if let Some(b) = &self.audit.alarms.business_hours
            && (b.hours[0] >= b.hours[1] || b.hours[1] > 24)
        {
            return Err("audit.alarms.business_hours.hours: [start, end) within 0..24".into());
        }
        let mut rotated = self.secrets.iter().filter_map(|s| {
            s.rotation
                .as_ref()
                .map(|r| (&r.handler, &s.required_fields))
        });
        if let Some(first) = rotated.next()
            && rotated.any(|other| other != first)
        {
            return Err(
                "rotated secrets share one rotation Lambda: give them the same handler and required_fields"
                    .into(),
            );
        }
        Ok(())
    }

    /// The rotation Lambda's mode and fields (`ROTATION_MODE`, `REQUIRED_FIELDS`): those
    /// every rotated secret shares.
    pub fn rotation_mode(&self) -> Option<(&str, String)> {
        self.secrets.iter().find_map(|s| {
            s.rotation
                .as_ref()
                .map(|r| (r.handler.as_str(), s.required_fields.join(",")))
        })
    }
}

fn validate_schedule(s: &Schedule) -> Result<(), String> {
    match s {
        Schedule::Days(d) if (1..=1000).contains(d) => Ok(()),
        Schedule::Days(d) => Err(format!("{d} days is outside 1–1000")),
        Schedule::Expression(e)
            if (e.starts_with("rate(") || e.starts_with("cron(")) && e.ends_with(')') =>
        {
            Ok(())
        }
        Schedule::Expression(e) => Err(format!("`{e}` is neither rate(…) nor cron(…)")),
    }
}
