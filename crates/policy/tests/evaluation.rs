//! Evaluation rules, and two properties: a Deny never turns a denial into an allow, and the
//! order of statements never changes a decision.

use proptest::prelude::*;
use s9_policy::{Context, Decision, NamedPolicy, Policy, PolicyKind, Request, Source, evaluate};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const SECRET: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:signal9-advisor/api-credentials-AbCdEf";
const READER: &str = "arn:aws:iam::123456789012:role/asset-sync";

fn identity(name: &str, doc: &Value) -> NamedPolicy {
    NamedPolicy {
        name: name.into(),
        policy: Policy::parse(&doc.to_string(), PolicyKind::Identity).expect("identity policy"),
    }
}

fn resource(doc: &Value) -> Policy {
    Policy::parse(&doc.to_string(), PolicyKind::Resource).expect("resource policy")
}

fn tagged() -> Context {
    let mut c = Context::new();
    c.set("secretsmanager:ResourceTag/Project", "Signal9Advisor")
        .set("aws:ResourceTag/Project", "Signal9Advisor");
    c
}

fn ask<'a>(action: &'a str, context: &'a Context) -> Request<'a> {
    Request {
        principal_arn: READER,
        action,
        resource: SECRET,
        context,
    }
}

fn reader_policy() -> NamedPolicy {
    identity(
        "reader",
        &json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "ReadApiKeys", "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": "arn:aws:secretsmanager:*:*:secret:signal9-advisor/*",
            "Condition": {"StringEquals": {"secretsmanager:ResourceTag/Project": "Signal9Advisor"}}
        }]}),
    )
}

#[test]
fn the_tag_condition_allows_only_tagged_secrets() {
    let tagged = tagged();
    let untagged = Context::new();
    let policies = [reader_policy()];
    let d = evaluate(
        &policies,
        None,
        &ask("secretsmanager:GetSecretValue", &tagged),
    );
    assert!(
        matches!(&d, Decision::Allow(r) if r.sid.as_deref() == Some("ReadApiKeys")),
        "{d:?}"
    );
    assert_eq!(
        evaluate(
            &policies,
            None,
            &ask("secretsmanager:GetSecretValue", &untagged)
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        evaluate(&policies, None, &ask("secretsmanager:TagResource", &tagged)),
        Decision::ImplicitDeny
    );
    assert!(
        evaluate(
            &policies,
            None,
            &ask("SecretsManager:getsecretvalue", &tagged)
        )
        .is_allowed(),
        "action names are case-insensitive"
    );
    let other = Request {
        resource: "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf",
        ..ask("secretsmanager:GetSecretValue", &tagged)
    };
    assert_eq!(evaluate(&policies, None, &other), Decision::ImplicitDeny);
}

#[test]
fn explicit_deny_wins_over_any_allow() {
    let tagged = tagged();
    let deny = identity(
        "deny",
        &json!({"Statement": {"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}}),
    );
    let policies = [reader_policy(), deny];
    let mut insecure = tagged.clone();
    insecure.set("aws:SecureTransport", "false");
    let d = evaluate(
        &policies,
        None,
        &ask("secretsmanager:GetSecretValue", &insecure),
    );
    assert!(
        matches!(&d, Decision::ExplicitDeny(r) if r.source == Source::Identity("deny".into())),
        "{d:?}"
    );
    assert!(
        d.denial_message(&ask("secretsmanager:GetSecretValue", &insecure))
            .ends_with("with an explicit deny in an identity-based policy")
    );
    let mut secure = tagged;
    secure.set("aws:SecureTransport", "true");
    assert!(
        evaluate(
            &policies,
            None,
            &ask("secretsmanager:GetSecretValue", &secure)
        )
        .is_allowed()
    );
}

#[test]
fn resource_policies_grant_named_principals_and_deny_accounts() {
    let empty = Context::new();
    let grant = resource(
        &json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": READER}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}),
    );
    let d = evaluate(
        &[],
        Some(&grant),
        &ask("secretsmanager:GetSecretValue", &empty),
    );
    assert!(
        matches!(&d, Decision::Allow(r) if r.source == Source::Resource),
        "{d:?}"
    );
    let account = resource(
        &json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "*"}}),
    );
    assert_eq!(
        evaluate(
            &[],
            Some(&account),
            &ask("secretsmanager:GetSecretValue", &empty)
        ),
        Decision::ImplicitDeny,
        "naming the account delegates to IAM"
    );
    let deny_account = resource(
        &json!({"Statement": {"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "secretsmanager:DeleteSecret"}}),
    );
    let admin = identity(
        "admin",
        &json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}),
    );
    let req = ask("secretsmanager:DeleteSecret", &empty);
    let d = evaluate(std::slice::from_ref(&admin), Some(&deny_account), &req);
    assert!(matches!(d, Decision::ExplicitDeny(_)));
    assert!(
        d.denial_message(&req)
            .ends_with("with an explicit deny in a resource-based policy")
    );
    assert!(
        evaluate(
            std::slice::from_ref(&admin),
            Some(&deny_account),
            &ask("secretsmanager:GetSecretValue", &empty)
        )
        .is_allowed()
    );
    let not_principal = resource(
        &json!({"Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:role/operator"}, "Action": "secretsmanager:PutResourcePolicy"}}),
    );
    assert!(matches!(
        evaluate(
            std::slice::from_ref(&admin),
            Some(&not_principal),
            &ask("secretsmanager:PutResourcePolicy", &empty)
        ),
        Decision::ExplicitDeny(_)
    ));
}

