//! `s9-secrets policy simulate|who-can|validate`: decide a request against a config's
//! principals without a server, find who can reach an action on a secret (directly or by
//! changing the secret first), and check policy documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use s9_policy::reach::{Actor, Path as Reach, Search, Secret};
use s9_policy::{
    Context, ContextSource, Decision, Layered, Policy, PolicyKind, Request, Source, evaluate,
};
use s9_server::ServiceConfig;
use s9_stack::StackSpec;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// Decide one request as the server would, and name the statement that decided.
    Simulate(SimulateArgs),
    /// List who can perform an action on a secret: directly, or after calls that change its
    /// resource policy, tags or rotation function, each call allowed at its turn.
    WhoCan(WhoCanArgs),
    /// Check a policy document; errors name their JSON path.
    Validate(ValidateArgs),
    /// Print a secret's resource policy (from the service).
    Get(crate::secrets::IdArgs),
    /// Attach a resource policy to a secret (BlockPublicPolicy on).
    Put(crate::secrets::PutPolicyArgs),
    /// Remove a secret's resource policy.
    Delete(crate::secrets::IdArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The service config that defines the principal.
    #[arg(long)]
    config: PathBuf,
    /// The principal's name in the config.
    #[arg(long)]
    principal: String,
    /// The action, e.g. secretsmanager:GetSecretValue.
    #[arg(long)]
    action: String,
    /// The resource ARN (`*` for account-wide actions).
    #[arg(long, default_value = "*")]
    resource: String,
    /// The secret's resource policy, if it has one.
    #[arg(long)]
    resource_policy: Option<PathBuf>,
    /// A condition key of the request or the resource, KEY=VALUE; repeat a key for a
    /// multivalued key (e.g. --context secretsmanager:ResourceTag/Project=Signal9Advisor).
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct WhoCanArgs {
    /// The service config that defines the principals.
    #[arg(long)]
    config: PathBuf,
    /// The action, e.g. secretsmanager:GetSecretValue.
    #[arg(long)]
    action: String,
    /// The secret's name, or its full ARN (for policies naming the ARN's random suffix).
    #[arg(long)]
    secret: String,
    /// Read the secret as it is now from the service (its ARN, tags, rotation function and
    /// resource policy; DescribeSecret and GetResourcePolicy, with the connection options
    /// below), instead of from a stack spec.
    #[arg(long, conflicts_with = "stack")]
    live: bool,
    /// A stack spec defining the secret: its tags, resource policy and rotation function.
    #[arg(long)]
    stack: Option<PathBuf>,
    /// The secret's resource policy now (in place of the stack spec's).
    #[arg(long)]
    resource_policy: Option<PathBuf>,
    /// A tag the secret has now, KEY=VALUE (over the stack spec's). Repeatable.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
    /// The secret's rotation function now, by name or ARN (in place of the stack spec's).
    #[arg(long)]
    rotation_function: Option<String>,
    /// A condition key every request carries (aws:SourceIp, aws:CurrentTime …), KEY=VALUE.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// The most calls before the action that are searched.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=6))]
    max_calls: u8,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Where the service is, with `--live` (the region also places the secret's ARN).
    #[command(flatten)]
    api: crate::api::ApiArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// The policy document (JSON).
    file: PathBuf,
    /// Identity policies must not name a Principal; resource policies must.
    #[arg(long, value_enum, default_value_t = Kind::Identity)]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    Identity,
    Resource,
}

pub(crate) fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Simulate(args) => simulate(&args).map(|()| ExitCode::SUCCESS),
        PolicyCommand::WhoCan(args) => who_can(&args).map(|()| ExitCode::SUCCESS),
        PolicyCommand::Validate(args) => validate(&args),
        PolicyCommand::Get(args) => crate::secrets::get_policy(args).map(|()| ExitCode::SUCCESS),
        PolicyCommand::Put(args) => crate::secrets::put_policy(args).map(|()| ExitCode::SUCCESS),
        PolicyCommand::Delete(args) => {
            crate::secrets::delete_policy(args).map(|()| ExitCode::SUCCESS)
        }
    }
}

fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let config = ServiceConfig::load(&args.config)?;
    let Some(principal) = config.by_name.get(&args.principal) else {
        let names: Vec<&str> = config.by_name.keys().map(String::as_str).collect();
        bail!(
            "no principal {:?} in {}; it defines: {}",
            args.principal,
            args.config.display(),
            names.join(", ")
        );
    };
    let resource_policy = args
        .resource_policy
        .as_deref()
        .map(resource_policy_file)
        .transpose()?;
    let request_context = context_arg(&args.context)?;
    let layers: [&dyn ContextSource; 2] = [&request_context, &*principal.context];
    let context = Layered(&layers);
    let request = Request {
        principal_arn: &principal.arn,
        action: &args.action,
        resource: &args.resource,
        context: &context,
    };
    let decision = evaluate(&principal.policies, resource_policy.as_ref(), &request);
    let (verdict, reason) = match &decision {
        Decision::Allow(r) => ("allowed", Some(r)),
        Decision::ExplicitDeny(r) => ("explicitly denied", Some(r)),
        Decision::ImplicitDeny => ("implicitly denied", None),
    };
    if args.json {
        let reason = reason.map(|r| {
            serde_json::json!({
                "policy": match &r.source { Source::Identity(name) => name.clone(), Source::Resource => "resource policy".to_owned() },
                "statement": r.statement,
                "sid": r.sid,
            })
        });
        let out = serde_json::json!({
            "principal": principal.arn,
            "action": args.action,
            "resource": args.resource,
            "decision": verdict,
            "decided_by": reason,
            "message": (!decision.is_allowed()).then(|| decision.denial_message(&request)),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} {} on {}: {verdict}",
            principal.arn, args.action, args.resource
        );
        match reason {
            Some(r) => println!("decided by: {r}"),
            None => println!("decided by: no statement allows it"),
        }
        if !decision.is_allowed() {
            // What the caller would be told, so the simulator's answer reads like the service's.
            println!(
                "the caller gets: AccessDeniedException: {}",
                decision.denial_message(&request)
            );
        }
    }
    Ok(())
}

/// `--context` arguments: a key given twice is multivalued.
fn context_arg(entries: &[String]) -> anyhow::Result<Context> {
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    for entry in entries {
        let Some((k, v)) = entry.split_once('=') else {
            bail!("--context {entry:?} is not KEY=VALUE")
        };
        match keys.iter_mut().find(|(key, _)| key.eq_ignore_ascii_case(k)) {
            Some((_, values)) => values.push(v.to_owned()),
            None => keys.push((k.to_owned(), vec![v.to_owned()])),
        }
    }
    let mut context = Context::new();
    for (k, values) in keys {
        context.set_all(&k, values);
    }
    Ok(context)
}

fn resource_policy_file(path: &Path) -> anyhow::Result<Policy> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Policy::parse(&text, PolicyKind::Resource)
        .with_context(|| format!("{} is not a valid resource policy", path.display()))
}

/// The secret as `who-can` is told it is: from the service (`--live`) or the stack spec,
/// then the flags over it.
fn secret_state(args: &WhoCanArgs, account_id: &str) -> anyhow::Result<Secret> {
    let mut secret = if args.live {
        crate::api::runtime()?.block_on(live_secret(args))?
    } else {
        spec_secret(args, account_id)?
    };
    if let Some(path) = &args.resource_policy {
        secret.resource_policy = Some(resource_policy_file(path)?);
    }
    for tag in &args.tags {
        let Some((k, v)) = tag.split_once('=') else {
            bail!("--tag {tag:?} is not KEY=VALUE")
        };
        secret.tags.insert(k.to_owned(), v.to_owned());
    }
    if let Some(f) = &args.rotation_function {
        secret.rotation_function = Some(if f.starts_with("arn:") {
            f.clone()
        } else {
            crate::stack::function_arn(&secret.arn, f)
        });
    }
    Ok(secret)
}

/// The secret as the service has it now.
async fn live_secret(args: &WhoCanArgs) -> anyhow::Result<Secret> {
    use crate::api::failed;
    let client = args.api.client().await?;
    let described = client
        .describe_secret()
        .secret_id(&args.secret)
        .send()
        .await
        .map_err(failed(format!("describing {}", args.secret)))?;
    let policy = client
        .get_resource_policy()
        .secret_id(&args.secret)
        .send()
        .await
        .map_err(failed(format!(
            "reading the resource policy of {}",
            args.secret
        )))?;
    let arn = described
        .arn()
        .context("DescribeSecret answered without an ARN")?
        .to_owned();
    let resource_policy = policy
        .resource_policy()
        .map(|text| {
            Policy::parse(text, PolicyKind::Resource)
                .with_context(|| format!("the resource policy of {arn}"))
        })
        .transpose()?;
    Ok(Secret {
        tags: described
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect(),
        rotation_function: described.rotation_lambda_arn().map(str::to_owned),
        resource_policy,
        arn,
    })
}

