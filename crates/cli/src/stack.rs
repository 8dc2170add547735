//! `s9-secrets synth` and `s9-secrets apply`: the stack spec (`signal9.toml`) as
//! CloudFormation for AWS, or made true on a running service — shown as a plan first,
//! idempotent, and never writing a secret value.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
use aws_sdk_secretsmanager::types::{RotationRulesType, Tag};
use s9_stack::StackSpec;
use s9_stack::spec::{Schedule, SecretSpec};

use crate::api::{ApiArgs, Failure, exit, failed};

fn load(path: &std::path::Path) -> anyhow::Result<StackSpec> {
    StackSpec::load(path).map_err(|e| {
        Failure::new(
            exit::INVALID,
            e.to_string(),
            Some("see examples/signal9/signal9.toml for every setting"),
        )
        .into()
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct SynthArgs {
    /// The stack spec.
    spec: PathBuf,
}

pub(crate) fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let spec = load(&args.spec)?;
    let template =
        s9_stack::synth(&spec).map_err(|e| Failure::new(exit::INVALID, e.to_string(), None))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&template).context("encoding the template")?
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct ApplyArgs {
    /// The stack spec.
    spec: PathBuf,
    /// Show the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// One change the plan makes.
#[derive(Debug)]
enum Change {
    Create {
        secret: SecretSpec,
    },
    Describe {
        name: String,
        description: String,
    },
    Tag {
        name: String,
        tags: Vec<(String, String)>,
    },
    Untag {
        name: String,
        keys: Vec<String>,
    },
    Policy {
        name: String,
        policy: Option<serde_json::Value>,
    },
    Rotation {
        name: String,
        /// The secret's ARN; `None` for a secret this apply creates.
        arn: Option<String>,
        /// The local rotation function's name.
        function: String,
        rules: RotationRulesType,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Create { secret } => write!(
                f,
                "+ create secret {} (no value; fill it with `s9-secrets populate`)",
                secret.name
            ),
            Self::Describe { name, description } => {
                write!(f, "~ {name}: description → {description:?}")
            }
            Self::Tag { name, tags } => write!(
                f,
                "~ {name}: tag {}",
                tags.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Untag { name, keys } => write!(f, "- {name}: untag {}", keys.join(", ")),
            Self::Policy {
                name,
                policy: Some(_),
            } => write!(f, "~ {name}: resource policy"),
            Self::Policy { name, policy: None } => write!(f, "- {name}: resource policy"),
            Self::Rotation {
                name,
                function,
                rules,
                ..
            } => write!(
                f,
                "~ {name}: rotation every {} by {function}",
                rules.schedule_expression().map_or_else(
                    || format!(
                        "{} days",
                        rules.automatically_after_days().unwrap_or_default()
                    ),
                    str::to_owned
                )
            ),
        }
    }
}

fn rules_of(s: &SecretSpec) -> Option<RotationRulesType> {
    let r = s.rotation.as_ref()?;
    let (days, expression) = match &r.schedule {
        Schedule::Days(d) => (Some(i64::from(*d)), None),
        Schedule::Expression(e) => (None, Some(e.clone())),
    };
    Some(
        RotationRulesType::builder()
            .set_automatically_after_days(days)
            .set_schedule_expression(expression)
            .set_duration(r.window.clone())
            .build(),
    )
}

/// A rotation function's ARN on the local service: `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
pub(crate) fn function_arn(secret_arn: &str, function: &str) -> String {
    let parts: Vec<&str> = secret_arn.split(':').collect();
    let (region, account) = (
        parts.get(3).copied().unwrap_or(""),
        parts.get(4).copied().unwrap_or(""),
    );
    format!("arn:aws:lambda:{region}:{account}:function:{function}")
}

async fn plan(client: &Client, spec: &StackSpec) -> anyhow::Result<Vec<Change>> {
    let mut changes = Vec::new();
    for s in &spec.secrets {
        let policy = spec
            .resource_policy(s)
            .map_err(|e| Failure::new(exit::INVALID, e.to_string(), None))?;
        let described = match client.describe_secret().secret_id(&s.name).send().await {
            Ok(d) => Some(d),
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => return Err(Failure::from_sdk(&format!("describing {}", s.name), &e).into()),
        };
        let Some(d) = described else {
            changes.push(Change::Create { secret: s.clone() });
            if policy.is_some() {
                changes.push(Change::Policy {
                    name: s.name.clone(),
                    policy,
                });
            }
            if let (Some(r), Some(rules)) = (&s.rotation, rules_of(s)) {
                changes.push(Change::Rotation {
                    name: s.name.clone(),
                    arn: None,
                    function: r.local_function(),
                    rules,
                });
            }
            continue;
        };
        if d.description().unwrap_or_default() != s.description {
            changes.push(Change::Describe {
                name: s.name.clone(),
                description: s.description.clone(),
            });
        }
        let current: BTreeMap<&str, &str> = d
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect();
        let set: Vec<(String, String)> = s
            .tags
            .iter()
            .filter(|(k, v)| current.get(k.as_str()) != Some(&v.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !set.is_empty() {
            changes.push(Change::Tag {
                name: s.name.clone(),
                tags: set,
            });
        }
        let extra: Vec<String> = current
            .keys()
            .filter(|k| !s.tags.contains_key(**k))
            .map(|k| (*k).to_owned())
            .collect();
        if !extra.is_empty() {
            changes.push(Change::Untag {
                name: s.name.clone(),
                keys: extra,
            });
        }
        let existing = client
            .get_resource_policy()
            .secret_id(&s.name)
            .send()
            .await
            .map_err(failed(format!("reading the policy of {}", s.name)))?;
        let existing: Option<serde_json::Value> = existing
            .resource_policy()
            .and_then(|p| serde_json::from_str(p).ok());
        if existing != policy {
            changes.push(Change::Policy {
                name: s.name.clone(),
                policy,
            });
        }
        if let (Some(r), Some(rules)) = (&s.rotation, rules_of(s)) {
            let arn = d.arn().unwrap_or_default();
            let lambda = function_arn(arn, &r.local_function());
            let same = d.rotation_enabled() == Some(true)
                && d.rotation_lambda_arn() == Some(lambda.as_str())
                && d.rotation_rules().is_some_and(|have| {
                    have.automatically_after_days() == rules.automatically_after_days()
                        && have.schedule_expression() == rules.schedule_expression()
                        && have.duration() == rules.duration()
                });
            if !same {
                changes.push(Change::Rotation {
                    name: s.name.clone(),
                    arn: Some(arn.to_owned()),
                    function: r.local_function(),
                    rules,
                });
            }
        }
    }
    Ok(changes)
}

async fn execute(client: &Client, change: Change) -> anyhow::Result<()> {
    match change {
        Change::Create { secret } => {
            let tags: Vec<Tag> = secret
                .tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            client
                .create_secret()
                .name(&secret.name)
                .description(&secret.description)
                .set_kms_key_id(secret.kms_key_id.clone())
                .set_tags((!tags.is_empty()).then_some(tags))
                .send()
                .await
                .map_err(failed(format!("creating {}", secret.name)))?;
        }
        Change::Describe { name, description } => {
            client
                .update_secret()
                .secret_id(&name)
                .description(description)
                .send()
                .await
                .map_err(failed(format!("updating {name}")))?;
        }
        Change::Tag { name, tags } => {
            let tags: Vec<Tag> = tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            client
                .tag_resource()
                .secret_id(&name)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(failed(format!("tagging {name}")))?;
        }
        Change::Untag { name, keys } => {
            client
                .untag_resource()
                .secret_id(&name)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .map_err(failed(format!("untagging {name}")))?;
        }
        Change::Policy {
            name,
            policy: Some(policy),
        } => {
            client
                .put_resource_policy()
                .secret_id(&name)
                .resource_policy(policy.to_string())
                .block_public_policy(true)
                .send()
                .await
                .map_err(failed(format!("setting the policy of {name}")))?;
        }
        Change::Policy { name, policy: None } => {
            client
                .delete_resource_policy()
                .secret_id(&name)
                .send()
                .await
                .map_err(failed(format!("removing the policy of {name}")))?;
        }
        Change::Rotation {
            name,
            arn,
            function,
            rules,
        } => {
            // A secret created by this apply: its ARN (which names the function's region and
            // account) is known only now.
            let arn = match arn {
                Some(arn) => arn,
                None => client
                    .describe_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .map_err(failed(format!("describing {name}")))?
                    .arn()
                    .unwrap_or_default()
                    .to_owned(),
            };
            client
                .rotate_secret()
                .secret_id(&name)
                .rotation_lambda_arn(function_arn(&arn, &function))
                .rotation_rules(rules)
                .rotate_immediately(false)
                .send()
                .await
                .map_err(failed(format!("configuring rotation of {name}")))?;
        }
    }
    Ok(())
}

pub(crate) fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let spec = load(&args.spec)?;
    let runtime = crate::api::runtime()?;
    runtime.block_on(async {
        let client = args.api.client().await?;
        let changes = plan(&client, &spec).await?;
        if changes.is_empty() {
            println!("No changes: the service matches {}.", args.spec.display());
        } else {
            println!("Plan ({} change{}):", changes.len(), if changes.len() == 1 { "" } else { "s" });
            for c in &changes {
                println!("  {c}");
            }
        }
        if !spec.readers.is_empty() {
            println!("Note: readers ({}) are principals of the service config (`serve --config`); `synth` emits their IAM policy.",
                spec.readers.iter().map(|r| r.role.as_str()).collect::<Vec<_>>().join(", "));
        }
        if args.dry_run || changes.is_empty() {
            return Ok(());
        }
        let total = changes.len();
        for change in changes {
            execute(&client, change).await?;
        }
        println!("Applied {total} change{}.", if total == 1 { "" } else { "s" });
        Ok(())
    })
}
