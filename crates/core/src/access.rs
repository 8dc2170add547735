//! Who is calling, and whether they may: every operation asks [`Service::authorize`] before
//! it reads or changes anything. Decisions come from `s9-policy`: the caller's identity
//! policies and the secret's resource policy, with the request's condition keys.

use std::sync::Arc;

use s9_policy::{Context, Decision, Layered, NamedPolicy, Policy, PolicyKind, Request};
use s9_wire::{ApiError, ErrorCode};

use crate::record::SecretRecord;

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal_arn: String,
    /// The caller's identity policies.
    pub policies: Arc<[NamedPolicy]>,
    /// Condition keys of the principal (`aws:PrincipalArn`, `aws:PrincipalTag/*`, …),
    /// shared by all its requests.
    pub principal_context: Arc<Context>,
    /// Condition keys of this request (`aws:SourceIp`, `aws:CurrentTime`,
    /// `aws:SecureTransport`, …).
    pub request_context: Context,
}

impl Caller {
    /// A caller allowed everything by an `Allow * on *` identity policy (resource policies
    /// still apply), for tools and tests that run the service in-process.
    pub fn administrator(principal_arn: impl Into<String>) -> Self {
        Self {
            principal_arn: principal_arn.into(),
            policies: administrator_policies(),
            principal_context: Arc::new(Context::new()),
            request_context: Context::new(),
        }
    }
}

/// The identity policies of an administrator: allow everything.
pub fn administrator_policies() -> Arc<[NamedPolicy]> {
    const ADMIN: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Administrator","Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let policy = Policy::parse(ADMIN, PolicyKind::Identity)
        .unwrap_or_else(|e| unreachable!("the built-in administrator policy parses: {e}"));
    Arc::from(vec![NamedPolicy {
        name: "AdministratorAccess".into(),
        policy,
    }])
}

/// What a request acts on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// An existing secret.
    Secret(&'a SecretRecord, Option<&'a Policy>),
    /// A secret that does not exist (or not yet): its ARN or partial ARN.
    Named(&'a str),
    /// No particular resource (`*`).
    Account,
}

/// The condition keys a secret contributes: its tags, rotation function, primary region.
fn resource_context(record: &SecretRecord) -> Context {
    let mut c = Context::new();
    for (k, v) in record.tags.iter().flatten() {
        c.set(&format!("aws:ResourceTag/{k}"), v.clone());
        c.set(&format!("secretsmanager:ResourceTag/{k}"), v.clone());
    }
    if let Some(lambda) = &record.rotation.lambda_arn {
        c.set(
            "secretsmanager:resource/AllowRotationLambdaArn",
            lambda.clone(),
        );
    }
    let primary = record
        .primary_region
        .clone()
        .unwrap_or_else(|| record.region.clone());
    c.set("secretsmanager:SecretPrimaryRegion", primary);
    c
}

/// Decides whether `caller` may perform `action` on `target`; `keys` are the request's own
/// condition keys. A denial is AWS's AccessDeniedException and changes nothing.
pub(crate) fn authorize(
    caller: &Caller,
    action: &str,
    target: Target<'_>,
    keys: &Context,
) -> Result<(), ApiError> {
    let action = format!("secretsmanager:{action}");
    let (resource, resource_policy, resource_keys) = match target {
        Target::Secret(record, policy) => {
            (record.arn.as_str(), policy, Some(resource_context(record)))
        }
        Target::Named(arn) => (arn, None, None),
        Target::Account => ("*", None, None),
    };
    let empty = Context::new();
    let layers = [
        keys,
        resource_keys.as_ref().unwrap_or(&empty),
        &caller.request_context,
        &*caller.principal_context,
    ];
    let context = Layered(&layers);
    let request = Request {
        principal_arn: &caller.principal_arn,
        action: &action,
        resource,
        context: &context,
    };
    let decision = s9_policy::evaluate(&caller.policies, resource_policy, &request);
    match &decision {
        Decision::Allow(_) => Ok(()),
        _ => {
            tracing::info!(principal = caller.principal_arn, action, resource, decision = ?decision, "access denied");
            Err(ApiError::new(
                ErrorCode::AccessDenied,
                decision.denial_message(&request),
            ))
        }
    }
}
