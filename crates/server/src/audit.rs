//! One audit record per request: who, what, where from, with which parameters and outcome —
//! never a secret value (request and response members holding one are dropped, and the
//! responses of value-returning operations are not recorded at all, as CloudTrail does).

use std::fmt::Write as _;
use std::net::SocketAddr;

use s9_audit::{AuditEvent, Resource, Text, UserIdentity, sanitize};
use s9_wire::{ApiError, Operation};
use serde_json::Value;
use time::OffsetDateTime;

use crate::principals::Principal;

/// Everything about one request that goes into its record.
#[derive(Debug)]
pub(crate) struct Exchange<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) target: &'a str,
    pub(crate) op: Option<Operation>,
    pub(crate) principal: Option<&'a Principal>,
    pub(crate) access_key_id: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
    pub(crate) peer: SocketAddr,
    pub(crate) user_agent: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) outcome: Result<&'a [u8], &'a ApiError>,
}

/// Operations whose responses carry secret material: their responses are never recorded.
fn returns_secret(op: Operation) -> bool {
    matches!(
        op,
        Operation::GetSecretValue | Operation::BatchGetSecretValue | Operation::GetRandomPassword
    )
}

pub(crate) fn event(x: &Exchange<'_>, account_id: &str, now: OffsetDateTime) -> AuditEvent {
    let parse = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes)
            .ok()
            .filter(Value::is_object)
            .map(sanitize)
    };
    let request_parameters = parse(x.body);
    let (response_elements, error_code, error_message) = match x.outcome {
        // Like CloudTrail, responses are recorded for changes only (and never when they
        // carry secret material).
        Ok(_)
            if x.op
                .is_none_or(|op| returns_secret(op) || op.is_read_only()) =>
        {
            (None, None, None)
        }
        Ok(body) => (parse(body), None, None),
        Err(e) => (
            None,
            Some(e.code.as_str().to_owned()),
            Some(e.message.clone()),
        ),
    };
    let mut resources = Vec::new();
    let arn = response_elements
        .as_ref()
        .and_then(|r| r.get("aRN"))
        .and_then(Value::as_str)
        .or_else(|| {
            request_parameters
                .as_ref()
                .and_then(|r| r.get("secretId"))
                .and_then(Value::as_str)
                .filter(|s| s.starts_with("arn:"))
        });
    if let Some(arn) = arn {
        resources.push(Resource {
            arn: arn.to_owned(),
            account_id: account_id.to_owned(),
            kind: "AWS::SecretsManager::Secret".into(),
        });
    }
    let user_identity = match x.principal {
        Some(p) => {
            let (kind, user_name) = match p.arn.rsplit_once(":user/") {
                Some((_, name)) => ("IAMUser", Some(name.to_owned())),
                None => ("AssumedRole", None),
            };
            UserIdentity {
                kind: kind.into(),
                principal_id: Some(p.access_key_id.clone()),
                arn: Some(p.arn.clone()),
                account_id: Some(account_id.to_owned()),
                access_key_id: Some(p.access_key_id.clone()),
                user_name,
                invoked_by: None,
            }
        }
        None => UserIdentity {
            kind: "Unknown".into(),
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: x.access_key_id.map(str::to_owned),
            user_name: None,
            invoked_by: None,
        },
    };
    let event_name = match x.op {
        Some(op) => Text::Borrowed(op.name()),
        None => Text::Owned(
            x.target
                .strip_prefix(s9_wire::TARGET_PREFIX)
                .unwrap_or(x.target)
                .to_owned(),
        ),
    };
    AuditEvent {
        event_version: "1.08".into(),
        user_identity,
        event_time: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        event_source: "secretsmanager.amazonaws.com".into(),
        event_name,
        aws_region: x.region.unwrap_or_default().to_owned(),
        source_ip_address: {
            let mut ip = String::with_capacity(15);
            let _ = write!(ip, "{}", x.peer.ip());
            ip
        },
        user_agent: x.user_agent.to_owned(),
        request_parameters,
        response_elements,
        error_code,
        error_message,
        request_id: x.request_id.to_owned(),
        event_id: s9_audit::new_id(),
        read_only: x.op.is_some_and(Operation::is_read_only),
        resources,
        event_type: "AwsApiCall".into(),
        management_event: true,
        recipient_account_id: account_id.to_owned(),
        event_category: "Management".into(),
    }
}
