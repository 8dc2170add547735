//! `audit query`: reads records back, filtered.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::files::{self, Line};
use crate::{AuditError, AuditEvent};

/// Which records to return; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    /// Matches the principal's ARN, or its name (the part after the last `/`).
    pub principal: Option<String>,
    pub event_name: Option<String>,
    /// Matches the secret's ARN, name or the `secretId` the request gave.
    pub secret: Option<String>,
    /// An error code, or `none` for requests that succeeded.
    pub error_code: Option<String>,
    pub source_ip: Option<String>,
}

impl Filter {
    pub fn matches(&self, e: &AuditEvent<'_>) -> bool {
        let time = OffsetDateTime::parse(&e.event_time, &Rfc3339).ok();
        if self.from.is_some_and(|f| time.is_none_or(|t| t < f))
            || self.to.is_some_and(|to| time.is_none_or(|t| t > to))
        {
            return false;
        }
        if let Some(p) = &self.principal {
            let arn = e.user_identity.arn.as_deref().unwrap_or_default();
            if arn != p && arn.rsplit('/').next() != Some(p.as_str()) {
                return false;
            }
        }
        if self
            .event_name
            .as_ref()
            .is_some_and(|n| !n.eq_ignore_ascii_case(&e.event_name))
        {
            return false;
        }
        if let Some(s) = &self.secret {
            let named = e.secret_id().as_deref() == Some(s.as_str())
                || e.secret_arns()
                    .any(|a| a == s || a.contains(&format!(":secret:{s}-")));
            if !named {
                return false;
            }
        }
        if let Some(code) = &self.error_code {
            let ok = if code.eq_ignore_ascii_case("none") {
                e.error_code.is_none()
            } else {
                e.error_code.as_deref() == Some(code.as_str())
            };
            if !ok {
                return false;
            }
        }
        self.source_ip
            .as_ref()
            .is_none_or(|ip| *ip == e.source_ip_address)
    }
}

/// Reads the complete records of one log file from byte `offset` on; returns them and the
/// offset after the last one (where to read on from, once more is written). Only what lies
/// past `offset` is read, so following a trail rereads nothing; bytes, not text, as a line
/// being written (or torn by a crash) may end inside a character.
pub fn read_from(path: &Path, offset: u64) -> Result<(Vec<AuditEvent<'static>>, u64), AuditError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_to_end(&mut bytes)
        })
        .map_err(|e| AuditError::io(path, e))?;
    let mut out = Vec::new();
    let mut end = offset;
    for line in files::complete_lines(&bytes) {
        end += line.len() as u64;
        let Ok(l) = serde_json::from_slice::<Line<'_>>(line) else {
            continue;
        };
        if let Ok(event) = serde_json::from_str::<AuditEvent<'static>>(l.event.get()) {
            out.push(event);
        }
    }
    Ok((out, end))
}

/// The log files of `dir`, oldest first.
pub fn log_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, AuditError> {
    files::list(dir, files::LOG_PREFIX, files::LOG_SUFFIX)
}

/// Every record in `dir` that `filter` matches, oldest first.
pub fn query(dir: &Path, filter: &Filter) -> Result<Vec<AuditEvent<'static>>, AuditError> {
    let mut out = Vec::new();
    for path in log_files(dir)? {
        out.extend(
            read_from(&path, 0)?
                .0
                .into_iter()
                .filter(|e| filter.matches(e)),
        );
    }
    Ok(out)
}
