//! Who can reach an action on a secret: directly, or once the things its decision depends on
//! were changed — the secret's resource policy, the tags a condition reads, its rotation
//! function — by calls each allowed at its turn, whoever makes them. IAM Access Analyzer
//! answers the first question; the second is how the least-privilege example was broken
//! (an operator replaced the resource policy and read the keys).
//!
//! A breadth-first search over the secret's states: each call any principal is allowed to
//! make leads to a new state, up to [`Search::max_calls`] calls; a principal reaches the
//! action in the first state (the fewest calls) where it is allowed. Conditions on keys
//! the search does not know (source IP, time, …) see only what the caller supplies.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;

use crate::document::{Effect, Patterns, Policy, PrincipalSpec, Statement};
use crate::eval::{Context, ContextSource, Decision, Layered, NamedPolicy, Reason, Request};

/// A principal, as policies see it.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    /// Its name in the config.
    pub name: &'a str,
    pub arn: &'a str,
    pub policies: &'a [NamedPolicy],
    /// Its condition keys (`aws:PrincipalArn`, `aws:PrincipalTag/*`, …).
    pub context: &'a dyn ContextSource,
}

impl fmt::Debug for Actor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Actor")
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

/// The secret as its decisions see it now.
#[derive(Debug, Clone)]
pub struct Secret {
    pub arn: String,
    pub resource_policy: Option<Policy>,
    pub tags: BTreeMap<String, String>,
    /// The rotation function's ARN (`secretsmanager:resource/AllowRotationLambdaArn`).
    pub rotation_function: Option<String>,
}

/// A change to the secret one call makes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// Replaces the resource policy with one allowing every principal everything on the
    /// secret (a caller who may put a policy may put that one).
    PutResourcePolicy,
    DeleteResourcePolicy,
    TagResource {
        key: String,
        value: TagValue,
    },
    UntagResource {
        key: String,
    },
    /// Points the secret's rotation at another function.
    RotateSecret {
        function: String,
    },
}

/// A tag value a change sets: one a policy names, or any other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TagValue {
    Named(String),
    /// A value no policy names (what a `StringNotEquals` is met by).
    Other,
}

impl TagValue {
    /// What the condition keys hold for it: no policy pattern matches the text.
    fn as_key_value(&self) -> &str {
        match self {
            Self::Named(v) => v,
            Self::Other => "\u{0}s9-any-other-value",
        }
    }
}

impl fmt::Display for TagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(v) => f.write_str(v),
            Self::Other => f.write_str("(any other value)"),
        }
    }
}

impl Change {
    /// The IAM action of the call that makes it.
    pub fn action(&self) -> &'static str {
        match self {
            Self::PutResourcePolicy => "secretsmanager:PutResourcePolicy",
            Self::DeleteResourcePolicy => "secretsmanager:DeleteResourcePolicy",
            Self::TagResource { .. } => "secretsmanager:TagResource",
            Self::UntagResource { .. } => "secretsmanager:UntagResource",
            Self::RotateSecret { .. } => "secretsmanager:RotateSecret",
        }
    }

    /// The request's own condition keys, as the service sets them for the call.
    fn keys(&self) -> Context {
        let mut keys = Context::new();
        match self {
            Self::PutResourcePolicy => {
                // A policy naming principals is not public: BlockPublicPolicy lets it by.
                keys.set("secretsmanager:BlockPublicPolicy", "true");
            }
            Self::DeleteResourcePolicy => {}
            Self::TagResource { key, value } => {
                keys.set(&format!("aws:RequestTag/{key}"), value.as_key_value());
                keys.set("aws:TagKeys", key.clone());
            }
            Self::UntagResource { key } => {
                keys.set("aws:TagKeys", key.clone());
            }
            Self::RotateSecret { function } => {
                keys.set("secretsmanager:RotationLambdaARN", function.clone());
                keys.set("secretsmanager:ModifyRotationRules", "false");
                keys.set("secretsmanager:RotateImmediately", "true");
            }
        }
        keys
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action())?;
        match self {
            Self::PutResourcePolicy => f.write_str(" (a policy allowing everyone everything)"),
            Self::DeleteResourcePolicy => Ok(()),
            Self::TagResource { key, value } => write!(f, " {key}={value}"),
            Self::UntagResource { key } => write!(f, " {key}"),
            Self::RotateSecret { function } => write!(f, " RotationLambdaARN={function}"),
        }
    }
}

