//! The secrets service: every Secrets Manager operation over the in-memory index, with each
//! change made durable (group-committed, fsynced) before the call returns.
//!
//! Reads are served from memory: records and sealed values are loaded at start; values are
//! decrypted per request, outside the lock. A change is applied to the index under the write
//! lock and committed; if the commit fails, the service stops accepting requests (the
//! process must restart and reload what is on disk).
//!
//! Here: the index, sealing and opening values, authorization and lookup, and what every
//! change shares. The operations are in modules named after their family: `values`,
//! `metadata`, `lifecycle`, `policies`, `rotation`, `replication`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use s9_policy::{Context, Policy, PolicyKind};
use s9_store::{Envelope, Mutation, Sealed, Store, Table};
use s9_wire::shapes::*;
use s9_wire::{ApiError, ErrorCode, Operation, SecretBlob, SecretText};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::access::{self, Caller, Target};
use crate::clock::{Clock, epoch_seconds};
use crate::listing::{self, Page};
use crate::record::{Replica, Rotation, SecretRecord, StoredSecret};
use crate::staging::{CURRENT, VersionMeta, Versions};
use crate::{names, password, policy_doc};

// Each family of operations in a module of its own; what they share stays here.
mod lifecycle;
mod metadata;
mod policies;
mod replication;
mod rotation;
mod values;

/// The default KMS key id AWS reports for versions encrypted without a customer key.
pub(crate) const DEFAULT_KMS_KEY: &str = "DefaultEncryptionKey";
const DELETED_MESSAGE: &str =
    "You can't perform this operation on the secret because it was marked for deletion.";
const REPLICA_MESSAGE: &str =
    "Operation not permitted on a replica secret. Call must be made in primary secret's region.";
const TOKEN_MESSAGE: &str =
    "You must provide a ClientRequestToken value. We recommend a UUID-type value.";
const DECRYPT_MESSAGE: &str =
    "Secrets Manager can't decrypt the protected secret text using the provided KMS key.";

/// A secret value, decrypted for one response.
#[derive(Debug)]
pub enum SecretPayload {
    Text(SecretText),
    Binary(SecretBlob),
}

impl SecretPayload {
    fn from_request(
        text: Option<SecretText>,
        blob: Option<SecretBlob>,
    ) -> Result<Option<Self>, ApiError> {
        match (text, blob) {
            (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
                "You can't specify both a binary secret value and a string secret value in the same secret.",
            )),
            (Some(t), None) => Ok(Some(Self::Text(t))),
            (None, Some(b)) => Ok(Some(Self::Binary(b))),
            (None, None) => Ok(None),
        }
    }

    /// Tagged plaintext for sealing: one byte of kind, then the value.
    fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let (kind, bytes) = match self {
            Self::Text(t) => (b'S', t.expose_secret().as_bytes()),
            Self::Binary(b) => (b'B', b.expose_secret()),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
        out.push(kind);
        out.extend_from_slice(bytes);
        out
    }

    fn from_plaintext(plain: &[u8]) -> Option<Self> {
        let (kind, bytes) = plain.split_first()?;
        match kind {
            b'S' => Some(Self::Text(SecretText::new(
                String::from_utf8(bytes.to_vec()).ok()?,
            ))),
            b'B' => Some(Self::Binary(SecretBlob::new(bytes.to_vec()))),
            _ => None,
        }
    }
}

/// GetSecretValue's result. Its `Debug` shows identifiers only.
pub struct SecretValue {
    pub arn: String,
    pub name: String,
    pub version_id: String,
    pub stages: Vec<String>,
    pub created: f64,
    pub payload: SecretPayload,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("arn", &self.arn)
            .field("version_id", &self.version_id)
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

impl SecretValue {
    pub fn to_wire(&self) -> SecretValueEntry<'_> {
        let (secret_string, secret_binary) = match &self.payload {
            SecretPayload::Text(t) => (Some(t.for_response()), None),
            SecretPayload::Binary(b) => (None, Some(b.for_response())),
        };
        SecretValueEntry {
            arn: self.arn.clone(),
            name: self.name.clone(),
            version_id: self.version_id.clone(),
            secret_binary,
            secret_string,
            version_stages: self.stages.clone(),
            created_date: self.created,
        }
    }
}

/// BatchGetSecretValue's result.
#[derive(Debug, Default)]
pub struct BatchValues {
    pub values: Vec<SecretValue>,
    pub errors: Vec<ApiErrorEntry>,
    pub next_token: Option<String>,
}

