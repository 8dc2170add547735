//! `audit verify`: checks the digest chain and every log file, like
//! `aws cloudtrail validate-logs`, and names what is wrong with each file.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::files::{self, DigestBody, DigestFile, Line, LogFileEntry};
use crate::{AuditError, PublicKey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Valid,
    /// The file's content is not what its digest (or its own chain) says; the detail names
    /// the first bad record.
    Modified(String),
    /// A digest lists the file, but it is gone.
    Deleted,
    /// No digest covers this log file, or a digest the chain needs is gone.
    MissingDigest(String),
    /// The digest's signature does not verify with the public key.
    InvalidSignature,
    /// Written after the newest digest: it will be in the next one.
    NotYetDigested,
}

impl Status {
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::Valid | Self::NotYetDigested)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid => f.write_str("valid"),
            Self::Modified(d) => write!(f, "modified ({d})"),
            Self::Deleted => f.write_str("deleted"),
            Self::MissingDigest(d) => write!(f, "missing digest ({d})"),
            Self::InvalidSignature => f.write_str("invalid signature"),
            Self::NotYetDigested => f.write_str("not yet digested"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub file: String,
    pub is_digest: bool,
    pub status: Status,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub files: Vec<FileReport>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        !self.files.iter().any(|f| f.status.is_failure())
    }

    pub fn status_of(&self, file: &str) -> Option<&Status> {
        self.files
            .iter()
            .find(|f| f.file == file)
            .map(|f| &f.status)
    }

    fn push(&mut self, file: &str, is_digest: bool, status: Status) {
        self.files.push(FileReport {
            file: file.to_owned(),
            is_digest,
            status,
        });
    }
}

/// Checks a log file's own chain against what its digest recorded; returns the file's
/// SHA-256 when the check found it on the way (format 2: the chain ends at it).
fn check_records(content: &[u8], entry: &LogFileEntry) -> Result<Option<String>, String> {
    let text = std::str::from_utf8(content).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut lines = text.split_inclusive('\n').enumerate().peekable();
    let header = lines
        .peek()
        .and_then(|&(_, first)| Some((first, files::parse_header(first)?)));
    let (count, last, sha256) = match header {
        Some((line, header)) => {
            lines.next();
            let (count, last, chain) = check_chain(lines, entry, line, &header)?;
            (count, last, Some(chain.finish()))
        }
        None => {
            let (count, last) = check_format_1(lines, entry)?;
            (count, last, None)
        }
    };
    if count != entry.records || last != entry.last_hash {
        return Err(format!(
            "the file ends at record {count}; its digest recorded {} (truncated or extended)",
            entry.records
        ));
    }
    Ok(sha256)
}

/// The lines of a log file, numbered from 0.
type Lines<'a> = std::iter::Peekable<std::iter::Enumerate<std::str::SplitInclusive<'a, char>>>;

/// A record line, complete and in its place (`count` records came before it).
fn record<'a>(n: usize, line: &'a str, count: u64) -> Result<Line<'a>, String> {
    let n = n + 1;
    if !line.ends_with('\n') {
        return Err(format!("line {n} is cut short"));
    }
    let l: Line<'_> =
        serde_json::from_str(line.trim_end()).map_err(|_| format!("line {n} is not a record"))?;
    if l.seq != count + 1 {
        return Err(format!(
            "line {n}: record {} where record {} should be (removed or reordered)",
            l.seq,
            count + 1
        ));
    }
    Ok(l)
}

/// Format 2: each record's hash is that of the file up to it (see [`files`]); returns the
/// records counted, the last hash, and the chain over the whole file (only complete lines
/// pass, so it has hashed every byte).
fn check_chain(
    lines: Lines<'_>,
    entry: &LogFileEntry,
    header_line: &str,
    header: &files::Header,
) -> Result<(u64, String, files::Chain), String> {
    if header.format != files::FORMAT {
        return Err(format!("unknown log format {}", header.format));
    }
    if header.file != entry.file {
        return Err(format!(
            "its header names {}: moved or renamed",
            header.file
        ));
    }
    let mut chain = files::Chain::new();
    chain.update(header_line.as_bytes());
    let (mut count, mut last) = (0u64, files::genesis(&entry.file));
    let mut member = Vec::new();
    for (n, line) in lines {
        let l = record(n, line, count)?;
        count += 1;
        member.clear();
        files::push_hash_member(&mut member, &l.hash);
        let covered = line
            .as_bytes()
            .strip_suffix(member.as_slice())
            .ok_or_else(|| format!("record {count}: content edited"))?;
        chain.update(covered);
        if chain.head().as_str() != l.hash {
            return Err(format!("record {count}: content edited"));
        }
        chain.update(&member);
        last = l.hash;
    }
    Ok((count, last, chain))
}

/// Format 1: each record names the hash before it; returns the records counted and the last
/// hash.
fn check_format_1(lines: Lines<'_>, entry: &LogFileEntry) -> Result<(u64, String), String> {
    let (mut count, mut last) = (0u64, files::genesis(&entry.file));
    for (n, line) in lines {
        let l = record(n, line, count)?;
        count += 1;
        if l.prev.as_deref() != Some(last.as_str()) {
            return Err(format!(
                "record {count}: does not follow the record before it"
            ));
        }
        if files::record_hash(&last, l.event.get().as_bytes()) != l.hash {
            return Err(format!("record {count}: content edited"));
        }
        last = l.hash;
    }
    Ok((count, last))
}

