//! `s9-secrets run --secret ID -- CMD ARGS…`: runs CMD with the Signal9 API credentials in
//! its environment, read through the caching client; the keys never touch a file or the
//! command line.

use std::process::{Command, ExitCode};

use anyhow::Context as _;
use s9_client::SecretsCache;
use secrecy::ExposeSecret as _;

use crate::api::{ApiArgs, Failure, exit};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The API-credentials secret.
    #[arg(long, default_value = "signal9-advisor/api-credentials")]
    secret: String,
    /// Variable for the AlphaVantage key.
    #[arg(long, default_value = "ALPHAVANTAGE_API_KEY")]
    alpha_vantage_var: String,
    /// Variable for the Alpaca key id.
    #[arg(long, default_value = "ALPACA_API_KEY")]
    alpaca_key_var: String,
    /// Variable for the Alpaca secret.
    #[arg(long, default_value = "ALPACA_API_SECRET")]
    alpaca_secret_var: String,
    #[command(flatten)]
    api: ApiArgs,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Runs the command and answers with its exit status (a command killed by a signal gives
/// 128 + the signal's number, as shells do).
pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let runtime = crate::api::runtime()?;
    let creds = runtime.block_on(async {
        let sdk = args.api.sdk_config().await?;
        let cache = SecretsCache::builder().build_from_sdk_config(&sdk);
        cache
            .api_credentials(&args.secret)
            .await
            .map_err(|e| Failure::from_client(&e))
    })?;
    drop(runtime);
    let (program, rest) = args.command.split_first().context("no command to run")?;
    // A terminal's Ctrl-C reaches the whole process group, the command included.
    let status = Command::new(program)
        .args(rest)
        .env(
            &args.alpha_vantage_var,
            creds.alpha_vantage_api_key().expose_secret(),
        )
        .env(&args.alpaca_key_var, creds.alpaca_api_key().expose_secret())
        .env(
            &args.alpaca_secret_var,
            creds.alpaca_api_secret().expose_secret(),
        )
        .status()
        .map_err(|e| Failure::new(exit::FAILURE, format!("could not run {program}: {e}"), None))?;
    drop(creds);
    let code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt as _;
        128 + status.signal().unwrap_or(0)
    });
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
