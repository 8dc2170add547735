//! The audit log writer: appends hash-chained records, group-committed by their submitters
//! (the first to find the log idle lets the ready requests queue theirs, writes them all in
//! one write, and hands whatever queued meanwhile to the next submitter in line, as RocksDB's
//! write thread does; a runtime worker that runs out of work writes the queue at once, see
//! [`IdleWriter`]), rotates files by size and at each digest, signs digests and prunes what
//! retention no longer keeps. fsyncs run on a thread of their own, so none blocks the
//! runtime, and each overlaps the next write; each then lets go of the cached pages it
//! covered, so appends reuse memory still in the CPU's caches.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak, mpsc};
use std::thread;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{mpsc as async_mpsc, oneshot};

use crate::files::{
    self, CheckpointBody, CheckpointFile, DigestBody, DigestFile, Line, LogFileEntry,
};
use crate::{AuditError, AuditEvent, Recorded, Signer, UserIdentity};

/// When appended records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync every group before answering its requests.
    Always,
    /// Answer reads once their record is written to the file, and fsync at most this often:
    /// a power loss may lose the last interval of read records, a process crash loses none.
    /// Records of requests that may change something are still fsynced before the answer,
    /// as the change itself is.
    Interval(Duration),
}

impl FsyncPolicy {
    /// The default: reads durable within 10 ms, changes before their answer.
    pub const DEFAULT: Self = Self::Interval(Duration::from_millis(10));

    /// Records of this event are answered only once fsynced.
    fn waits_for_fsync(self, event: &AuditEvent<'_>) -> bool {
        match self {
            Self::Always => true,
            Self::Interval(_) => !event.read_only,
        }
    }
}

/// `always`, or the most milliseconds (1–60000) between fsyncs.
impl std::str::FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "always" {
            return Ok(Self::Always);
        }
        match s.parse::<u64>() {
            Ok(ms @ 1..=60_000) => Ok(Self::Interval(Duration::from_millis(ms))),
            _ => Err(format!(
                "`{s}` is neither `always` nor a number of milliseconds from 1 to 60000"
            )),
        }
    }
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Always => f.write_str("always"),
            Self::Interval(d) => write!(f, "{}", d.as_millis()),
        }
    }
}

/// Where and how the audit trail is kept.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Log files, and `digests/` below.
    pub dir: PathBuf,
    /// The Ed25519 digest-signing key (PKCS#8); keep it apart from `dir`.
    pub key_path: PathBuf,
    pub fsync: FsyncPolicy,
    /// A log file is closed once it reaches this size.
    pub max_file_bytes: u64,
    /// Digests (and their log files) older than this are pruned.
    pub retention: time::Duration,
    /// The account the service runs in (for service events).
    pub account_id: String,
}

/// What a digest covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSummary {
    pub digest_file: String,
    pub log_files: usize,
    pub pruned_digests: usize,
}

/// The records one group wrote, in the log's order.
pub type Written = Vec<Recorded>;

/// What a queued record's submitter is told.
enum Signal {
    /// The record is written (and fsynced, if it had to be), or could not be.
    Done(Result<(), AuditError>),
    /// Write the queue yourself; your own outcome arrives on the new receiver.
    Lead(oneshot::Receiver<Signal>),
}

/// A group's buffers grown past this are let go of rather than kept for the next group.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// A record waiting in the queue for the next group.
struct Entry {
    /// Where its event's JSON ends in the queue's bytes (it starts where the one before
    /// ends).
    end: usize,
    /// Answered only once fsynced.
    durable: bool,
    now: OffsetDateTime,
    /// For the live stream, when anybody follows it.
    recorded: Option<Recorded>,
    done: Option<oneshot::Sender<Signal>>,
}

/// Queued records: their events' JSON back to back, serialized by their submitters so the
/// group's writer only frames, hashes and writes them. The buffers go back and forth
/// between the queue and the writer, so a record allocates none.
#[derive(Default)]
struct Group {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

impl Group {
    /// Each entry with its event's JSON.
    fn events(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.entries.iter().map(move |e| {
            let json = &self.bytes[start..e.end];
            start = e.end;
            json
        })
    }
}

#[derive(Default)]
struct Queue {
    group: Group,
    /// Somebody is writing a group, or has been handed the queue: whoever finds this false
    /// writes the queue themselves.
    leading: bool,
}

/// A record submitted to the log; `wait` returns once it is written (and fsynced, under
/// [`FsyncPolicy::Always`]). Dropping it unawaited never loses the record, nor the records
/// queued behind it.
#[must_use = "a record is in the log only once `wait` returns Ok"]
pub struct PendingRecord {
    rx: oneshot::Receiver<Signal>,
    shared: Arc<Shared>,
    /// Found the log idle: writes the queue once the tasks ready to run have queued theirs.
    leads: bool,
}

impl std::fmt::Debug for PendingRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRecord").finish_non_exhaustive()
    }
}

impl PendingRecord {
    pub async fn wait(mut self) -> Result<(), AuditError> {
        if self.leads {
            // Let the requests that are ready run first, so one write carries their
            // records too.
            tokio::task::yield_now().await;
            self.leads = false;
            self.shared.lead();
        }
        loop {
            match (&mut self.rx).await {
                Ok(Signal::Done(result)) => return result,
                Ok(Signal::Lead(next)) => {
                    self.rx = next;
                    self.shared.lead();
                }
                Err(_) => return Err(AuditError::Closed),
            }
        }
    }
}