/// One secret in memory: its record and its sealed values by version id.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) record: SecretRecord,
    values: HashMap<String, Sealed>,
    /// The record's resource policy, parsed.
    policy: Option<Arc<Policy>>,
}

impl Entry {
    fn new(
        record: SecretRecord,
        values: HashMap<String, Sealed>,
    ) -> Result<Self, s9_policy::PolicyError> {
        let policy = match &record.resource_policy {
            Some(text) => Some(Arc::new(Policy::parse(text, PolicyKind::Resource)?)),
            None => None,
        };
        Ok(Self {
            record,
            values,
            policy,
        })
    }

    /// Re-parses the record's resource policy after a change.
    fn refresh_policy(&mut self) -> Result<(), ApiError> {
        self.policy = match &self.record.resource_policy {
            Some(text) => Some(Arc::new(policy_doc::parse(text)?)),
            None => None,
        };
        Ok(())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Region {
    /// By ARN.
    pub(crate) secrets: BTreeMap<String, Entry>,
    /// Name → ARN.
    names: HashMap<String, String>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) regions: HashMap<String, Region>,
}

/// Changes one operation makes, persisted in one batch.
#[derive(Debug, Default)]
pub(crate) struct Changes(Vec<Mutation>);

impl Changes {
    pub(crate) fn save(&mut self, record: &SecretRecord) {
        let value = serde_json::to_vec(&StoredSecret::V1(record.clone())).unwrap_or_default();
        self.0.push(Mutation::Put {
            table: Table::Secrets,
            key: record.arn.clone(),
            value,
        });
    }

    fn save_value(&mut self, arn: &str, version: &str, sealed: &Sealed) {
        let value = serde_json::to_vec(sealed).unwrap_or_default();
        self.0.push(Mutation::Put {
            table: Table::Versions,
            key: value_key(arn, version),
            value,
        });
    }

    fn drop_value(&mut self, arn: &str, version: &str) {
        self.0.push(Mutation::Delete {
            table: Table::Versions,
            key: value_key(arn, version),
        });
    }

    fn drop_secret(&mut self, entry: &Entry) {
        for version in entry.values.keys() {
            self.drop_value(&entry.record.arn, version);
        }
        self.0.push(Mutation::Delete {
            table: Table::Secrets,
            key: entry.record.arn.clone(),
        });
    }
}

fn value_key(arn: &str, version: &str) -> String {
    format!("{arn}\n{version}")
}

/// The additional authenticated data of a sealed value: it only opens as this version of
/// this secret (the ARN names account, region and secret).
fn aad(arn: &str, version: &str) -> Vec<u8> {
    format!("s9-secret-value\n{arn}\n{version}").into_bytes()
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] s9_store::StoreError),
    #[error("record {key:?} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
}

/// The Secrets Manager service for one account.
#[derive(Debug)]
pub struct Service {
    account_id: String,
    clock: Arc<dyn Clock>,
    envelope: Envelope,
    store: Store,
    state: RwLock<State>,
    failed: AtomicBool,
    /// The durability boundary: changes applied in memory are numbered (`applied`), and
    /// `durable` is the highest whose commit is on disk. An answer waits until everything
    /// it could have seen is durable ([`Service::settled`]), so no response carries a
    /// change that a failed commit would take back.
    applied: AtomicU64,
    durable: AtomicU64,
    committed: tokio::sync::Notify,
    rng: SystemRandom,
    /// The rotation functions RotateSecret accepts; `None` accepts any (no engine runs).
    rotation_functions: RwLock<Option<BTreeSet<String>>>,
    /// Wakes the rotation engine when a rotation is requested.
    rotation_requested: tokio::sync::Notify,
}

