//! The secrets service: every Secrets Manager operation over the in-memory index, with each
//! change made durable (group-committed, fsynced) before the call returns.
//!
//! Reads are served from memory: records and sealed values are loaded at start; values are
//! decrypted per request, outside the lock. A change is applied to the index under the write
//! lock and committed; if the commit fails, the service stops accepting requests (the
//! process must restart and reload what is on disk).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use s9_policy::{Context, Policy, PolicyKind};
use s9_store::{Envelope, Mutation, Sealed, Store, Table};
use s9_wire::shapes::*;
use s9_wire::{ApiError, ErrorCode, SecretBlob, SecretText};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::access::{self, Caller, Target};
use crate::clock::{Clock, epoch_seconds};
use crate::listing::{self, Page};
use crate::record::{Replica, Rotation, SecretRecord, StoredSecret};
use crate::staging::{CURRENT, VersionMeta, Versions};
use crate::{names, password, policy_doc};

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

    // ---- operations -------------------------------------------------------------------

    pub async fn create_secret(
        &self,
        caller: &Caller,
        region: &str,
        req: CreateSecretRequest,
    ) -> Result<SecretRef, ApiError> {
        let name = req.name.clone().unwrap_or_default();
        names::validate_name(&name)?;
        let payload = SecretPayload::from_request(req.secret_string, req.secret_binary)?;
        if payload.is_some() && req.client_request_token.is_none() {
            return Err(ApiError::invalid_request(TOKEN_MESSAGE));
        }
        let tags = validate_tags(req.tags.unwrap_or_default())?;
        let suffix = self.random_suffix()?;
        let arn = self.arn(region, &name, &suffix);
        let version_id = req.client_request_token.clone();
        let sealed = match (&payload, &version_id) {
            (Some(p), Some(v)) => Some(self.seal(&arn, v, p)?),
            _ => None,
        };
        let replica_regions = req.add_replica_regions.unwrap_or_default();
        let force = req.force_overwrite_replica_secret.unwrap_or(false);
        let mut keys = Context::new();
        keys.set("secretsmanager:Name", name.clone());
        if let Some(d) = &req.description {
            keys.set("secretsmanager:Description", d.clone());
        }
        if let Some(k) = &req.kms_key_id {
            keys.set("secretsmanager:KmsKeyId", k.clone());
        }
        request_tag_keys(&mut keys, &tags);
        if !replica_regions.is_empty() {
            keys.set_all(
                "secretsmanager:AddReplicaRegions",
                replica_regions.iter().filter_map(|r| r.region.clone()),
            );
            keys.set(
                "secretsmanager:ForceOverwriteReplicaSecret",
                force.to_string(),
            );
        }
        self.mutate(|state, now, changes| {
            access::authorize(caller, "secretsmanager:CreateSecret", Target::Named(&arn), &keys)?;
            // "If you include tags in the secret, you also need secretsmanager:TagResource"
            // (AWS API reference): tags are what tag-based policies trust.
            if !tags.is_empty() {
                access::authorize(caller, "secretsmanager:TagResource", Target::Named(&arn), &keys)?;
            }
            let r = state.regions.entry(region.to_owned()).or_default();
            if let Some(existing) = r.names.get(&name).and_then(|a| r.secrets.get(a)) {
                if existing.record.is_deleted() {
                    return Err(ApiError::invalid_request(
                        "You can't create this secret because a secret with this name is already scheduled for deletion.",
                    ));
                }
                // A retried create (same token, same value) succeeds as the first did;
                // the same token with another value is a conflict, as for PutSecretValue.
                if let (Some(token), Some(p)) = (&version_id, &payload)
                    && let Some(sealed) = existing.values.get(token)
                {
                    let existing_arn = &existing.record.arn;
                    if !same_payload(&self.open(existing_arn, token, sealed)?, p) {
                        return Err(token_in_use(token, existing_arn));
                    }
                    return Ok(SecretRef {
                        arn: Some(existing_arn.clone()),
                        name: Some(name.clone()),
                        version_id: Some(token.clone()),
                        ..SecretRef::default()
                    });
                }
                return Err(ApiError::new(ErrorCode::ResourceExists, format!("The operation failed because the secret {name} already exists.")));
            }
            let mut record = SecretRecord {
                arn: arn.clone(),
                name: name.clone(),
                region: region.to_owned(),
                description: req.description,
                kms_key_id: req.kms_key_id.filter(|k| !k.is_empty()),
                secret_type: req.secret_type,
                tags: (!tags.is_empty()).then_some(tags),
                created: now,
                last_changed: now,
                last_accessed: None,
                deleted: None,
                deletion_date: None,
                rotation: Rotation::default(),
                resource_policy: None,
                versions: Versions::default(),
                primary_region: None,
                replicas: Vec::new(),
                owning_service: None,
            };
            let mut values = HashMap::new();
            if let (Some(sealed), Some(v)) = (sealed, &version_id) {
                let kms = record.kms_key_id.clone().unwrap_or_else(|| DEFAULT_KMS_KEY.to_owned());
                let meta = VersionMeta { id: v.clone(), stages: BTreeSet::new(), created: now, last_accessed: None, kms_key_id: kms };
                record.versions.add(meta, &BTreeSet::from([CURRENT.to_owned()]))?;
                changes.save_value(&arn, v, &sealed);
                values.insert(v.clone(), sealed);
            }
            changes.save(&record);
            r.names.insert(name.clone(), arn.clone());
            r.secrets.insert(arn.clone(), Entry { record, values, policy: None });
            if !replica_regions.is_empty() {
                self.add_replicas(state, region, &arn, &replica_regions, force, changes)?;
            }
            let record = &state.regions[region].secrets[&arn].record;
            Ok(SecretRef {
                arn: Some(arn.clone()),
                name: Some(name.clone()),
                // A secret created without a value has no version (whatever token came).
                version_id: version_id.clone().filter(|_| payload.is_some()),
                replication_status: (!record.replicas.is_empty()).then(|| replication_status(record)),
                ..SecretRef::default()
            })
        })
        .await
    }

    pub fn get_secret_value(
        &self,
        caller: &Caller,
        region: &str,
        req: &GetSecretValueRequest,
    ) -> Result<SecretValue, ApiError> {
        let secret_id = req.secret_id.as_deref().unwrap_or_default();
        let mut keys = Context::new();
        if let Some(v) = &req.version_id {
            keys.set("secretsmanager:VersionId", v.clone());
        }
        if let Some(v) = &req.version_stage {
            keys.set("secretsmanager:VersionStage", v.clone());
        }
        let (value, touch) = {
            let state = self.read();
            self.authorize_id(
                caller,
                "secretsmanager:GetSecretValue",
                &state,
                region,
                secret_id,
                &keys,
            )?;
            let entry = lookup(&state, region, &self.account_id, secret_id)?;
            if entry.record.is_deleted() {
                return Err(ApiError::invalid_request(DELETED_MESSAGE));
            }
            let version = select_version(
                &entry.record.versions,
                req.version_id.as_deref(),
                req.version_stage.as_deref(),
            )?;
            // A version without a value: the AWSPENDING version a rotation has not filled.
            let sealed = entry.values.get(&version.id).cloned().ok_or_else(|| {
                let what = match (&req.version_id, &req.version_stage) {
                    (Some(id), _) => format!("VersionId: {id}"),
                    (None, stage) => {
                        format!("staging label: {}", stage.as_deref().unwrap_or(CURRENT))
                    }
                };
                ApiError::new(
                    ErrorCode::ResourceNotFound,
                    format!("Secrets Manager can't find the specified secret value for {what}"),
                )
            })?;
            let today = day_start(epoch_seconds(self.clock.now()));
            let touch =
                entry.record.last_accessed != Some(today) || version.last_accessed != Some(today);
            let out = (
                entry.record.arn.clone(),
                entry.record.name.clone(),
                version.clone(),
                sealed,
            );
            (out, touch.then_some(today))
        };
        let (arn, name, version, sealed) = value;
        let payload = self.open(&arn, &version.id, &sealed)?;
        if let Some(today) = touch {
            self.record_access(region, &arn, &version.id, today);
        }
        Ok(SecretValue {
            arn,
            name,
            version_id: version.id,
            stages: version.stages.into_iter().collect(),
            created: version.created,
            payload,
        })
    }

    /// LastAccessedDate is kept to the day, as AWS does; the first read of a day records it
    /// without holding up the read.
    fn record_access(&self, region: &str, arn: &str, version: &str, today: f64) {
        let pending = {
            let mut state = self
                .state
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(entry) = state
                .regions
                .get_mut(region)
                .and_then(|r| r.secrets.get_mut(arn))
            else {
                return;
            };
            entry.record.last_accessed = Some(today);
            if let Some(v) = entry.record.versions.0.iter_mut().find(|v| v.id == version) {
                v.last_accessed = Some(today);
            }
            let mut changes = Changes::default();
            changes.save(&entry.record);
            // Submitted under the lock: a later change to this secret cannot be overtaken
            // by this older copy of its record.
            self.store.submit(changes.0)
        };
        match (pending, tokio::runtime::Handle::try_current()) {
            (Ok(pending), Ok(handle)) => {
                handle.spawn(async move {
                    if let Err(e) = pending.wait().await {
                        tracing::warn!(error = %e, "recording LastAccessedDate failed");
                    }
                });
            }
            (Ok(pending), Err(_)) => {
                if let Err(e) = pending.wait_blocking() {
                    tracing::warn!(error = %e, "recording LastAccessedDate failed");
                }
            }
            (Err(e), _) => tracing::warn!(error = %e, "recording LastAccessedDate failed"),
        }
    }

    pub fn batch_get_secret_value(
        &self,
        caller: &Caller,
        region: &str,
        req: &BatchGetSecretValueRequest,
    ) -> Result<BatchValues, ApiError> {
        access::authorize(
            caller,
            "secretsmanager:BatchGetSecretValue",
            Target::Account,
            &Context::new(),
        )?;
        let mut out = BatchValues::default();
        match (&req.secret_id_list, &req.filters) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_parameter(
                    "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid_parameter(
                    "Either 'SecretIdList' or 'Filters' must be provided.",
                ));
            }
            (Some(ids), None) => {
                if req.max_results.is_some() {
                    return Err(ApiError::invalid_parameter(
                        "'MaxResults' is only valid with 'Filters'.",
                    ));
                }
                for id in ids {
                    let one = GetSecretValueRequest {
                        secret_id: Some(id.clone()),
                        version_id: None,
                        version_stage: None,
                    };
                    match self.get_secret_value(caller, region, &one) {
                        Ok(v) => out.values.push(v),
                        Err(e) => out.errors.push(ApiErrorEntry {
                            secret_id: id.clone(),
                            error_code: e.code.as_str().to_owned(),
                            message: e.message,
                        }),
                    }
                }
            }
            (None, Some(filters)) => {
                // Filters list secrets: without ListSecrets, per-secret errors would still
                // name every match (and leak names, descriptions and tags by prefix).
                authorize_listing(caller)?;
                let arns: Vec<String> = {
                    let state = self.read();
                    let filters = listing::Filters::parse(filters)?;
                    state
                        .regions
                        .get(region)
                        .map(|r| {
                            r.secrets
                                .values()
                                .filter(|e| !e.record.is_deleted() && filters.matches(&e.record))
                                .map(|e| e.record.arn.clone())
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let page = Page::new(req.next_token.as_deref(), req.max_results.unwrap_or(20))?;
                let (slice, next) = page.apply(&arns);
                out.next_token = next;
                for arn in slice {
                    let one = GetSecretValueRequest {
                        secret_id: Some(arn.clone()),
                        version_id: None,
                        version_stage: None,
                    };
                    match self.get_secret_value(caller, region, &one) {
                        Ok(v) => out.values.push(v),
                        Err(e) => out.errors.push(ApiErrorEntry {
                            secret_id: arn.clone(),
                            error_code: e.code.as_str().to_owned(),
                            message: e.message,
                        }),
                    }
                }
            }
        }
        Ok(out)
    }

    pub async fn put_secret_value(
        &self,
        caller: &Caller,
        region: &str,
        req: PutSecretValueRequest,
    ) -> Result<SecretRef, ApiError> {
        let payload = SecretPayload::from_request(req.secret_string, req.secret_binary)?
            .ok_or_else(|| {
                ApiError::invalid_request("You must provide either SecretString or SecretBinary.")
            })?;
        let token = req
            .client_request_token
            .ok_or_else(|| ApiError::invalid_request(TOKEN_MESSAGE))?;
        let stages: BTreeSet<String> = req
            .version_stages
            .unwrap_or_else(|| vec![CURRENT.to_owned()])
            .into_iter()
            .collect();
        let secret_id = req.secret_id.unwrap_or_default();
        self.mutate(|state, now, changes| {
            let arn = self
                .authorized_writable(
                    caller,
                    "secretsmanager:PutSecretValue",
                    state,
                    region,
                    &secret_id,
                    &Context::new(),
                )?
                .record
                .arn
                .clone();
            let version =
                self.put_version(state, region, &arn, &token, &payload, &stages, now, changes)?;
            self.sync_replicas(state, region, &arn, changes)?;
            let record = &state.regions[region].secrets[&arn].record;
            Ok(SecretRef {
                arn: Some(arn.clone()),
                name: Some(record.name.clone()),
                version_id: Some(version.id.clone()),
                version_stages: Some(version.stages.iter().cloned().collect()),
                ..SecretRef::default()
            })
        })
        .await
    }

    /// Adds version `token` carrying `stages`, or returns the existing version if `token`
    /// names one with the same value.
    #[allow(clippy::too_many_arguments)]
    fn put_version(
        &self,
        state: &mut State,
        region: &str,
        arn: &str,
        token: &str,
        payload: &SecretPayload,
        stages: &BTreeSet<String>,
        now: f64,
        changes: &mut Changes,
    ) -> Result<VersionMeta, ApiError> {
        let entry = state
            .regions
            .get_mut(region)
            .and_then(|r| r.secrets.get_mut(arn))
            .ok_or_else(ApiError::not_found)?;
        if let Some(existing) = entry.record.versions.get(token) {
            let Some(sealed) = entry.values.get(token) else {
                // The empty AWSPENDING version a rotation started: this fills it in.
                let sealed = self.seal(arn, token, payload)?;
                for stage in stages {
                    entry.record.versions.update_stage(
                        stage,
                        entry
                            .record
                            .versions
                            .with_stage(stage)
                            .map(|v| v.id.clone())
                            .as_deref(),
                        Some(token),
                    )?;
                }
                entry.record.last_changed = now;
                changes.save_value(arn, token, &sealed);
                entry.values.insert(token.to_owned(), sealed);
                changes.save(&entry.record);
                // A rotation may be waiting for exactly this value.
                self.rotation_requested.notify_one();
                return entry
                    .record
                    .versions
                    .get(token)
                    .cloned()
                    .ok_or_else(ApiError::internal);
            };
            let current = self.open(arn, token, sealed)?;
            if !same_payload(&current, payload) {
                return Err(token_in_use(token, arn));
            }
            return Ok(existing.clone());
        }
        let sealed = self.seal(arn, token, payload)?;
        let kms = entry
            .record
            .kms_key_id
            .clone()
            .unwrap_or_else(|| DEFAULT_KMS_KEY.to_owned());
        let meta = VersionMeta {
            id: token.to_owned(),
            stages: BTreeSet::new(),
            created: now,
            last_accessed: None,
            kms_key_id: kms,
        };
        entry.record.versions.add(meta, stages)?;
        for removed in entry.record.versions.prune(now) {
            entry.values.remove(&removed);
            changes.drop_value(arn, &removed);
        }
        entry.record.last_changed = now;
        changes.save_value(arn, token, &sealed);
        entry.values.insert(token.to_owned(), sealed);
        changes.save(&entry.record);
        entry
            .record
            .versions
            .get(token)
            .cloned()
            .ok_or_else(ApiError::internal)
    }

    pub async fn update_secret(
        &self,
        caller: &Caller,
        region: &str,
        req: UpdateSecretRequest,
    ) -> Result<SecretRef, ApiError> {
        let payload = SecretPayload::from_request(req.secret_string, req.secret_binary)?;
        if payload.is_some() && req.client_request_token.is_none() {
            return Err(ApiError::invalid_request(TOKEN_MESSAGE));
        }
        let secret_id = req.secret_id.unwrap_or_default();
        let mut keys = Context::new();
        if let Some(d) = &req.description {
            keys.set("secretsmanager:Description", d.clone());
        }
        if let Some(k) = &req.kms_key_id {
            keys.set("secretsmanager:KmsKeyId", k.clone());
        }
        self.mutate(|state, now, changes| {
            let entry = self.authorized_writable(
                caller,
                "secretsmanager:UpdateSecret",
                state,
                region,
                &secret_id,
                &keys,
            )?;
            let arn = entry.record.arn.clone();
            let record = &mut entry.record;
            if let Some(d) = req.description {
                record.description = Some(d);
            }
            if let Some(k) = req.kms_key_id {
                record.kms_key_id = (!k.is_empty()).then_some(k);
            }
            if let Some(t) = req.secret_type {
                record.secret_type = Some(t);
            }
            record.last_changed = now;
            changes.save(record);
            let version_id = match (&payload, &req.client_request_token) {
                (Some(p), Some(token)) => {
                    let stages = BTreeSet::from([CURRENT.to_owned()]);
                    Some(
                        self.put_version(state, region, &arn, token, p, &stages, now, changes)?
                            .id,
                    )
                }
                _ => None,
            };
            self.sync_replicas(state, region, &arn, changes)?;
            let name = state.regions[region].secrets[&arn].record.name.clone();
            Ok(SecretRef {
                arn: Some(arn),
                name: Some(name),
                version_id,
                ..SecretRef::default()
            })
        })
        .await
    }

    pub async fn update_secret_version_stage(
        &self,
        caller: &Caller,
        region: &str,
        req: UpdateSecretVersionStageRequest,
    ) -> Result<SecretRef, ApiError> {
        let stage = req.version_stage.unwrap_or_default();
        let mut keys = Context::new();
        keys.set("secretsmanager:VersionStage", stage.clone());
        self.change_secret(
            caller,
            "secretsmanager:UpdateSecretVersionStage",
            &keys,
            region,
            &req.secret_id.unwrap_or_default(),
            |record| {
                record.versions.update_stage(
                    &stage,
                    req.remove_from_version_id.as_deref(),
                    req.move_to_version_id.as_deref(),
                )
            },
        )
        .await
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

    pub fn describe_secret(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<SecretDescription, ApiError> {
        let state = self.read();
        self.authorize_id(
            caller,
            "secretsmanager:DescribeSecret",
            &state,
            region,
            secret_id,
            &Context::new(),
        )?;
        let entry = lookup(&state, region, &self.account_id, secret_id)?;
        let mut d = describe(&entry.record);
        d.version_ids_to_stages = d.secret_versions_to_stages.take();
        Ok(d)
    }

    pub fn list_secrets(
        &self,
        caller: &Caller,
        region: &str,
        req: &ListSecretsRequest,
    ) -> Result<ListSecretsResponse, ApiError> {
        authorize_listing(caller)?;
        let filters = listing::Filters::parse(req.filters.as_deref().unwrap_or_default())?;
        let page = Page::new(req.next_token.as_deref(), req.max_results.unwrap_or(100))?;
        let state = self.read();
        let mut records: Vec<&SecretRecord> = state
            .regions
            .get(region)
            .map(|r| {
                r.secrets
                    .values()
                    .map(|e| &e.record)
                    .filter(|rec| {
                        (req.include_planned_deletion == Some(true) || !rec.is_deleted())
                            && filters.matches(rec)
                    })
                    .collect()
            })
            .unwrap_or_default();
        listing::sort(
            &mut records,
            req.sort_by.as_deref(),
            req.sort_order.as_deref(),
        );
        let (slice, next_token) = page.apply(&records);
        Ok(ListSecretsResponse {
            secret_list: slice.iter().map(|r| describe(r)).collect(),
            next_token,
        })
    }

    pub fn list_secret_version_ids(
        &self,
        caller: &Caller,
        region: &str,
        req: &ListSecretVersionIdsRequest,
    ) -> Result<ListSecretVersionIdsResponse, ApiError> {
        let state = self.read();
        let secret_id = req.secret_id.as_deref().unwrap_or_default();
        self.authorize_id(
            caller,
            "secretsmanager:ListSecretVersionIds",
            &state,
            region,
            secret_id,
            &Context::new(),
        )?;
        let entry = lookup(
            &state,
            region,
            &self.account_id,
            req.secret_id.as_deref().unwrap_or_default(),
        )?;
        let page = Page::new(req.next_token.as_deref(), req.max_results.unwrap_or(100))?;
        let include_deprecated = req.include_deprecated == Some(true);
        let versions: Vec<&VersionMeta> = entry
            .record
            .versions
            .0
            .iter()
            .filter(|v| include_deprecated || !v.is_deprecated())
            .collect();
        let (slice, next_token) = page.apply(&versions);
        Ok(ListSecretVersionIdsResponse {
            versions: slice
                .iter()
                .map(|v| VersionEntry {
                    version_id: v.id.clone(),
                    version_stages: (!v.stages.is_empty())
                        .then(|| v.stages.iter().cloned().collect()),
                    last_accessed_date: v.last_accessed,
                    created_date: v.created,
                    kms_key_ids: vec![v.kms_key_id.clone()],
                })
                .collect(),
            next_token,
            arn: entry.record.arn.clone(),
            name: entry.record.name.clone(),
        })
    }

    pub async fn delete_secret(
        &self,
        caller: &Caller,
        region: &str,
        req: DeleteSecretRequest,
    ) -> Result<SecretRef, ApiError> {
        let force = req.force_delete_without_recovery.unwrap_or(false);
        // As AWS orders them: the window's range first (0 is out of it, with or without
        // ForceDeleteWithoutRecovery), then the two together, then the secret.
        let window = req.recovery_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&window) {
            return Err(ApiError::invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ));
        }
        if force && req.recovery_window_in_days.is_some() {
            return Err(ApiError::invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
            ));
        }
        let secret_id = req.secret_id.unwrap_or_default();
        let mut keys = Context::new();
        keys.set(
            "secretsmanager:ForceDeleteWithoutRecovery",
            force.to_string(),
        );
        if !force {
            keys.set("secretsmanager:RecoveryWindowInDays", window.to_string());
        }
        self.mutate(|state, now, changes| {
            self.authorize_id(
                caller,
                "secretsmanager:DeleteSecret",
                state,
                region,
                &secret_id,
                &keys,
            )?;
            let entry = match lookup_mut(state, region, &self.account_id, &secret_id) {
                Ok(entry) => entry,
                // AWS answers a forced delete of a secret that does not exist as if it had
                // deleted it (deletes are idempotent), and deletes nothing.
                Err(e) if force && e.code == ErrorCode::ResourceNotFound => {
                    let arn = if secret_id.starts_with("arn:") {
                        secret_id.clone()
                    } else {
                        self.arn(region, &secret_id, &self.random_suffix()?)
                    };
                    return Ok(SecretRef {
                        arn: Some(arn),
                        name: Some(secret_id.clone()),
                        deletion_date: Some(now),
                        ..SecretRef::default()
                    });
                }
                Err(e) => return Err(e),
            };
            let record = &mut entry.record;
            if record.is_replica() {
                return Err(ApiError::invalid_parameter(REPLICA_MESSAGE));
            }
            if !record.replicas.is_empty() {
                let mut regions: Vec<&str> =
                    record.replicas.iter().map(|r| r.region.as_str()).collect();
                regions.sort_unstable();
                return Err(ApiError::invalid_parameter(format!(
                    "You can't delete secret {} that still has replica regions [{}].",
                    record.arn,
                    regions.join(", ")
                )));
            }
            if record.is_deleted() && !force {
                return Err(ApiError::invalid_request(DELETED_MESSAGE));
            }
            let (arn, name) = (record.arn.clone(), record.name.clone());
            let deletion_date = if force {
                now
            } else {
                now + f64::from(u32::try_from(window).unwrap_or(30)) * 86_400.0
            };
            if force {
                remove_secret(state, region, &arn, changes);
            } else {
                record.deleted = Some(now);
                record.deletion_date = Some(deletion_date);
                record.last_changed = now;
                changes.save(record);
            }
            Ok(SecretRef {
                arn: Some(arn),
                name: Some(name),
                deletion_date: Some(deletion_date),
                ..SecretRef::default()
            })
        })
        .await
    }

    pub async fn restore_secret(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<SecretRef, ApiError> {
        self.mutate(|state, now, changes| {
            let entry = self.authorized_mut(
                caller,
                "secretsmanager:RestoreSecret",
                state,
                region,
                secret_id,
                &Context::new(),
            )?;
            let record = &mut entry.record;
            if record.is_replica() {
                return Err(ApiError::invalid_parameter(REPLICA_MESSAGE));
            }
            if record.is_deleted() {
                record.deleted = None;
                record.deletion_date = None;
                record.last_changed = now;
                changes.save(record);
            }
            Ok(SecretRef {
                arn: Some(record.arn.clone()),
                name: Some(record.name.clone()),
                ..SecretRef::default()
            })
        })
        .await
    }

    /// Purges secrets whose recovery window has ended. Returns their ARNs.
    pub async fn purge_due(&self) -> Result<Vec<String>, ApiError> {
        self.mutate(|state, now, changes| {
            let due: Vec<(String, String)> = state
                .regions
                .iter()
                .flat_map(|(region, r)| {
                    r.secrets
                        .values()
                        .filter(|e| e.record.deletion_date.is_some_and(|d| d <= now))
                        .map(move |e| (region.clone(), e.record.arn.clone()))
                })
                .collect();
            for (region, arn) in &due {
                remove_secret(state, region, arn, changes);
            }
            Ok(due.into_iter().map(|(_, arn)| arn).collect())
        })
        .await
    }

    pub async fn tag_resource(
        &self,
        caller: &Caller,
        region: &str,
        req: TagResourceRequest,
    ) -> Result<(), ApiError> {
        let tags = validate_tags(req.tags.unwrap_or_default())?;
        let mut keys = Context::new();
        request_tag_keys(&mut keys, &tags);
        self.change_secret(
            caller,
            "secretsmanager:TagResource",
            &keys,
            region,
            &req.secret_id.unwrap_or_default(),
            |record| {
                let list = record.tags.get_or_insert_with(Vec::new);
                for (k, v) in tags {
                    match list.iter_mut().find(|(key, _)| *key == k) {
                        Some(existing) => existing.1 = v,
                        None => list.push((k, v)),
                    }
                }
                if list.len() > MAX_TAGS {
                    return Err(too_many_tags());
                }
                Ok(())
            },
        )
        .await
        .map(drop)
    }

    pub async fn untag_resource(
        &self,
        caller: &Caller,
        region: &str,
        req: UntagResourceRequest,
    ) -> Result<(), ApiError> {
        let tag_keys = req.tag_keys.unwrap_or_default();
        let mut keys = Context::new();
        keys.set_all("aws:TagKeys", tag_keys.iter().cloned());
        self.change_secret(
            caller,
            "secretsmanager:UntagResource",
            &keys,
            region,
            &req.secret_id.unwrap_or_default(),
            |record| {
                record
                    .tags
                    .get_or_insert_with(Vec::new)
                    .retain(|(k, _)| !tag_keys.contains(k));
                Ok(())
            },
        )
        .await
        .map(drop)
    }

    pub fn get_random_password(
        &self,
        caller: &Caller,
        req: &GetRandomPasswordRequest,
    ) -> Result<RandomPassword, ApiError> {
        access::authorize(
            caller,
            "secretsmanager:GetRandomPassword",
            Target::Account,
            &Context::new(),
        )?;
        let password = password::generate(req)?;
        Ok(RandomPassword(SecretText::new(password.to_string())))
    }

    pub async fn put_resource_policy(
        &self,
        caller: &Caller,
        region: &str,
        req: PutResourcePolicyRequest,
    ) -> Result<SecretRef, ApiError> {
        let policy = req.resource_policy.unwrap_or_default();
        let doc = policy_doc::parse(&policy)?;
        let block_public = req.block_public_policy == Some(true);
        if block_public && policy_doc::is_public(&doc) {
            return Err(ApiError::new(
                ErrorCode::PublicPolicy,
                "BlockPublicPolicy parameter is set to true and resource policy is public.",
            ));
        }
        let mut keys = Context::new();
        keys.set("secretsmanager:BlockPublicPolicy", block_public.to_string());
        self.change_secret(
            caller,
            "secretsmanager:PutResourcePolicy",
            &keys,
            region,
            &req.secret_id.unwrap_or_default(),
            |record| {
                record.resource_policy = Some(policy);
                Ok(())
            },
        )
        .await
    }

    pub fn get_resource_policy(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<GetResourcePolicyResponse, ApiError> {
        let state = self.read();
        self.authorize_id(
            caller,
            "secretsmanager:GetResourcePolicy",
            &state,
            region,
            secret_id,
            &Context::new(),
        )?;
        let entry = lookup(&state, region, &self.account_id, secret_id)?;
        if entry.record.is_deleted() {
            return Err(ApiError::invalid_request(DELETED_MESSAGE));
        }
        Ok(GetResourcePolicyResponse {
            arn: entry.record.arn.clone(),
            name: entry.record.name.clone(),
            resource_policy: entry.record.resource_policy.clone(),
        })
    }

    pub async fn delete_resource_policy(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<SecretRef, ApiError> {
        self.change_secret(
            caller,
            "secretsmanager:DeleteResourcePolicy",
            &Context::new(),
            region,
            secret_id,
            |record| {
                record.resource_policy = None;
                Ok(())
            },
        )
        .await
    }

    pub fn validate_resource_policy(
        &self,
        caller: &Caller,
        region: &str,
        req: &ValidateResourcePolicyRequest,
    ) -> Result<ValidateResourcePolicyResponse, ApiError> {
        match req.secret_id.as_deref() {
            Some(id) => {
                let state = self.read();
                self.authorize_id(
                    caller,
                    "secretsmanager:ValidateResourcePolicy",
                    &state,
                    region,
                    id,
                    &Context::new(),
                )?;
                lookup(&state, region, &self.account_id, id)?;
            }
            None => access::authorize(
                caller,
                "secretsmanager:ValidateResourcePolicy",
                Target::Account,
                &Context::new(),
            )?,
        }
        let doc = policy_doc::parse(req.resource_policy.as_deref().unwrap_or_default())?;
        let errors = policy_doc::findings(&doc);
        Ok(ValidateResourcePolicyResponse {
            policy_validation_passed: errors.is_empty(),
            validation_errors: errors,
        })
    }

    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        region: &str,
        req: RotateSecretRequest,
    ) -> Result<SecretRef, ApiError> {
        let token = req
            .client_request_token
            .clone()
            .ok_or_else(|| ApiError::invalid_parameter(TOKEN_MESSAGE))?;
        let rules = req.rotation_rules.clone();
        if let Some(r) = &rules {
            crate::schedule::validate(r)?;
        }
        let secret_id = req.secret_id.clone().unwrap_or_default();
        let mut keys = Context::new();
        if let Some(l) = &req.rotation_lambda_arn {
            keys.set("secretsmanager:RotationLambdaARN", l.clone());
        }
        keys.set(
            "secretsmanager:ModifyRotationRules",
            rules.is_some().to_string(),
        );
        keys.set(
            "secretsmanager:RotateImmediately",
            (req.rotate_immediately != Some(false)).to_string(),
        );
        self.mutate(|state, now, changes| {
            let entry = self.authorized_writable(
                caller,
                "secretsmanager:RotateSecret",
                state,
                region,
                &secret_id,
                &keys,
            )?;
            let record = &mut entry.record;
            if let Some(lambda) = req.rotation_lambda_arn.clone().filter(|a| !a.is_empty()) {
                let known = self
                    .rotation_functions
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_ref()
                    .is_none_or(|names| {
                        names.contains(crate::rotation::function_name(&lambda))
                    });
                if !known {
                    return Err(ApiError::new(
                        ErrorCode::AccessDenied,
                        "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.",
                    ));
                }
                record.rotation.lambda_arn = Some(lambda);
            }
            if record.rotation.lambda_arn.is_none() {
                return Err(ApiError::invalid_request(
                    "No Lambda rotation function ARN is associated with this secret.",
                ));
            }
            if let Some(pending) = &record.rotation.pending_token
                && *pending != token
            {
                return Err(ApiError::invalid_request(
                    "A previous rotation isn't complete. That rotation will be reattempted.",
                ));
            }
            if let Some(r) = rules {
                record.rotation.rules = Some(r);
            }
            record.rotation.enabled = true;
            record.rotation.next_rotation = record.rotation.rules.as_ref().and_then(|r| {
                crate::schedule::next_after(r, record.rotation.last_rotated.unwrap_or(now).max(now))
            });
            if req.rotate_immediately != Some(false) {
                crate::rotation::start(record, &token, now);
            }
            record.last_changed = now;
            changes.save(record);
            let immediate = req.rotate_immediately != Some(false);
            if immediate {
                self.rotation_requested.notify_one();
            }
            Ok(SecretRef {
                arn: Some(record.arn.clone()),
                name: Some(record.name.clone()),
                version_id: immediate.then_some(token),
                ..SecretRef::default()
            })
        })
        .await
    }

    pub async fn cancel_rotate_secret(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<SecretRef, ApiError> {
        self.mutate(|state, now, changes| {
            let entry = self.authorized_writable(
                caller,
                "secretsmanager:CancelRotateSecret",
                state,
                region,
                secret_id,
                &Context::new(),
            )?;
            let record = &mut entry.record;
            if !record.rotation.enabled && record.rotation.pending_token.is_none() {
                return Err(ApiError::invalid_request(format!(
                    "Secret {} rotation is not enabled, so there is no rotation to cancel.",
                    record.name
                )));
            }
            record.rotation.enabled = false;
            record.rotation.next_rotation = None;
            // The rotation in progress stops at its next step; AWSPENDING stays where it is,
            // as AWS leaves it.
            let pending = record.rotation.pending_token.take();
            record.rotation.step = None;
            record.rotation.started = None;
            record.rotation.attempts = 0;
            record.rotation.retry_at = None;
            record.last_changed = now;
            changes.save(record);
            Ok(SecretRef {
                arn: Some(record.arn.clone()),
                name: Some(record.name.clone()),
                version_id: pending,
                ..SecretRef::default()
            })
        })
        .await
    }

    pub async fn replicate_secret_to_regions(
        &self,
        caller: &Caller,
        region: &str,
        req: ReplicateSecretToRegionsRequest,
    ) -> Result<SecretRef, ApiError> {
        let secret_id = req.secret_id.unwrap_or_default();
        let regions = req.add_replica_regions.unwrap_or_default();
        let force = req.force_overwrite_replica_secret.unwrap_or(false);
        let mut keys = Context::new();
        keys.set_all(
            "secretsmanager:AddReplicaRegions",
            regions.iter().filter_map(|r| r.region.clone()),
        );
        keys.set(
            "secretsmanager:ForceOverwriteReplicaSecret",
            force.to_string(),
        );
        self.mutate(|state, _now, changes| {
            let arn = self
                .authorized_writable(
                    caller,
                    "secretsmanager:ReplicateSecretToRegions",
                    state,
                    region,
                    &secret_id,
                    &keys,
                )?
                .record
                .arn
                .clone();
            self.add_replicas(state, region, &arn, &regions, force, changes)?;
            let record = &state.regions[region].secrets[&arn].record;
            Ok(SecretRef {
                arn: Some(arn.clone()),
                replication_status: Some(replication_status(record)),
                ..SecretRef::default()
            })
        })
        .await
    }

    pub async fn remove_regions_from_replication(
        &self,
        caller: &Caller,
        region: &str,
        req: RemoveRegionsFromReplicationRequest,
    ) -> Result<SecretRef, ApiError> {
        let secret_id = req.secret_id.unwrap_or_default();
        let remove = req.remove_replica_regions.unwrap_or_default();
        self.mutate(|state, now, changes| {
            let entry = self.authorized_writable(
                caller,
                "secretsmanager:RemoveRegionsFromReplication",
                state,
                region,
                &secret_id,
                &Context::new(),
            )?;
            let record = &mut entry.record;
            for r in &remove {
                if !record.replicas.iter().any(|rep| rep.region == *r) {
                    return Err(ApiError::invalid_parameter(format!(
                        "Region {r} is not a replica Region of this secret."
                    )));
                }
            }
            record.replicas.retain(|rep| !remove.contains(&rep.region));
            record.last_changed = now;
            changes.save(record);
            let (arn, status) = (record.arn.clone(), replication_status(record));
            for r in &remove {
                let replica_arn = replica_arn(&arn, region, r);
                let ours = state
                    .regions
                    .get(r)
                    .and_then(|reg| reg.secrets.get(&replica_arn))
                    .is_some_and(|e| e.record.primary_region.as_deref() == Some(region));
                if ours {
                    remove_secret(state, r, &replica_arn, changes);
                }
            }
            Ok(SecretRef {
                arn: Some(arn),
                replication_status: Some(status),
                ..SecretRef::default()
            })
        })
        .await
    }

    pub async fn stop_replication_to_replica(
        &self,
        caller: &Caller,
        region: &str,
        secret_id: &str,
    ) -> Result<SecretRef, ApiError> {
        self.mutate(|state, now, changes| {
            let entry = self.authorized_mut(
                caller,
                "secretsmanager:StopReplicationToReplica",
                state,
                region,
                secret_id,
                &Context::new(),
            )?;
            let record = &mut entry.record;
            let Some(primary_region) = record.primary_region.take() else {
                return Err(ApiError::invalid_request(
                    "StopReplicationToReplica can only be called on a replica secret.",
                ));
            };
            record.last_changed = now;
            changes.save(record);
            let arn = record.arn.clone();
            let primary_arn = replica_arn(&arn, region, &primary_region);
            if let Some(primary) = state
                .regions
                .get_mut(&primary_region)
                .and_then(|r| r.secrets.get_mut(&primary_arn))
            {
                primary.record.replicas.retain(|rep| rep.region != region);
                changes.save(&primary.record);
            }
            Ok(SecretRef {
                arn: Some(arn),
                ..SecretRef::default()
            })
        })
        .await
    }

    // ---- replication ------------------------------------------------------------------

    fn add_replicas(
        &self,
        state: &mut State,
        region: &str,
        arn: &str,
        regions: &[ReplicaRegion],
        force: bool,
        changes: &mut Changes,
    ) -> Result<(), ApiError> {
        for rr in regions {
            let target = rr.region.clone().unwrap_or_default();
            if target == region {
                return Err(ApiError::invalid_parameter("Invalid replica region."));
            }
        }
        let name = state.regions[region].secrets[arn].record.name.clone();
        for rr in regions {
            let target = rr.region.clone().unwrap_or_default();
            let already = state.regions[region].secrets[arn]
                .record
                .replicas
                .iter()
                .any(|r| r.region == target);
            if already {
                continue;
            }
            let conflict = state
                .regions
                .get(&target)
                .and_then(|r| r.names.get(&name).and_then(|a| r.secrets.get(a)))
                .map(|e| e.record.arn.clone());
            let (status, message) = match conflict {
                Some(_) if !force => (
                    "Failed",
                    Some(format!(
                        "Replication failed: Secret name already exists in Region: {target}."
                    )),
                ),
                Some(existing) => {
                    remove_secret(state, &target, &existing, changes);
                    ("InSync", Some("Replication succeeded".to_owned()))
                }
                None => ("InSync", Some("Replication succeeded".to_owned())),
            };
            let primary = &mut state
                .regions
                .get_mut(region)
                .ok_or_else(ApiError::not_found)?
                .secrets
                .get_mut(arn)
                .ok_or_else(ApiError::not_found)?
                .record;
            primary.replicas.push(Replica {
                region: target,
                kms_key_id: rr.kms_key_id.clone(),
                status: status.into(),
                status_message: message,
            });
            changes.save(primary);
        }
        self.sync_replicas(state, region, arn, changes)
    }

    /// Makes every in-sync replica of `arn` a copy of it (values re-sealed under the
    /// replica's own binding).
    pub(crate) fn sync_replicas(
        &self,
        state: &mut State,
        region: &str,
        arn: &str,
        changes: &mut Changes,
    ) -> Result<(), ApiError> {
        let Some(primary) = state
            .regions
            .get(region)
            .and_then(|r| r.secrets.get(arn))
            .cloned()
        else {
            return Ok(());
        };
        for replica in primary
            .record
            .replicas
            .iter()
            .filter(|r| r.status == "InSync")
        {
            let target_arn = replica_arn(arn, region, &replica.region);
            let mut record = primary.record.clone();
            record.arn = target_arn.clone();
            record.region = replica.region.clone();
            record.primary_region = Some(region.to_owned());
            record.replicas = Vec::new();
            record.rotation = Rotation::default();
            record.kms_key_id = replica.kms_key_id.clone();
            let r = state.regions.entry(replica.region.clone()).or_default();
            let previous = r.secrets.remove(&target_arn);
            let mut values = HashMap::new();
            for (version, sealed) in &primary.values {
                let reuse = previous
                    .as_ref()
                    .and_then(|p| p.values.get(version))
                    .cloned();
                let resealed = match reuse {
                    Some(s) => s,
                    None => {
                        let payload = self.open(arn, version, sealed)?;
                        let s = self.seal(&target_arn, version, &payload)?;
                        changes.save_value(&target_arn, version, &s);
                        s
                    }
                };
                values.insert(version.clone(), resealed);
            }
            if let Some(prev) = &previous {
                for version in prev
                    .values
                    .keys()
                    .filter(|v| !primary.values.contains_key(*v))
                {
                    changes.drop_value(&target_arn, version);
                }
            }
            changes.save(&record);
            r.names.insert(record.name.clone(), target_arn.clone());
            let policy = primary.policy.clone();
            r.secrets.insert(
                target_arn,
                Entry {
                    record,
                    values,
                    policy,
                },
            );
        }
        Ok(())
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
        "secretsmanager:ListSecrets",
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
