//! Request and response shapes of the 23 operations, named as in the service model.
//!
//! Requests deserialize with every member optional (required members are checked by
//! [`crate::Request::decode`] so that a missing one gets AWS's validation error, not a parse
//! error); responses skip absent members, as AWS does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{SecretBlob, SecretText, WireSecret};

/// Seconds since the Unix epoch, with fractions, as AWS JSON 1.1 sends timestamps.
pub type Timestamp = f64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicaRegion {
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationStatus {
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetadataItem {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<String>>,
}

macro_rules! request {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty => $wire:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Deserialize)]
        pub struct $name {
            $(#[serde(rename = $wire, default)] pub $field: Option<$ty>,)*
        }

        impl $name {
            /// The members the decoder reads, as the wire spells them (others are ignored,
            /// as AWS ignores them).
            pub const MEMBERS: &'static [&'static str] = &[$($wire,)*];
        }
    };
}

request!(CreateSecretRequest {
    name: String => "Name",
    client_request_token: String => "ClientRequestToken",
    description: String => "Description",
    kms_key_id: String => "KmsKeyId",
    secret_binary: SecretBlob => "SecretBinary",
    secret_string: SecretText => "SecretString",
    tags: Vec<Tag> => "Tags",
    add_replica_regions: Vec<ReplicaRegion> => "AddReplicaRegions",
    force_overwrite_replica_secret: bool => "ForceOverwriteReplicaSecret",
    secret_type: String => "Type",
});
request!(GetSecretValueRequest {
    secret_id: String => "SecretId",
    version_id: String => "VersionId",
    version_stage: String => "VersionStage",
});
request!(BatchGetSecretValueRequest {
    secret_id_list: Vec<String> => "SecretIdList",
    filters: Vec<Filter> => "Filters",
    max_results: i64 => "MaxResults",
    next_token: String => "NextToken",
});
request!(PutSecretValueRequest {
    secret_id: String => "SecretId",
    client_request_token: String => "ClientRequestToken",
    secret_binary: SecretBlob => "SecretBinary",
    secret_string: SecretText => "SecretString",
    version_stages: Vec<String> => "VersionStages",
    rotation_token: String => "RotationToken",
});
request!(UpdateSecretRequest {
    secret_id: String => "SecretId",
    client_request_token: String => "ClientRequestToken",
    description: String => "Description",
    kms_key_id: String => "KmsKeyId",
    secret_binary: SecretBlob => "SecretBinary",
    secret_string: SecretText => "SecretString",
    secret_type: String => "Type",
});
request!(UpdateSecretVersionStageRequest {
    secret_id: String => "SecretId",
    version_stage: String => "VersionStage",
    remove_from_version_id: String => "RemoveFromVersionId",
    move_to_version_id: String => "MoveToVersionId",
});
request!(SecretIdRequest {
    secret_id: String => "SecretId",
});
request!(ListSecretsRequest {
    include_planned_deletion: bool => "IncludePlannedDeletion",
    max_results: i64 => "MaxResults",
    next_token: String => "NextToken",
    filters: Vec<Filter> => "Filters",
    sort_order: String => "SortOrder",
    sort_by: String => "SortBy",
});
request!(ListSecretVersionIdsRequest {
    secret_id: String => "SecretId",
    max_results: i64 => "MaxResults",
    next_token: String => "NextToken",
    include_deprecated: bool => "IncludeDeprecated",
});
request!(DeleteSecretRequest {
    secret_id: String => "SecretId",
    recovery_window_in_days: i64 => "RecoveryWindowInDays",
    force_delete_without_recovery: bool => "ForceDeleteWithoutRecovery",
});
request!(TagResourceRequest {
    secret_id: String => "SecretId",
    tags: Vec<Tag> => "Tags",
});
request!(UntagResourceRequest {
    secret_id: String => "SecretId",
    tag_keys: Vec<String> => "TagKeys",
});
request!(GetRandomPasswordRequest {
    password_length: i64 => "PasswordLength",
    exclude_characters: String => "ExcludeCharacters",
    exclude_numbers: bool => "ExcludeNumbers",
    exclude_punctuation: bool => "ExcludePunctuation",
    exclude_uppercase: bool => "ExcludeUppercase",
    exclude_lowercase: bool => "ExcludeLowercase",
    include_space: bool => "IncludeSpace",
    require_each_included_type: bool => "RequireEachIncludedType",
});
request!(PutResourcePolicyRequest {
    secret_id: String => "SecretId",
    resource_policy: String => "ResourcePolicy",
    block_public_policy: bool => "BlockPublicPolicy",
});
request!(ValidateResourcePolicyRequest {
    secret_id: String => "SecretId",
    resource_policy: String => "ResourcePolicy",
});
request!(RotateSecretRequest {
    secret_id: String => "SecretId",
    client_request_token: String => "ClientRequestToken",
    rotation_lambda_arn: String => "RotationLambdaARN",
    rotation_rules: RotationRules => "RotationRules",
    external_secret_rotation_metadata: Vec<MetadataItem> => "ExternalSecretRotationMetadata",
    external_secret_rotation_role_arn: String => "ExternalSecretRotationRoleArn",
    rotate_immediately: bool => "RotateImmediately",
});
request!(ReplicateSecretToRegionsRequest {
    secret_id: String => "SecretId",
    add_replica_regions: Vec<ReplicaRegion> => "AddReplicaRegions",
    force_overwrite_replica_secret: bool => "ForceOverwriteReplicaSecret",
});
request!(RemoveRegionsFromReplicationRequest {
    secret_id: String => "SecretId",
    remove_replica_regions: Vec<String> => "RemoveReplicaRegions",
});

