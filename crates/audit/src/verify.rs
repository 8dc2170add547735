//! `audit verify`: checks the digest chain, the newest checkpoint and every log file, like
//! `aws cloudtrail validate-logs`, and names what is wrong with each file: an edited,
//! removed or reordered record, a deleted file, a gap in the files' numbers, a digest or
//! checkpoint that is gone, and (with [`Window::strict`]) records no signature covers.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::files::{
    self, CheckpointBody, CheckpointFile, DigestBody, DigestFile, Line, LogFileEntry,
};
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
    /// The digest's or checkpoint's signature does not verify with the public key.
    InvalidSignature,
    /// Log files are numbered one after another; these numbers are missing.
    Gap(String),
    /// Records written after the newest digest or checkpoint, recently: the next checkpoint
    /// signs them.
    NotYetSigned(String),
    /// Records no signature covers although the server signs its chain every checkpoint
    /// interval (reported with [`Window::strict`]): the checkpoint that covered them is
    /// gone, or the server stopped without its closing digest.
    Unsigned(String),
}

impl Status {
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::Valid | Self::NotYetSigned(_))
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
            Self::Gap(d) => write!(f, "gap ({d})"),
            Self::NotYetSigned(d) => write!(f, "not yet signed ({d})"),
            Self::Unsigned(d) => write!(f, "unsigned ({d})"),
        }
    }
}

/// What a report line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LogFile,
    Digest,
    Checkpoint,
    /// A checkpoint or digest kept off the host ([`Window::anchors`]).
    Anchor,
    /// The trail as a whole: its end, or the numbers of its files.
    Chain,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::LogFile => "log file",
            Self::Digest => "digest",
            Self::Checkpoint => "checkpoint",
            Self::Anchor => "anchor",
            Self::Chain => "chain",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub file: String,
    pub kind: Kind,
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

    /// The lines about `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.files.iter().filter(|f| f.kind == kind).count()
    }

    fn push(&mut self, file: &str, kind: Kind, status: Status) {
        self.files.push(FileReport {
            file: file.to_owned(),
            kind,
            status,
        });
    }
}

/// What a log file's own chain says of it.
struct Chained {
    records: u64,
    last_hash: String,
    /// The number its header gives it (format 3 on).
    number: Option<u64>,
}

/// Checks a log file's records against their own chain (`content` may be a prefix of the
/// file: complete lines only).
fn read_records(content: &[u8], file: &str) -> Result<Chained, String> {
    let text = std::str::from_utf8(content).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut lines = text.split_inclusive('\n').enumerate().peekable();
    let header = lines
        .peek()
        .and_then(|&(_, first)| Some((first, files::parse_header(first)?)));
    let (records, last_hash, number) = match header {
        Some((line, header)) => {
            lines.next();
            let (count, last) = check_chain(lines, file, line, &header)?;
            (count, last, header.number)
        }
        None => {
            let (count, last) = check_format_1(lines, file)?;
            (count, last, None)
        }
    };
    Ok(Chained {
        records,
        last_hash,
        number,
    })
}

/// Checks a log file against the entry a digest or checkpoint signed: its records, their
/// chain, and its SHA-256; for an entry signed while the file was `open`, its first
/// `records` records, and what follows them against their own chain.
fn check_entry(dir: &Path, entry: &LogFileEntry) -> Result<Tail, Status> {
    let content = std::fs::read(dir.join(&entry.file)).map_err(|_| Status::Deleted)?;
    let signed_len = if entry.open {
        prefix_len(&content, entry.records).ok_or_else(|| {
            Status::Modified(format!(
                "the file holds fewer than the {} records its checkpoint signed (truncated)",
                entry.records
            ))
        })?
    } else {
        content.len()
    };
    let signed = &content[..signed_len];
    let chained = read_records(signed, &entry.file).map_err(Status::Modified)?;
    if chained.records != entry.records || chained.last_hash != entry.last_hash {
        return Err(Status::Modified(format!(
            "the file ends at record {}; {} were signed (truncated or extended)",
            chained.records, entry.records
        )));
    }
    if files::sha256_hex(signed) != entry.sha256 {
        return Err(Status::Modified(
            "the file's hash differs from the one signed".into(),
        ));
    }
    if !entry.open {
        return Ok(Tail::default());
    }
    let whole = read_records(&content, &entry.file).map_err(Status::Modified)?;
    Ok(Tail {
        records: whole.records - entry.records,
        first_time: first_record_time(&content[signed_len..]),
    })
}