#[test]
fn not_action_and_not_resource() {
    let empty = Context::new();
    let policy = identity(
        "p",
        &json!({"Statement": [
            {"Effect": "Allow", "NotAction": ["secretsmanager:Delete*", "secretsmanager:*ResourcePolicy"], "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:secretsmanager:*:*:secret:signal9-advisor/*"}
        ]}),
    );
    let policies = [policy];
    assert!(
        evaluate(
            &policies,
            None,
            &ask("secretsmanager:GetSecretValue", &empty)
        )
        .is_allowed()
    );
    assert_eq!(
        evaluate(&policies, None, &ask("secretsmanager:DeleteSecret", &empty)),
        Decision::ImplicitDeny
    );
    let elsewhere = Request {
        resource: "arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf",
        ..ask("secretsmanager:GetSecretValue", &empty)
    };
    assert!(matches!(
        evaluate(&policies, None, &elsewhere),
        Decision::ExplicitDeny(_)
    ));
    let msg = Decision::ImplicitDeny.denial_message(&ask("secretsmanager:DeleteSecret", &empty));
    assert_eq!(
        msg,
        format!(
            "User: {READER} is not authorized to perform: secretsmanager:DeleteSecret on resource: {SECRET} because no identity-based policy allows the secretsmanager:DeleteSecret action"
        )
    );
}

// ---- properties ---------------------------------------------------------------------

const ACTIONS: [&str; 5] = [
    "secretsmanager:GetSecretValue",
    "secretsmanager:Get*",
    "secretsmanager:*",
    "secretsmanager:TagResource",
    "*",
];
const RESOURCES: [&str; 3] = [
    "*",
    "arn:aws:secretsmanager:*:*:secret:signal9-advisor/*",
    "arn:aws:secretsmanager:*:*:secret:other/*",
];
const REQUEST_ACTIONS: [&str; 3] = [
    "secretsmanager:GetSecretValue",
    "secretsmanager:TagResource",
    "secretsmanager:DeleteSecret",
];

fn statement() -> impl Strategy<Value = Value> {
    (any::<bool>(), 0..ACTIONS.len(), 0..RESOURCES.len(), any::<bool>(), 0..4usize).prop_map(|(allow, a, r, not_action, cond)| {
        let mut s = json!({"Effect": if allow { "Allow" } else { "Deny" }, "Resource": RESOURCES[r]});
        s[if not_action { "NotAction" } else { "Action" }] = json!(ACTIONS[a]);
        match cond {
            1 => s["Condition"] = json!({"StringEquals": {"secretsmanager:ResourceTag/Project": "Signal9Advisor"}}),
            2 => s["Condition"] = json!({"StringNotEqualsIfExists": {"aws:ResourceTag/Env": "prod"}}),
            3 => s["Condition"] = json!({"Null": {"aws:ResourceTag/Project": "true"}}),
            _ => {}
        }
        s
    })
}

fn policy_set() -> impl Strategy<Value = Vec<Vec<Value>>> {
    proptest::collection::vec(proptest::collection::vec(statement(), 1..5), 0..3)
}

fn build(sets: &[Vec<Value>]) -> Vec<NamedPolicy> {
    sets.iter()
        .enumerate()
        .map(|(i, statements)| identity(&format!("p{i}"), &json!({"Statement": statements})))
        .collect()
}

fn context(tagged: bool, env: Option<&str>) -> Context {
    let mut c = if tagged {
        self::tagged()
    } else {
        Context::new()
    };
    if let Some(env) = env {
        c.set("aws:ResourceTag/Env", env);
    }
    c
}

fn kind(d: &Decision) -> u8 {
    match d {
        Decision::Allow(_) => 0,
        Decision::ExplicitDeny(_) => 1,
        Decision::ImplicitDeny => 2,
    }
}

proptest! {
    /// Adding a Deny statement to any policy set never turns a denial into an allow.
    #[test]
    fn a_deny_never_allows(sets in policy_set(), deny in statement(), action in 0..REQUEST_ACTIONS.len(), tagged in any::<bool>(), env in proptest::option::of(prop_oneof![Just("prod"), Just("dev")])) {
        let ctx = context(tagged, env);
        let req = ask(REQUEST_ACTIONS[action], &ctx);
        let before = evaluate(&build(&sets), None, &req);
        let mut deny = deny;
        deny["Effect"] = json!("Deny");
        let mut more = sets.clone();
        more.push(vec![deny]);
        let after = evaluate(&build(&more), None, &req);
        prop_assert!(before.is_allowed() || !after.is_allowed(), "{before:?} became {after:?}");
    }

    /// The order of statements and of policies never changes the decision.
    #[test]
    fn order_never_matters(sets in policy_set(), action in 0..REQUEST_ACTIONS.len(), tagged in any::<bool>(), seed in any::<u64>()) {
        let ctx = context(tagged, None);
        let req = ask(REQUEST_ACTIONS[action], &ctx);
        let before = evaluate(&build(&sets), None, &req);
        let mut shuffled = sets.clone();
        shuffled.reverse();
        for (i, s) in shuffled.iter_mut().enumerate() {
            let n = s.len();
            s.rotate_left(((seed as usize) + i) % n.max(1));
        }
        let after = evaluate(&build(&shuffled), None, &req);
        prop_assert_eq!(kind(&before), kind(&after));
    }
}
