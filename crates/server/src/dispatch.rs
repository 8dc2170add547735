//! From a decoded [`Request`] to the [`Service`] call and the response body.

use s9_core::{Caller, Service};
use s9_wire::shapes::BatchGetSecretValueResponse;
use s9_wire::{ApiError, Request};
use serde::Serialize;

/// What a successful operation sends back: a JSON body. (It moves into hyper's buffers,
/// which cannot be zeroized; the decrypted value itself is.)
pub(crate) type Body = Vec<u8>;

fn json<T: Serialize>(value: &T) -> Result<Body, ApiError> {
    serde_json::to_vec(value).map_err(|_| ApiError::internal())
}

const EMPTY: &[u8] = b"{}";

/// A successful operation's answer: its body, and what the server says beside it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) body: Body,
    /// DescribeSecret: why the rotation in progress failed (the `x-s9-rotation-failure`
    /// header).
    pub(crate) rotation_failure: Option<String>,
    /// GetSecretValue: the name of the secret read, resolved (never the raw SecretId, so
    /// made-up ids cannot grow the metrics).
    pub(crate) secret_read: Option<String>,
    /// The resolved ARNs of the secrets a read returned (one per secret a batch returns),
    /// for the record's `resources`.
    pub(crate) secrets: Vec<String>,
}

impl Reply {
    fn body(body: Body) -> Self {
        Self {
            body,
            rotation_failure: None,
            secret_read: None,
            secrets: Vec::new(),
        }
    }
}

/// Runs `request` in `region`, and answers only once everything it could have seen is
/// durable (never a change a failed commit would take back; nothing at all after one).
pub(crate) async fn dispatch(
    service: &Service,
    caller: &Caller,
    region: &str,
    request: Request,
) -> Result<Reply, ApiError> {
    let reply = run(service, caller, region, request).await;
    service.settled().await?;
    reply
}

async fn run(
    service: &Service,
    caller: &Caller,
    region: &str,
    request: Request,
) -> Result<Reply, ApiError> {
    match request {
        Request::DescribeSecret(r) => {
            let mut described = service.describe_secret(caller, region, &secret_id(r.secret_id))?;
            let rotation_failure = described.rotation_failure.take();
            Ok(Reply {
                rotation_failure,
                secrets: vec![described.arn.clone()],
                ..Reply::body(json(&described)?)
            })
        }
        Request::GetSecretValue(r) => {
            let value = service.get_secret_value(caller, region, &r)?;
            Ok(Reply {
                secret_read: Some(value.name.clone()),
                secrets: vec![value.arn.clone()],
                ..Reply::body(json(&value.to_wire())?)
            })
        }
        Request::BatchGetSecretValue(r) => {
            let out = service.batch_get_secret_value(caller, region, &r)?;
            Ok(Reply {
                secrets: out.values.iter().map(|v| v.arn.clone()).collect(),
                ..Reply::body(json(&BatchGetSecretValueResponse {
                    secret_values: out
                        .values
                        .iter()
                        .map(s9_core::SecretValue::to_wire)
                        .collect(),
                    errors: out.errors,
                    next_token: out.next_token,
                })?)
            })
        }
        request => Ok(Reply::body(
            body_of(service, caller, region, request).await?,
        )),
    }
}

/// The body of every operation's answer.
async fn body_of(
    service: &Service,
    caller: &Caller,
    region: &str,
    request: Request,
) -> Result<Body, ApiError> {
    match request {
        Request::CreateSecret(r) => json(&service.create_secret(caller, region, r).await?),
        Request::GetSecretValue(_)
        | Request::BatchGetSecretValue(_)
        | Request::DescribeSecret(_) => {
            unreachable!("answered by `run` with what they read")
        }
        Request::PutSecretValue(r) => json(&service.put_secret_value(caller, region, r).await?),
        Request::UpdateSecret(r) => json(&service.update_secret(caller, region, r).await?),
        Request::UpdateSecretVersionStage(r) => json(
            &service
                .update_secret_version_stage(caller, region, r)
                .await?,
        ),
        Request::ListSecrets(r) => json(&service.list_secrets(caller, region, &r)?),
        Request::ListSecretVersionIds(r) => {
            json(&service.list_secret_version_ids(caller, region, &r)?)
        }
        Request::DeleteSecret(r) => json(&service.delete_secret(caller, region, r).await?),
        Request::RestoreSecret(r) => json(
            &service
                .restore_secret(caller, region, &secret_id(r.secret_id))
                .await?,
        ),
        Request::TagResource(r) => service
            .tag_resource(caller, region, r)
            .await
            .map(|()| EMPTY.to_vec()),
        Request::UntagResource(r) => service
            .untag_resource(caller, region, r)
            .await
            .map(|()| EMPTY.to_vec()),
        Request::GetRandomPassword(r) => json(&service.get_random_password(caller, &r)?),
        Request::PutResourcePolicy(r) => {
            json(&service.put_resource_policy(caller, region, r).await?)
        }
        Request::GetResourcePolicy(r) => {
            json(&service.get_resource_policy(caller, region, &secret_id(r.secret_id))?)
        }
        Request::DeleteResourcePolicy(r) => json(
            &service
                .delete_resource_policy(caller, region, &secret_id(r.secret_id))
                .await?,
        ),
        Request::ValidateResourcePolicy(r) => {
            json(&service.validate_resource_policy(caller, region, &r)?)
        }
        Request::RotateSecret(r) => json(&service.rotate_secret(caller, region, r).await?),
        Request::CancelRotateSecret(r) => json(
            &service
                .cancel_rotate_secret(caller, region, &secret_id(r.secret_id))
                .await?,
        ),
        Request::ReplicateSecretToRegions(r) => json(
            &service
                .replicate_secret_to_regions(caller, region, r)
                .await?,
        ),
        Request::RemoveRegionsFromReplication(r) => json(
            &service
                .remove_regions_from_replication(caller, region, r)
                .await?,
        ),
        Request::StopReplicationToReplica(r) => json(
            &service
                .stop_replication_to_replica(caller, region, &secret_id(r.secret_id))
                .await?,
        ),
    }
}

/// Validation has already required it; an absent id cannot match a secret.
fn secret_id(id: Option<String>) -> String {
    id.unwrap_or_default()
}