/// One call on the way: who makes it, and the statement that allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The principal's name.
    pub by: String,
    pub change: Change,
    pub allowed_by: Reason,
}

/// How a principal reaches the action: the calls before (none: it can as things are), and
/// the statement that then allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub calls: Vec<Call>,
    pub allowed_by: Reason,
}

/// The secret's resource policy in a state of the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PolicyState {
    Current,
    Granted,
    Removed,
}

/// What a secret's decisions depend on, in one state of the search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    policy: PolicyState,
    tags: BTreeMap<String, String>,
    function: Option<String>,
}

/// The condition keys a secret contributes in a state: its tags and rotation function.
struct ResourceKeys<'a>(&'a State);

impl ContextSource for ResourceKeys<'_> {
    fn values(&self, key_lower: &str) -> Option<&[String]> {
        let tag = key_lower
            .strip_prefix("aws:resourcetag/")
            .or_else(|| key_lower.strip_prefix("secretsmanager:resourcetag/"));
        if let Some(tag) = tag {
            return self
                .0
                .tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(tag))
                .map(|(_, v)| std::slice::from_ref(v));
        }
        match key_lower {
            "secretsmanager:resource/allowrotationlambdaarn" => {
                self.0.function.as_ref().map(std::slice::from_ref)
            }
            _ => None,
        }
    }
}

/// The search: which changes to try, and how many calls deep.
#[derive(Debug, Clone)]
pub struct Search {
    /// Tag keys and the values policies compare them with.
    tags: BTreeMap<String, BTreeSet<TagValue>>,
    /// Rotation functions a secret may be pointed at.
    functions: BTreeSet<String>,
    /// Keys every request carries (time, source IP, …), as the caller supplies them.
    context: Context,
    /// Calls before the action, at most.
    pub max_calls: usize,
}

/// Condition keys naming a tag, by prefix.
const TAG_KEYS: [&str; 3] = [
    "aws:resourcetag/",
    "secretsmanager:resourcetag/",
    "aws:requesttag/",
];

/// Condition keys naming a rotation function.
const FUNCTION_KEYS: [&str; 2] = [
    "secretsmanager:rotationlambdaarn",
    "secretsmanager:resource/allowrotationlambdaarn",
];

