//! What is persisted for each secret, and how records migrate across schema versions.

use s9_wire::shapes::RotationRules;
use serde::{Deserialize, Serialize};

use crate::staging::Versions;

/// A secret's persisted record, tagged with its schema version. Reading an older schema
/// migrates it forward; writing always uses the newest.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "schema")]
pub(crate) enum StoredSecret {
    #[serde(rename = "1")]
    V1(SecretRecord),
}

impl StoredSecret {
    pub(crate) fn into_current(self) -> SecretRecord {
        match self {
            Self::V1(record) => record,
        }
    }
}

/// Everything about a secret but its values (which are sealed, in their own table): no
/// secret material, so `Debug` is derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    pub arn: String,
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub secret_type: Option<String>,
    /// `None` until the secret is first tagged; AWS then reports `Tags: []` after the last
    /// tag is removed.
    #[serde(default)]
    pub tags: Option<Vec<(String, String)>>,
    pub created: f64,
    pub last_changed: f64,
    #[serde(default)]
    pub last_accessed: Option<f64>,
    /// When DeleteSecret was called.
    #[serde(default)]
    pub deleted: Option<f64>,
    /// When the secret will be purged.
    #[serde(default)]
    pub deletion_date: Option<f64>,
    #[serde(default)]
    pub rotation: Rotation,
    #[serde(default)]
    pub resource_policy: Option<String>,
    pub versions: Versions,
    /// Set on a replica: the region of its primary.
    #[serde(default)]
    pub primary_region: Option<String>,
    /// Set on a primary: where it is replicated.
    #[serde(default)]
    pub replicas: Vec<Replica>,
    #[serde(default)]
    pub owning_service: Option<String>,
}

impl SecretRecord {
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    pub fn is_replica(&self) -> bool {
        self.primary_region.is_some()
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .flatten()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rotation {
    pub enabled: bool,
    #[serde(default)]
    pub lambda_arn: Option<String>,
    #[serde(default)]
    pub rules: Option<RotationRules>,
    #[serde(default)]
    pub last_rotated: Option<f64>,
    #[serde(default)]
    pub next_rotation: Option<f64>,
    /// The ClientRequestToken of a requested rotation that has not completed.
    #[serde(default)]
    pub pending_token: Option<String>,
    /// The step the running rotation is at: a restart resumes there.
    #[serde(default)]
    pub step: Option<crate::rotation::Step>,
    /// When the running rotation started.
    #[serde(default)]
    pub started: Option<f64>,
    /// Failed attempts of the running rotation.
    #[serde(default)]
    pub attempts: u32,
    /// When a failed rotation is tried again.
    #[serde(default)]
    pub retry_at: Option<f64>,
    /// Why the last attempt failed (the service's own words, never secret material).
    #[serde(default)]
    pub last_error: Option<String>,
    /// Scheduled windows that passed while the service was not running.
    #[serde(default)]
    pub missed_windows: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub region: String,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    pub status: String,
    #[serde(default)]
    pub status_message: Option<String>,
}
