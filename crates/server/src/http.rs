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

use s9_core::{Caller, RequestKeys};

use crate::AppState;
use crate::dispatch::dispatch;
use crate::principals::Principal;

/// The service name SigV4 credential scopes must carry.
const SIGNING_SERVICE: &str = "secretsmanager";

pub(crate) async fn handle(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
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
    let outcome = match body {
        Ok(body) => process(&state, &parts, &body, peer).await,
        Err(e) => Err(e),
    };
    let (status, payload, code) = match outcome {
        Ok((op, principal, body)) => {
            tracing::debug!(request_id, operation = op.name(), principal, %peer, latency_us = started.elapsed().as_micros() as u64, "ok");
            (StatusCode::OK, body, None)
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            if status.is_server_error() {
                tracing::error!(request_id, target, code = e.code.as_str(), %peer, "request failed");
            } else {
                tracing::info!(request_id, target, code = e.code.as_str(), message = e.message, %peer, "request rejected");
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
    Ok(response)
}

/// Authenticates, decodes and runs one request.
async fn process(
    state: &AppState,
    parts: &http::request::Parts,
    body: &Bytes,
    peer: SocketAddr,
) -> Result<(Operation, String, Vec<u8>), ApiError> {
    let request = RequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body,
    };
    let verified = state
        .verifier
        .verify(request, state.service.now(), &state.principals)
        .map_err(sigv4_error)?;
    if verified.service != SIGNING_SERVICE {
        return Err(ApiError::new(
            ErrorCode::InvalidSignature,
            format!("Credential should be scoped to correct service: '{SIGNING_SERVICE}'. "),
        ));
    }
    let principal = state
        .principals
        .get(&verified.access_key_id)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnrecognizedClient,
                "The security token included in the request is invalid.",
            )
        })?;
    let caller = caller(
        principal,
        parts,
        peer,
        &verified.region,
        state.service.now(),
    );
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let op = Operation::from_target(target)
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownOperation, ""))?;
    let decoded = s9_wire::Request::decode(op, body)?;
    let out = dispatch(&state.service, &caller, &verified.region, decoded).await?;
    Ok((op, caller.principal_arn, out))
}

/// The caller of one request: the principal's policies and keys, and this request's keys
/// (computed only if a policy asks for one).
fn caller(
    principal: &Principal,
    parts: &http::request::Parts,
    peer: SocketAddr,
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
        request: RequestKeys::new(Some(peer.ip()), now, region.to_owned(), agent),
    }
}

fn sigv4_error(e: SigV4Error) -> ApiError {
    let code = match &e {
        SigV4Error::MissingAuthentication => ErrorCode::MissingAuthenticationToken,
        SigV4Error::Incomplete(_) => ErrorCode::IncompleteSignature,
        SigV4Error::UnknownAccessKey => ErrorCode::UnrecognizedClient,
        _ => ErrorCode::InvalidSignature,
    };
    ApiError::new(code, e.to_string())
}