impl Drop for PendingRecord {
    /// A submitter that goes away while it is being handed the queue still writes it, so
    /// the records behind it are not stranded.
    fn drop(&mut self) {
        if self.leads {
            self.shared.lead();
        }
        self.rx.close();
        if let Ok(Signal::Lead(next)) = self.rx.try_recv() {
            drop(next);
            self.shared.lead();
        }
    }
}

/// The audit log. Clones share one log: records are group-committed by their submitters
/// (the first to find the log idle lets the ready requests queue theirs, writes them all in
/// one write, then hands what queued meanwhile to the next in line), so no writer task sits
/// between a request and its record.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    writer: Mutex<Writer>,
    fsync: FsyncPolicy,
    /// Somebody follows the live stream: records are taken apart for it.
    followed: std::sync::atomic::AtomicBool,
    public_key: crate::PublicKey,
    /// Woken when written records wait for an interval fsync.
    unsynced: Arc<tokio::sync::Notify>,
    /// Where the log files are.
    dir: std::path::PathBuf,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl Drop for Shared {
    /// The last clone is gone: what was written gets its fsync, and the interval task ends.
    fn drop(&mut self) {
        if let Ok(writer) = self.writer.get_mut() {
            writer.sync_unsynced();
        }
        self.unsynced.notify_one();
    }
}

fn poisoned<T>(_: T) -> AuditError {
    AuditError::Poisoned
}

impl AuditLog {
    /// Opens the log: recovers files left by a crash (a torn last line is cut, and said so
    /// in the log). Needs a Tokio runtime, for the interval fsync.
    pub fn open(config: AuditConfig, now: OffsetDateTime) -> Result<Self, AuditError> {
        s9_store::create_private_dir(&config.dir.join(files::DIGEST_DIR))
            .map_err(|e| AuditError::io(&config.dir, e))?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AuditError::NoRuntime)?;
        let signer = open_signer(&config)?;
        let public_key = signer.public_key();
        let fsync = config.fsync;
        let dir = config.dir.clone();
        let mut writer = Writer::recover(config, signer)?;
        if let Some(signed_by) = &writer.signed_by
            && *signed_by != public_key.fingerprint()
        {
            return Err(AuditError::Key(format!(
                "{} is not the key that signed the trail in {} (its newest digest or checkpoint was signed by key {signed_by}); \
                 restore that key, or start a new trail in another --audit-dir",
                writer.config.key_path.display(),
                dir.display()
            )));
        }
        let (sync_tx, sync_rx) = mpsc::channel::<SyncJob>();
        thread::Builder::new()
            .name("s9-audit-sync".into())
            .spawn(move || syncer(&sync_rx))
            .map_err(|e| AuditError::Thread(Arc::new(e)))?;
        writer.syncer = Some(sync_tx);
        if !writer.recovered.is_empty() {
            let names = writer.recovered.join(", ");
            tracing::warn!(
                files = names,
                "audit log files were cut back to their last complete record after a crash"
            );
            let event = writer.service_event(
                now,
                "AuditLogRecovered",
                serde_json::json!({"truncatedFiles": writer.recovered}),
            );
            writer.append_event(&event, now)?;
        }
        // What an earlier run left unsigned (a crash) is signed now.
        writer.checkpoint(now)?;
        let unsynced = Arc::new(tokio::sync::Notify::new());
        let inner = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            writer: Mutex::new(writer),
            fsync,
            followed: std::sync::atomic::AtomicBool::new(false),
            public_key,
            unsynced: Arc::clone(&unsynced),
            dir,
        });
        if let FsyncPolicy::Interval(every) = fsync {
            runtime.spawn(interval_sync(Arc::downgrade(&inner), unsynced, every));
        }
        Ok(Self { inner })
    }

    /// Queues `event`; await the returned handle before answering the request. Await (or
    /// drop) it promptly: the queue may be waiting for it to write the group.
    pub fn record(
        &self,
        event: AuditEvent<'_>,
        now: OffsetDateTime,
    ) -> Result<PendingRecord, AuditError> {
        let (done, rx) = oneshot::channel();
        let leads = self.inner.submit(event, now, Some(done))?;
        Ok(PendingRecord {
            rx,
            shared: Arc::clone(&self.inner),
            leads,
        })
    }

    /// Appends `event` without waiting for it.
    pub fn record_detached(&self, event: AuditEvent<'_>, now: OffsetDateTime) {
        match self.inner.submit(event, now, None) {
            Ok(true) => self.inner.lead(),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "could not queue an audit record"),
        }
    }

    /// Closes the current file, prunes what retention no longer keeps, and writes a signed
    /// digest of every file closed since the last one.
    pub async fn digest(&self, now: OffsetDateTime) -> Result<DigestSummary, AuditError> {
        self.with_writer(move |w| w.digest(now, false)).await
    }

    /// The digest written as the service stops: it says so, so that a trail ending with it
    /// is complete, however long ago it ended.
    pub async fn closing_digest(&self, now: OffsetDateTime) -> Result<DigestSummary, AuditError> {
        self.with_writer(move |w| w.digest(now, true)).await
    }

    /// Signs the chain's head: every record written so far is then covered by a signature
    /// (`checkpoint.json`, replaced each time). The service does this every minute.
    pub async fn checkpoint(&self, now: OffsetDateTime) -> Result<(), AuditError> {
        self.with_writer(move |w| w.checkpoint(now)).await
    }

    /// Runs `f` on the writer, off the runtime's workers: signing and fsyncing take
    /// milliseconds.
    async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T, AuditError> + Send + 'static,
    ) -> Result<T, AuditError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&mut *inner.writer.lock().map_err(poisoned)?))
            .await
            .map_err(|_| AuditError::Closed)?
    }

    pub fn public_key(&self) -> &crate::PublicKey {
        &self.inner.public_key
    }

    /// The directory the log files are in.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.dir
    }

    /// The live stream: every record written from now on, once it is in the log, a group
    /// at a time (in the log's order). Writers never wait for a subscriber: groups a full
    /// channel (of `capacity` groups) cannot take are dropped from the stream (never from
    /// the log), and said so in the service log.
    pub fn subscribe(&self, capacity: usize) -> Result<async_mpsc::Receiver<Written>, AuditError> {
        let (tx, rx) = async_mpsc::channel(capacity.max(1));
        self.inner
            .writer
            .lock()
            .map_err(poisoned)?
            .subscribers
            .push(tx);
        self.inner
            .followed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(rx)
    }
}

