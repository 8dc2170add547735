//! Staging labels: which version is `AWSCURRENT`, `AWSPREVIOUS`, `AWSPENDING` or carries a
//! custom label, and how labels move. Pure functions over a secret's versions, so the rules
//! can be checked against a model (`tests` below and `tests/staging_model.rs`).

use std::collections::BTreeSet;

use s9_wire::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

pub const CURRENT: &str = "AWSCURRENT";
pub const PREVIOUS: &str = "AWSPREVIOUS";
pub const PENDING: &str = "AWSPENDING";
/// Most labels one version may carry.
pub const MAX_LABELS_PER_VERSION: usize = 20;
/// Versions beyond which the oldest deprecated ones are removed.
pub const MAX_VERSIONS: usize = 100;

/// A version's labels and identity (its sealed value lives elsewhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub id: String,
    pub stages: BTreeSet<String>,
    pub created: f64,
    #[serde(default)]
    pub last_accessed: Option<f64>,
    pub kms_key_id: String,
}

impl VersionMeta {
    pub fn is_deprecated(&self) -> bool {
        self.stages.is_empty()
    }
}

/// The versions of one secret, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Versions(pub Vec<VersionMeta>);

impl Versions {
    pub fn get(&self, id: &str) -> Option<&VersionMeta> {
        self.0.iter().find(|v| v.id == id)
    }

    pub fn with_stage(&self, stage: &str) -> Option<&VersionMeta> {
        self.0.iter().find(|v| v.stages.contains(stage))
    }

    fn index_with_stage(&self, stage: &str) -> Option<usize> {
        self.0.iter().position(|v| v.stages.contains(stage))
    }

    /// Adds a new version carrying `stages`, moving each label from wherever it was.
    /// The first version of a secret (or one added while no version is current) always
    /// becomes `AWSCURRENT`.
    pub fn add(
        &mut self,
        mut version: VersionMeta,
        stages: &BTreeSet<String>,
    ) -> Result<(), ApiError> {
        // As on AWS, at most MAX_VERSIONS versions: deprecated ones older than a day make
        // room (`prune`), versions of the last day are kept, so a flood of writes is
        // refused rather than held (checked before anything changes).
        let prunable = self
            .0
            .iter()
            .filter(|v| v.is_deprecated() && version.created - v.created >= 86_400.0)
            .count();
        if self.0.len() + 1 > MAX_VERSIONS + prunable {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "You can't create more than {MAX_VERSIONS} versions of a secret: versions created in the last 24 hours are kept. Try again later."
                ),
            ));
        }
        let mut stages = stages.clone();
        if self.with_stage(CURRENT).is_none() {
            stages.insert(CURRENT.to_owned());
        }
        if stages.len() > MAX_LABELS_PER_VERSION {
            return Err(limit_exceeded());
        }
        version.stages = BTreeSet::new();
        // A new current value supersedes a rotation left pending on the old current version
        // (as AWS does: that version keeps only AWSPREVIOUS and custom labels).
        if stages.contains(CURRENT)
            && let Some(old) = self.index_with_stage(CURRENT)
        {
            self.0[old].stages.remove(PENDING);
        }
        self.0.push(version);
        let new = self.0.len() - 1;
        for stage in &stages {
            self.attach(stage, new);
        }
        Ok(())
    }

    /// Puts `stage` on version `to`, taking it from any other version; moving
    /// `AWSCURRENT` leaves `AWSPREVIOUS` on the version that had it.
    fn attach(&mut self, stage: &str, to: usize) {
        if let Some(from) = self.index_with_stage(stage) {
            if from == to {
                return;
            }
            self.0[from].stages.remove(stage);
            if stage == CURRENT {
                if let Some(prev) = self.index_with_stage(PREVIOUS) {
                    self.0[prev].stages.remove(PREVIOUS);
                }
                self.0[from].stages.insert(PREVIOUS.to_owned());
            }
        }
        if stage == PREVIOUS {
            // AWSPREVIOUS moved explicitly: nothing else to do.
        }
        self.0[to].stages.insert(stage.to_owned());
    }

    /// UpdateSecretVersionStage.
    pub fn update_stage(
        &mut self,
        stage: &str,
        remove_from: Option<&str>,
        move_to: Option<&str>,
    ) -> Result<(), ApiError> {
        let holder = self.index_with_stage(stage);
        if let Some(id) = remove_from {
            let Some(idx) = self.0.iter().position(|v| v.id == id) else {
                return Err(ApiError::invalid_parameter(format!(
                    "The version {id} you specified in the RemoveFromVersionId parameter does not exist."
                )));
            };
            if holder != Some(idx) {
                return Err(ApiError::invalid_parameter(format!(
                    "The staging label {stage} is not currently attached to the version {id}, so you can't remove it."
                )));
            }
        }
        match move_to {
            Some(target) => {
                let Some(to) = self.0.iter().position(|v| v.id == target) else {
                    return Err(ApiError::invalid_parameter(format!(
                        "The version {target} you specified in the MoveToVersionId parameter does not exist."
                    )));
                };
                if let Some(h) = holder
                    && h != to
                    && remove_from.is_none()
                {
                    return Err(ApiError::invalid_parameter(format!(
                        "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {}, so you must explicitly reference that version in RemoveFromVersionId.",
                        self.0[h].id
                    )));
                }
                if !self.0[to].stages.contains(stage)
                    && self.0[to].stages.len() >= MAX_LABELS_PER_VERSION
                {
                    return Err(limit_exceeded());
                }
                self.attach(stage, to);
            }
            None => {
                let Some(h) = holder.filter(|_| remove_from.is_some()) else {
                    return Err(ApiError::invalid_parameter(
                        "You must specify either MoveToVersionId or RemoveFromVersionId, or both."
                            .to_owned(),
                    ));
                };
                if stage == CURRENT {
                    return Err(ApiError::invalid_parameter(
                        "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed."
                            .to_owned(),
                    ));
                }
                self.0[h].stages.remove(stage);
            }
        }
        Ok(())
    }

    /// Removes the oldest deprecated versions while there are more than [`MAX_VERSIONS`],
    /// keeping any created within the last day. Returns the ids removed.
    pub fn prune(&mut self, now: f64) -> Vec<String> {
        let mut removed = Vec::new();
        while self.0.len() > MAX_VERSIONS {
            let Some(idx) = self
                .0
                .iter()
                .position(|v| v.is_deprecated() && now - v.created >= 86_400.0)
            else {
                break;
            };
            removed.push(self.0.remove(idx).id);
        }
        removed
    }
}

