//! What every command that talks to Secrets Manager shares: the aws-CLI-style connection
//! options, the output format, and exit codes with a hint of what to do next.

use std::process::ExitCode;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

/// Exit codes of the API commands (documented in README and `--help`).
pub(crate) mod exit {
    pub(crate) const FAILURE: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const NOT_FOUND: u8 = 3;
    pub(crate) const DENIED: u8 = 4;
    pub(crate) const UNAVAILABLE: u8 = 5;
    pub(crate) const INVALID: u8 = 6;
}

pub(crate) const EXIT_CODES: &str = "Exit codes: 0 success, 1 other failure, 2 usage error, \
3 secret not found, 4 access denied or bad credentials, 5 service unreachable or throttled, \
6 invalid input or request.";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
}

/// Where and as whom to connect, resolved like the aws CLI: flags, then `AWS_*` variables,
/// then the shared config and credentials files.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ApiArgs {
    /// Secrets Manager endpoint, e.g. http://127.0.0.1:7780 (default: AWS, or
    /// AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL).
    #[arg(long, env = "S9_ENDPOINT")]
    pub(crate) endpoint: Option<String>,
    /// AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's).
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Profile in the shared config and credentials files (default: AWS_PROFILE or `default`).
    #[arg(long)]
    pub(crate) profile: Option<String>,
    /// A PEM file of CA certificates to trust besides the system's, for a server whose
    /// certificate a private CA signed (`s9-secrets tls init`).
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub(crate) ca_bundle: Option<std::path::PathBuf>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: Output,
}

impl ApiArgs {
    /// The SDK configuration, refused when it names no region or finds no credentials: the
    /// SDK would only fail later, with a bare "other" or the last provider's complaint.
    pub(crate) async fn sdk_config(&self) -> Result<aws_config::SdkConfig, Failure> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(bundle) = self
            .ca_bundle
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
        {
            let client = s9_client::ca_bundle::http_client(bundle)
                .map_err(|e| Failure::new(exit::USAGE, e.to_string(), None))?;
            loader = loader.http_client(client);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(Failure::new(
                exit::USAGE,
                "no AWS region is configured",
                Some(
                    "pass --region, or export AWS_REGION and AWS_DEFAULT_REGION (the aws CLI v1 reads only the latter), or set `region` in ~/.aws/config",
                ),
            ));
        }
        if let Some(provider) = config.credentials_provider() {
            use aws_sdk_secretsmanager::config::ProvideCredentials as _;
            if provider.provide_credentials().await.is_err() {
                return Err(Failure::new(
                    exit::DENIED,
                    "no AWS credentials were found",
                    Some(
                        "export AWS_SHARED_CREDENTIALS_FILE (`s9-secrets serve` prints it), pass --profile / set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    ),
                ));
            }
        }
        Ok(config)
    }

    pub(crate) async fn client(&self) -> Result<Client, Failure> {
        Ok(Client::new(&self.sdk_config().await?))
    }
}

/// The runtime an API command runs its requests on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// A failure with its exit code and, where there is one, what to do about it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }

    pub(crate) fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_owned());
        self
    }

    /// Classifies an error of the caching client; an invalid value is told by its field and
    /// problem, never by what it holds.
    pub(crate) fn from_client(e: &s9_client::Error) -> Self {
        use s9_client::Error;
        let code = match e {
            Error::NotFound { .. } => exit::NOT_FOUND,
            Error::AccessDenied { .. } => exit::DENIED,
            e if e.is_transient() => exit::UNAVAILABLE,
            _ => exit::INVALID,
        };
        let message = match e {
            Error::Invalid {
                secret_id,
                expected,
                field,
                problem,
            } => {
                let place = if secret_id.is_empty() {
                    String::new()
                } else {
                    format!("secret `{secret_id}`: ")
                };
                format!("{place}{}: {problem}", field.as_deref().unwrap_or(expected))
            }
            other => other.to_string(),
        };
        Self {
            code,
            message,
            hint: None,
        }
    }

    /// Classifies an SDK error (never carrying a secret value: AWS does not echo them).
    pub(crate) fn from_sdk<
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    >(
        what: &str,
        err: &SdkError<E, R>,
    ) -> Self {
        let code = err.code().unwrap_or_default();
        let message = match err.message() {
            Some(m) => format!("{what}: {code}: {m}"),
            None => {
                let socket = match err {
                    SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => {
                        d.as_connector_error()
                    }
                    _ => None,
                };
                match socket {
                    // The socket's own reason ("Connection refused (os error 111)"), not the
                    // SDK's wrappers ("dispatch failure: io error").
                    Some(cause) => format!("{what}: {}", root_cause(cause)),
                    None => format!(
                        "{what}: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(err)
                    ),
                }
            }
        };
        let (exit, hint) = match (err, code) {
            (_, "ResourceNotFoundException") => (
                exit::NOT_FOUND,
                Some(
                    "check the name with `s9-secrets list`, or create it with `s9-secrets populate` / `put --create`",
                ),
            ),
            (
                _,
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignatureException"
                | "MissingAuthenticationTokenException"
                | "ExpiredTokenException",
            ) => (
                exit::DENIED,
                Some(
                    "check --profile / AWS_PROFILE and that its key may do this (`s9-secrets policy simulate` explains decisions)",
                ),
            ),
            (_, "ThrottlingException" | "InternalServiceError") => {
                (exit::UNAVAILABLE, Some("try again in a moment"))
            }
            // The service answered, but its certificate is not one this machine trusts.
            (SdkError::DispatchFailure(_), _) if message.contains("invalid peer certificate") => (
                exit::UNAVAILABLE,
                Some(
                    "the server's TLS certificate is not trusted here: export AWS_CA_BUNDLE=the CA's certificate (`ca.pem` from `s9-secrets tls init`), or pass --ca-bundle; check that --endpoint names a host the certificate is for",
                ),
            ),
            (
                SdkError::DispatchFailure(_)
                | SdkError::TimeoutError(_)
                | SdkError::ResponseError(_),
                _,
            ) => (
                exit::UNAVAILABLE,
                Some(
                    "is the service running and is --endpoint right? (`s9-secrets serve` listens on http://127.0.0.1:7780)",
                ),
            ),
            (SdkError::ServiceError(_), _) => (exit::INVALID, None),
            _ => (exit::FAILURE, None),
        };
        Self {
            code: exit,
            message,
            hint: hint.map(str::to_owned),
        }
    }
}

/// The innermost cause of an error: what actually went wrong ("Connection refused (os
/// error 111)") rather than the SDK's wrapper ("io error", "dispatch failure").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// `map_err` for an SDK call: the failure says what was being done.
pub(crate) fn failed<E, R>(what: impl Into<String>) -> impl FnOnce(SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let what = what.into();
    move |e| Failure::from_sdk(&what, &e)
}

/// The exit code for a failed command.
pub(crate) fn exit_code(err: &anyhow::Error) -> ExitCode {
    ExitCode::from(
        err.downcast_ref::<Failure>()
            .map_or(exit::FAILURE, |f| f.code),
    )
}

/// Prints rows as aligned columns under a header.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

/// Prints `name: value` pairs, aligned.
pub(crate) fn print_fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in fields {
        println!("{k:<width$}  {v}");
    }
}

pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
