//! Rotation configuration: RotateSecret and CancelRotateSecret (the engine that runs the
//! steps is `crate::rotation`).

use super::*;

impl Service {
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
                Operation::RotateSecret.iam_action(),
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
                Operation::CancelRotateSecret.iam_action(),
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
}
