//! `s9-secrets alarms list|history`: the alarm states and their history, as the server
//! keeps them in `DATA_DIR/alarms.json` (read while it runs; the file is replaced
//! atomically).

use std::path::PathBuf;
use std::process::ExitCode;

use s9_core::alarms::{AlarmState, Snapshot};
use time::format_description::well_known::Rfc3339;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AlarmsCommand {
    /// Each alarm's state per subject (secret or principal); exits 3 if any is in ALARM.
    List(ListArgs),
    /// State changes, newest last, with how their notifications went.
    History(HistoryArgs),
    /// The rules a service config runs (the defaults without one), one line each.
    Rules(RulesArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct RulesArgs {
    /// The service config (`serve --config`); without it, the default rules.
    #[arg(long, env = "S9_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// The server's data directory.
    #[arg(long, default_value = "s9-data", env = "S9_DATA_DIR")]
    data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// The server's data directory.
    #[arg(long, default_value = "s9-data", env = "S9_DATA_DIR")]
    data_dir: PathBuf,
    /// Only this alarm's changes.
    #[arg(long)]
    alarm: Option<String>,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Table,
    Json,
}

/// The alarm states of the server whose data directory this is; a directory no server ever
/// used is an error, not "no alarm yet".
fn load(data_dir: &std::path::Path) -> anyhow::Result<Snapshot> {
    if !data_dir.join("secrets.redb").is_file() {
        return Err(crate::api::Failure::new(
            crate::api::exit::FAILURE,
            format!(
                "{} is not the data directory of a Signal9 Secrets server (no secrets.redb in it)",
                data_dir.display()
            ),
            Some("pass the server's --data-dir (or set S9_DATA_DIR)"),
        )
        .into());
    }
    Ok(Snapshot::read(&data_dir.join("alarms.json"))?)
}

fn when(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn run(command: AlarmsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AlarmsCommand::List(args) => {
            let snapshot = load(&args.data_dir)?;
            let firing = snapshot.alarms.iter().any(|a| a.state == AlarmState::Alarm);
            match args.output {
                Output::Json => {
                    for a in &snapshot.alarms {
                        println!("{}", serde_json::to_string(a)?);
                    }
                }
                Output::Table => {
                    if snapshot.alarms.is_empty() {
                        println!("No alarm has fired yet.");
                    }
                    for a in &snapshot.alarms {
                        println!(
                            "{:<5}  {:<24}  {:<44}  since {}  {}",
                            a.state.as_str(),
                            a.alarm,
                            a.subject,
                            when(a.since),
                            a.reason
                        );
                    }
                }
            }
            Ok(if firing {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        AlarmsCommand::Rules(args) => {
            let settings = match &args.config {
                Some(path) => s9_server::ServiceConfig::load(path)?.alarms,
                None => s9_server::alarms::AlarmSettings::default(),
            };
            for rule in crate::serve::with_stack_rules(settings)?.rules {
                println!("{:<28} {}", rule.name, rule.kind.name());
            }
            Ok(ExitCode::SUCCESS)
        }
        AlarmsCommand::History(args) => {
            let snapshot = load(&args.data_dir)?;
            let changes: Vec<_> = snapshot
                .history
                .iter()
                .filter(|c| args.alarm.as_ref().is_none_or(|a| *a == c.alarm))
                .collect();
            let skip = changes.len().saturating_sub(args.limit);
            for c in &changes[skip..] {
                match args.output {
                    Output::Json => println!("{}", serde_json::to_string(c)?),
                    Output::Table => println!(
                        "{}  #{:<4} {:<24}  {:<44}  {} -> {}  {}  [{}]",
                        when(c.time),
                        c.id,
                        c.alarm,
                        c.subject,
                        c.from.as_str(),
                        c.to.as_str(),
                        c.reason,
                        c.delivery.as_deref().unwrap_or("log only")
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