/// Records after the signed part of a file.
#[derive(Debug, Default)]
struct Tail {
    records: u64,
    /// The time of the first of them.
    first_time: Option<OffsetDateTime>,
}

/// How many bytes the header and the first `records` records of a log file span; `None`
/// when it holds fewer complete records.
fn prefix_len(content: &[u8], records: u64) -> Option<usize> {
    let mut lines = files::complete_lines(content).peekable();
    let mut len = 0;
    if let Some(first) = lines.peek()
        && std::str::from_utf8(first)
            .ok()
            .and_then(files::parse_header)
            .is_some()
    {
        len += first.len();
        lines.next();
    }
    for _ in 0..records {
        len += lines.next()?.len();
    }
    Some(len)
}

/// The `eventTime` of the first record in `lines` (which start at a record).
fn first_record_time(lines: &[u8]) -> Option<OffsetDateTime> {
    #[derive(serde::Deserialize)]
    struct Timed {
        #[serde(rename = "eventTime")]
        event_time: String,
    }
    let line = files::complete_lines(lines).next()?;
    let line: Line<'_> = serde_json::from_slice(line).ok()?;
    let timed: Timed = serde_json::from_str(line.event.get()).ok()?;
    parse_time(&timed.event_time)
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

/// Format 2 on: each record's hash is that of the file up to it (see [`files`]); returns
/// the records counted and the last hash.
fn check_chain(
    lines: Lines<'_>,
    file: &str,
    header_line: &str,
    header: &files::Header,
) -> Result<(u64, String), String> {
    if header.format != files::FORMAT && header.format != files::FORMAT_2 {
        return Err(format!("unknown log format {}", header.format));
    }
    if header.file != file {
        return Err(format!(
            "its header names {}: moved or renamed",
            header.file
        ));
    }
    let mut chain = files::Chain::new();
    chain.update(header_line.as_bytes());
    let (mut count, mut last) = (0u64, files::genesis(file));
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
    Ok((count, last))
}

/// Format 1: each record names the hash before it; returns the records counted and the last
/// hash.
fn check_format_1(lines: Lines<'_>, file: &str) -> Result<(u64, String), String> {
    let (mut count, mut last) = (0u64, files::genesis(file));
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

/// What to verify, and how strictly.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Digests ending before this are walked for the chain but their files not reported.
    pub from: Option<OffsetDateTime>,
    /// Digests starting after this likewise.
    pub to: Option<OffsetDateTime>,
    /// The time the checks of freshness are made at (none without it).
    pub now: Option<OffsetDateTime>,
    /// With `now`: the newest digest must be younger than two of these (unless the
    /// server wrote it as it stopped), or digests are missing at the end of the chain.
    pub digest_interval: Option<time::Duration>,
    /// How often the server signs a checkpoint; with `now` and `strict`, records and a
    /// chain head left unsigned for two of these fail.
    pub checkpoint_interval: Option<time::Duration>,
    /// Fail on records no signature covers once the server should have signed them, and
    /// on a chain whose newest signature is that old (unless the server stopped then).
    pub strict: bool,
    /// Checkpoints or digests copied off the host earlier: the trail must still hold
    /// everything they signed (cutting the trail back to an older signed state fails).
    pub anchors: Vec<PathBuf>,
}

/// The newest signed state of the chain.
#[derive(Debug, Default)]
struct Head {
    /// The newest digest's name, file hash, and end.
    digest: Option<(String, String, OffsetDateTime)>,
    /// It was written as the server stopped.
    closing: bool,
    /// The time the newest digest or current checkpoint signed the chain at.
    signed_at: Option<OffsetDateTime>,
}

/// Verifies everything under `dir` with `key`.
pub fn verify(dir: &Path, key: &PublicKey, window: Window) -> Result<Report, AuditError> {
    let mut v = Verifier {
        dir,
        key,
        window,
        report: Report::default(),
        listed: HashSet::new(),
        numbers: BTreeSet::new(),
        head: Head::default(),
    };
    v.digests()?;
    v.checkpoint()?;
    v.anchors()?;
    v.unlisted_files()?;
    v.gaps();
    v.end_of_chain();
    Ok(v.report)
}

struct Verifier<'a> {
    dir: &'a Path,
    key: &'a PublicKey,
    window: Window,
    report: Report,
    /// Log files some digest or the checkpoint lists.
    listed: HashSet<String>,
    /// The numbers of every log file the trail knows of.
    numbers: BTreeSet<u64>,
    head: Head,
}

