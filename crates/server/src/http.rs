//! The HTTP edge: body limits and timeouts, SigV4, `X-Amz-Target` → [`Operation`], and AWS
//! JSON 1.1 responses. Everything past this module sees typed requests only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use s9_sigv4::{RequestParts, SigV4Error};
use s9_wire::{ApiError, ErrorCode, Operation};
use tracing::Instrument as _;

use s9_core::{Caller, RequestKeys};

use crate::AppState;
use crate::dispatch::dispatch;
use crate::principals::Principal;
use crate::throttle::Admission;

/// The service name SigV4 credential scopes must carry.
const SIGNING_SERVICE: &str = "secretsmanager";

/// The other end of a connection: its address, and its IP as audit records write it
/// (formatted once per connection, not per request).
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    addr: SocketAddr,
    ip: Arc<str>,
    /// The connection is TLS (`aws:SecureTransport`).
    secure: bool,
    /// The names in the client certificate, on a mutual-TLS connection.
    client_names: Option<Arc<[String]>>,
}

impl Peer {
    pub(crate) fn new(addr: SocketAddr, secure: bool, client_names: Option<Arc<[String]>>) -> Self {
        Self {
            addr,
            ip: addr.ip().to_string().into(),
            secure,
            client_names,
        }
    }
}

pub(crate) async fn handle(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: Peer,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let request_id = s9_audit::new_id();
    // Every log line of the request carries its id (also sent as x-amzn-RequestId).
    let span = tracing::info_span!("request", request_id = %request_id);
    handle_in_span(state, req, peer, request_id)
        .instrument(span)
        .await
}

async fn handle_in_span(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: Peer,
    request_id: String,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match tokio::time::timeout(
        state.limits.request_timeout,
        Limited::new(body, state.limits.max_body_bytes).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::new(
            ErrorCode::RequestEntityTooLarge,
            format!(
                "The request body exceeds the limit of {} bytes.",
                state.limits.max_body_bytes
            ),
        )),
        Ok(Err(_)) => Err(ApiError::new(
            ErrorCode::Serialization,
            "The request body could not be read.",
        )),
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            "The request body was not received in time.",
        )),
    };
    // From here the request runs to its end whatever the client does: hyper drops this
    // future when the connection goes away, and a change must never be durable without its
    // audit record (nor a record missing for a request that was read).
    Ok(RunToEnd::new(
        respond(state, parts, body, peer, request_id, target, started).in_current_span(),
    )
    .await)
}

/// Polls a future in place; dropped before it finished, it hands the rest to the runtime
/// to run to its end. The common case costs no task of its own (a task per request cost
/// about a tenth of GetSecretValue throughput).
struct RunToEnd<F>(Option<std::pin::Pin<Box<F>>>)
where
    F: std::future::Future + Send + 'static,
    F::Output: Send;

impl<F> RunToEnd<F>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send,
{
    fn new(future: F) -> Self {
        Self(Some(Box::pin(future)))
    }
}

impl<F> std::future::Future for RunToEnd<F>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send,
{
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.get_mut();
        let Some(future) = this.0.as_mut() else {
            return std::task::Poll::Pending; // finished; never polled again
        };
        let done = future.as_mut().poll(cx);
        if done.is_ready() {
            this.0 = None;
        }
        done
    }
}

impl<F> Drop for RunToEnd<F>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send,
{
    fn drop(&mut self) {
        if let Some(rest) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(rest)),
                Err(_) => tracing::error!("a request was cut off with no runtime to finish it"),
            }
        }
    }
}

