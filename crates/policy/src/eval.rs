//! Policy evaluation within one account, as AWS documents it: an explicit Deny in any
//! policy wins; otherwise an Allow in an identity policy or in the resource's policy allows;
//! otherwise the request is implicitly denied.

use std::collections::HashMap;
use std::fmt;

use crate::document::{Effect, Policy, PrincipalSpec, Statement};
use crate::pattern;

/// The request context: condition keys (matched case-insensitively) and their values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context(HashMap<String, Vec<String>>);

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to one value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets `key` to several values (a multivalued key such as `aws:TagKeys`).
    pub fn set_all(&mut self, key: &str, values: impl IntoIterator<Item = String>) -> &mut Self {
        self.0
            .insert(key.to_ascii_lowercase(), values.into_iter().collect());
        self
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.0.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }

    pub fn extend(&mut self, other: &Context) {
        for (k, v) in &other.0 {
            self.0.insert(k.clone(), v.clone());
        }
    }

    /// Every key and its values, sorted by key.
    pub fn entries(&self) -> Vec<(&str, &[String])> {
        let mut out: Vec<(&str, &[String])> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        out.sort_unstable();
        out
    }
}

/// Where condition keys are looked up. A request's context is usually layered: the
/// principal's keys, the request's, the resource's.
pub trait ContextSource {
    /// The values of `key_lower` (an ASCII-lowercased key name), if present.
    fn values(&self, key_lower: &str) -> Option<&[String]>;
}

impl ContextSource for Context {
    fn values(&self, key_lower: &str) -> Option<&[String]> {
        self.0.get(key_lower).map(Vec::as_slice)
    }
}

/// Several contexts searched in order; the first that has a key answers.
#[derive(Clone, Copy)]
pub struct Layered<'a>(pub &'a [&'a dyn ContextSource]);

impl fmt::Debug for Layered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Layered({} layers)", self.0.len())
    }
}

impl ContextSource for Layered<'_> {
    fn values(&self, key_lower: &str) -> Option<&[String]> {
        self.0.iter().find_map(|c| c.values(key_lower))
    }
}

/// What is asked: who does what to which resource.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub principal_arn: &'a str,
    /// `secretsmanager:GetSecretValue`.
    pub action: &'a str,
    /// The resource's ARN, or `*` for actions on no resource.
    pub resource: &'a str,
    pub context: &'a dyn ContextSource,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("principal_arn", &self.principal_arn)
            .field("action", &self.action)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// Which policy a deciding statement belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An identity policy, by the name it was attached under.
    Identity(String),
    /// The resource's own policy.
    Resource,
}

/// The statement that decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub source: Source,
    pub statement: usize,
    pub sid: Option<String>,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Identity(name) => write!(f, "identity policy {name}")?,
            Source::Resource => f.write_str("the resource policy")?,
        }
        write!(f, ", Statement[{}]", self.statement)?;
        if let Some(sid) = &self.sid {
            write!(f, " (Sid {sid})")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Reason),
    ExplicitDeny(Reason),
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow(_))
    }

    /// AWS's AccessDenied message for this decision.
    pub fn denial_message(&self, req: &Request<'_>) -> String {
        let head = format!(
            "User: {} is not authorized to perform: {} on resource: {}",
            req.principal_arn, req.action, req.resource
        );
        match self {
            Self::ExplicitDeny(Reason {
                source: Source::Resource,
                ..
            }) => format!("{head} with an explicit deny in a resource-based policy"),
            Self::ExplicitDeny(_) => {
                format!("{head} with an explicit deny in an identity-based policy")
            }
            _ => format!(
                "{head} because no identity-based policy allows the {} action",
                req.action
            ),
        }
    }
}

/// An identity policy with the name it is attached under.
#[derive(Debug, Clone)]
pub struct NamedPolicy {
    pub name: String,
    pub policy: Policy,
}

/// Decides `req` against the principal's identity policies and the resource's policy.
pub fn evaluate(
    identity: &[NamedPolicy],
    resource: Option<&Policy>,
    req: &Request<'_>,
) -> Decision {
    // Sources are named only for the statement that decides: no allocation per statement.
    let mut allow: Option<(Option<&str>, &Statement)> = None;
    let identity_statements = identity.iter().flat_map(|p| {
        p.policy
            .statements
            .iter()
            .map(move |s| (Some(p.name.as_str()), s))
    });
    let resource_statements = resource
        .into_iter()
        .flat_map(|p| p.statements.iter().map(|s| (None, s)));
    let reason = |source: Option<&str>, s: &Statement| Reason {
        source: source.map_or(Source::Resource, |n| Source::Identity(n.to_owned())),
        statement: s.index,
        sid: s.sid.clone(),
    };
    for (source, statement) in identity_statements.chain(resource_statements) {
        if !applies(statement, req, source.is_none()) {
            continue;
        }
        match statement.effect {
            Effect::Deny => return Decision::ExplicitDeny(reason(source, statement)),
            Effect::Allow => {
                if allow.is_none() {
                    allow = Some((source, statement));
                }
            }
        }
    }
    allow.map_or(Decision::ImplicitDeny, |(source, s)| {
        Decision::Allow(reason(source, s))
    })
}

fn applies(s: &Statement, req: &Request<'_>, resource_policy: bool) -> bool {
    let action_hit = s
        .action
        .values
        .iter()
        .any(|p| pattern::matches_ignore_case(p, req.action));
    if action_hit == s.action.negated {
        return false;
    }
    if let Some(resource) = &s.resource {
        let hit = resource
            .values
            .iter()
            .any(|p| pattern::arn_matches(p, req.resource));
        if hit == resource.negated {
            return false;
        }
    }
    if resource_policy {
        let Some(principal) = &s.principal else {
            return false;
        };
        if principal_matches(principal, req.principal_arn, s.effect) == principal.negated {
            return false;
        }
    }
    s.conditions.iter().all(|c| {
        c.operator
            .evaluate(&c.values, req.context.values(&c.key_lower))
    })
}

/// Whether a resource policy's `Principal` names the caller. Naming the caller's whole
/// account (its id or root ARN) delegates to the account's identity policies: it grants
/// nothing by itself, but a Deny naming the account applies to everyone in it.
fn principal_matches(spec: &PrincipalSpec, principal_arn: &str, effect: Effect) -> bool {
    if spec.everyone || spec.aws.iter().any(|a| a == principal_arn) {
        return true;
    }
    let account = principal_arn.split(':').nth(4).unwrap_or_default();
    let names_account = spec
        .aws
        .iter()
        .any(|a| a == account || *a == format!("arn:aws:iam::{account}:root"));
    names_account && effect == Effect::Deny
}
