//! The alarm worker: feeds every record of the live audit stream to the rules
//! ([`s9_core::alarms`]), evaluates the time-driven ones on the service clock, keeps the
//! states in `DATA_DIR/alarms.json`, and hands each state change to the notifier. Nothing
//! here runs on a request's path: the audit writer hands records over without waiting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use s9_audit::{AuditLog, Recorded};
use s9_core::Service;
use s9_core::alarms::{Alarms, Change, Observation, Rule};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::notify::{Notifier, WebhookSettings};

/// Alarm rules and where their notifications go.
#[derive(Debug, Clone)]
pub struct AlarmSettings {
    pub rules: Vec<Rule>,
    /// How often time-driven alarms (quiet periods, rotation overdue) are evaluated.
    pub interval: Duration,
    pub webhook: Option<WebhookSettings>,
    /// The `TopicArn` notifications name (SNS message format).
    pub topic_arn: Option<String>,
    /// A stack spec whose `[audit.alarms]` the rules follow (the binary reads it).
    pub stack: Option<PathBuf>,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        Self {
            rules: Rule::defaults(),
            interval: Duration::from_secs(10),
            webhook: None,
            topic_arn: None,
            stack: None,
        }
    }
}

impl AlarmSettings {
    /// Adds a stack spec's rules. Each replaces a rule of its name and the default rule of
    /// its kind, so one incident pages once, not once per rule set; rules configured
    /// explicitly stay.
    pub fn add_stack_rules(&mut self, rules: Vec<Rule>) {
        let defaults = Rule::defaults();
        for rule in rules {
            self.rules.retain(|r| {
                r.name != rule.name
                    && !(r.kind.name() == rule.kind.name()
                        && defaults.iter().any(|d| d.name == r.name))
            });
            self.rules.push(rule);
        }
    }
}

/// How far the live stream may run ahead of the alarm worker, in written groups.
const STREAM_CAPACITY: usize = 8_192;

pub(crate) struct Worker {
    pub(crate) service: Arc<Service>,
    pub(crate) alarms: Alarms,
    pub(crate) audit: Option<AuditLog>,
    pub(crate) settings: AlarmSettings,
    pub(crate) metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

pub(crate) fn path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("alarms.json")
}

impl Worker {
    pub(crate) async fn run(mut self) {
        let mut stream = match self.audit.as_ref().map(|a| a.subscribe(STREAM_CAPACITY)) {
            Some(Ok(rx)) => Some(rx),
            Some(Err(e)) => {
                tracing::error!(error = %e, "alarms cannot follow the audit trail");
                None
            }
            None => {
                tracing::warn!("the audit trail is off: only time-driven alarms are evaluated");
                None
            }
        };
        let (delivered_tx, mut delivered) = mpsc::unbounded_channel();
        let notifier = Notifier::start(
            self.settings.webhook.clone(),
            self.settings.topic_arn.clone(),
            self.service.account_id().to_owned(),
            Arc::clone(&self.metrics),
            delivered_tx,
        );
        for s in &self.alarms.snapshot().alarms {
            self.metrics.set_alarm(&s.alarm, &s.subject, s.state);
        }
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut groups = Vec::with_capacity(64);
        loop {
            // What this turn evaluated, counted once its changes are saved.
            let mut records = 0;
            let mut ticked = false;
            let changes = tokio::select! {
                received = async {
                    match stream.as_mut() {
                        Some(rx) => rx.recv_many(&mut groups, 64).await,
                        None => std::future::pending().await,
                    }
                } => {
                    if received == 0 {
                        stream = None;
                        continue;
                    }
                    let mut changes = Vec::new();
                    for record in groups.drain(..).flatten() {
                        changes.extend(self.observe(&record));
                        records += 1;
                    }
                    changes
                }
                _ = tick.tick() => {
                    let rotations = self.service.rotation_statuses();
                    let now = self.service.now();
                    self.metrics.set_rotations(&rotations, now);
                    ticked = true;
                    let volumes = self.audit_volume();
                    self.alarms.tick(now, &rotations, &volumes)
                }
                Some((id, outcome)) = delivered.recv() => {
                    self.alarms.set_delivery(id, outcome);
                    Vec::new()
                }
            };
            for change in changes {
                self.metrics
                    .set_alarm(&change.alarm, &change.subject, change.to);
                notifier.notify(change);
            }
            if let Err(e) = self.alarms.save() {
                tracing::error!(error = %e, "could not save the alarm states");
            }
            self.metrics.observe_alarm_records(records);
            if ticked {
                self.metrics.observe_alarm_tick();
            }
        }
    }

    /// The audit trail's volume and its free space (none when the trail is off or the
    /// volume cannot be read, which the log says).
    fn audit_volume(&self) -> Vec<s9_core::alarms::Volume> {
        let Some(dir) = self.audit.as_ref().map(AuditLog::dir) else {
            return Vec::new();
        };
        match rustix::fs::statvfs(dir) {
            Ok(st) => vec![s9_core::alarms::Volume {
                name: dir.display().to_string(),
                free_bytes: st.f_bavail.saturating_mul(st.f_frsize),
            }],
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the audit volume's free space");
                Vec::new()
            }
        }
    }

    fn observe(&mut self, record: &Recorded) -> Vec<Change> {
        let secrets = self.secrets(record);
        self.alarms.observe(&Observation {
            time: record.time,
            event_name: &record.event_name,
            service_event: record.service_event,
            principal: record.principal.as_deref(),
            secrets: &secrets,
            error_code: record.error_code.as_deref(),
            detail: record.reason.as_deref(),
        })
    }

    /// The names of the secrets `record` concerns; ids that name no secret are left out (so
    /// made-up ids cannot grow the alarms' state).
    fn secrets(&self, record: &Recorded) -> Vec<String> {
        // A record's resources are the secrets the service resolved: each names its
        // secret, with no lookup.
        if !record.secret_arns.is_empty() {
            let mut names: Vec<String> = record
                .secret_arns
                .iter()
                .map(|arn| s9_audit::secret_name_of_arn(arn).to_owned())
                .collect();
            names.sort();
            names.dedup();
            return names;
        }
        let mut ids: Vec<(&str, &str)> = Vec::new();
        if let Some(id) = &record.secret_id {
            // A request that succeeded on a name: the secret exists and that is its name.
            if record.error_code.is_none() && !id.starts_with("arn:") {
                return vec![id.clone()];
            }
            ids.push((&record.region, id));
        }
        ids.extend(
            record
                .secret_id_list
                .iter()
                .map(|id| (record.region.as_str(), id.as_str())),
        );
        let mut names: Vec<String> = ids
            .into_iter()
            .filter_map(|(region, id)| self.service.secret_name(region, id))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
