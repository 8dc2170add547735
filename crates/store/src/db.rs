//! Durable tables on redb with group commit: concurrent batches are written in one
//! transaction and one fsync, and each caller is answered only after that fsync.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

/// The tables of the store. Keys are strings chosen by the caller; values are opaque bytes
/// (the caller's versioned records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// One record per secret (metadata and version index).
    Secrets,
    /// One sealed value per secret version.
    Versions,
    /// Service-wide records (schema version, settings).
    Meta,
}

impl Table {
    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Self::Secrets => TableDefinition::new("secrets"),
            Self::Versions => TableDefinition::new("versions"),
            Self::Meta => TableDefinition::new("meta"),
        }
    }
}

/// One change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    Put {
        table: Table,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        table: Table,
        key: String,
    },
}

/// Why the store could not open, read or write.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (another `serve` on the same data directory) holds the database.
    #[error("{path} is in use by another process: one server per data directory")]
    InUse { path: PathBuf },
    /// The file was written in a table layout this build does not know.
    #[error(
        "{path} was written by a newer or unknown version (store format {found:?}, this build reads {FORMAT_VERSION})"
    )]
    UnknownFormat { path: PathBuf, found: String },
    /// The database engine failed (I/O, corruption, a failed commit).
    #[error("storage: {0}")]
    Database(Arc<redb::Error>),
    /// An earlier commit failed; the store refuses writes until the process restarts and
    /// reloads what is on disk.
    #[error("storage is unavailable after an earlier failed commit")]
    Failed,
}

fn db_error(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Database(Arc::new(e.into()))
}

struct Job {
    batch: Vec<Mutation>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The durable store. Clones share one database and one writer thread; the last clone to
/// go away stops the writer and closes the file.
#[derive(Debug, Clone)]
pub struct Store {
    db: Arc<Database>,
    writer: Arc<Writer>,
    failed: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Writer {
    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .as_ref()
            .ok_or(StoreError::Failed)?
            .send(job)
            .map_err(|_| StoreError::Failed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("mutations", &self.batch.len())
            .finish()
    }
}

/// The layout of the tables; records inside carry their own schema versions.
const FORMAT_KEY: &str = "store_format";
const FORMAT_VERSION: &str = "1";

/// Most batches a single transaction takes.
const MAX_GROUP: usize = 1024;

impl Store {
    /// Opens (or creates) the database file and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // redb creates its file with the umask's mode; create it private first.
        match crate::private_file_options()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(db_error(redb::StorageError::Io(e)));
            }
            _ => {}
        }
        let db = Arc::new(Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.to_owned(),
            },
            e => db_error(e),
        })?);
        {
            let txn = db.begin_write().map_err(db_error)?;
            for table in [Table::Secrets, Table::Versions, Table::Meta] {
                txn.open_table(table.definition()).map_err(db_error)?;
            }
            {
                let mut meta = txn.open_table(Table::Meta.definition()).map_err(db_error)?;
                let found = meta
                    .get(FORMAT_KEY)
                    .map_err(db_error)?
                    .map(|v| v.value().to_vec());
                match found {
                    None => {
                        meta.insert(FORMAT_KEY, FORMAT_VERSION.as_bytes())
                            .map_err(db_error)?;
                    }
                    Some(v) if v == FORMAT_VERSION.as_bytes() => {}
                    Some(v) => {
                        return Err(StoreError::UnknownFormat {
                            path: path.to_owned(),
                            found: String::from_utf8_lossy(&v).into_owned(),
                        });
                    }
                }
            }
            txn.commit().map_err(db_error)?;
        }
        let (jobs, rx) = mpsc::channel::<Job>();
        let failed = Arc::new(AtomicBool::new(false));
        let writer_db = Arc::clone(&db);
        let writer_failed = Arc::clone(&failed);
        let thread = thread::Builder::new()
            .name("s9-store-writer".into())
            .spawn(move || writer(&writer_db, &rx, &writer_failed))
            .map_err(|e| db_error(redb::StorageError::Io(e)))?;
        Ok(Self {
            db,
            writer: Arc::new(Writer {
                jobs: Some(jobs),
                thread: Some(thread),
            }),
            failed,
        })
    }

    /// Every `(key, value)` of `table`, in key order.
    pub fn scan(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(table.definition()).map_err(db_error)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db_error)? {
            let (k, v) = entry.map_err(db_error)?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Whether `table` has any row.
    pub fn has_rows(&self, table: Table) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(table.definition()).map_err(db_error)?;
        Ok(t.first().map_err(db_error)?.is_some())
    }

    pub fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = txn.open_table(table.definition()).map_err(db_error)?;
        Ok(t.get(key).map_err(db_error)?.map(|v| v.value().to_vec()))
    }

    /// Queues `batch` for the next group commit and returns a handle to await its
    /// durability. Batches are applied in the order they are submitted, so a caller that
    /// submits while holding its own lock keeps its changes in order on disk.
    pub fn submit(&self, batch: Vec<Mutation>) -> Result<PendingCommit, StoreError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(StoreError::Failed);
        }
        let (done, rx) = oneshot::channel();
        self.writer.send(Job { batch, done })?;
        Ok(PendingCommit(rx))
    }

    /// Applies `batch` atomically and durably; returns once it is fsynced.
    pub async fn commit(&self, batch: Vec<Mutation>) -> Result<(), StoreError> {
        self.submit(batch)?.wait().await
    }
}

