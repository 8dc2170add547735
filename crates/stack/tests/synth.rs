//! The synthesized template: byte-for-byte against a reviewed golden file, deterministic,
//! the spec's errors named; and the reader policy it deploys decides exactly as the policy
//! the local service enforces, over the Signal9 decision table (evaluated by s9-policy).

use std::path::{Path, PathBuf};

use s9_policy::{
    Context, ContextSource, Layered, NamedPolicy, Policy, PolicyKind, Request, evaluate,
};
use s9_stack::cfn::Expr;
use s9_stack::{StackSpec, reader_policy, synth};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/signal9")
}

fn spec() -> StackSpec {
    StackSpec::load(&example().join("signal9.toml")).expect("example spec")
}

fn rendered() -> String {
    serde_json::to_string_pretty(&synth(&spec()).expect("synth")).expect("json") + "\n"
}

#[test]
fn the_template_matches_the_golden_file_and_is_deterministic() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/signal9.template.json");
    let text = rendered();
    assert_eq!(text, rendered(), "two runs, two templates");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).expect("write golden");
    }
    let expected =
        std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 to create)");
    assert!(
        text == expected,
        "the template changed; review it and run with UPDATE_GOLDEN=1"
    );
}

#[test]
fn the_template_fixes_the_tickets_defects() {
    let t: serde_json::Value = serde_json::from_str(&rendered()).expect("json");
    let r = &t["Resources"];
    let secret = &r["ApiCredentialsSecret"]["Properties"];
    assert_eq!(
        secret["Tags"],
        serde_json::json!([{"Key": "Project", "Value": "Signal9Advisor"}])
    );
    assert!(secret.get("GenerateSecretString").is_none() && secret.get("SecretString").is_none());
    assert_eq!(
        r["RotationFunctionPermission"]["Properties"]["Principal"],
        "secretsmanager.amazonaws.com"
    );
    let steps = &r["RotationFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [0]["Action"];
    for action in [
        "GetSecretValue",
        "PutSecretValue",
        "UpdateSecretVersionStage",
        "DescribeSecret",
    ] {
        assert!(steps.to_string().contains(action), "{action}");
    }
    assert_eq!(
        r["ApiCredentialsRotationSchedule"]["Properties"]["RotateImmediatelyOnUpdate"],
        false
    );
    let trail = &r["AuditTrail"]["Properties"];
    assert_eq!(trail["EnableLogFileValidation"], true);
    assert_eq!(trail["IsMultiRegionTrail"], true);
    let filter = r["ApiCredentialsGetSecretValueMetricFilter"]["Properties"]["FilterPattern"]
        .as_str()
        .expect("pattern");
    assert!(
        filter.contains(r#"$.eventName = "GetSecretValue""#)
            && filter.contains("signal9-advisor/api-credentials")
    );
    assert_eq!(
        r["ApiCredentialsGetSecretValueAlarm"]["Properties"]["Threshold"],
        10.0
    );
    assert!(
        r["SecretsAccessDeniedMetricFilter"]["Properties"]["FilterPattern"]
            .as_str()
            .is_some_and(|p| p.contains("AccessDenied*"))
    );
    assert_eq!(r["AuditTrailLogGroup"]["Properties"]["RetentionInDays"], 30);
    assert_eq!(
        t["Outputs"]["ApiCredentialsArn"]["Value"],
        serde_json::json!({"Ref": "ApiCredentialsSecret"})
    );
}

#[test]
fn spec_errors_name_the_file_and_the_problem() {
    let dir = std::env::temp_dir().join(format!("s9-stack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let base = std::fs::read_to_string(example().join("signal9.toml")).expect("spec");
    for (from, to, problem) in [
        (
            r#"handler = "vendor-key""#,
            r#"handler = "lambda""#,
            "unknown handler `lambda`",
        ),
        (
            r#"schedule = "rate(90 days)""#,
            "schedule = 1001",
            "1001 days is outside 1–1000",
        ),
        (
            r#"schedule = "rate(90 days)""#,
            r#"schedule = "every 90 days""#,
            "neither rate(…) nor cron(…)",
        ),
        (
            r#"secrets = ["ApiCredentials"]"#,
            r#"secrets = ["Nope"]"#,
            "unknown secret id `Nope`",
        ),
        (
            "retention_days = 30",
            "retention_days = 30\nretention = 1",
            "unknown field `retention`",
        ),
    ] {
        let path = dir.join("bad.toml");
        std::fs::write(&path, base.replacen(from, to, 1)).expect("write");
        let err = StackSpec::load(&path).expect_err(problem);
        // The file, then its cause, as `s9-secrets` prints the chain.
        let mut text = err.to_string();
        let mut cause = std::error::Error::source(&err);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        assert!(
            text.contains("bad.toml") && text.contains(problem),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const ACCOUNT: &str = "123456789012";

fn secret_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf")
}

/// The synthesized reader policy with the secret's `Ref` resolved as CloudFormation would.
fn synthesized_reader() -> Policy {
    let spec = spec();
    let doc = reader_policy(&spec, &["ApiCredentials"], &|s| {
        Expr::str(secret_arn(&s.name))
    });
    Policy::parse(
        &serde_json::to_string(&doc).expect("json"),
        PolicyKind::Identity,
    )
    .expect("valid policy")
}

fn decide(policy: &Policy, action: &str, resource: &str, tagged: bool) -> bool {
    let identity = vec![NamedPolicy {
        name: "reader".into(),
        policy: policy.clone(),
    }];
    let mut principal = Context::new();
    principal
        .set(
            "aws:PrincipalArn",
            format!("arn:aws:iam::{ACCOUNT}:role/asset-sync"),
        )
        .set("aws:PrincipalAccount", ACCOUNT);
    let mut secret = Context::new();
    if tagged {
        secret
            .set("secretsmanager:ResourceTag/Project", "Signal9Advisor")
            .set("aws:ResourceTag/Project", "Signal9Advisor");
    }
    let layers: [&dyn ContextSource; 2] = [&secret, &principal];
    let context = Layered(&layers);
    let principal_arn = format!("arn:aws:iam::{ACCOUNT}:role/asset-sync");
    let req = Request {
        principal_arn: &principal_arn,
        action,
        resource,
        context: &context,
    };
    evaluate(&identity, None, &req).is_allowed()
}

#[test]
fn the_deployed_reader_policy_decides_like_the_local_one() {
    let local_text =
        std::fs::read_to_string(example().join("policies/reader.json")).expect("reader.json");
    let local = Policy::parse(&local_text, PolicyKind::Identity).expect("local policy");
    let deployed = synthesized_reader();
    let actions = [
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:TagResource",
        "secretsmanager:UntagResource",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:RotateSecret",
        "secretsmanager:ListSecretVersionIds",
    ];
    let credentials = secret_arn("signal9-advisor/api-credentials");
    let resources = [
        credentials.as_str(),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:other/db-XyZ123",
    ];
    let mut allowed = 0;
    for action in actions {
        for resource in resources {
            for tagged in [true, false] {
                let d = decide(&deployed, action, resource, tagged);
                assert_eq!(
                    d,
                    decide(&local, action, resource, tagged),
                    "{action} on {resource} (tagged: {tagged})"
                );
                let expected = tagged
                    && resource == credentials
                    && matches!(
                        action,
                        "secretsmanager:GetSecretValue" | "secretsmanager:DescribeSecret"
                    );
                assert_eq!(d, expected, "{action} on {resource} (tagged: {tagged})");
                allowed += usize::from(d);
            }
        }
    }
    assert_eq!(
        allowed, 2,
        "exactly read and describe of the tagged credentials"
    );
}
