//! Secrets Manager for people: `get`, `put`, `describe`, `list`, `versions`, `delete`,
//! `restore`, `tag`, `untag`, `rotate` — over the API, against AWS or Signal9 Secrets.
//! Values are shown only when asked for (`get --reveal`) and read only from stdin or a file,
//! never from the command line.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use anyhow::Context as _;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
use aws_sdk_secretsmanager::primitives::{DateTime, DateTimeFormat};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, RotationRulesType, Tag};
use base64::Engine as _;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::api::{
    ApiArgs, Failure, Output, exit, failed, print_fields, print_json, print_table, runtime,
};

fn date(d: Option<&DateTime>) -> String {
    d.and_then(|d| d.fmt(DateTimeFormat::DateTime).ok())
        .unwrap_or_default()
}

pub(crate) fn parse_tag(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// Name or ARN of the secret.
    secret_id: String,
    #[arg(long, conflicts_with = "version_id")]
    version_stage: Option<String>,
    #[arg(long)]
    version_id: Option<String>,
    /// Print the value (or the `--field`) itself; without it only its shape is shown.
    #[arg(long)]
    reveal: bool,
    /// One field of a JSON secret.
    #[arg(long)]
    field: Option<String>,
    #[command(flatten)]
    api: ApiArgs,
}

/// What a value looks like, without showing it.
fn shape(value: &str) -> (Vec<(String, usize)>, String) {
    match fields(value) {
        Some(map) => {
            let fields: Vec<(String, usize)> = map
                .iter()
                .map(|(k, v)| (k.clone(), field_text(v).chars().count()))
                .collect();
            let text = fields
                .iter()
                .map(|(k, n)| format!("{k} ({n} chars)"))
                .collect::<Vec<_>>()
                .join(", ");
            (fields, format!("JSON: {text}"))
        }
        None => (
            Vec::new(),
            format!("text, {} characters", value.chars().count()),
        ),
    }
}

/// A JSON object's fields, each borrowed from the (zeroized) secret text: no value is copied
/// into memory that is not wiped.
fn fields(text: &str) -> Option<BTreeMap<String, &RawValue>> {
    serde_json::from_str(text).ok()
}

/// A field's text: a string's content, or any other JSON value as written.
fn field_text(raw: &RawValue) -> Zeroizing<String> {
    Zeroizing::new(
        serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_owned()),
    )
}

