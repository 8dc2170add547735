//! AWS Signature Version 4: canonical requests, signing-key derivation, signing and
//! verification.
//!
//! This crate owns the SigV4 algorithm and the `SecretKey` newtype. It knows nothing of
//! HTTP servers, storage or Secrets Manager: the server hands it the request's method, URI,
//! headers and body, and a way to look up the secret key for an access key id, and gets back
//! either the verified identity or a typed [`SigV4Error`].
//!
//! Verification recomputes the signature over exactly the headers the client listed in
//! `SignedHeaders` and compares the two in constant time. Both the `Authorization` header form
//! and the presigned query-string form are accepted.

mod canonical;
mod key;

use std::fmt;

use aws_lc_rs::{digest, hmac};
use http::{HeaderMap, Method, Uri};
use time::{
    Duration, OffsetDateTime, PrimitiveDateTime, format_description::FormatItem,
    macros::format_description,
};

pub use canonical::{UriEncoding, canonical_request};
pub use key::SecretKey;

/// The only algorithm SigV4 defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

const AMZ_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
const SCOPE_DATE: &[FormatItem<'static>] = format_description!("[year][month][day]");

/// A request as the verifier sees it: borrowed from the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The identity a valid signature proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    /// The region of the credential scope: the namespace the request addresses.
    pub region: String,
    pub service: String,
    /// The `X-Amz-Security-Token`, if the caller sent one (tolerated, not interpreted).
    pub session_token: Option<String>,
}

/// Why a request's signature was not accepted. Each variant maps to one AWS error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor a presigned query string.
    #[error("Missing Authentication Token")]
    MissingAuthentication,
    /// The signature is present but malformed or lacks a required part.
    #[error("{0}")]
    Incomplete(String),
    /// The access key id is not known.
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    /// The signature does not match the one computed over the request.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureMismatch,
    /// The request's date is too far in the past or the future.
    #[error(
        "Signature expired: {request_time} is now earlier than {earliest} ({now} - {skew_minutes} min.)"
    )]
    Expired {
        request_time: String,
        earliest: String,
        now: String,
        skew_minutes: i64,
    },
    #[error(
        "Signature not yet current: {request_time} is still later than {latest} ({now} + {skew_minutes} min.)"
    )]
    NotYetCurrent {
        request_time: String,
        latest: String,
        now: String,
        skew_minutes: i64,
    },
    /// A presigned URL past its `X-Amz-Expires`.
    #[error("Request has expired")]
    PresignExpired,
    /// The credential scope names something that is not a region (`us-east-1:999…` would
    /// otherwise make a namespace, and ARNs, of its own).
    #[error("Credential should be scoped to a valid region. ")]
    InvalidRegion,
    /// A header the signature must cover is not in `SignedHeaders`: a signature over fewer
    /// headers could be replayed with other values (another `X-Amz-Target`) in them.
    #[error("There were headers present in the request which were not signed: {0}")]
    UnsignedHeaders(String),
    /// More than one `Authorization` header, or a header and a presigned query string.
    #[error("Only one authentication mechanism and one Authorization header are allowed.")]
    AmbiguousAuthentication,
}

/// Whether `region` is shaped like an AWS region name: lower-case words and a number,
/// separated by hyphens (`us-east-1`, `us-gov-west-1`, `eu-central-2`).
pub fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    region.len() <= 32
        && parts.len() >= 3
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        && parts[..parts.len() - 1]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Looks up the secret key for an access key id. The server backs this with its principals.
pub trait KeyLookup {
    fn secret_key(&self, access_key_id: &str) -> Option<SecretKey>;
}

impl<F> KeyLookup for F
where
    F: Fn(&str) -> Option<SecretKey>,
{
    fn secret_key(&self, access_key_id: &str) -> Option<SecretKey> {
        self(access_key_id)
    }
}

/// Verifies SigV4 signatures.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Largest accepted difference between the request's date and the server's clock.
    pub max_skew: Duration,
    pub uri_encoding: UriEncoding,
    /// Remove `.`/`..` segments and repeated slashes before encoding the path.
    pub normalize_path: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            max_skew: Duration::minutes(15),
            uri_encoding: UriEncoding::Double,
            normalize_path: true,
        }
    }
}

/// The parts of an `Authorization` header or presigned query string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AuthParams {
    access_key_id: String,
    scope_date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    expires: Option<i64>,
    presigned: bool,
}

