//! `s9-secrets agent`: a local caching HTTP endpoint compatible with the AWS Secrets Manager
//! Agent and the Parameters and Secrets Lambda Extension, in front of Secrets Manager (real
//! AWS or Signal9 Secrets), so code written for them works unchanged.
//!
//! `GET /secretsmanager/get?secretId=…[&versionStage=…|&versionId=…][&refreshNow=true]` or
//! `GET /v1/<secretId>?…`, with the SSRF token in `X-Aws-Parameters-Secrets-Token` (or
//! `X-Vault-Token`); `GET /ping` answers `healthy`. The answer is GetSecretValue's.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use s9_client::{Error, SecretsCache, Version};
use secrecy::{ExposeSecret as _, SecretString};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;

use crate::serve::{LogFormat, init_logging, shutdown_signal};

/// Headers that may carry the SSRF token, as the AWS agent accepts them.
const TOKEN_HEADERS: [&str; 2] = ["x-aws-parameters-secrets-token", "x-vault-token"];
/// Where the token is looked for, first set wins, as the AWS agent does.
const TOKEN_ENV: [&str; 3] = [
    "AWS_TOKEN",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

#[derive(Debug, clap::Args)]
pub(crate) struct AgentArgs {
    /// Loopback address to listen on (the agent refuses anything else).
    #[arg(long, default_value = "127.0.0.1:2773", env = "S9_AGENT_LISTEN")]
    listen: SocketAddr,
    /// Secrets Manager endpoint, e.g. a Signal9 Secrets server. Default: AWS, as the SDK
    /// resolves it (AWS_ENDPOINT_URL… included).
    #[arg(long, env = "S9_ENDPOINT")]
    endpoint: Option<String>,
    /// Seconds a value is served from the cache.
    #[arg(long, default_value_t = 300)]
    ttl_secs: u64,
    /// Environment variable holding the SSRF token (its value may be `file://PATH`).
    /// Default: the first of AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN.
    #[arg(long)]
    token_env: Option<String>,
    #[arg(long, value_enum, default_value = "text", env = "S9_LOG_FORMAT")]
    log_format: LogFormat,
}

pub(crate) fn run(args: AgentArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "the agent listens on loopback only; {} is not a loopback address",
        args.listen
    );
    let token = ssrf_token(args.token_env.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal();
        let sdk = s9_client::load_sdk_config(args.endpoint.as_deref()).await?;
        let cache = SecretsCache::builder()
            .ttl(Duration::from_secs(args.ttl_secs.max(1)))
            .build_from_sdk_config(&sdk);
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!(listen = %args.listen, "agent ready");
        serve(listener, Arc::new(Agent { cache, token }), shutdown).await;
        Ok(())
    })
}

fn ssrf_token(env: Option<&str>) -> anyhow::Result<SecretString> {
    let names: Vec<&str> = env.map_or_else(|| TOKEN_ENV.to_vec(), |n| vec![n]);
    let (name, value) = names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()).map(|v| (*n, v)))
        .with_context(|| {
            format!(
                "no SSRF token: set {} to a random value that callers send in X-Aws-Parameters-Secrets-Token",
                names.join(" or ")
            )
        })?;
    let value = match value.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the SSRF token file named by {name}"))?
            .trim()
            .to_owned(),
        None => value,
    };
    anyhow::ensure!(!value.is_empty(), "the SSRF token in {name} is empty");
    Ok(SecretString::from(value))
}

struct Agent {
    cache: SecretsCache,
    token: SecretString,
}