/// Processes a received request, records it and builds its response.
async fn respond(
    state: Arc<AppState>,
    parts: http::request::Parts,
    body: Result<Bytes, ApiError>,
    Peer {
        addr: peer,
        ip,
        secure,
        client_names,
    }: Peer,
    request_id: String,
    target: String,
    started: Instant,
) -> Response<Full<Bytes>> {
    let empty = Bytes::new();
    let (body, processed) = match body {
        Ok(body) => {
            let processed = process(
                &state,
                &parts,
                &body,
                Connection {
                    peer,
                    secure,
                    client_names: client_names.as_deref(),
                },
            )
            .await;
            (body, processed)
        }
        Err(e) => (empty, Processed::failed(e)),
    };
    let Processed {
        op,
        principal,
        access_key_id,
        region,
        read_secret,
        rotation_failure,
        secrets,
        unrecorded,
        mut result,
    } = processed;
    if let Some(audit) = state.audit.as_ref().filter(|_| !unrecorded) {
        let now = state.service.now();
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let exchange = crate::audit::Exchange {
            request_id: &request_id,
            target: &target,
            op,
            principal,
            access_key_id: access_key_id.as_deref(),
            region: region.as_deref(),
            source_ip: &ip,
            user_agent,
            body: &body,
            outcome: result.as_deref(),
        };
        let event = crate::audit::event(&exchange, secrets, &state.account_id, now);
        let recording = Instant::now();
        let written = match audit.record(event, now) {
            Ok(pending) => pending.wait().await,
            Err(e) => Err(e),
        };
        state.metrics.observe_audit_write(recording.elapsed());
        if let Err(e) = written {
            tracing::error!(request_id, error = %e, "the request could not be recorded in the audit log");
            // Fail closed: a secret value leaves only with its record written.
            if result.is_ok() && op.is_some_and(Operation::returns_secret) {
                result = Err(ApiError::new(
                    ErrorCode::InternalServiceError,
                    "The request could not be recorded in the audit log, so no secret value was returned.",
                ));
            }
        }
    }
    let secret_read = read_secret.filter(|_| result.is_ok());
    state.metrics.observe(&crate::metrics::Observed {
        operation: op.map_or("Unknown", Operation::name),
        outcome: result.as_ref().map_or_else(|e| e.code.as_str(), |_| "OK"),
        principal: principal.map(|p| p.arn.as_str()),
        latency: started.elapsed(),
        secret_read: secret_read.as_deref(),
    });
    let (status, payload, code) = match result {
        Ok(body) => {
            tracing::debug!(request_id, operation = op.map(Operation::name), principal = principal.map(|p| p.arn.as_str()), %peer, latency_us = started.elapsed().as_micros() as u64, "ok");
            (StatusCode::OK, body, None)
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            if status.is_server_error() {
                tracing::error!(request_id, target, code = e.code.as_str(), %peer, "request failed");
            } else {
                tracing::info!(request_id, target, code = e.code.as_str(), error = e.message, %peer, "request rejected");
            }
            (status, e.to_body(), Some(e.code))
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(payload)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(s9_wire::CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    if let Some(code) = code {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(code.as_str()));
    }
    if let Some(reason) = rotation_failure {
        // Header-safe: anything but visible ASCII becomes `?`.
        let safe: String = reason
            .chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&safe) {
            headers.insert(ROTATION_FAILURE_HEADER, v);
        }
    }
    // The service clock's time, the one signatures are checked against: SDKs correct their
    // clock skew from this header, so it must not be another clock's.
    if let Ok(v) = HeaderValue::from_str(&http_date(state.service.now())) {
        headers.insert(http::header::DATE, v);
    }
    response
}

/// DescribeSecret's answer names a failed rotation here (a Signal9 extension: AWS SDKs
/// ignore it; `s9-secrets rotate complete` reads it to stop as soon as a rotation fails).
pub const ROTATION_FAILURE_HEADER: &str = "x-s9-rotation-failure";

/// `Fri, 27 Nov 2026 14:58:43 GMT` (RFC 9110 IMF-fixdate).
fn http_date(t: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// What processing a request found out, for its response and its audit record.
struct Processed<'a> {
    op: Option<Operation>,
    principal: Option<&'a Principal>,
    access_key_id: Option<String>,
    region: Option<String>,
    /// The name of the secret a GetSecretValue read, for the per-secret read count.
    read_secret: Option<String>,
    /// DescribeSecret: why the rotation in progress failed.
    rotation_failure: Option<String>,
    /// The resolved ARNs of the secrets a read returned.
    secrets: Vec<String>,
    /// A throttled source's refusal that is counted, not recorded (one a minute is).
    unrecorded: bool,
    result: Result<Vec<u8>, ApiError>,
}

impl Processed<'_> {
    fn failed(e: ApiError) -> Self {
        Self {
            op: None,
            principal: None,
            access_key_id: None,
            region: None,
            read_secret: None,
            rotation_failure: None,
            secrets: Vec::new(),
            unrecorded: false,
            result: Err(e),
        }
    }
}