impl Shared {
    fn submit(
        &self,
        event: AuditEvent<'_>,
        now: OffsetDateTime,
        done: Option<oneshot::Sender<Signal>>,
    ) -> Result<bool, AuditError> {
        thread_local! {
            /// Where this thread serializes its records before queuing them.
            static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        JSON.with_borrow_mut(|json| {
            json.clear();
            event.write_json(json);
            let durable = self.fsync.waits_for_fsync(&event);
            // Taken apart (or dropped) here, by the thread that built it.
            let recorded = self
                .followed
                .load(std::sync::atomic::Ordering::Relaxed)
                .then(|| Recorded::new(event, now));
            let mut queue = self.queue();
            queue.group.bytes.extend_from_slice(json);
            let end = queue.group.bytes.len();
            queue.group.entries.push(Entry {
                end,
                durable,
                now,
                recorded,
                done,
            });
            let leads = !std::mem::replace(&mut queue.leading, true);
            drop(queue);
            if json.capacity() > KEEP_BUFFER_BYTES {
                *json = Vec::new();
            }
            Ok(leads)
        })
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A queue and a flag: never left half-changed, so a panic elsewhere cannot spoil it.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes what is queued as one group. Taken under the writer's lock, so groups reach
    /// the file in the order their records were queued, whoever writes them.
    fn write_group(&self, writer: &mut Writer) {
        let group = {
            let mut queue = self.queue();
            if queue.group.entries.is_empty() {
                return;
            }
            std::mem::replace(&mut queue.group, std::mem::take(&mut writer.spare))
        };
        let unsynced_before = writer.unsynced;
        writer.write(group);
        if writer.unsynced && !unsynced_before {
            self.unsynced.notify_one();
        }
    }

    /// Writes what is queued now, out of turn; skipped while the writer is busy. Whatever
    /// stays queued is written by the submitter that leads (there is one while anything is
    /// queued), which may find its own record written already.
    fn write_queued(&self) {
        if self.queue().group.entries.is_empty() {
            return;
        }
        if let Ok(mut writer) = self.writer.try_lock() {
            self.write_group(&mut writer);
        }
    }

    /// Writes the queue as one group, then hands it to the first submitter queued meanwhile
    /// (or, when nobody can take it, writes it again), until it is empty.
    fn lead(&self) {
        /// Should writing a group panic, the next submitter leads: nobody waits forever.
        struct Unwinding<'a>(&'a Shared);
        impl Drop for Unwinding<'_> {
            fn drop(&mut self) {
                if thread::panicking() {
                    self.0.queue().leading = false;
                }
            }
        }
        let _unwinding = Unwinding(self);
        loop {
            match self.writer.lock() {
                Ok(mut writer) => self.write_group(&mut writer),
                Err(e) => {
                    let group = std::mem::take(&mut self.queue().group);
                    if !group.entries.is_empty() {
                        fail(group.entries, &poisoned(e));
                    }
                }
            }
            let mut queue = self.queue();
            if queue.group.entries.is_empty() {
                queue.leading = false;
                return;
            }
            if hand_on(&mut queue.group.entries) {
                return;
            }
        }
    }
}

/// Lets a Tokio runtime write queued records as soon as one of its workers runs out of work:
/// give [`IdleWriter::on_park`] to `tokio::runtime::Builder::on_thread_park`, and
/// [`attach`](IdleWriter::attach) the log once it is open.
///
/// Without it, the requests queued behind a submitter that leads wait for that submitter to
/// be polled again, after the other requests ready on its worker; a worker whose own
/// requests all wait in the queue would sit idle meanwhile. With it, that worker writes the
/// group instead, and groups still grow while every worker is busy.
#[derive(Debug, Clone, Default)]
pub struct IdleWriter(Arc<OnceLock<Weak<Shared>>>);

impl IdleWriter {
    /// The log whose queue idle workers write; the first one attached stays.
    pub fn attach(&self, log: &AuditLog) {
        let _ = self.0.set(Arc::downgrade(&log.inner));
    }

    /// A worker is about to park: it writes what is queued, unless somebody is writing
    /// (it never waits for the writer).
    pub fn on_park(&self) {
        if let Some(shared) = self.0.get().and_then(Weak::upgrade) {
            shared.write_queued();
        }
    }
}