impl Service {
    /// Loads every secret from `store`.
    pub fn load(
        account_id: String,
        clock: Arc<dyn Clock>,
        envelope: Envelope,
        store: Store,
    ) -> Result<Self, LoadError> {
        let mut state = State::default();
        let mut values: HashMap<String, HashMap<String, Sealed>> = HashMap::new();
        for (key, bytes) in store.scan(Table::Versions)? {
            let (arn, version) = key.split_once('\n').ok_or_else(|| LoadError::Corrupt {
                key: key.clone(),
                reason: "bad key".into(),
            })?;
            let sealed: Sealed =
                serde_json::from_slice(&bytes).map_err(|e| LoadError::Corrupt {
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
            values
                .entry(arn.to_owned())
                .or_default()
                .insert(version.to_owned(), sealed);
        }
        for (key, bytes) in store.scan(Table::Secrets)? {
            let stored: StoredSecret =
                serde_json::from_slice(&bytes).map_err(|e| LoadError::Corrupt {
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
            let record = stored.into_current();
            let region = state.regions.entry(record.region.clone()).or_default();
            region.names.insert(record.name.clone(), record.arn.clone());
            let entry = Entry::new(
                record.clone(),
                values.remove(&record.arn).unwrap_or_default(),
            )
            .map_err(|e| LoadError::Corrupt {
                key: key.clone(),
                reason: format!("resource policy: {e}"),
            })?;
            region.secrets.insert(key, entry);
        }
        Ok(Self {
            account_id,
            clock,
            envelope,
            store,
            state: RwLock::new(state),
            failed: AtomicBool::new(false),
            applied: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            committed: tokio::sync::Notify::new(),
            rng: SystemRandom::new(),
            rotation_functions: RwLock::new(None),
            rotation_requested: tokio::sync::Notify::new(),
        })
    }

    /// Limits RotateSecret to the rotation functions with these names (the handlers the
    /// engine runs).
    pub fn set_rotation_functions(&self, names: BTreeSet<String>) {
        *self
            .rotation_functions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(names);
    }

    /// Resolves when a rotation was requested (RotateSecret).
    pub async fn rotation_requested(&self) {
        self.rotation_requested.notified().await;
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Number of secrets (all regions, including those scheduled for deletion).
    /// The name of the secret `secret_id` (a name, full or partial ARN) names in `region`.
    pub fn secret_name(&self, region: &str, secret_id: &str) -> Option<String> {
        let state = self.read();
        lookup(&state, region, &self.account_id, secret_id)
            .ok()
            .map(|e| e.record.name.clone())
    }

    pub fn secret_count(&self) -> usize {
        self.read().regions.values().map(|r| r.secrets.len()).sum()
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the state under the write lock, then commits what it changed.
    pub(crate) async fn mutate<T>(
        &self,
        f: impl FnOnce(&mut State, f64, &mut Changes) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(unavailable());
        }
        let mut changes = Changes::default();
        let (out, pending) = {
            let mut state = self
                .state
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let out = f(&mut state, epoch_seconds(self.clock.now()), &mut changes)?;
            // Submitted under the lock, so batches reach the disk in the order they were
            // applied in memory (and so numbered).
            let pending = if changes.0.is_empty() {
                None
            } else {
                let seq = self.applied.fetch_add(1, Ordering::AcqRel) + 1;
                Some((seq, self.store.submit(changes.0)))
            };
            (out, pending)
        };
        if let Some((seq, pending)) = pending {
            let result = match pending {
                Ok(p) => p.wait().await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                self.failed.store(true, Ordering::Release);
                self.committed.notify_waiters();
                tracing::error!(error = %e, "commit failed; the service refuses further requests, reads included, until restarted");
                return Err(ApiError::internal());
            }
            self.durable.fetch_max(seq, Ordering::AcqRel);
            self.committed.notify_waiters();
        }
        Ok(out)
    }

    /// Waits until every change applied so far is durable; fails once a commit has failed
    /// (the fail-stop covers reads: a value never persisted is never served). Call it after
    /// an operation and before answering.
    pub async fn settled(&self) -> Result<(), ApiError> {
        let target = self.applied.load(Ordering::Acquire);
        // Nothing in flight (every read while no write is): two loads.
        if self.durable.load(Ordering::Acquire) >= target && !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        loop {
            let committed = self.committed.notified();
            if self.failed.load(Ordering::Acquire) {
                return Err(unavailable());
            }
            if self.durable.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            committed.await;
        }
    }

    /// Whether an earlier durable write failed (the process should restart).
    ///
    /// Then every request is refused ([`Service::settled`]).
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    fn random_suffix(&self) -> Result<String, ApiError> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut buf = [0u8; 6];
        self.rng.fill(&mut buf).map_err(|_| ApiError::internal())?;
        // 62 does not divide 256; the bias is irrelevant for a uniqueness suffix.
        Ok(buf
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect())
    }

    fn arn(&self, region: &str, name: &str, suffix: &str) -> String {
        format!(
            "arn:aws:secretsmanager:{region}:{}:secret:{name}-{suffix}",
            self.account_id
        )
    }

    fn seal(&self, arn: &str, version: &str, payload: &SecretPayload) -> Result<Sealed, ApiError> {
        self.envelope
            .seal(&payload.to_plaintext(), &aad(arn, version))
            .map_err(|e| {
                tracing::error!(error = %e, "sealing a secret value failed");
                ApiError::new(
                    ErrorCode::EncryptionFailure,
                    "Secrets Manager can't encrypt the protected secret text.",
                )
            })
    }

    fn open(&self, arn: &str, version: &str, sealed: &Sealed) -> Result<SecretPayload, ApiError> {
        let plain = self.envelope.open(sealed, &aad(arn, version)).map_err(|e| {
            tracing::error!(secret = arn, version, error = %e, "a sealed value failed to decrypt");
            ApiError::new(ErrorCode::DecryptionFailure, DECRYPT_MESSAGE)
        })?;
        SecretPayload::from_plaintext(&plain)
            .ok_or_else(|| ApiError::new(ErrorCode::DecryptionFailure, DECRYPT_MESSAGE))
    }

    /// A secret that may be changed ([`writable`]), once `caller` is authorized for `action`
    /// on it.
    fn authorized_writable<'a>(
        &self,
        caller: &Caller,
        action: &str,
        state: &'a mut State,
        region: &str,
        secret_id: &str,
        keys: &Context,
    ) -> Result<&'a mut Entry, ApiError> {
        self.authorize_id(caller, action, state, region, secret_id, keys)?;
        writable(state, region, &self.account_id, secret_id)
    }

    /// A secret, deleted or replica included, once `caller` is authorized for `action` on it.
    fn authorized_mut<'a>(
        &self,
        caller: &Caller,
        action: &str,
        state: &'a mut State,
        region: &str,
        secret_id: &str,
        keys: &Context,
    ) -> Result<&'a mut Entry, ApiError> {
        self.authorize_id(caller, action, state, region, secret_id, keys)?;
        lookup_mut(state, region, &self.account_id, secret_id)
    }

