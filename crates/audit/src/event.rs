//! Audit records in CloudTrail's event format, so tools that read CloudTrail read ours.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Members of request parameters and response elements that carry secret material; they are
/// dropped before a record is built, as CloudTrail drops them.
const SECRET_MEMBERS: [&str; 3] = ["SecretString", "SecretBinary", "RandomPassword"];

/// The `eventType` of what the service does by itself (requests are `AwsApiCall`).
pub(crate) const SERVICE_EVENT_TYPE: &str = "AwsServiceEvent";

/// Text that is most often one of a few constants: borrowed then, so a record costs no
/// allocation for it.
pub type Text = Cow<'static, str>;

/// One audited event (CloudTrail `eventVersion` 1.08 shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub event_version: Text,
    pub user_identity: UserIdentity,
    /// `2026-11-27T10:00:00Z`.
    pub event_time: String,
    pub event_source: Text,
    pub event_name: Text,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(rename = "requestID")]
    pub request_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// `AwsApiCall` for requests, `AwsServiceEvent` for what the service does by itself.
    pub event_type: Text,
    pub management_event: bool,
    pub recipient_account_id: String,
    pub event_category: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `IAMUser`, `AssumedRole`, `AWSService`, or `Unknown` for unauthenticated requests.
    #[serde(rename = "type")]
    pub kind: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: Text,
}

/// `SecretId` → `secretId`, in place (request members are ASCII).
fn lower_first(mut name: String) -> String {
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_lowercase();
    }
    name
}

/// A request body or response, as CloudTrail records it: members in camelCase, secret
/// material removed (at any depth). Takes the value apart rather than copying it.
pub fn sanitize(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !SECRET_MEMBERS.contains(&k.as_str()))
                .map(|(k, v)| (lower_first(k), sanitize(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitize).collect()),
        other => other,
    }
}

/// What the live stream ([`crate::AuditLog::subscribe`]) tells of a written record: who did
/// what to which secrets, and how it ended. Taken apart from the event once it is
/// serialized, so following the trail copies nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// When it was recorded, on the service clock.
    pub time: time::OffsetDateTime,
    pub event_name: Text,
    /// Done by the service itself (`AwsServiceEvent`), not requested.
    pub service_event: bool,
    /// `userIdentity.arn`.
    pub principal: Option<String>,
    pub region: String,
    /// The secret ARNs of `resources`.
    pub secret_arns: Vec<String>,
    /// The `secretId` the request named, if any.
    pub secret_id: Option<String>,
    /// The `secretIdList` the request named, if any.
    pub secret_id_list: Vec<String>,
    pub error_code: Option<String>,
    /// The `reason` a service event gave.
    pub reason: Option<String>,
}

impl Recorded {
    pub(crate) fn new(event: AuditEvent, time: time::OffsetDateTime) -> Self {
        let service_event = event.event_type == SERVICE_EVENT_TYPE;
        let mut request = match event.request_parameters {
            Some(Value::Object(members)) => members,
            _ => Map::new(),
        };
        let secret_id = match request.remove("secretId") {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        let secret_id_list = match request.remove("secretIdList") {
            Some(Value::Array(ids)) => ids
                .into_iter()
                .filter_map(|id| match id {
                    Value::String(id) => Some(id),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let reason = match event.response_elements.filter(|_| service_event) {
            Some(Value::Object(mut details)) => match details.remove("reason") {
                Some(Value::String(reason)) => Some(reason),
                _ => None,
            },
            _ => None,
        };
        Self {
            time,
            event_name: event.event_name,
            service_event,
            principal: event.user_identity.arn,
            region: event.aws_region,
            secret_arns: event.resources.into_iter().map(|r| r.arn).collect(),
            secret_id,
            secret_id_list,
            error_code: event.error_code,
            reason,
        }
    }
}

impl AuditEvent {
    /// The secret ARNs this event names, for queries.
    pub fn secret_arns(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().map(|r| r.arn.as_str())
    }

    /// The `secretId` the request named, if any.
    pub fn secret_id(&self) -> Option<&str> {
        self.request_parameters.as_ref()?.get("secretId")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_members_are_dropped_at_any_depth() {
        let v = serde_json::json!({
            "SecretId": "a", "SecretString": "canary", "SecretBinary": "Y2FuYXJ5",
            "SecretValues": [{"ARN": "x", "SecretString": "canary"}], "RandomPassword": "canary"
        });
        let s = sanitize(v);
        assert!(!s.to_string().contains("canary") && !s.to_string().contains("Y2FuYXJ5"));
        assert_eq!(s["secretId"], "a");
        assert_eq!(s["secretValues"][0]["aRN"], "x");
    }
}
