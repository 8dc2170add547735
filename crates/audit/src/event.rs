//! Audit records in CloudTrail's event format, so tools that read CloudTrail read ours.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::Members;

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

/// A found member, if it reads as a `T`.
fn read<T: serde::de::DeserializeOwned>(value: Option<&RawValue>) -> Option<T> {
    serde_json::from_str(value?.get()).ok()
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
}