async fn serve(
    listener: TcpListener,
    agent: Arc<Agent>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let agent = Arc::clone(&agent);
                let conn = http.serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |req| {
                        let agent = Arc::clone(&agent);
                        async move { Ok::<_, std::convert::Infallible>(agent.handle(&req).await) }
                    }),
                );
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    tracing::info!("agent stopped");
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn error_reply(status: StatusCode, code: &str, message: &str) -> Reply {
    let body = serde_json::json!({"__type": code, "message": message}).to_string();
    let mut r = reply(status, body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

impl Agent {
    async fn handle<B>(&self, req: &Request<B>) -> Reply {
        let path = req.uri().path();
        if path == "/ping" && req.method() == Method::GET {
            return reply(StatusCode::OK, "healthy");
        }
        if req.headers().contains_key("x-forwarded-for") {
            tracing::warn!("rejected a forwarded request");
            return reply(StatusCode::BAD_REQUEST, "Forwarded");
        }
        // The token first, as AWS's agent checks it: a POST without one is 403, not 405.
        if !self.token_ok(req.headers()) {
            tracing::warn!("rejected a request without the SSRF token");
            return reply(StatusCode::FORBIDDEN, "Bad Token");
        }
        if req.method() != Method::GET {
            return reply(StatusCode::METHOD_NOT_ALLOWED, "Not allowed");
        }
        let query = Query::parse(req.uri().query().unwrap_or(""));
        let secret_id = match (path, path.strip_prefix("/v1/")) {
            ("/secretsmanager/get", _) => query.secret_id.clone(),
            (_, Some(id)) if !id.is_empty() => Some(decode(id)),
            _ => return reply(StatusCode::NOT_FOUND, "Not found"),
        };
        let Some(secret_id) = secret_id.filter(|s| !s.is_empty()) else {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "InvalidParameterException",
                "secretId is required",
            );
        };
        let version = match (query.version_id, query.version_stage) {
            (Some(id), _) => Version::Id(Cow::Owned(id)),
            (None, Some(stage)) => Version::Stage(Cow::Owned(stage)),
            (None, None) => Version::CURRENT,
        };
        // refreshNow asks Secrets Manager whatever is cached, and its failure is the answer
        // (never the cached value), as AWS's agent does.
        let read = if query.refresh_now {
            self.cache.refresh_value(&secret_id, &version).await
        } else {
            self.cache.get_value(&secret_id, &version).await
        };
        match read {
            Ok(value) => {
                let mut body = serde_json::json!({
                    "ARN": value.arn,
                    "Name": value.name,
                    "VersionId": value.version_id,
                    "VersionStages": value.version_stages,
                    // A string of seconds with milliseconds, as AWS's agent writes it.
                    "CreatedDate": value.created_date.map(|t| format!("{t:.3}")),
                });
                if let Some(s) = value.secret_string() {
                    body["SecretString"] = s.expose_secret().into();
                }
                if let Some(b) = value.secret_binary() {
                    body["SecretBinary"] = base64::engine::general_purpose::STANDARD
                        .encode(b.expose_secret())
                        .into();
                }
                let mut r = reply(StatusCode::OK, body.to_string());
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                r
            }
            Err(e) => {
                tracing::info!(secret_id, error = %e, "read failed");
                error_reply(status_of(&e), e.code(), &e.to_string())
            }
        }
    }

    fn token_ok(&self, headers: &http::HeaderMap) -> bool {
        let expected = self.token.expose_secret().as_bytes();
        TOKEN_HEADERS.iter().any(|name| {
            headers
                .get(*name)
                .is_some_and(|v| bool::from(v.as_bytes().ct_eq(expected)))
        })
    }
}

/// The status the AWS agent gives each failure: the service's own for its errors, 502 for a
/// broken connection, 504 for a timeout.
fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Rejected {
            status: Some(status),
            ..
        } => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
        Error::Unavailable {
            kind: s9_client::TransientKind::Timeout,
            ..
        } => StatusCode::GATEWAY_TIMEOUT,
        Error::Unavailable { .. } | Error::CircuitOpen { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[derive(Debug, Default)]
struct Query {
    secret_id: Option<String>,
    version_id: Option<String>,
    version_stage: Option<String>,
    refresh_now: bool,
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl Query {
    fn parse(query: &str) -> Self {
        let mut q = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v);
            match k {
                "secretId" => q.secret_id = Some(v),
                "versionId" => q.version_id = Some(v),
                "versionStage" => q.version_stage = Some(v),
                "refreshNow" => q.refresh_now = v.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_percent_decoded() {
        let q = Query::parse(
            "secretId=signal9-advisor%2Fapi-credentials&versionStage=AWSPREVIOUS&refreshNow=TRUE&x",
        );
        assert_eq!(
            q.secret_id.as_deref(),
            Some("signal9-advisor/api-credentials")
        );
        assert_eq!(q.version_stage.as_deref(), Some("AWSPREVIOUS"));
        assert!(q.refresh_now);
        assert_eq!(q.version_id, None);
    }
}
