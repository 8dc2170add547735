//! What policy evaluation adds to a request: the Signal9 reader deciding GetSecretValue on
//! the API-credentials secret, with the example resource policy attached, and the context
//! layered as the server builds it.

use criterion::{Criterion, criterion_group, criterion_main};
use s9_policy::{
    Context, ContextSource, Layered, NamedPolicy, Policy, PolicyKind, Request, evaluate,
};
use std::hint::black_box;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/signal9");
const SECRET: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:signal9-advisor/api-credentials-AbCdEf";

fn load(path: &str, kind: PolicyKind) -> Policy {
    let text = std::fs::read_to_string(format!("{EXAMPLE}/{path}")).expect("example policy");
    Policy::parse(&text, kind).expect("valid policy")
}

fn bench(c: &mut Criterion) {
    let identity = vec![NamedPolicy {
        name: "reader".into(),
        policy: load("policies/reader.json", PolicyKind::Identity),
    }];
    let resource = load("resource-policy.json", PolicyKind::Resource);
    let mut principal = Context::new();
    principal
        .set(
            "aws:PrincipalArn",
            "arn:aws:iam::123456789012:role/asset-sync",
        )
        .set("aws:PrincipalAccount", "123456789012");
    let mut request = Context::new();
    request
        .set("aws:SourceIp", "127.0.0.1")
        .set("aws:CurrentTime", "2026-11-27T10:00:00Z")
        .set("aws:EpochTime", "1795780800")
        .set("aws:SecureTransport", "false");
    let mut secret = Context::new();
    secret
        .set("secretsmanager:ResourceTag/Project", "Signal9Advisor")
        .set("aws:ResourceTag/Project", "Signal9Advisor");
    let keys = Context::new();

    let mut decide = |name: &str, action: &str| {
        c.bench_function(name, |b| {
            b.iter(|| {
                let layers: [&dyn ContextSource; 4] = [&keys, &secret, &request, &principal];
                let context = Layered(&layers);
                let req = Request {
                    principal_arn: "arn:aws:iam::123456789012:role/asset-sync",
                    action,
                    resource: SECRET,
                    context: &context,
                };
                black_box(evaluate(
                    black_box(&identity),
                    Some(black_box(&resource)),
                    &req,
                ))
            });
        });
    };
    decide(
        "signal9 reader GetSecretValue (allowed, with resource policy)",
        "secretsmanager:GetSecretValue",
    );
    decide(
        "signal9 reader TagResource (explicit deny)",
        "secretsmanager:TagResource",
    );
    c.bench_function("parse the reader policy", |b| {
        let text =
            std::fs::read_to_string(format!("{EXAMPLE}/policies/reader.json")).expect("policy");
        b.iter(|| black_box(Policy::parse(black_box(&text), PolicyKind::Identity)));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
