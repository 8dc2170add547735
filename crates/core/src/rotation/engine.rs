//! The rotation engine: on every pass (at its interval, and at once when RotateSecret asks)
//! it takes the due rotations from the service and runs each secret's steps through the
//! rotation function registered under its ARN — one rotation per secret at a time. Every
//! step is recorded before it runs, so a restart resumes at the step that was interrupted
//! (steps are idempotent by AWS's contract). A failed, timed-out or crashed step leaves
//! `AWSCURRENT` as it was; the rotation is retried with backoff and the failure reported.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{
    RotationEvent, RotationHandler, RotationJob, Step, StepContext, StepError, StepOutcome,
};
use crate::clock::epoch_seconds;
use crate::staging::CURRENT;
use crate::{Caller, Service};

/// How the engine runs rotations.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Longest a step may run before it counts as failed.
    pub step_timeout: Duration,
    /// Wait before the first retry of a failed rotation (doubling per attempt, at most a day).
    pub retry_backoff: Duration,
    /// Longest a rotation may wait for a person (vendor keys) before it counts as failed.
    pub await_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            step_timeout: Duration::from_secs(60),
            retry_backoff: Duration::from_secs(300),
            await_timeout: Duration::from_secs(7 * 86_400),
        }
    }
}

/// What happened to a rotation, for the audit trail, metrics, alarms and notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum RotationNotice {
    Started {
        arn: String,
        token: String,
        /// Started by the schedule (not by RotateSecret).
        scheduled: bool,
        missed_window: bool,
    },
    /// A step waits for a person (a vendor key to be supplied).
    Waiting {
        arn: String,
        token: String,
        step: Step,
        reason: String,
    },
    Succeeded {
        arn: String,
        token: String,
        seconds: f64,
    },
    Failed {
        arn: String,
        token: String,
        step: Step,
        reason: String,
        attempts: u32,
    },
    /// The rotation was cancelled or superseded while it ran.
    Abandoned { arn: String, token: String },
}

/// Where the engine reports what happened.
pub trait RotationEvents: Send + Sync + std::fmt::Debug {
    fn notice(&self, notice: &RotationNotice);

    /// A pass of [`RotationEngine::run`] has finished (progress, for metrics).
    fn pass_done(&self) {}
}

/// Runs rotations for one [`Service`].
#[derive(Debug)]
pub struct RotationEngine {
    service: Arc<Service>,
    handlers: BTreeMap<String, Arc<dyn RotationHandler>>,
    events: Arc<dyn RotationEvents>,
    config: EngineConfig,
    caller: Caller,
    /// Secrets with a rotation running now.
    running: Mutex<HashSet<String>>,
    /// Secrets whose wait for a person has been reported (once per rotation).
    waiting: Mutex<HashSet<String>>,
}

impl RotationEngine {
    pub fn new(
        service: Arc<Service>,
        config: EngineConfig,
        events: Arc<dyn RotationEvents>,
    ) -> Self {
        let caller = Caller::administrator(format!(
            "arn:aws:iam::{}:role/s9-secrets-rotation",
            service.account_id()
        ));
        Self {
            service,
            handlers: BTreeMap::new(),
            events,
            config,
            caller,
            running: Mutex::new(HashSet::new()),
            waiting: Mutex::new(HashSet::new()),
        }
    }