/// Makes the first queued submitter still waiting the next to write the queue.
fn hand_on(entries: &mut [Entry]) -> bool {
    entries.iter_mut().any(|entry| {
        let Some(done) = entry.done.take() else {
            return false;
        };
        let (next, rx) = oneshot::channel();
        match done.send(Signal::Lead(rx)) {
            Ok(()) => {
                entry.done = Some(next);
                true
            }
            // Its submitter went away; its record stays queued.
            Err(_) => false,
        }
    })
}

/// Answers every request of a group that could not be written.
fn fail(group: impl IntoIterator<Item = Entry>, error: &AuditError) {
    tracing::error!(error = %error, "the audit log could not be written; requests that need a record fail");
    for entry in group {
        if let Some(done) = entry.done {
            let _ = done.send(Signal::Done(Err(error.clone())));
        }
    }
}

/// fsyncs records written under [`FsyncPolicy::Interval`] at most `every` after they were
/// written; sleeps while nothing is waiting for it.
async fn interval_sync(shared: Weak<Shared>, unsynced: Arc<tokio::sync::Notify>, every: Duration) {
    loop {
        unsynced.notified().await;
        tokio::time::sleep(every).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Ok(mut writer) = shared.writer.lock() {
            writer.sync_unsynced();
        }
    }
}

struct OpenFile {
    path: PathBuf,
    name: String,
    number: u64,
    file: Arc<LogFile>,
    bytes: u64,
    seq: u64,
    last_hash: String,
    /// Everything written so far, hashed: gives each record's hash, and the file's for the
    /// digest without a re-read.
    chain: files::Chain,
}

struct Writer {
    config: AuditConfig,
    signer: Signer,
    current: Option<OpenFile>,
    /// Closed files not yet in a digest.
    pending: Vec<LogFileEntry>,
    last_digest: Option<(String, String, String)>,
    last_digest_end: Option<String>,
    chain_start: Option<String>,
    /// Names digests apart within a second.
    counter: u64,
    /// The number the next log file takes: one more than any file the trail knows of.
    next_number: u64,
    /// The key fingerprint the newest digest or checkpoint names.
    signed_by: Option<String>,
    /// Records are written that no fsync has covered yet.
    unsynced: bool,
    recovered: Vec<String>,
    syncer: Option<mpsc::Sender<SyncJob>>,
    /// Files closed since the last digest, fsynced (again, cheaply) before it is written.
    closed: Vec<(PathBuf, Arc<LogFile>)>,
    /// Where written records go next ([`AuditLog::subscribe`]).
    subscribers: Vec<async_mpsc::Sender<Written>>,
    /// Records the subscribers' full channels could not take.
    dropped: u64,
    /// The buffers of the group written last, for the queue to fill next.
    spare: Group,
    /// Where a group's lines are framed before they are written.
    frame: Vec<u8>,
}

/// A log file open for appending, shared with the syncer thread.
struct LogFile {
    file: File,
    /// Its cached pages before this offset were let go of.
    released: std::sync::atomic::AtomicU64,
}

impl LogFile {
    /// Lets go of the cached pages of the first `upto` bytes (all of them, for `u64::MAX`),
    /// once fsynced: the service never reads a log back while writing it, and appends
    /// into pages that were just freed (still in the CPU's caches) cost less than appends
    /// into fresh memory. Pages not wholly below `upto` stay; they go a megabyte at a time
    /// (each `fadvise` drains every CPU's page lists, waking a kernel worker on each).
    fn release(&self, upto: u64) {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{Advice, fadvise};
            use std::sync::atomic::Ordering::Relaxed;
            const AT_ONCE: u64 = 1 << 20;
            let page = rustix::param::page_size() as u64;
            let from = self.released.load(Relaxed);
            if upto <= from || (upto != u64::MAX && upto - from < AT_ONCE) {
                return;
            }
            self.released.store(upto, Relaxed);
            let from = from & !(page - 1);
            let len = (upto != u64::MAX)
                .then(|| std::num::NonZeroU64::new(upto - from))
                .flatten();
            let _ = fadvise(&self.file, from, len, Advice::DontNeed);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = upto;
    }
}

/// Written records waiting for their fsync.
struct SyncJob {
    file: Arc<LogFile>,
    /// How much of the file the fsync covers.
    written: u64,
    waiters: Vec<oneshot::Sender<Signal>>,
}

impl SyncJob {
    fn sync_now(self) {
        let result = fsync(&self.file.file);
        if result.is_ok() {
            self.file.release(self.written);
        }
        self.answer(&result);
    }

    fn answer(self, result: &Result<(), AuditError>) {
        for w in self.waiters {
            let _ = w.send(Signal::Done(result.clone()));
        }
    }
}

/// fsyncs a log file's data; a failure is said in the service log (its waiters fail).
fn fsync(file: &File) -> Result<(), AuditError> {
    let result = file.sync_data().map_err(|e| AuditError::Sync(Arc::new(e)));
    if let Err(e) = &result {
        tracing::error!(error = %e, "the audit log could not be synced; requests that need a record fail");
    }
    result
}

/// fsyncs written groups and answers their requests: one fsync for every group queued
/// meanwhile (per file).
fn syncer(rx: &mpsc::Receiver<SyncJob>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
        }
        let mut synced: Vec<(Arc<LogFile>, Result<(), AuditError>)> = Vec::new();
        for job in jobs {
            let result = match synced.iter().find(|(f, _)| Arc::ptr_eq(f, &job.file)) {
                Some((_, r)) => r.clone(),
                None => {
                    let r = fsync(&job.file.file);
                    synced.push((Arc::clone(&job.file), r.clone()));
                    r
                }
            };
            if result.is_ok() {
                job.file.release(job.written);
            }
            job.answer(&result);
        }
    }
}