pub(crate) fn get(args: GetArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = args.api.client().await?;
        let out = client
            .get_secret_value()
            .secret_id(&args.secret_id)
            .set_version_stage(args.version_stage.clone())
            .set_version_id(args.version_id.clone())
            .send()
            .await
            .map_err(failed(format!("reading {}", args.secret_id)))?;
        let text = out.secret_string().map(|s| Zeroizing::new(s.to_owned()));
        if let Some(field) = &args.field {
            let map = text.as_deref().and_then(|t| fields(t)).ok_or_else(|| {
                Failure::new(
                    exit::INVALID,
                    "the secret is not a JSON object",
                    Some("drop --field to see its shape"),
                )
            })?;
            let value = map.get(field).ok_or_else(|| {
                let names: Vec<&str> = map.keys().map(String::as_str).collect();
                Failure::new(
                    exit::INVALID,
                    format!("the secret has no field `{field}`"),
                    Some(&format!("its fields: {}", names.join(", "))),
                )
            })?;
            if !args.reveal {
                return Err(Failure::new(
                    exit::INVALID,
                    "not printing a value without --reveal",
                    Some("add --reveal (the value goes to stdout)"),
                )
                .into());
            }
            println!("{}", field_text(value).as_str());
            return Ok(());
        }
        if args.reveal && args.api.output == Output::Table {
            match (&text, out.secret_binary()) {
                (Some(t), _) => println!("{}", t.as_str()),
                (None, Some(b)) => println!(
                    "{}",
                    base64::engine::general_purpose::STANDARD.encode(b.as_ref())
                ),
                (None, None) => {}
            }
            return Ok(());
        }
        let (fields, summary) = match (&text, out.secret_binary()) {
            (Some(t), _) => shape(t),
            (None, Some(b)) => (Vec::new(), format!("binary, {} bytes", b.as_ref().len())),
            (None, None) => (Vec::new(), "empty".to_owned()),
        };
        match args.api.output {
            Output::Json => {
                let mut doc = json!({
                    "ARN": out.arn(), "Name": out.name(), "VersionId": out.version_id(),
                    "VersionStages": out.version_stages(), "CreatedDate": date(out.created_date()),
                    "Fields": fields.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                });
                if args.reveal {
                    if let Some(t) = &text {
                        doc["SecretString"] = Value::String(t.as_str().to_owned());
                    }
                    if let Some(b) = out.secret_binary() {
                        doc["SecretBinary"] = base64::engine::general_purpose::STANDARD
                            .encode(b.as_ref())
                            .into();
                    }
                }
                print_json(&doc);
            }
            Output::Table => print_fields(&[
                ("Name", out.name().unwrap_or_default().to_owned()),
                ("ARN", out.arn().unwrap_or_default().to_owned()),
                ("Version", out.version_id().unwrap_or_default().to_owned()),
                ("Stages", out.version_stages().join(", ")),
                ("Created", date(out.created_date())),
                ("Value", format!("{summary} (--reveal to print)")),
            ]),
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct PutArgs {
    /// Name or ARN of the secret.
    secret_id: String,
    /// Read the value from this file (default: stdin, which must not be a terminal).
    #[arg(long)]
    value_file: Option<PathBuf>,
    /// Create the secret if it does not exist.
    #[arg(long)]
    create: bool,
    /// Description, when creating.
    #[arg(long, requires = "create")]
    description: Option<String>,
    /// Tags KEY=VALUE, when creating (repeatable).
    #[arg(long = "tag", value_parser = parse_tag, requires = "create")]
    tags: Vec<(String, String)>,
    #[command(flatten)]
    api: ApiArgs,
}

/// Reads a value from a file or piped stdin; never from a terminal or the command line.
pub(crate) fn read_value(file: Option<&PathBuf>) -> anyhow::Result<Zeroizing<String>> {
    let mut value = Zeroizing::new(String::new());
    match file {
        Some(path) => {
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_string(&mut value))
                .with_context(|| format!("reading {}", path.display()))?;
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(exit::INVALID, "no value: stdin is a terminal", Some("pipe the value in, or use --value-file (values are never taken from arguments)")).into());
            }
            std::io::stdin()
                .read_to_string(&mut value)
                .context("reading stdin")?;
        }
    }
    if value.ends_with('\n') {
        value.pop();
    }
    Ok(value)
}

