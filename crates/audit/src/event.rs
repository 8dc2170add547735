//! Audit records in CloudTrail's event format, so tools that read CloudTrail read ours.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::Members;
use crate::members::read;

/// The `eventType` of what the service does by itself (requests are `AwsApiCall`).
pub(crate) const SERVICE_EVENT_TYPE: &str = "AwsServiceEvent";

/// Text that is one of a few constants, or else owned: a record costs no allocation for it.
pub type Text = Cow<'static, str>;

/// Text borrowed from what a record describes while it is built (the request, the caller's
/// identity), owned once read back: building a request's record copies none of it.
pub type Borrowed<'a> = Cow<'a, str>;

/// `eventTime` as CloudTrail writes it: UTC, to the second (`2026-11-27T10:00:00Z`).
/// Written digit by digit: every request needs one.
pub fn event_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let year = u32::try_from(t.year().clamp(0, 9999)).unwrap_or_default();
    let mut text = *b"0000-00-00T00:00:00Z";
    for (at, width, value) in [
        (0, 4, year),
        (5, 2, u32::from(u8::from(t.month()))),
        (8, 2, u32::from(t.day())),
        (11, 2, u32::from(t.hour())),
        (14, 2, u32::from(t.minute())),
        (17, 2, u32::from(t.second())),
    ] {
        let mut rest = value;
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// One audited event (CloudTrail `eventVersion` 1.08 shape). `AuditEvent<'static>` is one
/// read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent<'a> {
    pub event_version: Text,
    pub user_identity: UserIdentity<'a>,
    /// `2026-11-27T10:00:00Z` ([`event_time`]).
    pub event_time: String,
    pub event_source: Text,
    pub event_name: Text,
    pub aws_region: Borrowed<'a>,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Borrowed<'a>,
    pub user_agent: Borrowed<'a>,
    /// What the request asked, as [`Members`] record it.
    pub request_parameters: Option<Members>,
    /// What a change answered, as [`Members`] record it (never an answer carrying secret
    /// material); for a service event, its details.
    pub response_elements: Option<Members>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<Borrowed<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<Borrowed<'a>>,
    #[serde(rename = "requestID")]
    pub request_id: Borrowed<'a>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource<'a>>,
    /// `AwsApiCall` for requests, `AwsServiceEvent` for what the service does by itself.
    pub event_type: Text,
    pub management_event: bool,
    pub recipient_account_id: Borrowed<'a>,
    pub event_category: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    /// `IAMUser`, `AssumedRole`, `AWSService`, or `Unknown` for unauthenticated requests.
    #[serde(rename = "type")]
    pub kind: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<Borrowed<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<Borrowed<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<Borrowed<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Borrowed<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<Borrowed<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource<'a> {
    #[serde(rename = "ARN")]
    pub arn: Borrowed<'a>,
    #[serde(rename = "accountId")]
    pub account_id: Borrowed<'a>,
    #[serde(rename = "type")]
    pub kind: Text,
}

/// The name of the secret a full secret ARN (`arn:…:secret:NAME-AbCdEf`) names: what follows
/// `:secret:`, less the random suffix. A resource's ARN is always full: the service
/// resolved it.
pub fn secret_name_of_arn(arn: &str) -> &str {
    let name = arn.split_once(":secret:").map_or(arn, |(_, name)| name);
    match name.len().checked_sub(7) {
        Some(cut) if name.as_bytes()[cut] == b'-' => &name[..cut],
        _ => name,
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

impl AuditEvent<'_> {
    /// Appends the event's JSON to `out`: byte for byte what `serde_json` writes of it (a
    /// test holds the two together), in a fraction of the time, as every request needs it:
    /// member names are written as constants, and strings in one piece unless they need
    /// escapes.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        let mut e = Object::new(out);
        e.str("eventVersion", &self.event_version);
        e.name("userIdentity");
        let id = &self.user_identity;
        let mut u = Object::new(e.out);
        u.str("type", &id.kind);
        u.opt_str("principalId", id.principal_id.as_deref());
        u.opt_str("arn", id.arn.as_deref());
        u.opt_str("accountId", id.account_id.as_deref());
        u.opt_str("accessKeyId", id.access_key_id.as_deref());
        u.opt_str("userName", id.user_name.as_deref());
        u.opt_str("invokedBy", id.invoked_by.as_deref());
        u.end();
        e.str("eventTime", &self.event_time);
        e.str("eventSource", &self.event_source);
        e.str("eventName", &self.event_name);
        e.str("awsRegion", &self.aws_region);
        e.str("sourceIPAddress", &self.source_ip_address);
        e.str("userAgent", &self.user_agent);
        e.members("requestParameters", self.request_parameters.as_ref());
        e.members("responseElements", self.response_elements.as_ref());
        e.opt_str("errorCode", self.error_code.as_deref());
        e.opt_str("errorMessage", self.error_message.as_deref());
        e.str("requestID", &self.request_id);
        e.str("eventID", &self.event_id);
        e.bool("readOnly", self.read_only);
        if !self.resources.is_empty() {
            e.name("resources");
            e.out.push(b'[');
            for (i, r) in self.resources.iter().enumerate() {
                if i > 0 {
                    e.out.push(b',');
                }
                let mut o = Object::new(e.out);
                o.str("ARN", &r.arn);
                o.str("accountId", &r.account_id);
                o.str("type", &r.kind);
                o.end();
            }
            e.out.push(b']');
        }
        e.str("eventType", &self.event_type);
        e.bool("managementEvent", self.management_event);
        e.str("recipientAccountId", &self.recipient_account_id);
        e.str("eventCategory", &self.event_category);
        e.end();
    }
}