/// The secret as the stack spec defines it (or bare, without one).
fn spec_secret(args: &WhoCanArgs, account_id: &str) -> anyhow::Result<Secret> {
    let region = args.api.region.as_deref().unwrap_or("us-east-1");
    let arn = if args.secret.starts_with("arn:") {
        args.secret.clone()
    } else {
        // Six `?` stand for the random suffix: patterns ending `-??????` or `*` match it.
        format!(
            "arn:aws:secretsmanager:{region}:{account_id}:secret:{}-??????",
            args.secret
        )
    };
    let name = s9_audit::secret_name_of_arn(&arn);
    let mut secret = Secret {
        arn: arn.clone(),
        resource_policy: None,
        tags: BTreeMap::new(),
        rotation_function: None,
    };
    if let Some(path) = &args.stack {
        let spec = StackSpec::load(path)?;
        let Some(defined) = spec.secrets.iter().find(|s| s.name == name) else {
            bail!("{} defines no secret named {name}", path.display());
        };
        secret.tags = defined.tags.clone();
        if let Some(policy) = spec.resource_policy(defined)? {
            secret.resource_policy = Some(
                Policy::parse(&policy.to_string(), PolicyKind::Resource).with_context(|| {
                    format!("the resource policy of {name} in {}", path.display())
                })?,
            );
        }
        secret.rotation_function = defined
            .rotation
            .as_ref()
            .map(|r| crate::stack::function_arn(&arn, &r.local_function()));
    }
    Ok(secret)
}

fn who_can(args: &WhoCanArgs) -> anyhow::Result<()> {
    let config = ServiceConfig::load(&args.config)?;
    let secret = secret_state(args, &config.account_id)?;
    let actors: Vec<Actor<'_>> = config
        .by_name
        .iter()
        .map(|(name, p)| Actor {
            name,
            arn: &p.arn,
            policies: &p.policies,
            context: &*p.context,
        })
        .collect();
    let policies = config
        .by_name
        .values()
        .flat_map(|p| p.policies.iter().map(|n| &n.policy))
        .chain(secret.resource_policy.as_ref());
    let functions = config
        .rotation
        .functions
        .keys()
        .map(|f| crate::stack::function_arn(&secret.arn, f));
    let mut search = Search::new(policies, &secret, functions, context_arg(&args.context)?);
    search.max_calls = usize::from(args.max_calls);
    let paths = search.reach(&actors, &secret, &args.action);
    if args.json || args.api.output == crate::api::Output::Json {
        let principals: Vec<serde_json::Value> = actors
            .iter()
            .zip(&paths)
            .map(|(actor, path)| {
                let calls = path.as_ref().map(|p| {
                    p.calls
                        .iter()
                        .map(|c| {
                            serde_json::json!({
                                "principal": c.by,
                                "action": c.change.action(),
                                "call": c.change.to_string(),
                                "allowedBy": c.allowed_by.to_string(),
                            })
                        })
                        .collect::<Vec<_>>()
                });
                serde_json::json!({
                    "name": actor.name,
                    "arn": actor.arn,
                    "can": path.is_some(),
                    "directly": path.as_ref().is_some_and(|p| p.calls.is_empty()),
                    "calls": calls,
                    "allowedBy": path.as_ref().map(|p| p.allowed_by.to_string()),
                })
            })
            .collect();
        let out = serde_json::json!({
            "action": args.action,
            "resource": secret.arn,
            "maxCalls": args.max_calls,
            "principals": principals,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{} on {}", args.action, secret.arn);
    let listed = |title: &str, pick: &dyn Fn(&Option<Reach>) -> bool| {
        let chosen: Vec<_> = actors.iter().zip(&paths).filter(|(_, p)| pick(p)).collect();
        println!("\n{title}:");
        if chosen.is_empty() {
            println!("  (none)");
        }
        for (actor, path) in chosen {
            println!("  {} ({})", actor.name, actor.arn);
            let Some(path) = path else { continue };
            for (i, call) in path.calls.iter().enumerate() {
                println!(
                    "    {}. {} calls {}\n       allowed by {}",
                    i + 1,
                    call.by,
                    call.change,
                    call.allowed_by
                );
            }
            let then = if path.calls.is_empty() { "" } else { "then " };
            println!("    {then}allowed by {}", path.allowed_by);
        }
    };
    listed("can, as things are", &|p| {
        p.as_ref().is_some_and(|p| p.calls.is_empty())
    });
    listed("can, after changing the secret", &|p| {
        p.as_ref().is_some_and(|p| !p.calls.is_empty())
    });
    listed(&format!("cannot, within {} calls", args.max_calls), &|p| {
        p.is_none()
    });
    Ok(())
}

fn validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let kind = match args.kind {
        Kind::Identity => PolicyKind::Identity,
        Kind::Resource => PolicyKind::Resource,
    };
    match Policy::parse(&text, kind) {
        Ok(policy) => {
            println!(
                "{}: valid ({} statement{})",
                args.file.display(),
                policy.statements.len(),
                if policy.statements.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}: {} {}", args.file.display(), e.path, e.reason);
            Ok(ExitCode::FAILURE)
        }
    }
}
