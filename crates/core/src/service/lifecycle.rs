//! Deleting and restoring: DeleteSecret (recovery windows, forced deletes), RestoreSecret,
//! and the purge of secrets whose window ended.

use super::*;

impl Service {
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
                Operation::DeleteSecret.iam_action(),
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
                Operation::RestoreSecret.iam_action(),
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
}
