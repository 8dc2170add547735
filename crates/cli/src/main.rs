//! `s9-secrets`: the Signal9 Secrets command line.
//!
//! Thin by design: parse (clap) → run a command from `commands/` → render.

#![forbid(unsafe_code)]

mod agent;
mod audit;
mod bench;
mod keygen;
mod policy;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The service allocates on request threads and frees on the audit and store writer threads;
/// mimalloc's per-thread heaps keep that from contending on glibc's arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "s9-secrets",
    version,
    about = "A self-hosted, AWS Secrets Manager compatible secrets service"
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
    /// Verify, query and follow the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run a local caching endpoint compatible with the AWS Secrets Manager Agent.
    Agent(agent::AgentArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => bench::run(args).map(|()| ExitCode::SUCCESS),
        Command::Keygen(args) => keygen::run(args).map(|()| ExitCode::SUCCESS),
        Command::Policy(command) => policy::run(command),
        Command::Audit(command) => audit::run(command),
        Command::Agent(args) => agent::run(args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
