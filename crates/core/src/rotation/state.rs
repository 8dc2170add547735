//! Each secret's rotation state, kept in its record (and so as durable as the record): the
//! token being rotated in, the step reached, failed attempts and when to retry. Every change
//! goes through [`Service::mutate`], like any API call's.

use s9_wire::ApiError;

use super::Step;
use crate::Service;
use crate::record::SecretRecord;
use crate::service::{Changes, DEFAULT_KMS_KEY, State};
use crate::staging::{CURRENT, PENDING, VersionMeta};
use std::collections::BTreeSet;

/// A rotation to run now.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationJob {
    pub region: String,
    pub arn: String,
    pub name: String,
    /// The rotation function (handler) ARN.
    pub function: String,
    /// The token of the rotation in progress; `None` for a scheduled rotation to start.
    pub token: Option<String>,
    /// Where the rotation (re)starts.
    pub step: Step,
    /// The scheduled window closed before the rotation could start.
    pub missed_window: bool,
}

/// A secret's rotation as alarms and metrics see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationStatus {
    pub region: String,
    pub arn: String,
    pub name: String,
    pub enabled: bool,
    /// Epoch seconds.
    pub next_rotation: Option<f64>,
    pub last_rotated: Option<f64>,
    /// The step of the rotation in progress, if one is.
    pub step: Option<Step>,
    /// The rotation in progress has failed at least once and waits to be retried.
    pub failing: bool,
}

/// Starts rotation `token` of `record`: as Secrets Manager does before `createSecret`, an
/// empty version `token` takes `AWSPENDING` (so the rotation function can find it).
pub(crate) fn start(record: &mut SecretRecord, token: &str, now: f64) {
    let rotation = &mut record.rotation;
    if rotation.pending_token.as_deref() != Some(token) {
        rotation.step = Some(Step::CreateSecret);
        rotation.attempts = 0;
        rotation.last_error = None;
    }
    rotation.pending_token = Some(token.to_owned());
    rotation.started = Some(now);
    rotation.retry_at = None;
    if record.versions.get(token).is_none() && record.versions.with_stage(CURRENT).is_some() {
        let meta = VersionMeta {
            id: token.to_owned(),
            stages: BTreeSet::new(),
            created: now,
            last_accessed: None,
            kms_key_id: record
                .kms_key_id
                .clone()
                .unwrap_or_else(|| DEFAULT_KMS_KEY.to_owned()),
        };
        // Cannot fail: one label, and a current version exists.
        let _ = record
            .versions
            .add(meta, &BTreeSet::from([PENDING.to_owned()]));
    }
}

/// Longest wait before a failed rotation is tried again.
const MAX_RETRY_SECONDS: f64 = 86_400.0;

impl Service {
    /// Rotations due at `now` (epoch seconds): requested or resumed ones, failed ones whose
    /// retry time has come, and scheduled ones whose window has begun.
    pub fn rotation_jobs(&self, now: f64) -> Vec<RotationJob> {
        let state = self.read();
        let mut jobs = Vec::new();
        for (region, r) in &state.regions {
            for entry in r.secrets.values() {
                let record = &entry.record;
                let rotation = &record.rotation;
                let Some(function) = rotation.lambda_arn.clone() else {
                    continue;
                };
                if record.is_deleted() || record.is_replica() {
                    continue;
                }
                let job = |token: Option<String>, step: Step, missed_window: bool| RotationJob {
                    region: region.clone(),
                    arn: record.arn.clone(),
                    name: record.name.clone(),
                    function: function.clone(),
                    token,
                    step,
                    missed_window,
                };
                match (&rotation.pending_token, rotation.next_rotation) {
                    (Some(token), _) if rotation.retry_at.is_none_or(|t| t <= now) => {
                        jobs.push(job(
                            Some(token.clone()),
                            rotation.step.unwrap_or(Step::CreateSecret),
                            false,
                        ))
                    }
                    (None, Some(due)) if rotation.enabled && due <= now => {
                        let closes = rotation
                            .rules
                            .as_ref()
                            .map_or(f64::INFINITY, |r| crate::schedule::window_end(r, due));
                        jobs.push(job(None, Step::CreateSecret, closes < now));
                    }
                    _ => {}
                }
            }
        }
        jobs
    }

    /// Applies `f` to the rotation state of `arn`, if the rotation `token` (or, for `None`,
    /// no rotation) is still the one in progress; persists the record.
    async fn with_rotation<T>(
        &self,
        region: &str,
        arn: &str,
        token: Option<&str>,
        f: impl FnOnce(&mut SecretRecord, f64) -> Result<T, ApiError>,
    ) -> Result<Option<T>, ApiError> {
        self.mutate(|state: &mut State, now, changes: &mut Changes| {
            let Some(entry) = state
                .regions
                .get_mut(region)
                .and_then(|r| r.secrets.get_mut(arn))
            else {
                return Ok(None);
            };
            let record = &mut entry.record;
            if record.is_deleted() || record.rotation.pending_token.as_deref() != token {
                return Ok(None);
            }
            let out = f(record, now)?;
            changes.save(record);
            self.sync_replicas(state, region, arn, changes)?;
            Ok(Some(out))
        })
        .await
    }