impl Verifier {
    /// Checks the request's signature at time `now`, with keys from `keys`.
    pub fn verify(
        &self,
        req: RequestParts<'_>,
        now: OffsetDateTime,
        keys: &dyn KeyLookup,
    ) -> Result<Verified, SigV4Error> {
        let params = auth_params(&req)?;
        let request_time = PrimitiveDateTime::parse(&params.amz_date, AMZ_DATE)
            .map_err(|_| {
                SigV4Error::Incomplete(format!(
                    "Date must be in ISO-8601 'basic format'. Got '{}'.",
                    params.amz_date
                ))
            })?
            .assume_utc();
        if !params.amz_date.starts_with(&params.scope_date) {
            return Err(SigV4Error::Incomplete(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                params.scope_date,
                &params.amz_date[..8.min(params.amz_date.len())],
                params.amz_date
            )));
        }
        if params.presigned {
            let expires = params.expires.unwrap_or(0);
            if !(1..=604_800).contains(&expires) {
                return Err(SigV4Error::Incomplete(
                    "X-Amz-Expires must be between 1 and 604800 seconds.".into(),
                ));
            }
            if now > request_time + Duration::seconds(expires) {
                return Err(SigV4Error::PresignExpired);
            }
        }
        self.check_skew(request_time, now, params.presigned)?;
        // `host`, `x-amz-target` and every other `x-amz-*` header present are signed.
        let unsigned: Vec<&str> = req
            .headers
            .keys()
            .map(http::HeaderName::as_str)
            .filter(|name| *name == "host" || name.starts_with("x-amz-"))
            // A session token may be added after signing (AWS's `post-sts-header-after`
            // vector); the service does not act on it.
            .filter(|name| *name != "x-amz-security-token")
            .filter(|name| !params.signed_headers.iter().any(|h| h == name))
            .collect();
        if !unsigned.is_empty() {
            return Err(SigV4Error::UnsignedHeaders(unsigned.join(", ")));
        }

        let Some(secret) = keys.secret_key(&params.access_key_id) else {
            return Err(SigV4Error::UnknownAccessKey);
        };
        let canonical = canonical_request(
            &req,
            &params.signed_headers,
            self.uri_encoding,
            self.normalize_path,
            params.presigned,
        );
        let scope = format!(
            "{}/{}/{}/aws4_request",
            params.scope_date, params.region, params.service
        );
        let string_to_sign = string_to_sign(&params.amz_date, &scope, &canonical);
        let expected = signature(
            &secret,
            &params.scope_date,
            &params.region,
            &params.service,
            &string_to_sign,
        );
        let provided = hex::decode(&params.signature).map_err(|_| SigV4Error::SignatureMismatch)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_slice(),
            provided.as_slice(),
        )) {
            return Err(SigV4Error::SignatureMismatch);
        }
        let session_token = header_str(req.headers, "x-amz-security-token")
            .map(str::to_owned)
            .or_else(|| query_param(req.uri, "X-Amz-Security-Token"));
        Ok(Verified {
            access_key_id: params.access_key_id,
            region: params.region,
            service: params.service,
            session_token,
        })
    }

    fn check_skew(
        &self,
        request_time: OffsetDateTime,
        now: OffsetDateTime,
        presigned: bool,
    ) -> Result<(), SigV4Error> {
        let fmt = |t: OffsetDateTime| t.format(AMZ_DATE).unwrap_or_default();
        let skew_minutes = self.max_skew.whole_minutes();
        if !presigned && request_time < now - self.max_skew {
            return Err(SigV4Error::Expired {
                request_time: fmt(request_time),
                earliest: fmt(now - self.max_skew),
                now: fmt(now),
                skew_minutes,
            });
        }
        if request_time > now + self.max_skew {
            return Err(SigV4Error::NotYetCurrent {
                request_time: fmt(request_time),
                latest: fmt(now + self.max_skew),
                now: fmt(now),
                skew_minutes,
            });
        }
        Ok(())
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    canonical::query_pairs(uri.query()?)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn auth_params(req: &RequestParts<'_>) -> Result<AuthParams, SigV4Error> {
    let presigned = req
        .uri
        .query()
        .is_some_and(|q| q.contains("X-Amz-Algorithm"));
    let mut authorizations = req.headers.get_all(http::header::AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        if authorizations.next().is_some() || presigned {
            return Err(SigV4Error::AmbiguousAuthentication);
        }
        let value = value.to_str().map_err(|_| {
            SigV4Error::Incomplete("Authorization header is not valid ASCII.".into())
        })?;
        return header_auth_params(value, req.headers);
    }
    if presigned {
        return query_auth_params(req.uri);
    }
    Err(SigV4Error::MissingAuthentication)
}

fn header_auth_params(value: &str, headers: &HeaderMap) -> Result<AuthParams, SigV4Error> {
    let Some(rest) = value.strip_prefix(ALGORITHM) else {
        let algorithm = value.split_whitespace().next().unwrap_or_default();
        return Err(SigV4Error::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some((k, v)) = part.split_once('=') {
            match k.trim() {
                "Credential" => credential = Some(v.trim()),
                "SignedHeaders" => signed_headers = Some(v.trim()),
                "Signature" => signature = Some(v.trim()),
                _ => {}
            }
        }
    }
    let mut missing = Vec::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if v.is_none() {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let amz_date = header_str(headers, "x-amz-date")
        .map(str::to_owned)
        .or_else(|| header_str(headers, "date").and_then(http_date_to_amz));
    if amz_date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        return Err(SigV4Error::Incomplete(format!(
            "{} Authorization={value_kind}",
            missing.join(" "),
            value_kind = ALGORITHM
        )));
    };
    build_params(credential, signed_headers, signature, amz_date, None, false)
}

fn query_auth_params(uri: &Uri) -> Result<AuthParams, SigV4Error> {
    let pairs = canonical::query_pairs(uri.query().unwrap_or_default());
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("X-Amz-Algorithm").as_deref() != Some(ALGORITHM) {
        return Err(SigV4Error::Incomplete(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
        ));
    }
    let mut missing = Vec::new();
    let fields = [
        "X-Amz-Credential",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Date",
    ];
    for name in fields {
        if get(name).is_none() {
            missing.push(format!(
                "AWS query-string parameters must include '{name}'."
            ));
        }
    }
    if !missing.is_empty() {
        return Err(SigV4Error::Incomplete(missing.join(" ")));
    }
    let [credential, signed, signature, date] = fields.map(|n| get(n).unwrap_or_default());
    let expires = get("X-Amz-Expires").and_then(|e| e.parse().ok());
    build_params(&credential, &signed, &signature, date, expires, true)
}

fn build_params(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: String,
    expires: Option<i64>,
    presigned: bool,
) -> Result<AuthParams, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            parts.get(2).copied().unwrap_or_default()
        )));
    };
    if *terminator != "aws4_request" {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(SigV4Error::Incomplete(
            "Credential must name an access key, a region and a service.".into(),
        ));
    }
    if !is_region_name(region) {
        return Err(SigV4Error::InvalidRegion);
    }
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    Ok(AuthParams {
        access_key_id: (*access_key_id).to_owned(),
        scope_date: (*scope_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_owned(),
        amz_date,
        expires,
        presigned,
    })
}