/// What [`scan`] found in a log file.
struct Scanned {
    records: u64,
    last_hash: String,
    /// The length the complete lines span (with the header).
    good_len: u64,
    len: usize,
    number: Option<u64>,
}

/// Reads a log file back: its complete records and the length they span (with the header).
/// Bytes, not text: a torn last line may end inside a character.
fn scan(path: &Path) -> Result<Scanned, AuditError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| AuditError::io(path, e))?;
    let name = files::file_name(path);
    let (mut records, mut last_hash, mut good_len) = (0u64, files::genesis(&name), 0usize);
    let mut number = None;
    for line in files::complete_lines(&bytes) {
        let header = (good_len == 0)
            .then(|| std::str::from_utf8(line).ok().and_then(files::parse_header))
            .flatten();
        if let Some(header) = header {
            number = header.number;
        } else {
            match serde_json::from_slice::<Line<'_>>(line) {
                Ok(l) => {
                    records = l.seq;
                    last_hash = l.hash;
                }
                Err(_) => break,
            }
        }
        good_len += line.len();
    }
    Ok(Scanned {
        records,
        last_hash,
        good_len: good_len as u64,
        len: bytes.len(),
        number,
    })
}

/// The highest file number `entries` name (0 for none).
fn highest_number(entries: &[LogFileEntry]) -> u64 {
    entries.iter().filter_map(|f| f.number).max().unwrap_or(0)
}

/// The signing key; created only for a trail that no key has signed yet (a missing key is
/// never replaced silently: the trail would end up signed by two keys).
fn open_signer(config: &AuditConfig) -> Result<Signer, AuditError> {
    if !config.key_path.exists() {
        let digests = files::list(
            &config.dir.join(files::DIGEST_DIR),
            files::DIGEST_PREFIX,
            ".json",
        )?;
        if !digests.is_empty() || config.dir.join(files::CHECKPOINT_FILE).exists() {
            return Err(AuditError::Key(format!(
                "{} is missing, and the trail in {} is signed: restore the key that signed it \
                 (or start a new trail in another --audit-dir)",
                config.key_path.display(),
                config.dir.display()
            )));
        }
    }
    Signer::open_or_create(&config.key_path)
}

