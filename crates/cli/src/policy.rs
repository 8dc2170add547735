//! `s9-secrets policy simulate|validate`: decide a request against a config's principals
//! without a server, and check policy documents.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use s9_policy::{
    Context, ContextSource, Decision, Layered, Policy, PolicyKind, Request, Source, evaluate,
};
use s9_server::ServiceConfig;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// Decide one request as the server would, and name the statement that decided.
    Simulate(SimulateArgs),
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
    let resource_policy =
        match &args.resource_policy {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some(Policy::parse(&text, PolicyKind::Resource).with_context(|| {
                    format!("{} is not a valid resource policy", path.display())
                })?)
            }
            None => None,
        };
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    for entry in &args.context {
        let Some((k, v)) = entry.split_once('=') else {
            bail!("--context {entry:?} is not KEY=VALUE")
        };
        match keys.iter_mut().find(|(key, _)| key.eq_ignore_ascii_case(k)) {
            Some((_, values)) => values.push(v.to_owned()),
            None => keys.push((k.to_owned(), vec![v.to_owned()])),
        }
    }
    let mut request_context = Context::new();
    for (k, values) in keys {
        request_context.set_all(&k, values);
    }
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
