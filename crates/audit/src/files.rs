//! The on-disk layout: log files of hash-chained records, signed digests, the signing key.
//!
//! A log file (`audit-YYYYMMDDTHHMMSSZ-NNNNNN.jsonl`) starts with a header naming it and
//! its number, `{"format":"s9-audit-log/3","file":NAME,"number":N}`, and holds one record
//! per line after it:
//! `{"seq":N,"event":{…},"hash":H}`, where `H` is the SHA-256 of every byte of the file
//! before the record's `,"hash":` — the header, the records before it with their hashes, and
//! its own `seq` and event. One running SHA-256 thus gives each record's hash and, at the end,
//! the file's (which the digest lists), and a record cannot be edited, removed, reordered or
//! moved to another file unseen: the first record whose hash fails is the one changed.
//! Files are numbered one after another across restarts (`NNNNNN`, from format 3 on), so a
//! file missing from the middle of the trail is a gap in the numbers; format 2 files have
//! the same header without a number.
//!
//! Files written before the header existed (format 1, read and verified still) have no
//! header, and each line carries the hash before it: `{"seq":N,"prev":P,"event":{…},"hash":H}`
//! with `H = SHA-256(P ‖ "\n" ‖ event)`, and the first `P` of a file [`genesis`].
//!
//! Either way, the last hash of a file without records is its [`genesis`].
//!
//! A digest (`digests/digest-YYYYMMDDTHHMMSSZ-NNNNNN.json`) is `{"digest":{…},"signature":S}`:
//! the body lists each log file closed since the previous digest with its SHA-256, names the
//! previous digest with its SHA-256 and signature, and names where the retained chain starts;
//! `S` is an Ed25519 signature over the body's exact bytes. The digest written at shutdown
//! says so (`closing`): nothing follows it until the next start.
//!
//! A checkpoint (`checkpoint.json`, replaced every minute or so) is signed the same way,
//! `{"checkpoint":{…},"signature":S}`: it names the newest digest and lists every log file
//! written since, the open one up to its newest record (its records count and hash, and
//! the SHA-256 of the file up to there). Records after the newest checkpoint or digest are
//! the trail's unsigned tail.

use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::AuditError;

pub(crate) const LOG_PREFIX: &str = "audit-";
pub(crate) const LOG_SUFFIX: &str = ".jsonl";
pub(crate) const DIGEST_PREFIX: &str = "digest-";
pub(crate) const DIGEST_DIR: &str = "digests";
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint.json";

/// One record line of a log file, as read back.
#[derive(Debug, Deserialize)]
pub(crate) struct Line<'a> {
    pub(crate) seq: u64,
    /// Format 1 only.
    #[serde(default)]
    pub(crate) prev: Option<String>,
    pub(crate) hash: String,
    #[serde(borrow)]
    pub(crate) event: &'a RawValue,
}

/// The complete lines of a log file's bytes, each with its newline; a torn last line (which
/// may end inside a character) is left out.
pub(crate) fn complete_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .take_while(|line| line.ends_with(b"\n"))
}

/// What the first line of a log file names (format 2 on).
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub(crate) format: String,
    pub(crate) file: String,
    /// Format 3 on.
    #[serde(default)]
    pub(crate) number: Option<u64>,
}

/// The format [`header`] names.
pub(crate) const FORMAT: &str = "s9-audit-log/3";
/// Headers without a number, still read and verified.
pub(crate) const FORMAT_2: &str = "s9-audit-log/2";

/// The first line of the log file `name`, number `number`.
pub(crate) fn header(name: &str, number: u64) -> String {
    let name = serde_json::Value::from(name);
    format!("{{\"format\":\"{FORMAT}\",\"file\":{name},\"number\":{number}}}\n")
}

/// The name of log file number `number`, opened at `now`.
pub(crate) fn log_name(now: OffsetDateTime, number: u64) -> String {
    format!("{LOG_PREFIX}{}-{number:06}{LOG_SUFFIX}", stamp(now))
}

/// `line`, if it is a log file's header (of any format from 2 on).
pub(crate) fn parse_header(line: &str) -> Option<Header> {
    serde_json::from_str::<Header>(line.trim_end())
        .ok()
        .filter(|h| h.format.starts_with("s9-audit-log/"))
}