fn limit_exceeded() -> ApiError {
    ApiError::new(
        ErrorCode::LimitExceeded,
        format!(
            "A version can have at most {MAX_LABELS_PER_VERSION} staging labels attached to it."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str) -> VersionMeta {
        VersionMeta {
            id: id.into(),
            stages: BTreeSet::new(),
            created: 0.0,
            last_accessed: None,
            kms_key_id: "k".into(),
        }
    }

    fn stages(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn labels(v: &Versions, id: &str) -> Vec<String> {
        v.get(id)
            .map(|v| v.stages.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn current_moves_and_leaves_previous() {
        let mut v = Versions::default();
        v.add(version("1"), &stages(&[CURRENT])).expect("add");
        v.add(version("2"), &stages(&[CURRENT])).expect("add");
        v.add(version("3"), &stages(&[CURRENT])).expect("add");
        assert_eq!(labels(&v, "1"), Vec::<String>::new());
        assert_eq!(labels(&v, "2"), vec![PREVIOUS]);
        assert_eq!(labels(&v, "3"), vec![CURRENT]);
    }

    #[test]
    fn first_version_is_current_and_custom_labels_move() {
        let mut v = Versions::default();
        v.add(version("1"), &stages(&["one"])).expect("add");
        assert_eq!(labels(&v, "1"), vec![CURRENT, "one"]);
        v.add(version("2"), &stages(&["one", "two"])).expect("add");
        assert_eq!(labels(&v, "1"), vec![CURRENT]);
        assert_eq!(labels(&v, "2"), vec!["one", "two"]);
    }

    #[test]
    fn update_stage_rules() {
        let mut v = Versions::default();
        v.add(version("1"), &stages(&[CURRENT])).expect("add");
        v.add(version("2"), &stages(&[PENDING])).expect("add");
        let err = v
            .update_stage(CURRENT, None, Some("2"))
            .expect_err("must name holder");
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        v.update_stage(CURRENT, Some("1"), Some("2")).expect("move");
        assert_eq!(labels(&v, "1"), vec![PREVIOUS]);
        assert_eq!(labels(&v, "2"), vec![CURRENT, PENDING]);
        v.update_stage(PENDING, Some("2"), None).expect("remove");
        assert_eq!(labels(&v, "2"), vec![CURRENT]);
        assert!(v.update_stage(CURRENT, Some("2"), None).is_err());
    }

    #[test]
    fn label_limit() {
        let mut v = Versions::default();
        let many: Vec<String> = (0..21).map(|i| format!("l{i}")).collect();
        let many: BTreeSet<String> = many.into_iter().collect();
        assert_eq!(
            v.add(version("1"), &many).expect_err("limit").code,
            ErrorCode::LimitExceeded
        );
    }
}