impl Search {
    /// Tries the tags and rotation functions `policies` name in their conditions, the
    /// secret's own tags, and `functions` (the rotation functions there are).
    pub fn new<'p>(
        policies: impl IntoIterator<Item = &'p Policy>,
        secret: &Secret,
        functions: impl IntoIterator<Item = String>,
        context: Context,
    ) -> Self {
        let mut tags: BTreeMap<String, BTreeSet<TagValue>> = BTreeMap::new();
        let mut found = functions.into_iter().collect::<BTreeSet<_>>();
        for condition in policies
            .into_iter()
            .flat_map(|p| &p.statements)
            .flat_map(|s| &s.conditions)
        {
            let lower = condition.key.to_ascii_lowercase();
            if let Some(prefix) = TAG_KEYS.iter().find(|p| lower.starts_with(*p)) {
                let key = condition.key[prefix.len()..].to_owned();
                tags.entry(key)
                    .or_default()
                    .extend(condition.values.iter().cloned().map(TagValue::Named));
            } else if FUNCTION_KEYS.contains(&lower.as_str()) {
                found.extend(condition.values.iter().cloned());
            }
        }
        for (key, value) in &secret.tags {
            tags.entry(key.clone())
                .or_default()
                .insert(TagValue::Named(value.clone()));
        }
        for values in tags.values_mut() {
            values.insert(TagValue::Other);
        }
        Self {
            tags,
            functions: found,
            context,
            max_calls: 3,
        }
    }

    /// How each of `actors` reaches `action` on `secret`, if it can within
    /// [`Search::max_calls`] calls; in the order of `actors`. Each principal makes the calls
    /// itself where it may (what it can do alone is the finding that matters most), and the
    /// others make the rest.
    pub fn reach(&self, actors: &[Actor<'_>], secret: &Secret, action: &str) -> Vec<Option<Path>> {
        let granted = grant_all(actors);
        actors
            .iter()
            .enumerate()
            .map(|(i, actor)| {
                let mut first = actors.to_vec();
                first[..=i].rotate_right(1);
                let states = self.explore(&first, secret, &granted);
                states.into_iter().find_map(|(state, calls)| {
                    match self.decide(actor, secret, &granted, &state, action, &Context::new()) {
                        Decision::Allow(allowed_by) => Some(Path { calls, allowed_by }),
                        _ => None,
                    }
                })
            })
            .collect()
    }

    /// Every state reachable within `max_calls` calls, with the fewest calls that reach it,
    /// fewest first.
    fn explore(
        &self,
        actors: &[Actor<'_>],
        secret: &Secret,
        granted: &Policy,
    ) -> Vec<(State, Vec<Call>)> {
        let start = State {
            policy: PolicyState::Current,
            tags: secret.tags.clone(),
            function: secret.rotation_function.clone(),
        };
        let mut seen = HashSet::from([start.clone()]);
        let mut queue = VecDeque::from([(start, Vec::new())]);
        let mut out = Vec::new();
        while let Some((state, calls)) = queue.pop_front() {
            if calls.len() < self.max_calls {
                for change in self.changes(&state, secret) {
                    let next = apply(&state, &change);
                    if seen.contains(&next) {
                        continue;
                    }
                    let keys = change.keys();
                    let by = actors.iter().find_map(|actor| {
                        match self.decide(actor, secret, granted, &state, change.action(), &keys) {
                            Decision::Allow(reason) => Some((actor.name, reason)),
                            _ => None,
                        }
                    });
                    if let Some((by, allowed_by)) = by {
                        seen.insert(next.clone());
                        let mut path = calls.clone();
                        path.push(Call {
                            by: by.to_owned(),
                            change,
                            allowed_by,
                        });
                        queue.push_back((next, path));
                    }
                }
            }
            out.push((state, calls));
        }
        out
    }

    /// The changes worth trying from `state`, the smallest first (of two paths as short,
    /// the one through a tag says more than the one through replacing the policy).
    fn changes(&self, state: &State, secret: &Secret) -> Vec<Change> {
        let mut out = Vec::new();
        for (key, values) in &self.tags {
            let current = state
                .tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str());
            for value in values {
                if current != Some(value.as_key_value()) {
                    out.push(Change::TagResource {
                        key: key.clone(),
                        value: value.clone(),
                    });
                }
            }
            if current.is_some() {
                out.push(Change::UntagResource { key: key.clone() });
            }
        }
        for function in &self.functions {
            if state.function.as_ref() != Some(function) {
                out.push(Change::RotateSecret {
                    function: function.clone(),
                });
            }
        }
        let has_policy = match state.policy {
            PolicyState::Current => secret.resource_policy.is_some(),
            PolicyState::Granted => true,
            PolicyState::Removed => false,
        };
        if has_policy {
            out.push(Change::DeleteResourcePolicy);
        }
        if state.policy != PolicyState::Granted {
            out.push(Change::PutResourcePolicy);
        }
        out
    }

    fn decide(
        &self,
        actor: &Actor<'_>,
        secret: &Secret,
        granted: &Policy,
        state: &State,
        action: &str,
        keys: &Context,
    ) -> Decision {
        let resource_policy = match state.policy {
            PolicyState::Current => secret.resource_policy.as_ref(),
            PolicyState::Granted => Some(granted),
            PolicyState::Removed => None,
        };
        let resource = ResourceKeys(state);
        let layers: [&dyn ContextSource; 4] = [keys, &resource, actor.context, &self.context];
        let context = Layered(&layers);
        let request = Request {
            principal_arn: actor.arn,
            action,
            resource: &secret.arn,
            context: &context,
        };
        crate::evaluate(actor.policies, resource_policy, &request)
    }
}