/// `Date: Sun, 30 Aug 2015 12:36:00 GMT` → `20150830T123600Z`.
fn http_date_to_amz(value: &str) -> Option<String> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let t = PrimitiveDateTime::parse(value, format).ok()?.assume_utc();
    t.format(AMZ_DATE).ok()
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(digest::digest(
        &digest::SHA256,
        canonical_request.as_bytes(),
    ));
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hash}")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

/// The signature over `string_to_sign` with the key derived from `secret` and the scope.
fn signature(
    secret: &SecretKey,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> Vec<u8> {
    let k_secret = zeroize::Zeroizing::new(format!("AWS4{}", secret.expose_secret()));
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(k_date.as_ref(), region.as_bytes());
    let k_service = hmac_sha256(k_region.as_ref(), service.as_bytes());
    let k_signing = hmac_sha256(k_service.as_ref(), b"aws4_request");
    hmac_sha256(k_signing.as_ref(), string_to_sign.as_bytes())
        .as_ref()
        .to_vec()
}

/// Credentials for signing outgoing requests.
#[derive(Clone)]
pub struct SigningCredentials {
    pub access_key_id: String,
    pub secret_key: SecretKey,
    pub session_token: Option<String>,
}

impl fmt::Debug for SigningCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_key", &self.secret_key)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// Who signs, for which scope, at what time.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub credentials: &'a SigningCredentials,
    pub region: &'a str,
    pub service: &'a str,
    pub time: OffsetDateTime,
}

/// Signs a request in place: adds `X-Amz-Date`, `X-Amz-Security-Token` (if any) and
/// `Authorization`, signing every header present (which must include `Host`). Fails only if
/// the access key id or session token cannot be sent in a header.
pub fn sign(
    method: &Method,
    uri: &Uri,
    headers: &mut HeaderMap,
    body: &[u8],
    params: &SigningParams<'_>,
) -> Result<(), http::header::InvalidHeaderValue> {
    let SigningParams {
        credentials: creds,
        region,
        service,
        time: now,
    } = *params;
    let amz_date = now.format(AMZ_DATE).unwrap_or_default();
    let scope_date = now.format(SCOPE_DATE).unwrap_or_default();
    headers.insert("x-amz-date", amz_date.parse()?);
    if let Some(token) = &creds.session_token {
        headers.insert("x-amz-security-token", token.parse()?);
    }
    let mut signed: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k != "authorization")
        .collect();
    signed.sort();
    signed.dedup();
    let req = RequestParts {
        method,
        uri,
        headers,
        body,
    };
    let canonical = canonical_request(&req, &signed, UriEncoding::Double, true, false);
    let scope = format!("{scope_date}/{region}/{service}/aws4_request");
    let sts = string_to_sign(&amz_date, &scope, &canonical);
    let sig = hex::encode(signature(
        &creds.secret_key,
        &scope_date,
        region,
        service,
        &sts,
    ));
    let auth = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
        creds.access_key_id,
        signed.join(";")
    );
    headers.insert(http::header::AUTHORIZATION, auth.parse()?);
    Ok(())
}
