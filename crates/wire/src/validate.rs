//! The service model's constraints (required members, lengths, ranges, patterns), reported
//! as AWS does: `ValidationException` with "N validation errors detected: ...".
//!
//! Values of secret-bearing members are never echoed.

use crate::shapes::*;
use crate::{ApiError, ErrorCode};

pub(crate) trait Validate {
    fn validate(&self) -> Result<(), ApiError>;
}

#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    fn push(&mut self, member: &str, shown: Option<&str>, constraint: &str) {
        let value = match shown {
            Some(v) => format!("Value '{v}' at '{member}'"),
            None => format!("Value at '{member}'"),
        };
        self.0.push(format!(
            "{value} failed to satisfy constraint: {constraint}"
        ));
    }

    fn required<T>(&mut self, member: &str, value: &Option<T>) {
        if value.is_none() {
            self.0.push(format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }

    /// Length of a non-secret string, in characters.
    fn len(&mut self, member: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(v) = value {
            self.len_of(member, Some(v), v.chars().count(), min, max);
        }
    }

    fn len_of(&mut self, member: &str, shown: Option<&str>, len: usize, min: usize, max: usize) {
        if len < min {
            self.push(
                member,
                shown,
                &format!("Member must have length greater than or equal to {min}"),
            );
        } else if len > max {
            self.push(
                member,
                shown.filter(|s| s.len() <= 256),
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    fn range(&mut self, member: &str, value: Option<i64>, min: i64, max: i64) {
        if let Some(v) = value {
            let shown = v.to_string();
            if v < min {
                self.push(
                    member,
                    Some(&shown),
                    &format!("Member must have value greater than or equal to {min}"),
                );
            } else if v > max {
                self.push(
                    member,
                    Some(&shown),
                    &format!("Member must have value less than or equal to {max}"),
                );
            }
        }
    }

    fn secret_id(&mut self, value: &Option<String>) {
        self.required("secretId", value);
        self.len("secretId", value.as_deref(), 1, 2048);
    }

    fn token(&mut self, value: &Option<String>) {
        self.len("clientRequestToken", value.as_deref(), 32, 64);
    }

    fn secret_value(&mut self, text: &Option<crate::SecretText>, blob: &Option<crate::SecretBlob>) {
        if let Some(t) = text {
            self.len_of("secretString", None, t.expose_secret().len(), 1, 65536);
        }
        if let Some(b) = blob {
            self.len_of("secretBinary", None, b.expose_secret().len(), 1, 65536);
        }
    }

    fn tags(&mut self, tags: Option<&Vec<Tag>>) {
        for (i, tag) in tags.into_iter().flatten().enumerate() {
            let n = i + 1;
            self.required(&format!("tags.{n}.member.key"), &tag.key);
            self.len(&format!("tags.{n}.member.key"), tag.key.as_deref(), 1, 128);
            self.len(
                &format!("tags.{n}.member.value"),
                tag.value.as_deref(),
                0,
                256,
            );
        }
    }

    fn stages(&mut self, member: &str, stages: Option<&Vec<String>>) {
        if let Some(list) = stages {
            self.len_of(member, None, list.len(), 1, 20);
            for s in list {
                self.len(member, Some(s), 1, 256);
            }
        }
    }

    fn regions(&mut self, member: &str, regions: impl Iterator<Item = Option<String>>) {
        for region in regions.flatten() {
            let valid = region.rsplit_once('-').is_some_and(|(head, tail)| {
                !head.is_empty()
                    && tail.chars().all(|c| c.is_ascii_digit())
                    && !tail.is_empty()
                    && head
                        .split('-')
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
            });
            if !valid || region.len() > 128 {
                self.push(
                    member,
                    Some(&region),
                    "Member must satisfy regular expression pattern: ^([a-z]+-)+\\d+$",
                );
            }
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            n => {
                let noun = if n == 1 { "error" } else { "errors" };
                Err(ApiError::new(
                    ErrorCode::Validation,
                    format!("{n} validation {noun} detected: {}", self.0.join("; ")),
                ))
            }
        }
    }
}

impl Validate for CreateSecretRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.required("name", &self.name);
        v.len("name", self.name.as_deref(), 1, 512);
        v.token(&self.client_request_token);
        v.len("description", self.description.as_deref(), 0, 2048);
        v.len("kmsKeyId", self.kms_key_id.as_deref(), 0, 2048);
        v.secret_value(&self.secret_string, &self.secret_binary);
        v.tags(self.tags.as_ref());
        v.regions(
            "addReplicaRegions",
            self.add_replica_regions
                .iter()
                .flatten()
                .map(|r| r.region.clone()),
        );
        v.len("type", self.secret_type.as_deref(), 0, 256);
        v.finish()
    }
}

impl Validate for GetSecretValueRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.len("versionId", self.version_id.as_deref(), 32, 64);
        v.len("versionStage", self.version_stage.as_deref(), 1, 256);
        v.finish()
    }
}

impl Validate for BatchGetSecretValueRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        if let Some(ids) = &self.secret_id_list {
            v.len_of("secretIdList", None, ids.len(), 1, 20);
            for id in ids {
                v.len("secretIdList.member", Some(id), 1, 2048);
            }
        }
        v.range("maxResults", self.max_results, 1, 20);
        v.len("nextToken", self.next_token.as_deref(), 1, 4096);
        filters(&mut v, self.filters.as_ref());
        v.finish()
    }
}