/// `{ARN, Name}` and the common variants with a version id, stages or replication status.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecretRef {
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "VersionId", skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(rename = "VersionStages", skip_serializing_if = "Option::is_none")]
    pub version_stages: Option<Vec<String>>,
    #[serde(rename = "DeletionDate", skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
    #[serde(rename = "ReplicationStatus", skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<Vec<ReplicationStatus>>,
}

/// GetSecretValue's response and BatchGetSecretValue's entries. Its `Debug` shows
/// identifiers only.
#[derive(Clone, Serialize)]
pub struct SecretValueEntry<'a> {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "VersionId")]
    pub version_id: String,
    #[serde(rename = "SecretBinary", skip_serializing_if = "Option::is_none")]
    pub secret_binary: Option<WireSecret<'a>>,
    #[serde(rename = "SecretString", skip_serializing_if = "Option::is_none")]
    pub secret_string: Option<WireSecret<'a>>,
    #[serde(rename = "VersionStages")]
    pub version_stages: Vec<String>,
    #[serde(rename = "CreatedDate")]
    pub created_date: Timestamp,
}

impl std::fmt::Debug for SecretValueEntry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValueEntry")
            .field("arn", &self.arn)
            .field("version_id", &self.version_id)
            .field("version_stages", &self.version_stages)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiErrorEntry {
    pub secret_id: String,
    pub error_code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueResponse<'a> {
    pub secret_values: Vec<SecretValueEntry<'a>>,
    pub errors: Vec<ApiErrorEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Metadata only, no secret material.
/// DescribeSecret's response and ListSecrets' entries (which call the version map
/// `SecretVersionsToStages`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretDescription {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_enabled: Option<bool>,
    #[serde(rename = "RotationLambdaARN", skip_serializing_if = "Option::is_none")]
    pub rotation_lambda_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_rules: Option<RotationRules>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_secret_rotation_metadata: Option<Vec<MetadataItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_secret_rotation_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotated_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_changed_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_ids_to_stages: Option<BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_versions_to_stages: Option<BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owning_service: Option<String>,
    pub created_date: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<Vec<ReplicationStatus>>,
    /// Why the rotation in progress last failed, with its attempt count (the service's own
    /// words, never secret material). Not a member of the body: the server sends it as the
    /// `x-s9-rotation-failure` header of DescribeSecret, a Signal9 extension AWS SDKs
    /// ignore, so `rotate complete` can stop as soon as the rotation fails.
    #[serde(skip)]
    pub rotation_failure: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsResponse {
    pub secret_list: Vec<SecretDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionEntry {
    pub version_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_stages: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<Timestamp>,
    pub created_date: Timestamp,
    pub kms_key_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsResponse {
    pub versions: Vec<VersionEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResourcePolicyResponse {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_policy: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidationErrorEntry {
    pub check_name: String,
    pub error_message: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidateResourcePolicyResponse {
    pub policy_validation_passed: bool,
    pub validation_errors: Vec<ValidationErrorEntry>,
}

/// GetRandomPassword's response. The password is secret material: it is held in a
/// [`SecretText`] and only serialized through `for_response`.
#[derive(Debug)]
pub struct RandomPassword(pub SecretText);

impl Serialize for RandomPassword {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("GetRandomPasswordResponse", 1)?;
        st.serialize_field("RandomPassword", &self.0.for_response())?;
        st.end()
    }
}