    /// Registers the rotation function `name`: RotationLambdaARN names it as
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME` (or by the bare name).
    pub fn register(&mut self, name: impl Into<String>, handler: Arc<dyn RotationHandler>) {
        self.handlers.insert(name.into(), handler);
    }

    /// Tells the service which rotation functions exist (RotateSecret refuses others).
    pub fn publish_functions(&self) {
        self.service
            .set_rotation_functions(self.handlers.keys().cloned().collect());
    }

    /// Runs passes until the process ends: every `every`, and at once when asked.
    pub async fn run(self: Arc<Self>, every: Duration) {
        self.publish_functions();
        loop {
            self.pass().await;
            self.events.pass_done();
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.service.rotation_requested() => {}
            }
        }
    }

    /// One pass: runs every due rotation (concurrently across secrets) as far as it goes.
    /// Returns how many were looked at.
    pub async fn pass(self: &Arc<Self>) -> usize {
        let now = epoch_seconds(self.service.now());
        let jobs = self.service.rotation_jobs(now);
        let mut tasks = Vec::new();
        for job in jobs {
            let claimed = self
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(job.arn.clone());
            if !claimed {
                continue;
            }
            let engine = Arc::clone(self);
            tasks.push(tokio::spawn(async move {
                let arn = job.arn.clone();
                engine.rotate(job).await;
                engine
                    .running
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&arn);
            }));
        }
        let n = tasks.len();
        for t in tasks {
            let _ = t.await;
        }
        n
    }

    async fn rotate(&self, job: RotationJob) {
        let arn = job.arn.clone();
        let (token, mut step) = match self.service.begin_rotation(&job).await {
            Ok(Some(started)) => started,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(secret = arn, error = %e.message, "could not start a rotation");
                return;
            }
        };
        if job.token.is_none() || job.step == Step::CreateSecret && !self.is_waiting(&arn) {
            self.events.notice(&RotationNotice::Started {
                arn: arn.clone(),
                token: token.clone(),
                scheduled: job.token.is_none(),
                missed_window: job.missed_window,
            });
        }
        let Some(handler) = self
            .handlers
            .get(super::function_name(&job.function))
            .cloned()
        else {
            let reason = format!("no rotation function is registered as {}", job.function);
            return self.fail(&job, &token, step, reason).await;
        };
        loop {
            match self
                .service
                .rotation_step(&job.region, &arn, &token, step)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    self.events.notice(&RotationNotice::Abandoned {
                        arn: arn.clone(),
                        token: token.clone(),
                    });
                    return;
                }
                Err(e) => {
                    tracing::error!(secret = arn, error = %e.message, "could not record a rotation step");
                    return;
                }
            }
            let event = RotationEvent {
                step,
                secret_id: arn.clone(),
                client_request_token: token.clone(),
            };
            let ctx = StepContext {
                service: &self.service,
                region: &job.region,
                caller: &self.caller,
            };
            let outcome =
                match tokio::time::timeout(self.config.step_timeout, handler.run(&ctx, &event))
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Err(StepError(format!(
                        "{} did not finish within {} s",
                        step.name(),
                        self.config.step_timeout.as_secs()
                    ))),
                };
            match outcome {
                Ok(StepOutcome::Done) => {}
                Ok(StepOutcome::Waiting(reason)) => {
                    return self.wait(&job, &token, step, reason).await;
                }
                Err(e) => return self.fail(&job, &token, step, e.0).await,
            }
            self.set_waiting(&arn, false);
            match step.next() {
                Some(next) => step = next,
                None => break,
            }
        }
        // finishSecret must have made the new version current.
        let current = self
            .service
            .describe_secret(&self.caller, &job.region, &arn)
            .ok()
            .and_then(|d| d.version_ids_to_stages)
            .and_then(|v| {
                v.into_iter()
                    .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
            })
            .map(|(id, _)| id);
        if current.as_deref() != Some(token.as_str()) {
            let reason = "finishSecret returned, but the new version is not AWSCURRENT".to_owned();
            return self.fail(&job, &token, Step::FinishSecret, reason).await;
        }
        match self
            .service
            .rotation_succeeded(&job.region, &arn, &token)
            .await
        {
            Ok(Some(seconds)) => self.events.notice(&RotationNotice::Succeeded {
                arn,
                token,
                seconds,
            }),
            Ok(None) => self
                .events
                .notice(&RotationNotice::Abandoned { arn, token }),
            Err(e) => {
                tracing::error!(secret = arn, error = %e.message, "could not record a rotation's success")
            }
        }
    }

    fn is_waiting(&self, arn: &str) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(arn)
    }

    /// Marks `arn` as waiting (or not); returns whether that changed.
    fn set_waiting(&self, arn: &str, waiting: bool) -> bool {
        let mut set = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if waiting {
            set.insert(arn.to_owned())
        } else {
            set.remove(arn)
        }
    }

    /// A step waits for a person: reported once; past the await timeout it fails.
    async fn wait(&self, job: &RotationJob, token: &str, step: Step, reason: String) {
        let waited = self
            .service
            .rotation_started(&job.region, &job.arn)
            .map_or(0.0, |started| epoch_seconds(self.service.now()) - started);
        if waited > self.config.await_timeout.as_secs_f64() {
            self.set_waiting(&job.arn, false);
            let reason = format!(
                "{}: nothing was supplied within {} hours",
                step.name(),
                self.config.await_timeout.as_secs() / 3600
            );
            return self.fail(job, token, step, reason).await;
        }
        if self.set_waiting(&job.arn, true) {
            self.events.notice(&RotationNotice::Waiting {
                arn: job.arn.clone(),
                token: token.to_owned(),
                step,
                reason,
            });
        }
    }

    async fn fail(&self, job: &RotationJob, token: &str, step: Step, reason: String) {
        tracing::warn!(
            secret = job.arn,
            step = step.name(),
            reason,
            "rotation step failed"
        );
        let attempts = self
            .service
            .rotation_failed(
                &job.region,
                &job.arn,
                token,
                &reason,
                self.config.retry_backoff.as_secs_f64(),
            )
            .await;
        match attempts {
            Ok(Some(attempts)) => self.events.notice(&RotationNotice::Failed {
                arn: job.arn.clone(),
                token: token.to_owned(),
                step,
                reason,
                attempts,
            }),
            Ok(None) => self.events.notice(&RotationNotice::Abandoned {
                arn: job.arn.clone(),
                token: token.to_owned(),
            }),
            Err(e) => {
                tracing::error!(secret = job.arn, error = %e.message, "could not record a rotation failure");
            }
        }
    }
}