/// Appends the end of a record line: its hash member, which its hash does not cover.
pub(crate) fn push_hash_member(line: &mut Vec<u8>, hash: &str) {
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
}

/// The bytes of a log file so far, hashed as they are written or read: gives each record's
/// hash, and the file's SHA-256 at the end.
#[derive(Clone)]
pub(crate) struct Chain(aws_lc_rs::digest::Context);

impl Chain {
    pub(crate) fn new() -> Self {
        Self(aws_lc_rs::digest::Context::new(&SHA256))
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hash of everything so far (the chain goes on).
    pub(crate) fn head(&self) -> Hex {
        Hex::of(self.0.clone().finish().as_ref())
    }

    /// The SHA-256 of the whole file, hex.
    pub(crate) fn finish(self) -> String {
        to_hex(self.0.finish().as_ref())
    }
}

/// A SHA-256 in lowercase hex, on the stack: every record needs one.
#[derive(Clone, Copy)]
pub(crate) struct Hex([u8; 64]);

impl Hex {
    fn of(digest: &[u8]) -> Self {
        let mut hex = [b'0'; 64];
        // Cannot fail: a SHA-256 is 32 bytes.
        let _ = hex::encode_to_slice(digest, &mut hex);
        Self(hex)
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(digest(&SHA256, bytes).as_ref())
}

/// Lowercase hex through a table (`hex::encode` goes char by char: a hot spot per record).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut buf = vec![0u8; bytes.len() * 2];
    // Cannot fail: the buffer is exactly twice as long as the input.
    let _ = hex::encode_to_slice(bytes, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// The hash of a format-1 record: over the previous hash and the event's exact bytes.
pub(crate) fn record_hash(prev: &str, event: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(b"\n");
    ctx.update(event);
    to_hex(ctx.finish().as_ref())
}

/// The `prev` of a format-1 file's first record, binding its records to the file's name; the
/// last hash of a file without records.
pub(crate) fn genesis(file_name: &str) -> String {
    sha256_hex(format!("s9-audit-file:{file_name}").as_bytes())
}

pub(crate) fn stamp(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap_or_default()
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Files in `dir` named `prefix…suffix`, sorted by name (which sorts them by time).
pub(crate) fn list(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>, AuditError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(AuditError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| AuditError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && name.ends_with(suffix) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A log file entry of a digest or checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogFileEntry {
    pub(crate) file: String,
    /// Of the file, or of its first `records` records when it is `open`.
    pub(crate) sha256: String,
    pub(crate) records: u64,
    pub(crate) last_hash: String,
    /// The file's number (format 3 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) number: Option<u64>,
    /// Still written to when signed (a checkpoint's current file): records may follow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) open: bool,
}

/// The signed body of a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DigestBody {
    pub(crate) version: u32,
    pub(crate) digest_start_time: String,
    pub(crate) digest_end_time: String,
    /// The first digest of the retained chain (older ones were pruned).
    pub(crate) chain_start: String,
    pub(crate) previous_digest_file: Option<String>,
    pub(crate) previous_digest_hash: Option<String>,
    pub(crate) previous_digest_signature: Option<String>,
    pub(crate) public_key_fingerprint: String,
    pub(crate) log_files: Vec<LogFileEntry>,
    /// Written as the server stopped: nothing follows it until the next start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) closing: bool,
}

/// The signed body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckpointBody {
    pub(crate) version: u32,
    pub(crate) checkpoint_time: String,
    /// The newest digest when it was written; none before the first.
    pub(crate) previous_digest_file: Option<String>,
    pub(crate) previous_digest_hash: Option<String>,
    pub(crate) public_key_fingerprint: String,
    /// Every log file written since that digest; the current one `open`.
    pub(crate) log_files: Vec<LogFileEntry>,
}

/// A checkpoint file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CheckpointFile<'a> {
    #[serde(borrow)]
    pub(crate) checkpoint: &'a RawValue,
    pub(crate) signature: String,
}

/// A digest file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DigestFile<'a> {
    #[serde(borrow)]
    pub(crate) digest: &'a RawValue,
    pub(crate) signature: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(super::to_hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
