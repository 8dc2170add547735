//! Who is calling, and whether they may: every operation asks [`authorize`] before it reads
//! or changes anything. Decisions come from `s9-policy`: the caller's identity policies and
//! the secret's resource policy, with the request's condition keys.
//!
//! Condition keys are looked up in layers — the operation's own keys, the secret's, the
//! principal's, the request's — and the costly ones are computed only when a policy asks.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use s9_policy::{
    Context, ContextSource, Decision, Layered, NamedPolicy, Policy, PolicyKind, Request,
};
use s9_wire::{ApiError, ErrorCode};
use time::OffsetDateTime;

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
    /// Condition keys of this request.
    pub request: RequestKeys,
}

impl Caller {
    /// A caller allowed everything by an `Allow * on *` identity policy (resource policies
    /// still apply), for tools and tests that run the service in-process.
    pub fn administrator(principal_arn: impl Into<String>) -> Self {
        Self {
            principal_arn: principal_arn.into(),
            policies: administrator_policies(),
            principal_context: Arc::new(Context::new()),
            request: RequestKeys::new(None, OffsetDateTime::UNIX_EPOCH, String::new(), None, false),
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

/// No secret material: IAM condition keys.
/// The request's global condition keys (`aws:SourceIp`, `aws:CurrentTime`,
/// `aws:EpochTime`, `aws:SecureTransport`, `aws:RequestedRegion`, `aws:UserAgent`), built
/// the first time a policy looks one up.
#[derive(Debug, Clone)]
pub struct RequestKeys {
    source_ip: Option<IpAddr>,
    time: OffsetDateTime,
    region: String,
    user_agent: Option<String>,
    /// The request came over TLS.
    secure: bool,
    built: OnceLock<Context>,
}

impl RequestKeys {
    pub fn new(
        source_ip: Option<IpAddr>,
        time: OffsetDateTime,
        region: String,
        user_agent: Option<String>,
        secure: bool,
    ) -> Self {
        Self {
            source_ip,
            time,
            region,
            user_agent,
            secure,
            built: OnceLock::new(),
        }
    }

    fn build(&self) -> Context {
        let mut keys = Context::new();
        if let Some(ip) = self.source_ip {
            keys.set("aws:SourceIp", ip.to_string());
        }
        keys.set(
            "aws:CurrentTime",
            self.time
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        );
        keys.set("aws:EpochTime", self.time.unix_timestamp().to_string());
        keys.set("aws:SecureTransport", self.secure.to_string());
        if !self.region.is_empty() {
            keys.set("aws:RequestedRegion", self.region.clone());
        }
        if let Some(agent) = &self.user_agent {
            keys.set("aws:UserAgent", agent.clone());
        }
        keys
    }
}

impl ContextSource for RequestKeys {
    fn values(&self, key_lower: &str) -> Option<&[String]> {
        self.built.get_or_init(|| self.build()).values(key_lower)
    }
}

/// The condition keys a secret contributes, read straight from its record: its tags
/// (`aws:ResourceTag/*`, `secretsmanager:ResourceTag/*`), rotation function
/// (`secretsmanager:resource/AllowRotationLambdaArn`) and primary region.
struct ResourceKeys<'a>(&'a SecretRecord);

impl ContextSource for ResourceKeys<'_> {
    fn values(&self, key_lower: &str) -> Option<&[String]> {
        let record = self.0;
        let tag = key_lower
            .strip_prefix("aws:resourcetag/")
            .or_else(|| key_lower.strip_prefix("secretsmanager:resourcetag/"));
        if let Some(tag) = tag {
            return record
                .tags
                .iter()
                .flatten()
                .find(|(k, _)| k.eq_ignore_ascii_case(tag))
                .map(|(_, v)| std::slice::from_ref(v));
        }
        match key_lower {
            "secretsmanager:resource/allowrotationlambdaarn" => record
                .rotation
                .lambda_arn
                .as_ref()
                .map(std::slice::from_ref),
            "secretsmanager:secretprimaryregion" => Some(std::slice::from_ref(
                record.primary_region.as_ref().unwrap_or(&record.region),
            )),
            _ => None,
        }
    }
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

/// Decides whether `caller` may perform `action` (`secretsmanager:GetSecretValue`) on
/// `target`; `keys` are the operation's own condition keys. A denial is AWS's
/// AccessDeniedException and changes nothing.
pub(crate) fn authorize(
    caller: &Caller,
    action: &str,
    target: Target<'_>,
    keys: &Context,
) -> Result<(), ApiError> {
    authorize_decided(caller, action, target, keys, None)
}

/// [`authorize`], with a denial naming the resource `shown` (the id as the caller gave it)
/// instead of the resolved ARN.
pub(crate) fn authorize_as(
    caller: &Caller,
    action: &str,
    target: Target<'_>,
    keys: &Context,
    shown: &str,
) -> Result<(), ApiError> {
    authorize_decided(caller, action, target, keys, Some(shown))
}

fn authorize_decided(
    caller: &Caller,
    action: &str,
    target: Target<'_>,
    keys: &Context,
    shown: Option<&str>,
) -> Result<(), ApiError> {
    let (resource, resource_policy, record) = match target {
        Target::Secret(record, policy) => (record.arn.as_str(), policy, Some(record)),
        Target::Named(arn) => (arn, None, None),
        Target::Account => ("*", None, None),
    };
    let resource_keys = record.map(ResourceKeys);
    let empty = Context::new();
    let resource_layer: &dyn ContextSource = match &resource_keys {
        Some(r) => r,
        None => &empty,
    };
    let layers: [&dyn ContextSource; 4] = [
        keys,
        resource_layer,
        &*caller.principal_context,
        &caller.request,
    ];
    let context = Layered(&layers);
    let request = Request {
        principal_arn: &caller.principal_arn,
        action,
        resource,
        context: &context,
    };
    let decision = s9_policy::evaluate(&caller.policies, resource_policy, &request);
    match &decision {
        Decision::Allow(_) => Ok(()),
        _ => {
            tracing::info!(principal = caller.principal_arn, action, resource, decision = ?decision, "access denied");
            let told = Request {
                resource: shown.unwrap_or(resource),
                ..request
            };
            Err(ApiError::new(
                ErrorCode::AccessDenied,
                decision.denial_message(&told),
            ))
        }
    }
}