/// A JSON object being written member by member, compact, as `serde_json` writes it.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// A member's name (a constant: never escaped), and the colon.
    fn name(&mut self, name: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, name: &str, value: &str) {
        self.name(name);
        push_str(self.out, value);
    }

    fn opt_str(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(name, value);
        }
    }

    fn bool(&mut self, name: &str, value: bool) {
        self.name(name);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn members(&mut self, name: &str, value: Option<&Members>) {
        self.name(name);
        self.out
            .extend_from_slice(value.map_or("null", Members::as_str).as_bytes());
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// A JSON string: copied in one piece unless it holds a character JSON escapes, which
/// `serde_json` then escapes as it always does.
fn push_str(out: &mut Vec<u8>, value: &str) {
    if needs_escape(value.as_bytes()) {
        // Writing to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
    } else {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// Holds a quote, a backslash or a control character. Looks at 16 bytes at a time without
/// stopping inside them, which compiles to vector compares.
fn needs_escape(bytes: &[u8]) -> bool {
    let escaped = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |hit, &b| hit | escaped(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| escaped(b))
}

impl Recorded {
    pub(crate) fn new(event: AuditEvent<'_>, time: time::OffsetDateTime) -> Self {
        let service_event = event.event_type == SERVICE_EVENT_TYPE;
        let [secret_id, secret_id_list] = event
            .request_parameters
            .as_ref()
            .map_or([None; 2], |r| r.find(["secretId", "secretIdList"]));
        let reason = event
            .response_elements
            .as_ref()
            .filter(|_| service_event)
            .and_then(|details| details.get("reason"));
        Self {
            time,
            event_name: event.event_name,
            service_event,
            principal: event.user_identity.arn.map(Cow::into_owned),
            region: event.aws_region.into_owned(),
            secret_arns: event
                .resources
                .into_iter()
                .map(|r| r.arn.into_owned())
                .collect(),
            secret_id: read(secret_id),
            secret_id_list: read(secret_id_list).unwrap_or_default(),
            error_code: event.error_code.map(Cow::into_owned),
            reason,
        }
    }
}

impl AuditEvent<'_> {
    /// The secret ARNs this event names, for queries.
    pub fn secret_arns(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().map(|r| r.arn.as_ref())
    }

    /// The `secretId` the request named, if any.
    pub fn secret_id(&self) -> Option<String> {
        self.request_parameters.as_ref()?.get("secretId")
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn event_times_are_utc_to_the_second() {
        assert_eq!(
            event_time(datetime!(2026-03-06 21:22:54.987654321 UTC)),
            "2026-03-06T21:22:54Z"
        );
        assert_eq!(
            event_time(datetime!(0999-12-31 23:59:59 -01:00)),
            "1000-01-01T00:59:59Z"
        );
        assert_eq!(
            event_time(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05Z"
        );
    }

    /// A request's event with every member set, its strings in need of every kind of escape.
    fn full_event() -> AuditEvent<'static> {
        let mut e = crate::service_event(
            "123456789012",
            datetime!(2026-11-27 10:00:00 UTC),
            "Probe",
            serde_json::json!({"reason": "a \"quoted\" reason", "n": [1, 2.5, null]}),
        );
        e.user_identity = UserIdentity {
            kind: "IAMUser".into(),
            principal_id: Some("AKIAEXAMPLE".into()),
            arn: Some("arn:aws:iam::123456789012:user/asset-sync".into()),
            account_id: Some("123456789012".into()),
            access_key_id: Some("AKIAEXAMPLE".into()),
            user_name: Some("asset-sync".into()),
            invoked_by: None,
        };
        e.user_agent = "agent/1.0 \\ \u{1} \t é 🦀 \u{7f} ".repeat(5).into();
        e.request_parameters = Members::sanitize(br#"{"SecretId":"a\u0000b","Tags":[]}"#);
        e.error_code = Some("AccessDeniedException".into());
        e.error_message = Some("not \"allowed\"\n".into());
        e.resources = vec![
            Resource {
                arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf".into(),
                account_id: "123456789012".into(),
                kind: "AWS::SecretsManager::Secret".into(),
            };
            2
        ];
        e
    }

    #[test]
    fn written_json_is_what_serde_json_writes() {
        let full = full_event();
        let mut unknown = full.clone();
        unknown.user_identity = UserIdentity {
            kind: "Unknown".into(),
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: None,
            user_name: None,
            invoked_by: None,
        };
        unknown.request_parameters = None;
        unknown.error_code = None;
        unknown.error_message = None;
        unknown.resources.clear();
        let service = crate::service_event(
            "123456789012",
            datetime!(2026-11-27 10:00:00 UTC),
            "AuditLogsPruned",
            serde_json::json!({}),
        );
        // Each character JSON escapes, alone in a string (and some it does not).
        let alone = ['"', '\\', '\u{0}', '\n', '\u{1f}', ' ', '\u{7f}', 'é', '🦀'].map(|c| {
            let mut e = unknown.clone();
            e.user_agent = format!("ab{c}cd").into();
            e
        });
        for event in [full, unknown, service].into_iter().chain(alone) {
            let mut written = Vec::new();
            event.write_json(&mut written);
            let expected = serde_json::to_vec(&event).expect("serializes");
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&expected)
            );
            let back: AuditEvent<'static> = serde_json::from_slice(&written).expect("reads back");
            assert_eq!(back, event);
        }
    }
}