fn filters(v: &mut Violations, filters: Option<&Vec<Filter>>) {
    if let Some(list) = filters {
        v.len_of("filters", None, list.len(), 0, 10);
        for (i, f) in list.iter().enumerate() {
            let n = i + 1;
            if let Some(values) = &f.values {
                v.len_of(
                    &format!("filters.{n}.member.values"),
                    None,
                    values.len(),
                    1,
                    10,
                );
                for value in values {
                    v.len(&format!("filters.{n}.member.values"), Some(value), 0, 512);
                }
            }
        }
    }
}

impl Validate for PutSecretValueRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.token(&self.client_request_token);
        v.secret_value(&self.secret_string, &self.secret_binary);
        v.stages("versionStages", self.version_stages.as_ref());
        v.len("rotationToken", self.rotation_token.as_deref(), 36, 256);
        v.finish()
    }
}

impl Validate for UpdateSecretRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.token(&self.client_request_token);
        v.len("description", self.description.as_deref(), 0, 2048);
        v.len("kmsKeyId", self.kms_key_id.as_deref(), 0, 2048);
        v.secret_value(&self.secret_string, &self.secret_binary);
        v.len("type", self.secret_type.as_deref(), 0, 256);
        v.finish()
    }
}

impl Validate for UpdateSecretVersionStageRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.required("versionStage", &self.version_stage);
        v.len("versionStage", self.version_stage.as_deref(), 1, 256);
        v.len(
            "removeFromVersionId",
            self.remove_from_version_id.as_deref(),
            32,
            64,
        );
        v.len(
            "moveToVersionId",
            self.move_to_version_id.as_deref(),
            32,
            64,
        );
        v.finish()
    }
}

impl Validate for SecretIdRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.finish()
    }
}

impl Validate for ListSecretsRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.range("maxResults", self.max_results, 1, 100);
        v.len("nextToken", self.next_token.as_deref(), 1, 4096);
        filters(&mut v, self.filters.as_ref());
        if let Some(order) = self.sort_order.as_deref()
            && !matches!(order, "asc" | "desc")
        {
            v.push(
                "sortOrder",
                Some(order),
                "Member must satisfy enum value set: [asc, desc]",
            );
        }
        if let Some(by) = self.sort_by.as_deref()
            && !matches!(
                by,
                "created-date" | "last-accessed-date" | "last-changed-date" | "name"
            )
        {
            v.push("sortBy", Some(by), "Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]");
        }
        v.finish()
    }
}

impl Validate for ListSecretVersionIdsRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.range("maxResults", self.max_results, 1, 100);
        v.len("nextToken", self.next_token.as_deref(), 1, 4096);
        v.finish()
    }
}

impl Validate for DeleteSecretRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.finish()
    }
}

impl Validate for TagResourceRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.required("tags", &self.tags);
        v.tags(self.tags.as_ref());
        v.finish()
    }
}

impl Validate for UntagResourceRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.required("tagKeys", &self.tag_keys);
        for key in self.tag_keys.iter().flatten() {
            v.len("tagKeys.member", Some(key), 1, 128);
        }
        v.finish()
    }
}

impl Validate for GetRandomPasswordRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.range("passwordLength", self.password_length, 1, 4096);
        v.len(
            "excludeCharacters",
            self.exclude_characters.as_deref(),
            0,
            4096,
        );
        v.finish()
    }
}

impl Validate for PutResourcePolicyRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.required("resourcePolicy", &self.resource_policy);
        v.len_of(
            "resourcePolicy",
            None,
            self.resource_policy.as_deref().map_or(1, str::len),
            1,
            20480,
        );
        v.finish()
    }
}

impl Validate for ValidateResourcePolicyRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.len("secretId", self.secret_id.as_deref(), 1, 2048);
        v.required("resourcePolicy", &self.resource_policy);
        v.len_of(
            "resourcePolicy",
            None,
            self.resource_policy.as_deref().map_or(1, str::len),
            1,
            20480,
        );
        v.finish()
    }
}

impl Validate for RotateSecretRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.token(&self.client_request_token);
        v.len(
            "rotationLambdaARN",
            self.rotation_lambda_arn.as_deref(),
            0,
            2048,
        );
        if let Some(rules) = &self.rotation_rules {
            v.range(
                "rotationRules.automaticallyAfterDays",
                rules.automatically_after_days,
                1,
                1000,
            );
            if let Some(d) = rules.duration.as_deref() {
                let valid = (2..=3).contains(&d.len())
                    && d.ends_with('h')
                    && d[..d.len() - 1].chars().all(|c| c.is_ascii_digit());
                if !valid {
                    v.push(
                        "rotationRules.duration",
                        Some(d),
                        "Member must satisfy regular expression pattern: [0-9]+h",
                    );
                }
            }
            v.len(
                "rotationRules.scheduleExpression",
                rules.schedule_expression.as_deref(),
                1,
                256,
            );
        }
        v.len(
            "externalSecretRotationRoleArn",
            self.external_secret_rotation_role_arn.as_deref(),
            20,
            2048,
        );
        v.finish()
    }
}

impl Validate for ReplicateSecretToRegionsRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.required("addReplicaRegions", &self.add_replica_regions);
        if let Some(list) = &self.add_replica_regions {
            v.len_of("addReplicaRegions", None, list.len(), 1, usize::MAX);
            v.regions("addReplicaRegions", list.iter().map(|r| r.region.clone()));
        }
        v.finish()
    }
}

impl Validate for RemoveRegionsFromReplicationRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::default();
        v.secret_id(&self.secret_id);
        v.required("removeReplicaRegions", &self.remove_replica_regions);
        if let Some(list) = &self.remove_replica_regions {
            v.len_of("removeReplicaRegions", None, list.len(), 1, usize::MAX);
            v.regions("removeReplicaRegions", list.iter().cloned().map(Some));
        }
        v.finish()
    }
}