fn parse_time(t: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(t, &Rfc3339).ok()
}

/// What to verify.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    /// Digests ending before this are walked for the chain but their files not reported.
    pub from: Option<OffsetDateTime>,
    /// Digests starting after this likewise.
    pub to: Option<OffsetDateTime>,
    /// With the digest interval: the newest digest must be younger than two intervals, or
    /// digests are missing at the end of the chain.
    pub now: Option<OffsetDateTime>,
    pub digest_interval: Option<time::Duration>,
}

/// Verifies everything under `dir` with `key`.
pub fn verify(dir: &Path, key: &PublicKey, window: Window) -> Result<Report, AuditError> {
    let Window {
        from,
        to,
        now,
        digest_interval,
    } = window;
    let mut report = Report::default();
    let digests = files::list(&dir.join(files::DIGEST_DIR), files::DIGEST_PREFIX, ".json")?;
    let names: Vec<String> = digests.iter().map(|p| files::file_name(p)).collect();
    let read = |p: &Path| std::fs::read(p).map_err(|e| AuditError::io(p, e));

    // The newest digest names where the retained chain starts.
    let mut start = 0;
    if let Some(newest) = digests.last() {
        let bytes = read(newest)?;
        let body = serde_json::from_slice::<DigestFile<'_>>(&bytes)
            .ok()
            .and_then(|f| serde_json::from_str::<DigestBody>(f.digest.get()).ok());
        if let Some(body) = body {
            match names.iter().position(|n| *n == body.chain_start) {
                Some(i) => start = i,
                None => report.push(
                    &body.chain_start,
                    true,
                    Status::MissingDigest("the first digest of the retained chain is gone".into()),
                ),
            }
        }
    }

    let mut listed = HashSet::new();
    let mut previous: Option<(String, String, String)> = None;
    let mut newest_end: Option<OffsetDateTime> = None;
    for (path, name) in digests.iter().zip(&names).skip(start) {
        let bytes = read(path)?;
        let parsed = serde_json::from_slice::<DigestFile<'_>>(&bytes)
            .ok()
            .and_then(|f| {
                let body = serde_json::from_str::<DigestBody>(f.digest.get()).ok()?;
                Some((f.digest.get().to_owned(), f.signature.clone(), body))
            });
        let Some((body_text, signature, body)) = parsed else {
            report.push(name, true, Status::Modified("not a digest".into()));
            previous = None;
            continue;
        };
        if !key.verify(body_text.as_bytes(), &signature) {
            report.push(name, true, Status::InvalidSignature);
            previous = Some((name.clone(), files::sha256_hex(&bytes), signature));
            continue;
        }
        let link_ok = match &previous {
            None => true,
            Some((pf, ph, ps)) => {
                body.previous_digest_file.as_deref() == Some(pf.as_str())
                    && body.previous_digest_hash.as_deref() == Some(ph.as_str())
                    && body.previous_digest_signature.as_deref() == Some(ps.as_str())
            }
        };
        let status = if link_ok {
            Status::Valid
        } else {
            let named = body.previous_digest_file.clone().unwrap_or_default();
            if names.contains(&named) {
                Status::Modified(format!(
                    "the previous digest {named} is not the one it recorded"
                ))
            } else {
                Status::MissingDigest(format!("the previous digest {named} is gone"))
            }
        };
        let ended = parse_time(&body.digest_end_time);
        let started = parse_time(&body.digest_start_time);
        newest_end = ended.or(newest_end);
        let in_window = from.is_none_or(|f| ended.is_none_or(|e| e >= f))
            && to.is_none_or(|t| started.is_none_or(|s| s <= t));
        if in_window || status.is_failure() {
            report.push(name, true, status);
        }
        for entry in &body.log_files {
            listed.insert(entry.file.clone());
            if !in_window {
                continue;
            }
            let path = dir.join(&entry.file);
            let status = match std::fs::read(&path) {
                Err(_) => Status::Deleted,
                Ok(content) => match check_records(&content, entry) {
                    Err(detail) => Status::Modified(detail),
                    Ok(sha256) => {
                        let sha256 = sha256.unwrap_or_else(|| files::sha256_hex(&content));
                        if sha256 == entry.sha256 {
                            Status::Valid
                        } else {
                            Status::Modified("the file's hash differs from its digest".into())
                        }
                    }
                },
            };
            report.push(&entry.file, false, status);
        }
        previous = Some((name.clone(), files::sha256_hex(&bytes), signature));
    }

    if let (Some(now), Some(every), Some(end)) = (now, digest_interval, newest_end)
        && end < now - every * 2
    {
        report.push(
            "(end of chain)",
            true,
            Status::MissingDigest(format!("no digest since {}", files::rfc3339(end))),
        );
    }

    // Log files no digest lists: fine if written after the newest digest, else a gap.
    let newest_stamp = newest_end.map(files::stamp);
    for path in files::list(dir, files::LOG_PREFIX, files::LOG_SUFFIX)? {
        let name = files::file_name(&path);
        if listed.contains(&name) {
            continue;
        }
        let stamp = name
            .trim_start_matches(files::LOG_PREFIX)
            .split('-')
            .next()
            .unwrap_or_default()
            .to_owned();
        let after_last = newest_stamp.as_ref().is_none_or(|n| stamp >= *n);
        let status = if after_last {
            Status::NotYetDigested
        } else {
            Status::MissingDigest("no digest lists this file".into())
        };
        report.push(&name, false, status);
    }
    Ok(report)
}