    /// Authorizes `action` on the secret `secret_id` names, or would name: a caller who may
    /// not act on a name learns nothing about whether it exists.
    fn authorize_id(
        &self,
        caller: &Caller,
        action: &str,
        state: &State,
        region: &str,
        secret_id: &str,
        keys: &Context,
    ) -> Result<(), ApiError> {
        let mut keys = keys.clone();
        keys.set("secretsmanager:SecretId", secret_id);
        match lookup(state, region, &self.account_id, secret_id) {
            // A denial names the secret as the caller did, as AWS does: the message is the
            // same whether the secret exists or not (no random suffix to learn).
            Ok(entry) => access::authorize_as(
                caller,
                action,
                Target::Secret(&entry.record, entry.policy.as_deref()),
                &keys,
                secret_id,
            ),
            Err(e) if e.code == ErrorCode::Validation => Err(e),
            Err(_) => {
                let arn = if secret_id.starts_with("arn:") {
                    secret_id.to_owned()
                } else {
                    format!(
                        "arn:aws:secretsmanager:{region}:{}:secret:{secret_id}",
                        self.account_id
                    )
                };
                access::authorize_as(caller, action, Target::Named(&arn), &keys, secret_id)
            }
        }
    }

    /// Changes a writable secret's record with `f`, then records the change time, persists
    /// the record and updates the replicas. Answers `{ARN, Name}`.
    async fn change_secret(
        &self,
        caller: &Caller,
        action: &str,
        keys: &Context,
        region: &str,
        secret_id: &str,
        f: impl FnOnce(&mut SecretRecord) -> Result<(), ApiError>,
    ) -> Result<SecretRef, ApiError> {
        self.mutate(|state, now, changes| {
            let entry = self.authorized_writable(caller, action, state, region, secret_id, keys)?;
            f(&mut entry.record)?;
            entry.refresh_policy()?;
            let record = &mut entry.record;
            record.last_changed = now;
            changes.save(record);
            let (arn, name) = (record.arn.clone(), record.name.clone());
            self.sync_replicas(state, region, &arn, changes)?;
            Ok(SecretRef {
                arn: Some(arn),
                name: Some(name),
                ..SecretRef::default()
            })
        })
        .await
    }
}

/// A request token that names an existing version, with another value.
fn token_in_use(token: &str, arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceExists,
        format!(
            "You can't use ClientRequestToken {token} because that value is already in use for a version of secret {arn}."
        ),
    )
}

