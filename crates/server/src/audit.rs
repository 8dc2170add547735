//! One audit record per request: who, what, where from, with which parameters and outcome —
//! never a secret value (request and response members holding one are dropped, and the
//! responses of value-returning operations are not recorded at all, as CloudTrail does).

use s9_audit::{AuditEvent, Members, Resource, Text, UserIdentity};
use s9_wire::{ApiError, Operation};
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
    pub(crate) source_ip: &'a str,
    pub(crate) user_agent: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) outcome: Result<&'a [u8], &'a ApiError>,
}

/// `x`'s record, borrowing from it: building it copies none of the request.
/// `secrets` are the resolved ARNs of the secrets a read returned (a batch: one each); they
/// move into the record's `resources`.
pub(crate) fn event<'a>(
    x: &Exchange<'a>,
    secrets: Vec<String>,
    account_id: &'a str,
    now: OffsetDateTime,
) -> AuditEvent<'a> {
    // The members the operation read, as it read them; nothing of the body of a request
    // no known key signed (whoever sent it, it must not be able to fill the trail with it).
    let request_parameters = match (x.principal, x.op) {
        (None, _) => None,
        (Some(_), Some(op)) => Members::sanitize_request(x.body, op.request_members()),
        (Some(_), None) => Members::sanitize(x.body),
    };
    let (response_elements, error_code, error_message) = match x.outcome {
        // Like CloudTrail, responses are recorded for changes only (and never when they
        // carry secret material).
        Ok(_)
            if x.op
                .is_none_or(|op| op.returns_secret() || op.is_read_only()) =>
        {
            (None, None, None)
        }
        Ok(body) => (Members::sanitize(body), None, None),
        Err(e) => (
            None,
            Some(e.code.as_str().into()),
            Some(e.message.as_str().into()),
        ),
    };
    // A change answers with the ARN it resolved (the id as given is never a resource).
    let arn = response_elements
        .as_ref()
        .and_then(|r| r.get::<String>("aRN"));
    let resource = |arn: Text| Resource {
        arn,
        account_id: account_id.into(),
        kind: "AWS::SecretsManager::Secret".into(),
    };
    // What a read returned, resolved by the service; else the ARN a change answered with.
    let resources = if secrets.is_empty() {
        arn.map(|arn| resource(arn.into())).into_iter().collect()
    } else {
        secrets
            .into_iter()
            .map(|arn| resource(Text::Owned(arn)))
            .collect()
    };
    let user_identity = match x.principal {
        Some(p) => {
            let user_name = p.user_name.as_deref().map(Into::into);
            UserIdentity {
                kind: if user_name.is_some() {
                    "IAMUser"
                } else {
                    "AssumedRole"
                }
                .into(),
                principal_id: Some(p.access_key_id.as_str().into()),
                arn: Some(p.arn.as_str().into()),
                account_id: Some(account_id.into()),
                access_key_id: Some(p.access_key_id.as_str().into()),
                user_name,
                invoked_by: None,
            }
        }
        None => UserIdentity {
            kind: "Unknown".into(),
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: x.access_key_id.map(Into::into),
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
        event_time: s9_audit::event_time(now),
        event_source: "secretsmanager.amazonaws.com".into(),
        event_name,
        aws_region: x.region.unwrap_or_default().into(),
        source_ip_address: x.source_ip.into(),
        user_agent: x.user_agent.into(),
        request_parameters,
        response_elements,
        error_code,
        error_message,
        request_id: x.request_id.into(),
        event_id: s9_audit::new_id(),
        read_only: x.op.is_some_and(Operation::is_read_only),
        resources,
        event_type: "AwsApiCall".into(),
        management_event: true,
        recipient_account_id: account_id.into(),
        event_category: "Management".into(),
    }
}
