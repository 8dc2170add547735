//! `synth`: the stack spec as CloudFormation for real AWS Secrets Manager, fixing what the
//! original ticket got wrong (see ARCHITECTURE.md, "Known defects"): the secret is tagged and
//! has no placeholder field; rotation runs a Rust Lambda that Secrets Manager may invoke and
//! whose role may do the four steps; the reader policy's tag condition can match; CloudTrail
//! validates its log files and feeds CloudWatch Logs, whose metric filters count what the
//! alarms watch (Secrets Manager publishes no GetSecretValue metric).

use std::collections::BTreeMap;

use serde_json::json;

use crate::cfn::*;
use crate::spec::{Schedule, SecretSpec, StackSpec};

const NAMESPACE: &str = "Signal9/Secrets";
const TRAIL: &str = "AuditTrail";
const TRAIL_BUCKET: &str = "AuditTrailBucket";
const TRAIL_BUCKET_POLICY: &str = "AuditTrailBucketPolicy";
const TRAIL_LOGS: &str = "AuditTrailLogGroup";
const TRAIL_LOGS_ROLE: &str = "AuditTrailLogsRole";
const TOPIC: &str = "AlarmTopic";
const ROTATION_FN: &str = "RotationFunction";
const ROTATION_ROLE: &str = "RotationFunctionRole";
const READER_POLICY: &str = "ReaderPolicy";

/// CloudWatch Logs accepts only these retention periods.
const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

fn secret_logical(s: &SecretSpec) -> String {
    format!("{}Secret", s.id)
}

/// The reader policy: read the named secrets (only while they carry their tags), and never
/// change tags — a reader that could retag a secret could satisfy its own condition.
pub fn reader_policy(
    spec: &StackSpec,
    secret_ids: &[&str],
    arn_of: &dyn Fn(&SecretSpec) -> Expr,
) -> PolicyDocument {
    let mut statements = Vec::new();
    for s in spec
        .secrets
        .iter()
        .filter(|s| secret_ids.contains(&s.id.as_str()))
    {
        let mut read = Statement::allow(
            &[
                "secretsmanager:GetSecretValue",
                "secretsmanager:DescribeSecret",
            ],
            vec![arn_of(s)],
        )
        .sid(&format!("Read{}", s.id));
        if !s.tags.is_empty() {
            let tags: serde_json::Map<String, serde_json::Value> = s
                .tags
                .iter()
                .map(|(k, v)| (format!("secretsmanager:ResourceTag/{k}"), json!(v)))
                .collect();
            read = read.condition(json!({ "StringEquals": tags }));
        }
        statements.push(read);
    }
    statements.push(
        Statement::deny(
            &["secretsmanager:TagResource", "secretsmanager:UntagResource"],
            vec![Expr::str("*")],
        )
        .sid("NeverChangeTags"),
    );
    PolicyDocument::new(statements)
}

