//! Values and their versions: CreateSecret, GetSecretValue, BatchGetSecretValue,
//! PutSecretValue, UpdateSecret, UpdateSecretVersionStage, ListSecretVersionIds, and
//! GetRandomPassword.

use super::*;

impl Service {
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
            access::authorize(caller, Operation::CreateSecret.iam_action(), Target::Named(&arn), &keys)?;
            // "If you include tags in the secret, you also need secretsmanager:TagResource"
            // (AWS API reference): tags are what tag-based policies trust.
            if !tags.is_empty() {
                access::authorize(caller, Operation::TagResource.iam_action(), Target::Named(&arn), &keys)?;
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
                Operation::GetSecretValue.iam_action(),
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
            Operation::BatchGetSecretValue.iam_action(),
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
                    Operation::PutSecretValue.iam_action(),
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
                Operation::UpdateSecret.iam_action(),
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
            Operation::UpdateSecretVersionStage.iam_action(),
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
            Operation::ListSecretVersionIds.iam_action(),
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

    pub fn get_random_password(
        &self,
        caller: &Caller,
        req: &GetRandomPasswordRequest,
    ) -> Result<RandomPassword, ApiError> {
        access::authorize(
            caller,
            Operation::GetRandomPassword.iam_action(),
            Target::Account,
            &Context::new(),
        )?;
        let password = password::generate(req)?;
        Ok(RandomPassword(SecretText::new(password.to_string())))
    }
}