/// Authenticates, decodes and runs one request.
async fn process<'a>(
    state: &'a AppState,
    parts: &http::request::Parts,
    body: &Bytes,
    Connection {
        peer,
        secure,
        client_names,
    }: Connection<'_>,
) -> Processed<'a> {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut out = Processed::failed(ApiError::internal());
    out.op = Operation::from_target(target);
    let request = RequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body,
    };
    let arrived = Instant::now();
    if let Admission::Throttled { record } = state.throttle.admit(peer.ip(), arrived) {
        out.result = Err(ApiError::new(ErrorCode::Throttling, "Rate exceeded"));
        out.unrecorded = !record;
        return out;
    }
    let verified = match state
        .verifier
        .verify(request, state.service.now(), &state.principals)
    {
        Ok(v) => v,
        Err(e) => {
            state.throttle.failed(peer.ip(), arrived);
            out.result = Err(sigv4_error(e));
            return out;
        }
    };
    out.access_key_id = Some(verified.access_key_id.clone());
    out.region = Some(verified.region.clone());
    if verified.service != SIGNING_SERVICE {
        out.result = Err(ApiError::new(
            ErrorCode::InvalidSignature,
            format!("Credential should be scoped to correct service: '{SIGNING_SERVICE}'. "),
        ));
        return out;
    }
    let Some(principal) = state.principals.get(&verified.access_key_id) else {
        state.throttle.failed(peer.ip(), arrived);
        out.result = Err(ApiError::new(
            ErrorCode::UnrecognizedClient,
            "The security token included in the request is invalid.",
        ));
        return out;
    };
    out.principal = Some(principal);
    if let Err(e) = certificate_binding(principal, client_names) {
        state.throttle.failed(peer.ip(), arrived);
        out.result = Err(e);
        return out;
    }
    let Some(op) = out.op else {
        out.result = Err(ApiError::new(ErrorCode::UnknownOperation, ""));
        return out;
    };
    let caller = caller(
        principal,
        parts,
        (peer, secure),
        &verified.region,
        state.service.now(),
    );
    out.result = match s9_wire::Request::decode(op, body) {
        Ok(decoded) => dispatch(&state.service, &caller, &verified.region, decoded)
            .await
            .map(|reply| {
                out.rotation_failure = reply.rotation_failure;
                out.read_secret = reply.secret_read;
                out.secrets = reply.secrets;
                reply.body
            }),
        Err(e) => Err(e),
    };
    out
}

/// What a request's connection says of it.
#[derive(Clone, Copy)]
struct Connection<'a> {
    peer: SocketAddr,
    /// TLS.
    secure: bool,
    /// The names in the client certificate (mutual TLS).
    client_names: Option<&'a [String]>,
}

/// A key bound to a client certificate is refused on a connection whose certificate does
/// not name it: a leaked key is useless without the certificate's private key too.
fn certificate_binding(
    principal: &Principal,
    client_names: Option<&[String]>,
) -> Result<(), ApiError> {
    let Some(bound) = &principal.certificate else {
        return Ok(());
    };
    if client_names.is_some_and(|names| names.iter().any(|n| n == bound)) {
        return Ok(());
    }
    let presented = match client_names {
        None => "no client certificate".to_owned(),
        Some([]) => "a client certificate without names".to_owned(),
        Some(names) => format!("a client certificate for {}", names.join(", ")),
    };
    Err(ApiError::new(
        ErrorCode::AccessDenied,
        format!(
            "The key of {} is bound to the client certificate {bound}; this connection presented {presented}.",
            principal.arn
        ),
    ))
}

/// The caller of one request: the principal's policies and keys, and this request's keys
/// (computed only if a policy asks for one).
fn caller(
    principal: &Principal,
    parts: &http::request::Parts,
    (peer, secure): (SocketAddr, bool),
    region: &str,
    now: time::OffsetDateTime,
) -> Caller {
    let agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Caller {
        principal_arn: principal.arn.clone(),
        policies: principal.policies.clone(),
        principal_context: principal.context.clone(),
        request: RequestKeys::new(Some(peer.ip()), now, region.to_owned(), agent, secure),
    }
}

fn sigv4_error(e: SigV4Error) -> ApiError {
    let code = match &e {
        SigV4Error::MissingAuthentication => ErrorCode::MissingAuthenticationToken,
        SigV4Error::Incomplete(_)
        | SigV4Error::UnsignedHeaders(_)
        | SigV4Error::AmbiguousAuthentication => ErrorCode::IncompleteSignature,
        SigV4Error::UnknownAccessKey => ErrorCode::UnrecognizedClient,
        _ => ErrorCode::InvalidSignature,
    };
    ApiError::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_date_is_imf_fixdate() {
        assert_eq!(
            super::http_date(time::macros::datetime!(2026-03-06 07:05:09 -5)),
            "Fri, 06 Mar 2026 12:05:09 GMT"
        );
    }
}