impl Writer {
    fn recover(config: AuditConfig, signer: Signer) -> Result<Self, AuditError> {
        let digest_dir = config.dir.join(files::DIGEST_DIR);
        let digests = files::list(&digest_dir, files::DIGEST_PREFIX, ".json")?;
        let mut listed = std::collections::HashSet::new();
        let (mut last_digest, mut last_end, mut chain_start) = (None, None, None);
        let (mut numbered, mut signed_by) = (0u64, None);
        for path in &digests {
            let bytes = std::fs::read(path).map_err(|e| AuditError::io(path, e))?;
            let Ok(file) = serde_json::from_slice::<DigestFile<'_>>(&bytes) else {
                continue;
            };
            let Ok(body) = serde_json::from_str::<DigestBody>(file.digest.get()) else {
                continue;
            };
            listed.extend(body.log_files.iter().map(|f| f.file.clone()));
            numbered = numbered.max(highest_number(&body.log_files));
            signed_by = Some(body.public_key_fingerprint.clone());
            last_digest = Some((
                files::file_name(path),
                files::sha256_hex(&bytes),
                file.signature.clone(),
            ));
            last_end = Some(body.digest_end_time.clone());
            chain_start = Some(body.chain_start.clone());
        }
        // A file the checkpoint names keeps its number taken even if it is gone.
        if let Ok(bytes) = std::fs::read(config.dir.join(files::CHECKPOINT_FILE))
            && let Ok(file) = serde_json::from_slice::<CheckpointFile<'_>>(&bytes)
            && let Ok(body) = serde_json::from_str::<CheckpointBody>(file.checkpoint.get())
        {
            numbered = numbered.max(highest_number(&body.log_files));
            signed_by = Some(body.public_key_fingerprint);
        }
        let mut pending = Vec::new();
        let mut recovered = Vec::new();
        for path in files::list(&config.dir, files::LOG_PREFIX, files::LOG_SUFFIX)? {
            let name = files::file_name(&path);
            if listed.contains(&name) {
                continue;
            }
            let Scanned {
                records,
                last_hash,
                good_len,
                len,
                number,
            } = scan(&path)?;
            numbered = numbered.max(number.unwrap_or(0));
            if good_len < len as u64 {
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| {
                        f.set_len(good_len)?;
                        f.sync_all()
                    })
                    .map_err(|e| AuditError::io(&path, e))?;
                recovered.push(name.clone());
            }
            let bytes = std::fs::read(&path).map_err(|e| AuditError::io(&path, e))?;
            pending.push(LogFileEntry {
                file: name,
                sha256: files::sha256_hex(&bytes),
                records,
                last_hash,
                number,
                open: false,
            });
        }
        Ok(Self {
            config,
            signer,
            current: None,
            pending,
            last_digest,
            last_digest_end: last_end,
            chain_start,
            counter: 0,
            next_number: numbered + 1,
            signed_by,
            unsynced: false,
            recovered,
            syncer: None,
            closed: Vec::new(),
            subscribers: Vec::new(),
            dropped: 0,
            spare: Group::default(),
            frame: Vec::new(),
        })
    }

    /// Writes a group in one write; answers those that need only the write, and hands
    /// those that wait for the fsync to the syncer (which fsyncs while the next group is
    /// written).
    fn write(&mut self, mut group: Group) {
        let Some(first) = group.entries.first() else {
            return;
        };
        let appended = self.append_group(first.now, group.events());
        let mut durable = Vec::new();
        let mut written = Vec::new();
        let (file, end) = match appended {
            Ok(appended) => appended,
            Err(e) => {
                fail(group.entries.drain(..), &e);
                return self.keep_buffers(group);
            }
        };
        for entry in group.entries.drain(..) {
            if let Some(done) = entry.done {
                if entry.durable {
                    durable.push(done);
                } else {
                    let _ = done.send(Signal::Done(Ok(())));
                }
            }
            written.extend(entry.recorded);
        }
        self.keep_buffers(group);
        let dropped = self.dropped;
        self.publish(written);
        if self.dropped > dropped {
            self.subscribers.retain(|tx| !tx.is_closed());
            tracing::warn!(
                dropped = self.dropped - dropped,
                total = self.dropped,
                "the live audit stream fell behind; records were left out of it (the log has them)"
            );
        }
        if !durable.is_empty() {
            self.hand_to_syncer(SyncJob {
                file,
                written: end,
                waiters: durable,
            });
        }
    }

    /// Keeps a written group's (emptied) buffers for the queue to fill next, unless a big
    /// record grew them.
    fn keep_buffers(&mut self, mut group: Group) {
        group.bytes.clear();
        if group.bytes.capacity() > KEEP_BUFFER_BYTES {
            group.bytes = Vec::new();
        }
        self.spare = group;
    }

    /// The syncer thread fsyncs `job` while the runtime goes on; without it, it is done here.
    fn hand_to_syncer(&self, job: SyncJob) {
        match &self.syncer {
            Some(syncer) => {
                if let Err(mpsc::SendError(job)) = syncer.send(job) {
                    job.sync_now();
                }
            }
            None => job.sync_now(),
        }
    }

    /// Hands a written group to the subscribers, in one message each (a closed one counts
    /// as dropped, and is let go of after the group).
    fn publish(&mut self, written: Written) {
        let Some((last, rest)) = self.subscribers.split_last() else {
            return;
        };
        if written.is_empty() {
            return;
        }
        let records = written.len() as u64;
        for tx in rest {
            if tx.try_send(written.clone()).is_err() {
                self.dropped += records;
            }
        }
        if last.try_send(written).is_err() {
            self.dropped += records;
        }
    }

    fn open_file(&mut self, now: OffsetDateTime) -> Result<(), AuditError> {
        // Numbered one after another across restarts: a missing file is a gap. A name is
        // never reused (`create_new`).
        let number = self.next_number;
        let name = files::log_name(now, number);
        let path = self.config.dir.join(&name);
        let file = s9_store::private_file_options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| AuditError::io(&path, e))?;
        self.next_number += 1;
        if let Ok(d) = File::open(&self.config.dir) {
            let _ = d.sync_all();
        }
        self.current = Some(OpenFile {
            last_hash: files::genesis(&name),
            path,
            name,
            number,
            file: Arc::new(LogFile {
                file,
                released: std::sync::atomic::AtomicU64::new(0),
            }),
            bytes: 0,
            seq: 0,
            chain: files::Chain::new(),
        });
        Ok(())
    }

    /// Writes a group of serialized events in one write; returns the file written, for
    /// the fsync that the syncer thread does while the next group is prepared.
    fn append_group<'a>(
        &mut self,
        now: OffsetDateTime,
        events: impl Iterator<Item = &'a [u8]>,
    ) -> Result<(Arc<LogFile>, u64), AuditError> {
        if self.current.is_none() {
            self.open_file(now)?;
        }
        let current = self.current.as_mut().ok_or(AuditError::Closed)?;
        // A new file starts with its header; each record line is `{"seq":N,"event":{…}`,
        // then `,"hash":"H"}` with H the hash of the file up to there (see `files`).
        let buf = &mut self.frame;
        buf.clear();
        // Advanced only once the write went through.
        let mut chain = current.chain.clone();
        if current.bytes == 0 {
            buf.extend_from_slice(files::header(&current.name, current.number).as_bytes());
            chain.update(buf);
        }
        let (mut seq, mut last) = (current.seq, None);
        let mut digits = itoa::Buffer::new();
        for event in events {
            seq += 1;
            let start = buf.len();
            buf.extend_from_slice(b"{\"seq\":");
            buf.extend_from_slice(digits.format(seq).as_bytes());
            buf.extend_from_slice(b",\"event\":");
            buf.extend_from_slice(event);
            chain.update(&buf[start..]);
            let hash = chain.head();
            let start = buf.len();
            files::push_hash_member(buf, hash.as_str());
            chain.update(&buf[start..]);
            last = Some(hash);
        }
        let written = (&current.file.file).write_all(buf);
        if let Err(e) = written {
            // Cut back to the last complete record, so the file's chain stays whole.
            let path = current.path.clone();
            if current.file.file.set_len(current.bytes).is_err() {
                self.current = None;
            }
            return Err(AuditError::io(&path, e));
        }
        current.chain = chain;
        current.bytes += buf.len() as u64;
        if buf.capacity() > KEEP_BUFFER_BYTES {
            *buf = Vec::new();
        }
        current.seq = seq;
        if let Some(last) = last {
            current.last_hash = last.as_str().to_owned();
        }
        self.unsynced = self.config.fsync != FsyncPolicy::Always;
        let appended = (Arc::clone(&current.file), current.bytes);
        if current.bytes >= self.config.max_file_bytes {
            self.close_current();
        }
        Ok(appended)
    }

    /// Appends one event the log writes by itself.
    fn append_event(
        &mut self,
        event: &AuditEvent<'_>,
        now: OffsetDateTime,
    ) -> Result<(), AuditError> {
        let mut json = Vec::new();
        event.write_json(&mut json);
        self.append_group(now, std::iter::once(json.as_slice()))
            .map(drop)
    }

    /// Has the syncer thread fsync what was written since the last fsync.
    fn sync_unsynced(&mut self) {
        if !std::mem::take(&mut self.unsynced) {
            return;
        }
        if let Some(c) = &self.current {
            self.hand_to_syncer(SyncJob {
                file: Arc::clone(&c.file),
                written: c.bytes,
                waiters: Vec::new(),
            });
        }
    }

    /// Closes the current file; the syncer fsyncs it, and the next digest makes sure it did.
    fn close_current(&mut self) {
        let Some(current) = self.current.take() else {
            return;
        };
        self.hand_to_syncer(SyncJob {
            file: Arc::clone(&current.file),
            // Closed: its last page too.
            written: u64::MAX,
            waiters: Vec::new(),
        });
        self.closed.push((current.path, current.file));
        self.pending.push(LogFileEntry {
            file: current.name,
            sha256: current.chain.finish(),
            records: current.seq,
            last_hash: current.last_hash,
            number: Some(current.number),
            open: false,
        });
    }

    pub(crate) fn service_event(
        &self,
        now: OffsetDateTime,
        name: &'static str,
        details: serde_json::Value,
    ) -> AuditEvent<'static> {
        crate::service_event(&self.config.account_id, now, name, details)
    }

    /// Signs the chain's head: the files closed since the last digest, and the current one
    /// up to its newest record (fsynced first: a checkpoint never claims what a power loss
    /// could take back).
    fn checkpoint(&mut self, now: OffsetDateTime) -> Result<(), AuditError> {
        let mut log_files = self.pending.clone();
        if let Some(c) = &self.current {
            c.file
                .file
                .sync_data()
                .map_err(|e| AuditError::io(&c.path, e))?;
            log_files.push(LogFileEntry {
                file: c.name.clone(),
                sha256: c.chain.head().as_str().to_owned(),
                records: c.seq,
                last_hash: c.last_hash.clone(),
                number: Some(c.number),
                open: true,
            });
        }
        for (path, file) in &self.closed {
            file.file.sync_all().map_err(|e| AuditError::io(path, e))?;
        }
        let (previous_digest_file, previous_digest_hash) = match &self.last_digest {
            Some((f, h, _)) => (Some(f.clone()), Some(h.clone())),
            None => (None, None),
        };
        let body = CheckpointBody {
            version: 1,
            checkpoint_time: files::rfc3339(now),
            previous_digest_file,
            previous_digest_hash,
            public_key_fingerprint: self.signer.public_key().fingerprint(),
            log_files,
        };
        let (bytes, _) = signed_file(&self.signer, "checkpoint", &body)?;
        // Replaced whole: written beside it, then renamed over it.
        let path = self.config.dir.join(files::CHECKPOINT_FILE);
        let staged = self.config.dir.join(".checkpoint.json.new");
        let write = || -> std::io::Result<()> {
            let mut f = s9_store::private_file_options()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&staged)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&staged, &path)?;
            File::open(&self.config.dir)?.sync_all()
        };
        write().map_err(|e| AuditError::io(&path, e))
    }

    fn digest(&mut self, now: OffsetDateTime, closing: bool) -> Result<DigestSummary, AuditError> {
        let pruned = self.prune(now)?;
        if pruned > 0 {
            let event = self.service_event(now, "AuditLogsPruned", serde_json::json!({"prunedDigests": pruned, "retentionDays": self.config.retention.whole_days()}));
            self.append_event(&event, now)?;
        }
        self.close_current();
        // Every file the digest lists is on disk before the digest is.
        for (path, file) in self.closed.drain(..) {
            file.file.sync_all().map_err(|e| AuditError::io(&path, e))?;
        }
        self.counter += 1;
        let name = format!(
            "{}{}-{:06}.json",
            files::DIGEST_PREFIX,
            files::stamp(now),
            self.counter
        );
        let (prev_file, prev_hash, prev_sig) = match &self.last_digest {
            Some((f, h, s)) => (Some(f.clone()), Some(h.clone()), Some(s.clone())),
            None => (None, None, None),
        };
        let chain_start = self.chain_start.clone().unwrap_or_else(|| name.clone());
        let body = DigestBody {
            version: 1,
            digest_start_time: self
                .last_digest_end
                .clone()
                .unwrap_or_else(|| files::rfc3339(now)),
            digest_end_time: files::rfc3339(now),
            chain_start: chain_start.clone(),
            previous_digest_file: prev_file,
            previous_digest_hash: prev_hash,
            previous_digest_signature: prev_sig,
            public_key_fingerprint: self.signer.public_key().fingerprint(),
            log_files: std::mem::take(&mut self.pending),
            closing,
        };
        let (bytes, signature) = signed_file(&self.signer, "digest", &body)?;
        let path = self.config.dir.join(files::DIGEST_DIR).join(&name);
        let write = || -> std::io::Result<()> {
            let mut f = s9_store::private_file_options()
                .create_new(true)
                .write(true)
                .open(&path)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
        };
        if let Err(e) = write() {
            self.pending = body.log_files;
            return Err(AuditError::io(&path, e));
        }
        self.last_digest = Some((name.clone(), files::sha256_hex(&bytes), signature));
        self.last_digest_end = Some(body.digest_end_time);
        self.chain_start = Some(chain_start);
        Ok(DigestSummary {
            digest_file: name,
            log_files: body.log_files.len(),
            pruned_digests: pruned,
        })
    }

    /// Removes digests that ended before the retention cutoff, and their log files, keeping
    /// the newest digest so the chain goes on; the next digest names the new chain start.
    fn prune(&mut self, now: OffsetDateTime) -> Result<usize, AuditError> {
        let cutoff = now - self.config.retention;
        let digest_dir = self.config.dir.join(files::DIGEST_DIR);
        let digests = files::list(&digest_dir, files::DIGEST_PREFIX, ".json")?;
        let Some((_, keep)) = digests.split_last() else {
            return Ok(0);
        };
        let mut pruned = 0;
        for path in keep {
            let bytes = std::fs::read(path).map_err(|e| AuditError::io(path, e))?;
            let Ok(file) = serde_json::from_slice::<DigestFile<'_>>(&bytes) else {
                break;
            };
            let Ok(body) = serde_json::from_str::<DigestBody>(file.digest.get()) else {
                break;
            };
            let ended = OffsetDateTime::parse(
                &body.digest_end_time,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| AuditError::DigestTime {
                path: path.clone(),
                value: body.digest_end_time.clone(),
            })?;
            if ended >= cutoff {
                break;
            }
            for f in &body.log_files {
                let p = self.config.dir.join(&f.file);
                if let Err(e) = std::fs::remove_file(&p)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(AuditError::io(&p, e));
                }
            }
            std::fs::remove_file(path).map_err(|e| AuditError::io(path, e))?;
            pruned += 1;
        }
        if pruned > 0 {
            let remaining = files::list(&digest_dir, files::DIGEST_PREFIX, ".json")?;
            self.chain_start = remaining.first().map(|p| files::file_name(p));
        }
        Ok(pruned)
    }
}