pub fn synth(spec: &StackSpec) -> Result<Template, crate::SpecError> {
    let mut parameters = BTreeMap::new();
    let mut resources: BTreeMap<String, Entry> = BTreeMap::new();
    let mut outputs = BTreeMap::new();
    let secret_ref = |s: &SecretSpec| Expr::reference(secret_logical(s));

    for s in &spec.secrets {
        let tags = s
            .tags
            .iter()
            .map(|(k, v)| Tag {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        // No SecretString and no GenerateSecretString: the secret starts empty and is
        // populated by `s9-secrets populate` or scripts/populate-secrets.sh.
        resources.insert(
            secret_logical(s),
            Entry::from(Resource::Secret(SecretProps {
                name: s.name.clone(),
                description: s.description.clone(),
                kms_key_id: s.kms_key_id.clone(),
                tags,
            }))
            .retain(),
        );
        outputs.insert(
            format!("{}Arn", s.id),
            Output {
                description: format!("ARN of {}", s.name),
                value: secret_ref(s),
            },
        );
        if let Some(policy) = spec.resource_policy(s)? {
            resources.insert(
                format!("{}ResourcePolicy", s.id),
                Resource::ResourcePolicy(ResourcePolicyProps {
                    secret_id: secret_ref(s),
                    resource_policy: policy,
                    block_public_policy: true,
                })
                .into(),
            );
        }
    }

    let rotated: Vec<&SecretSpec> = spec
        .secrets
        .iter()
        .filter(|s| s.rotation.is_some())
        .collect();
    if !rotated.is_empty() {
        parameters.insert(
            "RotationCodeBucket".into(),
            Parameter { kind: "String", description: "S3 bucket holding the rotation Lambda's zip (lambdas/rotation, built for provided.al2023 arm64)".into(), default: None },
        );
        parameters.insert(
            "RotationCodeKey".into(),
            Parameter {
                kind: "String",
                description: "S3 key of the rotation Lambda's zip".into(),
                default: Some("s9-rotation/bootstrap.zip".into()),
            },
        );
        let arns: Vec<Expr> = rotated.iter().map(|s| secret_ref(s)).collect();
        resources.insert(
            ROTATION_ROLE.into(),
            Resource::Role(RoleProps {
                description: "The rotation Lambda: the four rotation steps on the rotated secrets, nothing else".into(),
                assume_role_policy_document: PolicyDocument::new(vec![Statement::allow(&["sts:AssumeRole"], Vec::new())
                    .principal(json!({"Service": "lambda.amazonaws.com"}))]),
                managed_policy_arns: vec![Expr::sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")],
                policies: vec![InlinePolicy {
                    policy_name: "rotate-secrets".into(),
                    policy_document: PolicyDocument::new(vec![
                        Statement::allow(
                            &[
                                "secretsmanager:DescribeSecret",
                                "secretsmanager:GetSecretValue",
                                "secretsmanager:PutSecretValue",
                                "secretsmanager:UpdateSecretVersionStage",
                            ],
                            arns,
                        )
                        .sid("RotationSteps"),
                        Statement::allow(&["secretsmanager:GetRandomPassword"], vec![Expr::str("*")]).sid("RandomValues"),
                    ]),
                }],
            })
            .into(),
        );
        resources.insert(
            ROTATION_FN.into(),
            Resource::Function(LambdaFunctionProps {
                description: "Signal9 Secrets rotation (createSecret, setSecret, testSecret, finishSecret)".into(),
                runtime: "provided.al2023",
                architectures: vec!["arm64"],
                handler: "bootstrap",
                code: LambdaCode { s3_bucket: Expr::reference("RotationCodeBucket"), s3_key: Expr::reference("RotationCodeKey") },
                role: Expr::get_att(ROTATION_ROLE, "Arn"),
                timeout: 60,
                memory_size: 128,
                environment: {
                    let (mode, fields) = spec.rotation_mode().unwrap_or(("vendor-key", String::new()));
                    json!({"Variables": {
                        "SECRETS_MANAGER_ENDPOINT": Expr::sub("https://secretsmanager.${AWS::Region}.${AWS::URLSuffix}"),
                        "ROTATION_MODE": mode,
                        "REQUIRED_FIELDS": fields,
                    }})
                },
            })
            .into(),
        );
        resources.insert(
            "RotationFunctionPermission".into(),
            Resource::Permission(LambdaPermissionProps {
                action: "lambda:InvokeFunction",
                function_name: Expr::get_att(ROTATION_FN, "Arn"),
                principal: "secretsmanager.amazonaws.com",
                source_account: Expr::reference("AWS::AccountId"),
            })
            .into(),
        );
        for s in &rotated {
            let Some(r) = &s.rotation else { continue };
            let (days, expression) = match &r.schedule {
                Schedule::Days(d) => (Some(*d), None),
                Schedule::Expression(e) => (None, Some(e.clone())),
            };
            resources.insert(
                format!("{}RotationSchedule", s.id),
                Entry::from(Resource::RotationSchedule(RotationScheduleProps {
                    secret_id: secret_ref(s),
                    rotation_lambda_arn: Expr::get_att(ROTATION_FN, "Arn"),
                    rotation_rules: RotationRules {
                        automatically_after_days: days,
                        schedule_expression: expression,
                        duration: r.window.clone(),
                    },
                    // A vendor key cannot be made at deploy time: the first rotation waits
                    // for its schedule (and a person), instead of failing on the first deploy.
                    rotate_immediately_on_update: false,
                }))
                .depends_on(&["RotationFunctionPermission"]),
            );
        }
    }

    let readers: BTreeMap<&str, Vec<&str>> =
        spec.readers.iter().fold(BTreeMap::new(), |mut m, r| {
            m.entry(r.role.as_str())
                .or_default()
                .extend(r.secrets.iter().map(String::as_str));
            m
        });
    if !readers.is_empty() {
        let mut ids: Vec<&str> = readers.values().flatten().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        resources.insert(
            READER_POLICY.into(),
            Resource::ManagedPolicy(ManagedPolicyProps {
                description: "Signal9 pipeline functions: read the API credentials while they are tagged, never retag them".into(),
                policy_document: reader_policy(spec, &ids, &secret_ref),
                roles: readers.keys().map(|r| (*r).to_owned()).collect(),
            })
            .into(),
        );
        outputs.insert(
            "ReaderPolicyArn".into(),
            Output {
                description: "The least-privilege reader policy".into(),
                value: Expr::reference(READER_POLICY),
            },
        );
    }

    audit(spec, &mut resources);
    alarms(spec, &mut resources, &mut outputs);

    Ok(Template {
        format_version: "2010-09-09",
        description: spec.stack.description.clone(),
        parameters,
        resources,
        outputs,
    })
}

/// CloudTrail with log-file validation, to an encrypted, private bucket and to CloudWatch
/// Logs (which the alarms' metric filters read).
fn audit(spec: &StackSpec, resources: &mut BTreeMap<String, Entry>) {
    let retention = RETENTION_DAYS
        .iter()
        .copied()
        .find(|d| *d >= spec.audit.retention_days)
        .unwrap_or(3653);
    resources.insert(
        TRAIL_BUCKET.into(),
        Entry::from(Resource::Bucket(BucketProps {
            bucket_encryption: json!({"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}),
            public_access_block_configuration: json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}),
            versioning_configuration: json!({"Status": "Enabled"}),
            ownership_controls: json!({"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}),
            lifecycle_configuration: json!({"Rules": [{"Id": "expire-audit-logs", "Status": "Enabled", "ExpirationInDays": spec.audit.retention_days.max(1), "NoncurrentVersionExpiration": {"NoncurrentDays": spec.audit.retention_days.max(1)}}]}),
        }))
        .retain(),
    );
    let bucket_arn = Expr::get_att(TRAIL_BUCKET, "Arn");
    let trail_arn = Expr::sub(format!(
        "arn:${{AWS::Partition}}:cloudtrail:${{AWS::Region}}:${{AWS::AccountId}}:trail/${{AWS::StackName}}-{TRAIL}"
    ));
    resources.insert(
        TRAIL_BUCKET_POLICY.into(),
        Resource::BucketPolicy(BucketPolicyProps {
            bucket: Expr::reference(TRAIL_BUCKET),
            policy_document: PolicyDocument::new(vec![
                Statement::allow(&["s3:GetBucketAcl"], vec![bucket_arn.clone()])
                    .sid("CloudTrailAclCheck")
                    .principal(json!({"Service": "cloudtrail.amazonaws.com"})),
                Statement::allow(&["s3:PutObject"], vec![Expr::sub(format!("${{{TRAIL_BUCKET}.Arn}}/AWSLogs/${{AWS::AccountId}}/*"))])
                    .sid("CloudTrailWrite")
                    .principal(json!({"Service": "cloudtrail.amazonaws.com"}))
                    .condition(json!({"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}})),
                Statement::deny(&["s3:*"], vec![bucket_arn, Expr::sub(format!("${{{TRAIL_BUCKET}.Arn}}/*"))])
                    .sid("TlsOnly")
                    .principal(json!({"AWS": "*"}))
                    .condition(json!({"Bool": {"aws:SecureTransport": "false"}})),
            ]),
        })
        .into(),
    );
    resources.insert(
        TRAIL_LOGS.into(),
        Entry::from(Resource::LogGroup(LogGroupProps {
            retention_in_days: retention,
        }))
        .retain(),
    );
    resources.insert(
        TRAIL_LOGS_ROLE.into(),
        Resource::Role(RoleProps {
            description: "CloudTrail delivering the Signal9 trail to CloudWatch Logs".into(),
            assume_role_policy_document: PolicyDocument::new(vec![
                Statement::allow(&["sts:AssumeRole"], Vec::new())
                    .principal(json!({"Service": "cloudtrail.amazonaws.com"})),
            ]),
            managed_policy_arns: Vec::new(),
            policies: vec![InlinePolicy {
                policy_name: "deliver-to-logs".into(),
                policy_document: PolicyDocument::new(vec![Statement::allow(
                    &["logs:CreateLogStream", "logs:PutLogEvents"],
                    vec![Expr::get_att(TRAIL_LOGS, "Arn")],
                )]),
            }],
        })
        .into(),
    );
    resources.insert(
        TRAIL.into(),
        Entry::from(Resource::Trail(TrailProps {
            is_logging: true,
            is_multi_region_trail: true,
            include_global_service_events: true,
            enable_log_file_validation: true,
            s3_bucket_name: Expr::reference(TRAIL_BUCKET),
            cloud_watch_logs_log_group_arn: Expr::get_att(TRAIL_LOGS, "Arn"),
            cloud_watch_logs_role_arn: Expr::get_att(TRAIL_LOGS_ROLE, "Arn"),
        }))
        .depends_on(&[TRAIL_BUCKET_POLICY]),
    );
}

/// A metric filter over the trail's log group and an alarm on its metric.
fn alarms(
    spec: &StackSpec,
    resources: &mut BTreeMap<String, Entry>,
    outputs: &mut BTreeMap<String, Output>,
) {
    resources.insert(
        TOPIC.into(),
        Resource::Topic(TopicProps {
            display_name: format!("{} alarms", spec.stack.name),
            kms_master_key_id: "alias/aws/sns",
        })
        .into(),
    );
    for (i, email) in spec.audit.notify_emails.iter().enumerate() {
        resources.insert(
            format!("AlarmEmail{}", i + 1),
            Resource::Subscription(SubscriptionProps {
                protocol: "email",
                endpoint: email.clone(),
                topic_arn: Expr::reference(TOPIC),
            })
            .into(),
        );
    }
    outputs.insert(
        "AlarmTopicArn".into(),
        Output {
            description: "Where alarms are sent".into(),
            value: Expr::reference(TOPIC),
        },
    );
    let a = &spec.audit.alarms;
    let mut watch =
        |id: &str, pattern: String, threshold: f64, operator: &'static str, description: String| {
            resources.insert(
                format!("{id}MetricFilter"),
                Resource::MetricFilter(MetricFilterProps {
                    log_group_name: Expr::reference(TRAIL_LOGS),
                    filter_pattern: pattern,
                    metric_transformations: vec![MetricTransformation {
                        metric_name: id.to_owned(),
                        metric_namespace: NAMESPACE.to_owned(),
                        metric_value: "1",
                        default_value: 0.0,
                    }],
                })
                .into(),
            );
            resources.insert(
                format!("{id}Alarm"),
                Resource::Alarm(AlarmProps {
                    alarm_description: description,
                    namespace: NAMESPACE.to_owned(),
                    metric_name: id.to_owned(),
                    statistic: "Sum",
                    period: 60,
                    evaluation_periods: 1,
                    threshold,
                    comparison_operator: operator,
                    treat_missing_data: "notBreaching",
                    alarm_actions: vec![Expr::reference(TOPIC)],
                })
                .into(),
            );
        };
    for s in &spec.secrets {
        watch(
            &format!("{}GetSecretValue", s.id),
            format!(
                r#"{{ ($.eventSource = "secretsmanager.amazonaws.com") && ($.eventName = "GetSecretValue") && ($.requestParameters.secretId = "*{}*") }}"#,
                s.name
            ),
            f64::from(a.get_secret_value_per_minute),
            "GreaterThanThreshold",
            format!(
                "More than {} GetSecretValue calls a minute on {}",
                a.get_secret_value_per_minute, s.name
            ),
        );
    }
    if a.access_denied {
        watch(
            "SecretsAccessDenied",
            r#"{ ($.eventSource = "secretsmanager.amazonaws.com") && ($.errorCode = "AccessDenied*") }"#.to_owned(),
            0.0,
            "GreaterThanThreshold",
            "A Secrets Manager request was denied".to_owned(),
        );
    }
    if a.rotation_failure {
        watch(
            "RotationFailed",
            r#"{ ($.eventSource = "secretsmanager.amazonaws.com") && ($.eventName = "RotationFailed") }"#.to_owned(),
            0.0,
            "GreaterThanThreshold",
            "A secret rotation failed".to_owned(),
        );
    }
}