/// `state` after `change`.
fn apply(state: &State, change: &Change) -> State {
    let mut next = state.clone();
    match change {
        Change::PutResourcePolicy => next.policy = PolicyState::Granted,
        Change::DeleteResourcePolicy => next.policy = PolicyState::Removed,
        Change::TagResource { key, value } => {
            next.tags.retain(|k, _| !k.eq_ignore_ascii_case(key));
            next.tags
                .insert(key.clone(), value.as_key_value().to_owned());
        }
        Change::UntagResource { key } => next.tags.retain(|k, _| !k.eq_ignore_ascii_case(key)),
        Change::RotateSecret { function } => next.function = Some(function.clone()),
    }
    next
}

/// The resource policy [`Change::PutResourcePolicy`] puts: every principal may do
/// everything on the secret.
fn grant_all(actors: &[Actor<'_>]) -> Policy {
    Policy {
        version: Some("2012-10-17".into()),
        id: None,
        statements: vec![Statement {
            index: 0,
            sid: Some("PutByTheCallAbove".into()),
            effect: Effect::Allow,
            principal: Some(PrincipalSpec {
                aws: actors.iter().map(|a| a.arn.to_owned()).collect(),
                ..PrincipalSpec::default()
            }),
            action: Patterns {
                values: vec!["secretsmanager:*".into()],
                negated: false,
            },
            resource: Some(Patterns {
                values: vec!["*".into()],
                negated: false,
            }),
            conditions: Vec::new(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PolicyKind;

    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/key-AbCdEf";

    fn named(name: &str, json: &str) -> NamedPolicy {
        NamedPolicy {
            name: name.into(),
            policy: Policy::parse(json, PolicyKind::Identity).expect("identity policy"),
        }
    }

    struct Who {
        name: &'static str,
        arn: String,
        policies: Vec<NamedPolicy>,
        context: Context,
    }

    fn principal(name: &'static str, policies: Vec<NamedPolicy>) -> Who {
        let arn = format!("arn:aws:iam::123456789012:user/{name}");
        let mut context = Context::new();
        context.set("aws:PrincipalArn", arn.clone());
        Who {
            name,
            arn,
            policies,
            context,
        }
    }

    fn actors(who: &[Who]) -> Vec<Actor<'_>> {
        who.iter()
            .map(|w| Actor {
                name: w.name,
                arn: &w.arn,
                policies: &w.policies,
                context: &w.context,
            })
            .collect()
    }

    fn secret(policy: Option<&str>, tags: &[(&str, &str)]) -> Secret {
        Secret {
            arn: SECRET.into(),
            resource_policy: policy
                .map(|p| Policy::parse(p, PolicyKind::Resource).expect("resource policy")),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            rotation_function: None,
        }
    }

    fn reach(who: &[Who], secret: &Secret) -> Vec<Option<Vec<String>>> {
        let policies: Vec<&Policy> = who
            .iter()
            .flat_map(|w| w.policies.iter().map(|p| &p.policy))
            .chain(secret.resource_policy.as_ref())
            .collect();
        let search = Search::new(policies, secret, Vec::new(), Context::new());
        search
            .reach(&actors(who), secret, "secretsmanager:GetSecretValue")
            .into_iter()
            .map(|path| {
                path.map(|p| {
                    p.calls
                        .iter()
                        .map(|c| format!("{}: {}", c.by, c.change))
                        .collect()
                })
            })
            .collect()
    }

    const READ_IF_TAGGED: &str = r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"secretsmanager:ResourceTag/Team":"blue"}}}]}"#;
    const TAGGER: &str = r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:TagResource","Resource":"*"}]}"#;
    const POLICY_ADMIN: &str = r#"{"Statement":[{"Effect":"Allow","Action":["secretsmanager:PutResourcePolicy","secretsmanager:DeleteResourcePolicy"],"Resource":"*"}]}"#;
    const NEVER_READ: &str = r#"{"Statement":[{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    const ONLY_READER: &str = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/reader"}}}]}"#;

    #[test]
    fn a_reader_reaches_directly_and_others_through_tags_set_by_someone_else() {
        let who = [
            principal("reader", vec![named("read", READ_IF_TAGGED)]),
            principal("tagger", vec![named("tag", TAGGER)]),
            principal("nobody", Vec::new()),
        ];
        // Untagged: the reader reaches the value once the tagger tags it.
        let untagged = secret(None, &[]);
        assert_eq!(
            reach(&who, &untagged),
            [
                Some(vec![
                    "tagger: secretsmanager:TagResource Team=blue".to_owned()
                ]),
                None,
                None
            ]
        );
        let tagged = secret(None, &[("Team", "blue")]);
        assert_eq!(reach(&who, &tagged), [Some(vec![]), None, None]);
    }

    #[test]
    fn a_policy_writer_replaces_a_resource_policy_that_denies_it_unless_denied_itself() {
        let who = [
            principal("reader", vec![named("read", READ_IF_TAGGED)]),
            principal("admin", vec![named("policies", POLICY_ADMIN)]),
            principal(
                "operator",
                vec![named("policies", POLICY_ADMIN), named("never", NEVER_READ)],
            ),
        ];
        let s = secret(Some(ONLY_READER), &[("Team", "blue")]);
        assert_eq!(
            reach(&who, &s),
            [
                Some(vec![]),
                Some(vec![
                    "admin: secretsmanager:PutResourcePolicy (a policy allowing everyone everything)"
                        .to_owned()
                ]),
                // An explicit Deny in its own identity policy: no resource policy lifts it.
                None,
            ]
        );
    }

    #[test]
    fn a_condition_on_the_rotation_function_is_reached_by_pointing_the_rotation_at_it() {
        let read_if_rotated_by = r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"ArnEquals":{"secretsmanager:resource/AllowRotationLambdaArn":"arn:aws:lambda:us-east-1:123456789012:function:mine"}}}]}"#;
        let rotator = r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:RotateSecret","Resource":"*"}]}"#;
        let who = [principal(
            "sly",
            vec![named("read", read_if_rotated_by), named("rotate", rotator)],
        )];
        assert_eq!(
            reach(&who, &secret(None, &[])),
            [Some(vec![
                "sly: secretsmanager:RotateSecret RotationLambdaARN=arn:aws:lambda:us-east-1:123456789012:function:mine"
                    .to_owned()
            ])]
        );
    }

    #[test]
    fn a_deny_unless_tagged_is_met_by_any_other_value_and_chains_need_each_call_allowed() {
        // Reading is denied while Stage=prod; only `untagger` can change tags, and only by
        // untagging; `reader` then reads. Two principals, one call.
        let read = r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"},{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Stage":"prod"}}}]}"#;
        let untag = r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:UntagResource","Resource":"*"}]}"#;
        let who = [
            principal("reader", vec![named("read", read)]),
            principal("untagger", vec![named("untag", untag)]),
        ];
        assert_eq!(
            reach(&who, &secret(None, &[("Stage", "prod")])),
            [
                Some(vec![
                    "untagger: secretsmanager:UntagResource Stage".to_owned()
                ]),
                None
            ]
        );
        // With no call allowed to anyone, nothing changes.
        let alone = [principal("reader", vec![named("read", read)])];
        assert_eq!(reach(&alone, &secret(None, &[("Stage", "prod")])), [None]);
    }
}
