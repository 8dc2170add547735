//! The canonical request: the exact bytes both sides hash before signing.

use aws_lc_rs::digest;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::RequestParts;

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH_ENCODE: &AsciiSet = &URI_ENCODE.remove(b'/');

/// How the request path enters the canonical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriEncoding {
    /// Every service but S3: the path as sent on the wire is encoded once more.
    Double,
    /// S3 style: the decoded path is encoded once.
    Single,
}

/// Builds the canonical request over `signed_headers` (lower-case names).
pub fn canonical_request(
    req: &RequestParts<'_>,
    signed_headers: &[String],
    encoding: UriEncoding,
    normalize: bool,
    presigned: bool,
) -> String {
    let raw_path = req.uri.path();
    let path = if normalize {
        normalize_path(raw_path)
    } else {
        raw_path.to_owned()
    };
    let path = match encoding {
        UriEncoding::Double => utf8_percent_encode(&path, PATH_ENCODE).to_string(),
        UriEncoding::Single => {
            let decoded = percent_decode_str(&path).decode_utf8_lossy();
            utf8_percent_encode(&decoded, PATH_ENCODE).to_string()
        }
    };
    let query = canonical_query(req.uri.query().unwrap_or_default(), presigned);
    let mut out = String::with_capacity(256);
    out.push_str(req.method.as_str());
    out.push('\n');
    out.push_str(if path.is_empty() { "/" } else { &path });
    out.push('\n');
    out.push_str(&query);
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for value in req.headers.get_all(name.as_str()) {
            if !first {
                out.push(',');
            }
            first = false;
            let value = String::from_utf8_lossy(value.as_bytes());
            out.push_str(&value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&hex::encode(digest::digest(&digest::SHA256, req.body)));
    out
}

/// Decoded `key=value` pairs of a query string, in order.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .collect()
}

fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, URI_ENCODE).to_string(),
                utf8_percent_encode(&v, URI_ENCODE).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Removes `.` and `..` segments and empty segments, keeping a trailing slash.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if trailing && !segments.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize_path("//example//"), "/example/");
        assert_eq!(normalize_path("/example1/example2/../.."), "/");
        assert_eq!(normalize_path("/./"), "/");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("/a/./b"), "/a/b");
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        assert_eq!(
            canonical_query("b=2&a=1&%E1%88%B4=x", false),
            "%E1%88%B4=x&a=1&b=2"
        );
        assert_eq!(canonical_query("X-Amz-Signature=abc&a=1", true), "a=1");
    }
}