/// A signed file's bytes, `{"<member>":BODY,"signature":S}` with `S` the Ed25519 signature
/// of BODY's exact bytes (a digest or a checkpoint), and `S`.
fn signed_file(
    signer: &Signer,
    member: &str,
    body: &impl serde::Serialize,
) -> Result<(Vec<u8>, String), AuditError> {
    let body = serde_json::to_string(body).map_err(|e| AuditError::Encode(Arc::new(e)))?;
    let signature = signer.sign(body.as_bytes());
    let bytes = format!(
        "{{{}:{body},\"signature\":{}}}",
        serde_json::Value::from(member),
        serde_json::Value::from(signature.as_str())
    );
    Ok((bytes.into_bytes(), signature))
}

/// An event the service records by itself (`AwsServiceEvent`).
pub fn service_event(
    account_id: &str,
    now: OffsetDateTime,
    name: impl Into<crate::Text>,
    details: serde_json::Value,
) -> AuditEvent<'static> {
    AuditEvent {
        event_version: "1.08".into(),
        user_identity: UserIdentity {
            kind: "AWSService".into(),
            principal_id: None,
            arn: None,
            account_id: Some(account_id.to_owned().into()),
            access_key_id: None,
            user_name: None,
            invoked_by: Some("secretsmanager.amazonaws.com".into()),
        },
        event_time: crate::event_time(now),
        event_source: "secretsmanager.amazonaws.com".into(),
        event_name: name.into(),
        aws_region: "".into(),
        source_ip_address: "secretsmanager.amazonaws.com".into(),
        user_agent: "secretsmanager.amazonaws.com".into(),
        request_parameters: None,
        response_elements: Some(crate::Members::from_value(&details)),
        error_code: None,
        error_message: None,
        request_id: crate::new_id().into(),
        event_id: crate::new_id(),
        read_only: false,
        resources: Vec::new(),
        event_type: crate::event::SERVICE_EVENT_TYPE.into(),
        management_event: true,
        recipient_account_id: account_id.to_owned().into(),
        event_category: "Management".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policy_parses_and_prints() {
        assert_eq!("always".parse(), Ok(FsyncPolicy::Always));
        assert_eq!("10".parse(), Ok(FsyncPolicy::DEFAULT));
        for bad in ["0", "60001", "-1", "ALWAYS", "", "5ms"] {
            assert!(bad.parse::<FsyncPolicy>().is_err(), "{bad}");
        }
        assert_eq!(FsyncPolicy::DEFAULT.to_string(), "10");
        assert_eq!(FsyncPolicy::Always.to_string(), "always");
    }

    #[test]
    fn changes_wait_for_fsync_under_every_policy() {
        let mut event = service_event(
            "123456789012",
            OffsetDateTime::UNIX_EPOCH,
            "X",
            serde_json::Value::Null,
        );
        event.read_only = false;
        assert!(FsyncPolicy::DEFAULT.waits_for_fsync(&event));
        assert!(FsyncPolicy::Always.waits_for_fsync(&event));
        event.read_only = true;
        assert!(!FsyncPolicy::DEFAULT.waits_for_fsync(&event));
        assert!(FsyncPolicy::Always.waits_for_fsync(&event));
    }
}