    /// Starts the rotation `job` names (a scheduled one gets a fresh token) or resumes it.
    /// Returns its token and the step to run, or `None` if it is no longer due.
    pub async fn begin_rotation(
        &self,
        job: &RotationJob,
    ) -> Result<Option<(String, Step)>, ApiError> {
        if let Some(token) = &job.token {
            return self
                .with_rotation(&job.region, &job.arn, Some(token), |record, now| {
                    let rotation = &mut record.rotation;
                    rotation.started.get_or_insert(now);
                    rotation.retry_at = None;
                    Ok((token.clone(), rotation.step.unwrap_or(Step::CreateSecret)))
                })
                .await;
        }
        let token = uuid::Uuid::new_v4().to_string();
        self.with_rotation(&job.region, &job.arn, None, |record, now| {
            let rotation = &mut record.rotation;
            if !rotation.enabled || rotation.next_rotation.is_none_or(|due| due > now) {
                return Ok(None);
            }
            if job.missed_window {
                rotation.missed_windows += 1;
            }
            super::start(record, &token, now);
            Ok(Some((token.clone(), Step::CreateSecret)))
        })
        .await
        .map(Option::flatten)
    }

    /// Records that rotation `token` of `arn` goes on at `step`; `false` if it was cancelled
    /// or replaced meanwhile.
    pub async fn rotation_step(
        &self,
        region: &str,
        arn: &str,
        token: &str,
        step: Step,
    ) -> Result<bool, ApiError> {
        self.with_rotation(region, arn, Some(token), |record, _| {
            record.rotation.step = Some(step);
            Ok(())
        })
        .await
        .map(|done| done.is_some())
    }

    /// Ends rotation `token` as a success: `AWSPENDING` is cleared (the new version is
    /// `AWSCURRENT` now), the rotation date recorded and the next one scheduled. Returns how
    /// long the rotation took, in seconds.
    pub async fn rotation_succeeded(
        &self,
        region: &str,
        arn: &str,
        token: &str,
    ) -> Result<Option<f64>, ApiError> {
        self.with_rotation(region, arn, Some(token), |record, now| {
            if record
                .versions
                .get(token)
                .is_some_and(|v| v.stages.contains(PENDING))
            {
                record.versions.update_stage(PENDING, Some(token), None)?;
            }
            record.last_changed = now;
            let rotation = &mut record.rotation;
            let took = now - rotation.started.unwrap_or(now);
            rotation.last_rotated = Some(now);
            rotation.next_rotation = rotation
                .rules
                .as_ref()
                .filter(|_| rotation.enabled)
                .and_then(|r| crate::schedule::next_after(r, now));
            rotation.pending_token = None;
            rotation.step = None;
            rotation.started = None;
            rotation.attempts = 0;
            rotation.retry_at = None;
            rotation.last_error = None;
            Ok(took)
        })
        .await
    }

    /// Records a failed attempt of rotation `token`: `AWSCURRENT` is untouched, `AWSPENDING`
    /// stays where the attempt left it (as AWS leaves it), and the whole rotation is tried
    /// again after `backoff` × 2^(attempts − 1), at most a day. Returns the attempts so far.
    pub async fn rotation_failed(
        &self,
        region: &str,
        arn: &str,
        token: &str,
        reason: &str,
        backoff_seconds: f64,
    ) -> Result<Option<u32>, ApiError> {
        self.with_rotation(region, arn, Some(token), |record, now| {
            let rotation = &mut record.rotation;
            rotation.attempts += 1;
            rotation.last_error = Some(reason.to_owned());
            rotation.step = Some(Step::CreateSecret);
            rotation.started = None;
            let exponent = i32::try_from(rotation.attempts.saturating_sub(1)).unwrap_or(i32::MAX);
            let wait = (backoff_seconds * 2f64.powi(exponent.min(30))).min(MAX_RETRY_SECONDS);
            rotation.retry_at = Some(now + wait);
            Ok(rotation.attempts)
        })
        .await
    }

    /// When the rotation in progress on `arn` started.
    pub fn rotation_started(&self, region: &str, arn: &str) -> Option<f64> {
        let state = self.read();
        state
            .regions
            .get(region)?
            .secrets
            .get(arn)?
            .record
            .rotation
            .started
    }

    /// The rotation state of every secret with a rotation configured (replicas and secrets
    /// scheduled for deletion left out).
    pub fn rotation_statuses(&self) -> Vec<RotationStatus> {
        let state = self.read();
        let mut out = Vec::new();
        for (region, r) in &state.regions {
            for entry in r.secrets.values() {
                let record = &entry.record;
                let rotation = &record.rotation;
                if rotation.lambda_arn.is_none() || record.is_deleted() || record.is_replica() {
                    continue;
                }
                let pending = rotation.pending_token.is_some();
                out.push(RotationStatus {
                    region: region.clone(),
                    arn: record.arn.clone(),
                    name: record.name.clone(),
                    enabled: rotation.enabled,
                    next_rotation: rotation.next_rotation,
                    last_rotated: rotation.last_rotated,
                    step: rotation.step.filter(|_| pending),
                    failing: pending && rotation.last_error.is_some(),
                });
            }
        }
        out.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
        out
    }
}
