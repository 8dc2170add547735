//! Replicas in other regions of this server: ReplicateSecretToRegions,
//! RemoveRegionsFromReplication, StopReplicationToReplica, and keeping replicas in step
//! with their primary.

use super::*;

impl Service {
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
                    Operation::ReplicateSecretToRegions.iam_action(),
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
                Operation::RemoveRegionsFromReplication.iam_action(),
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
                Operation::StopReplicationToReplica.iam_action(),
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

    pub(super) fn add_replicas(
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
