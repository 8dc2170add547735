//! Policy evaluation within one account, as AWS documents it: an explicit Deny in any
//! policy wins; otherwise an Allow in an identity policy or in the resource's policy allows;
//! otherwise the request is implicitly denied.

use std::borrow::Cow;
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
        let variables = p.policy.takes_variables();
        p.policy
            .statements
            .iter()
            .map(move |s| (Some(p.name.as_str()), s, variables))
    });
    let resource_statements = resource.into_iter().flat_map(|p| {
        let variables = p.takes_variables();
        p.statements.iter().map(move |s| (None, s, variables))
    });
    let reason = |source: Option<&str>, s: &Statement| Reason {
        source: source.map_or(Source::Resource, |n| Source::Identity(n.to_owned())),
        statement: s.index,
        sid: s.sid.clone(),
    };
    for (source, statement, variables) in identity_statements.chain(resource_statements) {
        if !applies(statement, req, source.is_none(), variables) {
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

/// Whether `s` applies to `req`; with `variables`, `${…}` in its Resource and Condition
/// values stand for the request's values ([`resolve`]).
fn applies(s: &Statement, req: &Request<'_>, resource_policy: bool, variables: bool) -> bool {
    let action_hit = s
        .action
        .values
        .iter()
        .any(|p| pattern::matches_ignore_case(p, req.action));
    if action_hit == s.action.negated {
        return false;
    }
    if let Some(resource) = &s.resource {
        let hit = resource.values.iter().any(|p| {
            if variables && p.contains("${") {
                resolve(p, req.context).is_some_and(|p| pattern::arn_matches(&p, req.resource))
            } else {
                pattern::arn_matches(p, req.resource)
            }
        });
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
        let actual = req.context.values(&c.key_lower);
        if variables && c.values.iter().any(|v| v.contains("${")) {
            // A value whose variable has no value matches nothing.
            let resolved: Vec<String> = c
                .values
                .iter()
                .filter_map(|v| resolve(v, req.context).map(Cow::into_owned))
                .collect();
            c.operator.evaluate(&resolved, actual)
        } else {
            c.operator.evaluate(&c.values, actual)
        }
    })
}

/// `text` with IAM's policy variables replaced: `${key}` by the request's single value of
/// the condition key (`${aws:username}`, `${aws:PrincipalTag/Team}`, `${aws:PrincipalAccount}`,
/// `${secretsmanager:…}`), `${key, 'default'}` by the default when the key has none, and
/// `${*}`, `${?}`, `${$}` by those characters. `None` when a variable has no single value
/// and no default: the element then matches nothing, as in IAM.
pub(crate) fn resolve<'t>(text: &'t str, context: &dyn ContextSource) -> Option<Cow<'t, str>> {
    if !text.contains("${") {
        return Some(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // No closing brace: not a variable.
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &after[..end];
        match inner {
            "*" | "?" | "$" => out.push_str(inner),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((key, default)) => {
                        let default = default.trim();
                        let quoted = default
                            .strip_prefix('\'')
                            .and_then(|d| d.strip_suffix('\''))?;
                        (key.trim(), Some(quoted))
                    }
                    None => (inner.trim(), None),
                };
                match (context.values(&key.to_ascii_lowercase()), default) {
                    (Some([value]), _) => out.push_str(value),
                    (_, Some(default)) => out.push_str(default),
                    _ => return None,
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
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

#[cfg(test)]
mod variable_tests {
    use super::*;
    use crate::{Policy, PolicyKind};

    fn context() -> Context {
        let mut c = Context::new();
        c.set("aws:username", "alice");
        c.set("aws:PrincipalTag/Team", "blue");
        c.set("aws:PrincipalAccount", "123456789012");
        c.set_all("aws:TagKeys", ["a".to_owned(), "b".to_owned()]);
        c
    }

    #[test]
    fn variables_resolve_escape_and_default() {
        let c = context();
        let r = |t: &str| resolve(t, &c).map(Cow::into_owned);
        assert_eq!(
            r("secret:${aws:username}/*").as_deref(),
            Some("secret:alice/*")
        );
        assert_eq!(r("${aws:principaltag/team}").as_deref(), Some("blue"));
        assert_eq!(r("a${*}b${?}c${$}d").as_deref(), Some("a*b?c$d"));
        assert_eq!(
            r("${aws:PrincipalTag/Missing, 'none'}").as_deref(),
            Some("none")
        );
        assert_eq!(r("${aws:PrincipalTag/Missing}"), None);
        // A multivalued key is no variable's value.
        assert_eq!(r("${aws:TagKeys}"), None);
        assert_eq!(r("no ${ closing").as_deref(), Some("no ${ closing"));
    }

    #[test]
    fn attribute_based_access_with_variables() {
        let policy = |version: &str| {
            NamedPolicy {
            name: "abac".into(),
            policy: Policy::parse(
                &format!(
                    r#"{{"Version":"{version}","Statement":[{{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:${{aws:PrincipalAccount}}:secret:*","Condition":{{"StringEquals":{{"secretsmanager:ResourceTag/Team":"${{aws:PrincipalTag/Team}}"}}}}}}]}}"#
                ),
                PolicyKind::Identity,
            )
            .expect("policy"),
        }
        };
        let decide = |tag: &str, version: &str| {
            let mut c = context();
            c.set("secretsmanager:ResourceTag/Team", tag);
            let req = Request {
                principal_arn: "arn:aws:iam::123456789012:user/alice",
                action: "secretsmanager:GetSecretValue",
                resource: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf",
                context: &c,
            };
            evaluate(&[policy(version)], None, &req).is_allowed()
        };
        assert!(decide("blue", "2012-10-17"));
        assert!(!decide("red", "2012-10-17"));
        // In a 2008 document the variables are literal text.
        assert!(!decide("blue", "2008-10-17"));
    }
}