pub(crate) fn put(args: PutArgs) -> anyhow::Result<()> {
    let value = read_value(args.value_file.as_ref())?;
    runtime()?.block_on(async {
        let client = args.api.client().await?;
        let put = client
            .put_secret_value()
            .secret_id(&args.secret_id)
            .secret_string(value.as_str())
            .send()
            .await;
        let (arn, version, created) = match put {
            Ok(o) => (
                o.arn().map(str::to_owned),
                o.version_id().map(str::to_owned),
                false,
            ),
            Err(e) if args.create && e.code() == Some("ResourceNotFoundException") => {
                let tags: Vec<Tag> = args
                    .tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect();
                let o = client
                    .create_secret()
                    .name(&args.secret_id)
                    .secret_string(value.as_str())
                    .set_description(args.description.clone())
                    .set_tags((!tags.is_empty()).then_some(tags))
                    .send()
                    .await
                    .map_err(failed(format!("creating {}", args.secret_id)))?;
                (
                    o.arn().map(str::to_owned),
                    o.version_id().map(str::to_owned),
                    true,
                )
            }
            Err(e) => {
                return Err(Failure::from_sdk(&format!("writing {}", args.secret_id), &e).into());
            }
        };
        match args.api.output {
            Output::Json => {
                print_json(&json!({"ARN": arn, "VersionId": version, "Created": created}))
            }
            Output::Table => print_fields(&[
                ("ARN", arn.unwrap_or_default()),
                ("Version", version.unwrap_or_default()),
                ("Created", created.to_string()),
            ]),
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct IdArgs {
    /// Name or ARN of the secret.
    secret_id: String,
    #[command(flatten)]
    api: ApiArgs,
}

pub(crate) fn describe(args: IdArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let d = args
            .api
            .client()
            .await?
            .describe_secret()
            .secret_id(&args.secret_id)
            .send()
            .await
            .map_err(failed(format!("describing {}", args.secret_id)))?;
        let tags: Vec<(String, String)> = d
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
            .collect();
        let versions: Vec<(String, Vec<String>)> = d
            .version_ids_to_stages()
            .map(|m| {
                let mut v: Vec<_> = m.iter().map(|(k, s)| (k.clone(), s.clone())).collect();
                v.sort();
                v
            })
            .unwrap_or_default();
        let rules = d.rotation_rules();
        match args.api.output {
            Output::Json => print_json(&json!({
                "ARN": d.arn(), "Name": d.name(), "Description": d.description(),
                "KmsKeyId": d.kms_key_id(), "CreatedDate": date(d.created_date()),
                "LastChangedDate": date(d.last_changed_date()), "LastAccessedDate": date(d.last_accessed_date()),
                "DeletedDate": date(d.deleted_date()), "RotationEnabled": d.rotation_enabled(),
                "RotationLambdaARN": d.rotation_lambda_arn(),
                "RotationRules": rules.map(|r| json!({"AutomaticallyAfterDays": r.automatically_after_days(), "ScheduleExpression": r.schedule_expression(), "Duration": r.duration()})),
                "LastRotatedDate": date(d.last_rotated_date()),
                "NextRotationDate": date(d.next_rotation_date()),
                "Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
                "VersionIdsToStages": versions.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            })),
            Output::Table => print_fields(&[
                ("Name", d.name().unwrap_or_default().to_owned()),
                ("ARN", d.arn().unwrap_or_default().to_owned()),
                ("Description", d.description().unwrap_or_default().to_owned()),
                ("Created", date(d.created_date())),
                ("Last changed", date(d.last_changed_date())),
                ("Last accessed", date(d.last_accessed_date())),
                ("Deleted", date(d.deleted_date())),
                ("Rotation", match (d.rotation_enabled(), rules) {
                    (Some(true), Some(r)) => format!("every {}", r.schedule_expression().map_or_else(|| format!("{} days", r.automatically_after_days().unwrap_or_default()), str::to_owned)),
                    _ => "off".to_owned(),
                }),
                ("Last rotated", date(d.last_rotated_date())),
                ("Next rotation", date(d.next_rotation_date())),
                ("Tags", tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")),
                ("Versions", versions.iter().map(|(k, s)| format!("{k} [{}]", s.join(","))).collect::<Vec<_>>().join("; ")),
            ]),
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Filter KEY=VALUE, KEY one of name, description, tag-key, tag-value, all (repeatable).
    #[arg(long = "filter", value_parser = parse_tag)]
    filters: Vec<(String, String)>,
    /// Include secrets scheduled for deletion.
    #[arg(long)]
    include_deleted: bool,
    #[command(flatten)]
    api: ApiArgs,
}

pub(crate) fn list(args: ListArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let filters: Vec<Filter> = args
            .filters
            .iter()
            .map(|(k, v)| Filter::builder().key(FilterNameStringType::from(k.as_str())).values(v).build())
            .collect();
        let client = args.api.client().await?;
        let mut pages = client
            .list_secrets()
            .set_filters((!filters.is_empty()).then_some(filters))
            .include_planned_deletion(args.include_deleted)
            .into_paginator()
            .send();
        let mut entries = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(failed("listing secrets"))?;
            entries.extend(page.secret_list().iter().cloned());
        }
        match args.api.output {
            Output::Json => print_json(&Value::Array(
                entries
                    .iter()
                    .map(|s| json!({"Name": s.name(), "ARN": s.arn(), "Description": s.description(),
                        "LastChangedDate": date(s.last_changed_date()), "DeletedDate": date(s.deleted_date()),
                        "RotationEnabled": s.rotation_enabled(),
                        "Tags": s.tags().iter().map(|t| json!({"Key": t.key(), "Value": t.value()})).collect::<Vec<_>>()}))
                    .collect(),
            )),
            Output::Table => print_table(
                &["NAME", "LAST CHANGED", "ROTATION", "TAGS"],
                &entries
                    .iter()
                    .map(|s| {
                        vec![
                            format!("{}{}", s.name().unwrap_or_default(), if s.deleted_date().is_some() { " (deleted)" } else { "" }),
                            date(s.last_changed_date()),
                            if s.rotation_enabled() == Some(true) { "on" } else { "off" }.to_owned(),
                            s.tags().iter().map(|t| format!("{}={}", t.key().unwrap_or_default(), t.value().unwrap_or_default())).collect::<Vec<_>>().join(","),
                        ]
                    })
                    .collect::<Vec<_>>(),
            ),
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct VersionsArgs {
    /// Name or ARN of the secret.
    secret_id: String,
    /// Include versions without a staging label.
    #[arg(long)]
    include_deprecated: bool,
    #[command(flatten)]
    api: ApiArgs,
}

pub(crate) fn versions(args: VersionsArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = args.api.client().await?;
        let mut pages = client
            .list_secret_version_ids()
            .secret_id(&args.secret_id)
            .include_deprecated(args.include_deprecated)
            .into_paginator()
            .send();
        let mut versions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(failed(format!("listing versions of {}", args.secret_id)))?;
            versions.extend(page.versions().iter().cloned());
        }
        match args.api.output {
            Output::Json => print_json(&Value::Array(
                versions
                    .iter()
                    .map(|v| json!({"VersionId": v.version_id(), "VersionStages": v.version_stages(),
                        "CreatedDate": date(v.created_date()), "LastAccessedDate": date(v.last_accessed_date())}))
                    .collect(),
            )),
            Output::Table => print_table(
                &["VERSION", "STAGES", "CREATED", "LAST ACCESSED"],
                &versions
                    .iter()
                    .map(|v| vec![v.version_id().unwrap_or_default().to_owned(), v.version_stages().join(","), date(v.created_date()), date(v.last_accessed_date())])
                    .collect::<Vec<_>>(),
            ),
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct DeleteArgs {
    /// Name or ARN of the secret.
    secret_id: String,
    /// Days (7–30) it stays restorable.
    #[arg(long, conflicts_with = "force_without_recovery")]
    recovery_days: Option<i64>,
    /// Delete at once, with no way back.
    #[arg(long)]
    force_without_recovery: bool,
    #[command(flatten)]
    api: ApiArgs,
}

pub(crate) fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let o = args
            .api
            .client()
            .await?
            .delete_secret()
            .secret_id(&args.secret_id)
            .set_recovery_window_in_days(args.recovery_days)
            .force_delete_without_recovery(args.force_without_recovery)
            .send()
            .await
            .map_err(failed(format!("deleting {}", args.secret_id)))?;
        match args.api.output {
            Output::Json => print_json(
                &json!({"ARN": o.arn(), "Name": o.name(), "DeletionDate": date(o.deletion_date())}),
            ),
            Output::Table => println!(
                "{} will be deleted at {}; `s9-secrets restore {}` until then",
                o.name().unwrap_or_default(),
                date(o.deletion_date()),
                o.name().unwrap_or_default()
            ),
        }
        Ok(())
    })
}

pub(crate) fn restore(args: IdArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let o = args
            .api
            .client()
            .await?
            .restore_secret()
            .secret_id(&args.secret_id)
            .send()
            .await
            .map_err(failed(format!("restoring {}", args.secret_id)))?;
        match args.api.output {
            Output::Json => print_json(&json!({"ARN": o.arn(), "Name": o.name()})),
            Output::Table => println!("restored {}", o.name().unwrap_or_default()),
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct TagArgs {
    /// Name or ARN of the secret.
    secret_id: String,
    /// KEY=VALUE to set.
    #[arg(required = true, value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    #[command(flatten)]
    api: ApiArgs,
}

pub(crate) fn tag(args: TagArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let tags: Vec<Tag> = args
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        args.api
            .client()
            .await?
            .tag_resource()
            .secret_id(&args.secret_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(failed(format!("tagging {}", args.secret_id)))?;
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct UntagArgs {
    /// Name or ARN of the secret.
    secret_id: String,
    /// Tag keys to remove.
    #[arg(required = true)]
    keys: Vec<String>,
    #[command(flatten)]
    api: ApiArgs,
}

pub(crate) fn untag(args: UntagArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        args.api
            .client()
            .await?
            .untag_resource()
            .secret_id(&args.secret_id)
            .set_tag_keys(Some(args.keys.clone()))
            .send()
            .await
            .map_err(failed(format!("untagging {}", args.secret_id)))?;
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct RotateArgs {
    #[command(subcommand)]
    complete: Option<RotateCommand>,
    /// Name or ARN of the secret.
    #[arg(required = true)]
    secret_id: Option<String>,
    /// ARN of the rotation function.
    #[arg(long)]
    lambda: Option<String>,
    /// Rotate every N days (1–1000).
    #[arg(long, conflicts_with = "schedule")]
    days: Option<i64>,
    /// `rate(…)` or `cron(…)` schedule.
    #[arg(long)]
    schedule: Option<String>,
    /// Rotation window, e.g. `3h`.
    #[arg(long)]
    window: Option<String>,
    /// Only set the schedule; the first rotation waits for it.
    #[arg(long)]
    not_now: bool,
    /// Turn rotation off (CancelRotateSecret).
    #[arg(long, conflicts_with_all = ["lambda", "days", "schedule", "window", "not_now"])]
    cancel: bool,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum RotateCommand {
    /// Supply the new vendor keys a `vendor-key` rotation waits for (from the environment,
    /// a prompt or stdin, as `populate` reads them); the rotation checks them with the
    /// vendor and only then makes them current.
    Complete(crate::populate::CompleteArgs),
}

pub(crate) fn rotate(args: RotateArgs) -> anyhow::Result<()> {
    if let Some(RotateCommand::Complete(complete)) = args.complete {
        return crate::populate::complete(complete);
    }
    let secret = args.secret_id.as_deref().unwrap_or_default();
    runtime()?.block_on(async {
        let client = args.api.client().await?;
        let (arn, version) = if args.cancel {
            let o = client
                .cancel_rotate_secret()
                .secret_id(secret)
                .send()
                .await
                .map_err(failed(format!("cancelling rotation of {secret}")))?;
            (
                o.arn().map(str::to_owned),
                o.version_id().map(str::to_owned),
            )
        } else {
            let rules = (args.days.is_some() || args.schedule.is_some() || args.window.is_some())
                .then(|| {
                    RotationRulesType::builder()
                        .set_automatically_after_days(args.days)
                        .set_schedule_expression(args.schedule.clone())
                        .set_duration(args.window.clone())
                        .build()
                });
            let o = client
                .rotate_secret()
                .secret_id(secret)
                .set_rotation_lambda_arn(args.lambda.clone())
                .set_rotation_rules(rules)
                .rotate_immediately(!args.not_now)
                .send()
                .await
                .map_err(failed(format!("rotating {secret}")))?;
            (
                o.arn().map(str::to_owned),
                o.version_id().map(str::to_owned),
            )
        };
        match args.api.output {
            Output::Json => print_json(&json!({"ARN": arn, "VersionId": version})),
            Output::Table => print_fields(&[
                ("ARN", arn.unwrap_or_default()),
                ("Version", version.unwrap_or_default()),
            ]),
        }
        Ok(())
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct PutPolicyArgs {
    /// Name or ARN of the secret.
    secret_id: String,
    /// The policy document (JSON).
    #[arg(long)]
    file: PathBuf,
    #[command(flatten)]
    api: ApiArgs,
}

pub(crate) fn get_policy(args: IdArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let o = args
            .api
            .client()
            .await?
            .get_resource_policy()
            .secret_id(&args.secret_id)
            .send()
            .await
            .map_err(failed(format!("reading the policy of {}", args.secret_id)))?;
        match o.resource_policy().map(serde_json::from_str::<Value>) {
            Some(Ok(policy)) => print_json(&policy),
            Some(Err(_)) => println!("{}", o.resource_policy().unwrap_or_default()),
            None => eprintln!("{} has no resource policy", args.secret_id),
        }
        Ok(())
    })
}

pub(crate) fn put_policy(args: PutPolicyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    runtime()?.block_on(async {
        args.api
            .client()
            .await?
            .put_resource_policy()
            .secret_id(&args.secret_id)
            .resource_policy(text)
            .block_public_policy(true)
            .send()
            .await
            .map_err(failed(format!("setting the policy of {}", args.secret_id)))?;
        Ok(())
    })
}

pub(crate) fn delete_policy(args: IdArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        args.api
            .client()
            .await?
            .delete_resource_policy()
            .secret_id(&args.secret_id)
            .send()
            .await
            .map_err(failed(format!("removing the policy of {}", args.secret_id)))?;
        Ok(())
    })
}