fn same_payload(a: &SecretPayload, b: &SecretPayload) -> bool {
    use subtle::ConstantTimeEq as _;
    match (a, b) {
        (SecretPayload::Text(x), SecretPayload::Text(y)) => x
            .expose_secret()
            .as_bytes()
            .ct_eq(y.expose_secret().as_bytes())
            .into(),
        (SecretPayload::Binary(x), SecretPayload::Binary(y)) => {
            x.expose_secret().ct_eq(y.expose_secret()).into()
        }
        _ => false,
    }
}

fn replica_arn(arn: &str, from: &str, to: &str) -> String {
    arn.replacen(
        &format!(":secretsmanager:{from}:"),
        &format!(":secretsmanager:{to}:"),
        1,
    )
}

fn remove_secret(state: &mut State, region: &str, arn: &str, changes: &mut Changes) {
    if let Some(r) = state.regions.get_mut(region)
        && let Some(entry) = r.secrets.remove(arn)
    {
        if r.names.get(&entry.record.name).is_some_and(|a| a == arn) {
            r.names.remove(&entry.record.name);
        }
        changes.drop_secret(&entry);
    }
}

fn day_start(t: f64) -> f64 {
    (t / 86_400.0).floor() * 86_400.0
}

/// `aws:RequestTag/*` and `aws:TagKeys` for a request that sets tags.
fn request_tag_keys(keys: &mut Context, tags: &[(String, String)]) {
    if tags.is_empty() {
        return;
    }
    for (k, v) in tags {
        keys.set(&format!("aws:RequestTag/{k}"), v.clone());
    }
    keys.set_all("aws:TagKeys", tags.iter().map(|(k, _)| k.clone()));
}

/// Most tags one secret may carry.
const MAX_TAGS: usize = 50;

fn too_many_tags() -> ApiError {
    ApiError::invalid_request(format!(
        "The number of tags on a secret can't exceed {MAX_TAGS}."
    ))
}

fn validate_tags(tags: Vec<Tag>) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for tag in tags {
        let key = tag.key.unwrap_or_default();
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::invalid_parameter(
                "Invalid tag key: the aws: prefix is reserved for AWS use.",
            ));
        }
        let value = tag.value.unwrap_or_default();
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = value,
            None => out.push((key, value)),
        }
    }
    if out.len() > 50 {
        return Err(ApiError::invalid_request(
            "The number of tags on a secret can't exceed 50.",
        ));
    }
    Ok(out)
}

fn select_version<'a>(
    versions: &'a Versions,
    id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'a VersionMeta, ApiError> {
    match (id, stage) {
        (Some(id), stage) => {
            let v = versions.get(id).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ResourceNotFound,
                    format!(
                        "Secrets Manager can't find the specified secret value for VersionId: {id}"
                    ),
                )
            })?;
            if let Some(stage) = stage
                && !v.stages.contains(stage)
            {
                return Err(ApiError::invalid_request(
                    "You provided a VersionStage that is not associated to the provided VersionId.",
                ));
            }
            Ok(v)
        }
        (None, stage) => {
            let stage = stage.unwrap_or(CURRENT);
            versions.with_stage(stage).ok_or_else(|| {
                ApiError::new(ErrorCode::ResourceNotFound, format!("Secrets Manager can't find the specified secret value for staging label: {stage}"))
            })
        }
    }
}

/// Finds a secret by name, full ARN or partial ARN (the ARN without its random suffix).
fn lookup<'a>(
    state: &'a State,
    region: &str,
    account: &str,
    secret_id: &str,
) -> Result<&'a Entry, ApiError> {
    check_secret_id(secret_id)?;
    let r = state.regions.get(region).ok_or_else(ApiError::not_found)?;
    let arn = resolve(r, region, account, secret_id).ok_or_else(ApiError::not_found)?;
    r.secrets.get(&arn).ok_or_else(ApiError::not_found)
}

fn lookup_mut<'a>(
    state: &'a mut State,
    region: &str,
    account: &str,
    secret_id: &str,
) -> Result<&'a mut Entry, ApiError> {
    check_secret_id(secret_id)?;
    let r = state
        .regions
        .get_mut(region)
        .ok_or_else(ApiError::not_found)?;
    let arn = resolve(r, region, account, secret_id).ok_or_else(ApiError::not_found)?;
    r.secrets.get_mut(&arn).ok_or_else(ApiError::not_found)
}