fn read(p: &Path) -> Result<Vec<u8>, AuditError> {
    std::fs::read(p).map_err(|e| AuditError::io(p, e))
}

/// A digest's body, its exact text and signature, if `bytes` is a digest.
fn parse_digest(bytes: &[u8]) -> Option<(String, String, DigestBody)> {
    let f = serde_json::from_slice::<DigestFile<'_>>(bytes).ok()?;
    let body = serde_json::from_str::<DigestBody>(f.digest.get()).ok()?;
    Some((f.digest.get().to_owned(), f.signature, body))
}

/// A checkpoint's body, its exact text and signature, if `bytes` is a checkpoint.
fn parse_checkpoint(bytes: &[u8]) -> Option<(String, String, CheckpointBody)> {
    let f = serde_json::from_slice::<CheckpointFile<'_>>(bytes).ok()?;
    let body = serde_json::from_str::<CheckpointBody>(f.checkpoint.get()).ok()?;
    Some((f.checkpoint.get().to_owned(), f.signature, body))
}

impl Verifier<'_> {
    /// Walks the digest chain from where the retained chain starts, checking each digest's
    /// signature and link and each log file it lists.
    fn digests(&mut self) -> Result<(), AuditError> {
        let digests = files::list(
            &self.dir.join(files::DIGEST_DIR),
            files::DIGEST_PREFIX,
            ".json",
        )?;
        let names: Vec<String> = digests.iter().map(|p| files::file_name(p)).collect();
        let (from, to) = (self.window.from, self.window.to);

        // The newest digest names where the retained chain starts.
        let mut start = 0;
        if let Some(newest) = digests.last()
            && let Some((_, _, body)) = parse_digest(&read(newest)?)
        {
            match names.iter().position(|n| *n == body.chain_start) {
                Some(i) => start = i,
                None => self.report.push(
                    &body.chain_start,
                    Kind::Digest,
                    Status::MissingDigest("the first digest of the retained chain is gone".into()),
                ),
            }
        }

        let mut previous: Option<(String, String, String)> = None;
        for (path, name) in digests.iter().zip(&names).skip(start) {
            let bytes = read(path)?;
            let Some((body_text, signature, body)) = parse_digest(&bytes) else {
                self.report
                    .push(name, Kind::Digest, Status::Modified("not a digest".into()));
                previous = None;
                continue;
            };
            let hash = files::sha256_hex(&bytes);
            if !self.key.verify(body_text.as_bytes(), &signature) {
                self.report
                    .push(name, Kind::Digest, Status::InvalidSignature);
                previous = Some((name.clone(), hash, signature));
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
            if let Some(end) = ended {
                self.head.digest = Some((name.clone(), hash.clone(), end));
                self.head.signed_at = Some(end);
                self.head.closing = body.closing;
            }
            let in_window = from.is_none_or(|f| ended.is_none_or(|e| e >= f))
                && to.is_none_or(|t| started.is_none_or(|s| s <= t));
            if in_window || status.is_failure() {
                self.report.push(name, Kind::Digest, status);
            }
            for entry in &body.log_files {
                self.listed.insert(entry.file.clone());
                self.numbers.extend(entry.number);
                if in_window {
                    let status = check_entry(self.dir, entry).err().unwrap_or(Status::Valid);
                    self.report.push(&entry.file, Kind::LogFile, status);
                }
            }
            previous = Some((name.clone(), hash, signature));
        }
        Ok(())
    }

    /// The checkpoint signs what was written since the newest digest; one older than that
    /// digest is superseded by it.
    fn checkpoint(&mut self) -> Result<(), AuditError> {
        let path = self.dir.join(files::CHECKPOINT_FILE);
        if !path.exists() {
            return Ok(());
        }
        let name = files::CHECKPOINT_FILE;
        let Some((body_text, signature, body)) = parse_checkpoint(&read(&path)?) else {
            self.report.push(
                name,
                Kind::Checkpoint,
                Status::Modified("not a checkpoint".into()),
            );
            return Ok(());
        };
        if !self.key.verify(body_text.as_bytes(), &signature) {
            self.report
                .push(name, Kind::Checkpoint, Status::InvalidSignature);
            return Ok(());
        }
        self.numbers
            .extend(body.log_files.iter().filter_map(|e| e.number));
        let Some(at) = parse_time(&body.checkpoint_time) else {
            self.report.push(
                name,
                Kind::Checkpoint,
                Status::Modified("no checkpoint time".into()),
            );
            return Ok(());
        };
        let newest = self.head.digest.as_ref();
        let follows = match (&body.previous_digest_file, newest) {
            (None, None) => true,
            (Some(file), Some((name, hash, _))) => {
                file == name && body.previous_digest_hash.as_ref() == Some(hash)
            }
            _ => false,
        };
        if !follows && newest.is_some_and(|(_, _, end)| at <= *end) {
            // Written before the newest digest, which signs all it did.
            return Ok(());
        }
        if !follows {
            let named = body.previous_digest_file.as_deref().unwrap_or("none");
            self.report.push(
                name,
                Kind::Checkpoint,
                Status::MissingDigest(format!(
                    "it follows digest {named}, which is not the newest digest here: a newer one is gone"
                )),
            );
            return Ok(());
        }
        self.report.push(name, Kind::Checkpoint, Status::Valid);
        self.head.signed_at = Some(at);
        self.head.closing = false;
        for entry in &body.log_files {
            self.listed.insert(entry.file.clone());
            let status = match check_entry(self.dir, entry) {
                Err(status) => status,
                Ok(tail) if tail.records == 0 => Status::Valid,
                Ok(tail) => self.tail_status(
                    tail.records,
                    tail.first_time,
                    &format!("after the {} records the checkpoint signed", entry.records),
                ),
            };
            self.report.push(&entry.file, Kind::LogFile, status);
        }
        Ok(())
    }

    /// Checkpoints or digests kept off the host: what each signed must still be here.
    fn anchors(&mut self) -> Result<(), AuditError> {
        for path in std::mem::take(&mut self.window.anchors) {
            let name = path.display().to_string();
            let bytes = read(&path)?;
            let signed = parse_checkpoint(&bytes)
                .map(|(text, sig, body)| (text, sig, body.log_files))
                .or_else(|| {
                    parse_digest(&bytes).map(|(text, sig, body)| (text, sig, body.log_files))
                });
            let Some((text, signature, entries)) = signed else {
                self.report.push(
                    &name,
                    Kind::Anchor,
                    Status::Modified("neither a checkpoint nor a digest".into()),
                );
                continue;
            };
            if !self.key.verify(text.as_bytes(), &signature) {
                self.report
                    .push(&name, Kind::Anchor, Status::InvalidSignature);
                continue;
            }
            let mut status = Status::Valid;
            for entry in &entries {
                if let Err(e) = check_entry(self.dir, entry) {
                    status = Status::Modified(format!("{}: {e}", entry.file));
                    break;
                }
            }
            self.report.push(&name, Kind::Anchor, status);
        }
        Ok(())
    }

    /// Log files no digest or checkpoint lists: the unsigned tail if written after the
    /// newest signature, else a gap in what was signed.
    fn unlisted_files(&mut self) -> Result<(), AuditError> {
        let newest_stamp = self.head.signed_at.map(files::stamp);
        for path in files::list(self.dir, files::LOG_PREFIX, files::LOG_SUFFIX)? {
            let name = files::file_name(&path);
            if self.listed.contains(&name) {
                continue;
            }
            let stamp = name
                .trim_start_matches(files::LOG_PREFIX)
                .split('-')
                .next()
                .unwrap_or_default()
                .to_owned();
            let after_last = newest_stamp.as_ref().is_none_or(|n| stamp >= *n);
            let content = read(&path)?;
            let status = match read_records(&content, &name) {
                Err(detail) => Status::Modified(detail),
                Ok(chained) => {
                    self.numbers.extend(chained.number);
                    if !after_last {
                        Status::MissingDigest("no digest lists this file".into())
                    } else if chained.records == 0 {
                        Status::Valid
                    } else {
                        let first = prefix_len(&content, 0).map(|at| &content[at..]);
                        self.tail_status(
                            chained.records,
                            first.and_then(first_record_time),
                            "written after the newest signature",
                        )
                    }
                }
            };
            self.report.push(&name, Kind::LogFile, status);
        }
        Ok(())
    }

    /// `records` no signature covers yet, the first written at `first`: pending while the
    /// server may not have signed them yet, unsigned (under `strict`) once it should have.
    fn tail_status(&self, records: u64, first: Option<OffsetDateTime>, what: &str) -> Status {
        let since = first.map(files::rfc3339).unwrap_or_else(|| "?".into());
        let detail = format!("{records} records {what}, the first at {since}");
        match (self.overdue(), first) {
            (Some(overdue), Some(first)) if self.window.strict && first < overdue => {
                Status::Unsigned(format!(
                    "{detail}: the server signs its chain every {}, so a checkpoint that \
                     covered them is gone, or the server stopped without its closing digest",
                    seconds(self.window.checkpoint_interval)
                ))
            }
            _ => Status::NotYetSigned(detail),
        }
    }

    /// Anything written before this should be signed by now (two checkpoint intervals).
    fn overdue(&self) -> Option<OffsetDateTime> {
        Some(self.window.now? - self.window.checkpoint_interval? * 2)
    }

    /// Numbers missing between the first and last log file the trail knows of.
    fn gaps(&mut self) {
        let numbers: Vec<u64> = self.numbers.iter().copied().collect();
        for pair in numbers.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b > a + 1 {
                let missing = if b == a + 2 {
                    format!("log file number {} is missing", a + 1)
                } else {
                    format!("log files numbered {} to {} are missing", a + 1, b - 1)
                };
                self.report.push(
                    &format!("after log file {a}"),
                    Kind::Chain,
                    Status::Gap(format!("{missing}: removed")),
                );
            }
        }
    }

    /// The chain must have been signed recently, unless the server closed it.
    fn end_of_chain(&mut self) {
        let Some(now) = self.window.now else {
            return;
        };
        if self.head.closing {
            return;
        }
        if self.window.strict
            && let (Some(overdue), Some(at)) = (self.overdue(), self.head.signed_at)
            && at < overdue
        {
            self.report.push(
                "end",
                Kind::Chain,
                Status::Unsigned(format!(
                    "no checkpoint since {}: the server is not running, or stopped without \
                     its closing digest, or its newest checkpoints were removed",
                    files::rfc3339(at)
                )),
            );
            return;
        }
        if let (Some(every), Some(at)) = (self.window.digest_interval, self.head.signed_at)
            && at < now - every * 2
        {
            self.report.push(
                "end",
                Kind::Chain,
                Status::MissingDigest(format!("nothing signed since {}", files::rfc3339(at))),
            );
        }
    }
}

fn seconds(d: Option<time::Duration>) -> String {
    d.map(|d| format!("{} s", d.whole_seconds()))
        .unwrap_or_default()
}
