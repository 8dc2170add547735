//! `s9-secrets`: the Signal9 Secrets command line.
//!
//! Thin by design: parse (clap) → run a command from `commands/` → render.

#![forbid(unsafe_code)]

mod agent;
mod alarms;
mod api;
mod audit;
mod bench;
mod keygen;
mod policy;
mod populate;
mod run;
mod secrets;
mod serve;
mod stack;
mod tls;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// The service allocates on request threads and frees on the audit and store writer threads;
/// mimalloc's per-thread heaps keep that from contending on glibc's arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "s9-secrets",
    version,
    about = "A self-hosted, AWS Secrets Manager compatible secrets service",
    after_help = api::EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the secrets service (AWS Secrets Manager wire protocol, SigV4).
    Serve(serve::ServeArgs),
    /// Measure GetSecretValue / PutSecretValue throughput and latency against a server.
    Bench(bench::BenchArgs),
    /// Create a credentials file with a fresh key pair for each profile.
    Keygen(keygen::KeygenArgs),
    /// Simulate policy decisions and validate policy documents.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// TLS certificates: `tls init` makes a local CA and a server certificate.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Verify, query and follow the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Show alarm states and their history.
    #[command(subcommand)]
    Alarms(alarms::AlarmsCommand),
    /// Run a local caching endpoint compatible with the AWS Secrets Manager Agent.
    Agent(agent::AgentArgs),
    /// Show a secret: its metadata and the shape of its value (`--reveal` prints the value).
    Get(secrets::GetArgs),
    /// Store a new value, read from stdin or a file (never from the command line).
    Put(secrets::PutArgs),
    /// Show a secret's metadata, rotation, tags and versions.
    Describe(secrets::IdArgs),
    /// List secrets.
    List(secrets::ListArgs),
    /// List a secret's versions and their staging labels.
    Versions(secrets::VersionsArgs),
    /// Schedule a secret for deletion (restorable for 7–30 days).
    Delete(secrets::DeleteArgs),
    /// Cancel a scheduled deletion.
    Restore(secrets::IdArgs),
    /// Add or change tags.
    Tag(secrets::TagArgs),
    /// Remove tags.
    Untag(secrets::UntagArgs),
    /// Configure and start rotation, or cancel it.
    Rotate(secrets::RotateArgs),
    /// Fill the Signal9 API-credentials secret from the environment, a prompt or stdin.
    Populate(populate::PopulateArgs),
    /// Run a command with the Signal9 API credentials in its environment.
    Run(run::RunArgs),
    /// Make a running service match a stack spec (signal9.toml); shows the plan first.
    Apply(stack::ApplyArgs),
    /// Print the CloudFormation template for a stack spec (for real AWS).
    Synth(stack::SynthArgs),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// Prints the completion script for `shell`.
///
/// clap_complete 4.6 names a bash case label of a subcommand of a hyphenated binary
/// `s9__subcmd__secrets__subcmd__audit` but sets `cmd` to `s9__secrets__subcmd__audit`, so
/// nothing below the top level completed; the labels are renamed to what `cmd` holds.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "s9-secrets", &mut script);
    let mut script = String::from_utf8(script)?;
    if shell == clap_complete::Shell::Bash {
        script = script.replace("s9__subcmd__secrets__subcmd__", "s9__secrets__subcmd__");
    }
    print!("{script}");
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => bench::run(args).map(|()| ExitCode::SUCCESS),
        Command::Keygen(args) => keygen::run(args).map(|()| ExitCode::SUCCESS),
        Command::Policy(command) => policy::run(command),
        Command::Tls(command) => tls::run(command),
        Command::Audit(command) => audit::run(command),
        Command::Alarms(command) => alarms::run(command),
        Command::Agent(args) => agent::run(args).map(|()| ExitCode::SUCCESS),
        Command::Get(args) => secrets::get(args).map(|()| ExitCode::SUCCESS),
        Command::Put(args) => secrets::put(args).map(|()| ExitCode::SUCCESS),
        Command::Describe(args) => secrets::describe(args).map(|()| ExitCode::SUCCESS),
        Command::List(args) => secrets::list(args).map(|()| ExitCode::SUCCESS),
        Command::Versions(args) => secrets::versions(args).map(|()| ExitCode::SUCCESS),
        Command::Delete(args) => secrets::delete(args).map(|()| ExitCode::SUCCESS),
        Command::Restore(args) => secrets::restore(args).map(|()| ExitCode::SUCCESS),
        Command::Tag(args) => secrets::tag(args).map(|()| ExitCode::SUCCESS),
        Command::Untag(args) => secrets::untag(args).map(|()| ExitCode::SUCCESS),
        Command::Rotate(args) => secrets::rotate(args).map(|()| ExitCode::SUCCESS),
        Command::Populate(args) => populate::run(args).map(|()| ExitCode::SUCCESS),
        Command::Run(args) => run::run(args),
        Command::Apply(args) => stack::apply(args).map(|()| ExitCode::SUCCESS),
        Command::Synth(args) => stack::synth(args).map(|()| ExitCode::SUCCESS),
        Command::Completions { shell } => completions(shell),
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            api::exit_code(&e)
        }
    }
}