/// A submitted batch; [`PendingCommit::wait`] returns once it is on disk.
#[derive(Debug)]
#[must_use = "a submitted batch is durable only once `wait` returns Ok"]
pub struct PendingCommit(oneshot::Receiver<Result<(), StoreError>>);

impl PendingCommit {
    pub async fn wait(self) -> Result<(), StoreError> {
        self.0.await.map_err(|_| StoreError::Failed)?
    }

    /// Like [`PendingCommit::wait`], for callers outside an async runtime.
    pub fn wait_blocking(self) -> Result<(), StoreError> {
        self.0.blocking_recv().map_err(|_| StoreError::Failed)?
    }
}

fn writer(db: &Database, rx: &mpsc::Receiver<Job>, failed: &AtomicBool) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let result = if failed.load(Ordering::Acquire) {
            Err(StoreError::Failed)
        } else {
            write_group(db, &group)
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "durable commit failed; refusing further writes until restart");
            failed.store(true, Ordering::Release);
        }
        for job in group {
            // A caller that went away no longer needs its answer.
            let _ = job.done.send(result.clone());
        }
    }
}

fn write_group(db: &Database, group: &[Job]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(db_error)?;
    {
        let mut tables: Vec<(Table, redb::Table<'_, &str, &[u8]>)> = Vec::new();
        for mutation in group.iter().flat_map(|j| &j.batch) {
            let table = match mutation {
                Mutation::Put { table, .. } | Mutation::Delete { table, .. } => *table,
            };
            let idx = match tables.iter().position(|(t, _)| *t == table) {
                Some(i) => i,
                None => {
                    tables.push((table, txn.open_table(table.definition()).map_err(db_error)?));
                    tables.len() - 1
                }
            };
            let t = &mut tables[idx].1;
            match mutation {
                Mutation::Put { key, value, .. } => {
                    t.insert(key.as_str(), value.as_slice()).map_err(db_error)?;
                }
                Mutation::Delete { key, .. } => {
                    t.remove(key.as_str()).map_err(db_error)?;
                }
            }
        }
    }
    txn.commit().map_err(db_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_opener_is_told_the_store_is_in_use() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("db.redb");
        let _first = Store::open(&path).expect("open");
        let err = Store::open(&path).expect_err("second open");
        assert!(
            matches!(&err, StoreError::InUse { path: p } if *p == path),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn concurrent_batches_commit_and_survive_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("db.redb");
        {
            let store = Store::open(&path).expect("open");
            let mut tasks = Vec::new();
            for i in 0..64 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    store
                        .commit(vec![Mutation::Put {
                            table: Table::Secrets,
                            key: format!("k{i:02}"),
                            value: vec![i as u8],
                        }])
                        .await
                }));
            }
            for t in tasks {
                t.await.expect("join").expect("commit");
            }
            store
                .commit(vec![Mutation::Delete {
                    table: Table::Secrets,
                    key: "k00".into(),
                }])
                .await
                .expect("delete");
        }
        let store = Store::open(&path).expect("reopen");
        let rows = store.scan(Table::Secrets).expect("scan");
        assert_eq!(rows.len(), 63);
        assert_eq!(rows[0], ("k01".to_owned(), vec![1]));
        assert_eq!(
            store.get(Table::Secrets, "k63").expect("get"),
            Some(vec![63])
        );
        assert_eq!(store.get(Table::Versions, "k63").expect("get"), None);
        assert_eq!(
            store.get(Table::Meta, FORMAT_KEY).expect("get"),
            Some(FORMAT_VERSION.as_bytes().to_vec())
        );
        store
            .commit(vec![Mutation::Put {
                table: Table::Meta,
                key: FORMAT_KEY.into(),
                value: b"99".to_vec(),
            }])
            .await
            .expect("put");
        drop(store);
        let err = Store::open(&path).expect_err("unknown format");
        assert!(
            matches!(&err, StoreError::UnknownFormat { found, .. } if found == "99"),
            "{err:?}"
        );
    }
}