/// A secret that may be changed: it exists, is not scheduled for deletion and is not a
/// replica.
fn writable<'a>(
    state: &'a mut State,
    region: &str,
    account: &str,
    secret_id: &str,
) -> Result<&'a mut Entry, ApiError> {
    let entry = lookup_mut(state, region, account, secret_id)?;
    if entry.record.is_deleted() {
        return Err(ApiError::invalid_request(DELETED_MESSAGE));
    }
    if entry.record.is_replica() {
        return Err(ApiError::invalid_parameter(REPLICA_MESSAGE));
    }
    Ok(entry)
}

/// A `SecretId` that is not an ARN must be a valid name (AWS answers ValidationException,
/// not ResourceNotFoundException, for one that cannot be).
fn check_secret_id(secret_id: &str) -> Result<(), ApiError> {
    if secret_id.starts_with("arn:") {
        Ok(())
    } else {
        names::validate_name(secret_id)
    }
}

fn resolve(r: &Region, region: &str, account: &str, secret_id: &str) -> Option<String> {
    if r.secrets.contains_key(secret_id) {
        return Some(secret_id.to_owned());
    }
    if secret_id.starts_with("arn:") {
        let name = names::name_from_partial_arn(secret_id, region, account)?;
        // An ARN ending in `-` and six characters is taken as a full ARN, as AWS does: it
        // matches only exactly (checked above), never as a partial ARN.
        if names::ends_like_arn_suffix(name) {
            return None;
        }
        return r.names.get(name).cloned();
    }
    r.names.get(secret_id).cloned()
}

fn replication_status(record: &SecretRecord) -> Vec<ReplicationStatus> {
    record
        .replicas
        .iter()
        .map(|r| ReplicationStatus {
            region: r.region.clone(),
            kms_key_id: Some(
                r.kms_key_id
                    .clone()
                    .unwrap_or_else(|| "alias/aws/secretsmanager".to_owned()),
            ),
            status: r.status.clone(),
            status_message: r.status_message.clone(),
            last_accessed_date: None,
        })
        .collect()
}

/// `secretsmanager:ListSecrets`, which anything that lists secrets needs.
fn authorize_listing(caller: &Caller) -> Result<(), ApiError> {
    access::authorize(
        caller,
        Operation::ListSecrets.iam_action(),
        Target::Account,
        &Context::new(),
    )
}

/// The answer once a commit has failed: the service refuses everything until restarted.
fn unavailable() -> ApiError {
    ApiError::new(
        ErrorCode::InternalServiceError,
        "The service stopped after a failed durable write and must be restarted.",
    )
}

fn describe(record: &SecretRecord) -> SecretDescription {
    let versions: BTreeMap<String, Vec<String>> = record
        .versions
        .0
        .iter()
        .filter(|v| !v.is_deprecated())
        .map(|v| (v.id.clone(), v.stages.iter().cloned().collect()))
        .collect();
    let rotation = &record.rotation;
    let rotation_configured = rotation.enabled || rotation.lambda_arn.is_some();
    SecretDescription {
        arn: record.arn.clone(),
        name: record.name.clone(),
        r#type: record.secret_type.clone(),
        description: record.description.clone(),
        kms_key_id: record.kms_key_id.clone(),
        rotation_enabled: rotation_configured.then_some(rotation.enabled),
        rotation_lambda_arn: rotation.lambda_arn.clone(),
        rotation_rules: rotation.rules.clone(),
        last_rotated_date: rotation.last_rotated,
        last_changed_date: Some(record.last_changed),
        last_accessed_date: record.last_accessed,
        deleted_date: record.deleted,
        next_rotation_date: rotation.next_rotation.filter(|_| rotation.enabled),
        tags: record.tags.as_ref().map(|t| {
            t.iter()
                .map(|(k, v)| Tag {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect()
        }),
        secret_versions_to_stages: (!versions.is_empty()).then_some(versions),
        owning_service: record.owning_service.clone(),
        created_date: record.created,
        primary_region: record
            .primary_region
            .clone()
            .or_else(|| (!record.replicas.is_empty()).then(|| record.region.clone())),
        replication_status: (!record.replicas.is_empty()).then(|| replication_status(record)),
        rotation_failure: rotation
            .last_error
            .as_ref()
            .filter(|_| rotation.pending_token.is_some())
            .map(|e| format!("attempt {}: {e}", rotation.attempts)),
        ..SecretDescription::default()
    }
}
