//! Alarms over the live audit stream. Each [`Rule`] watches what the audit trail records
//! (or, for rotation overdue, the rotation schedule) and keeps one OK/ALARM state per
//! subject: the secret read too often, the principal denied or seen for the first time.
//! Every state change is a [`Change`] in the history, which is what notifications carry.
//!
//! Time is the service clock's: records carry their own time and [`Alarms::tick`] is
//! given "now", so tests move time instead of sleeping. States, history and the principals
//! seen so far are kept in a JSON file, replaced atomically on every change, so a restart
//! neither forgets a firing alarm nor announces a known principal again.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::rotation::RotationStatus;

/// How many state changes the history keeps (the oldest go first).
pub const HISTORY_LIMIT: usize = 1000;

/// Operations that return secret values: what "reads" and "access" mean to the rules.
const READS: [&str; 2] = ["GetSecretValue", "BatchGetSecretValue"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
        }
    }
}

/// One alarm rule, as configured.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub description: Option<String>,
    pub kind: RuleKind,
    /// An alarm raised by events returns to OK after this long without another breach.
    pub ok_after: Duration,
}

#[derive(Debug, Clone)]
pub enum RuleKind {
    /// More than `threshold` reads (GetSecretValue, BatchGetSecretValue — answered or not)
    /// of one secret within `period`.
    ReadRate { threshold: u32, period: Duration },
    /// Any request denied by policy.
    AccessDenied,
    /// A read outside the business hours (principals in `ignore` excepted).
    OutsideBusinessHours {
        hours: BusinessHours,
        ignore: BTreeSet<String>,
    },
    /// The first request of a principal the service has not seen before.
    NewPrincipal,
    /// A rotation step failed; OK once the secret has no failing rotation.
    RotationFailed,
    /// A vendor-key rotation waits for an operator to supply the new keys; OK once the
    /// rotation succeeds or is cancelled.
    RotationAwaitingInput,
    /// NextRotationDate passed more than `grace` ago and the rotation has not succeeded.
    RotationOverdue { grace: Duration },
    /// The volume holding the audit trail has less than `min_free_bytes` free: when it is
    /// full, no record can be written and reads fail closed, so this warns long before.
    AuditDiskSpace { min_free_bytes: u64 },
}

/// A volume the service writes to, as the time-driven rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// What the alarm names (the audit directory).
    pub name: String,
    pub free_bytes: u64,
}

impl RuleKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::ReadRate { .. } => "read-rate",
            Self::AccessDenied => "access-denied",
            Self::OutsideBusinessHours { .. } => "outside-business-hours",
            Self::NewPrincipal => "new-principal",
            Self::RotationFailed => "rotation-failed",
            Self::RotationAwaitingInput => "rotation-awaiting-input",
            Self::RotationOverdue { .. } => "rotation-overdue",
            Self::AuditDiskSpace { .. } => "audit-disk-space",
        }
    }
}

/// The free space below which `audit-disk-space` fires by default: 1 GiB.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1 << 30;

impl Rule {
    /// The ticket's alarms: more than 10 reads of a secret per minute, any access denied,
    /// a failed rotation, and a rotation a day overdue; and a rotation waiting for an
    /// operator's new keys (the notice people act on). Business hours and new principals
    /// need settings of their own, so they are configured, not defaulted.
    pub fn defaults() -> Vec<Self> {
        let rule = |name: &str, kind, ok_after| Self {
            name: name.to_owned(),
            description: None,
            kind,
            ok_after,
        };
        vec![
            rule(
                "secret-read-rate",
                RuleKind::ReadRate {
                    threshold: 10,
                    period: Duration::minutes(1),
                },
                Duration::minutes(1),
            ),
            rule(
                "access-denied",
                RuleKind::AccessDenied,
                Duration::minutes(5),
            ),
            rule("rotation-failed", RuleKind::RotationFailed, Duration::ZERO),
            rule(
                "rotation-awaiting-input",
                RuleKind::RotationAwaitingInput,
                Duration::ZERO,
            ),
            rule(
                "rotation-overdue",
                RuleKind::RotationOverdue {
                    grace: Duration::days(1),
                },
                Duration::ZERO,
            ),
            rule(
                "audit-disk-space",
                RuleKind::AuditDiskSpace {
                    min_free_bytes: DEFAULT_MIN_FREE_BYTES,
                },
                Duration::ZERO,
            ),
        ]
    }
}

/// Business hours in a time zone: the listed weekdays, from `start` to `end` o'clock local
/// time (daylight saving time included, from the IANA time zone database).
#[derive(Debug, Clone)]
pub struct BusinessHours {
    zone_name: String,
    zone: jiff::tz::TimeZone,
    /// Monday first.
    days: [bool; 7],
    start: i8,
    end: i8,
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl BusinessHours {
    /// `zone`: an IANA name such as `America/New_York`; `days`: `Mon`…`Sun`; `hours`:
    /// `[start, end)` within 0..=24.
    pub fn new(zone: &str, days: &[String], hours: [u8; 2]) -> Result<Self, String> {
        let tz = jiff::tz::TimeZone::get(zone)
            .map_err(|_| format!("time zone {zone:?} is not in the IANA time zone database"))?;
        let mut set = [false; 7];
        for day in days {
            let i = WEEKDAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(day))
                .ok_or_else(|| format!("day {day:?} is not one of {}", WEEKDAYS.join(", ")))?;
            set[i] = true;
        }
        let [start, end] = hours;
        if start >= end || end > 24 {
            return Err(format!(
                "hours [{start}, {end}] must be [start, end) with start < end <= 24"
            ));
        }
        Ok(Self {
            zone_name: zone.to_owned(),
            zone: tz,
            days: set,
            start: i8::try_from(start).unwrap_or(0),
            end: i8::try_from(end).unwrap_or(24),
        })
    }

    /// `t` in the zone's local time.
    fn local(&self, t: OffsetDateTime) -> Option<jiff::Zoned> {
        let ts = jiff::Timestamp::from_second(t.unix_timestamp()).ok()?;
        Some(ts.to_zoned(self.zone.clone()))
    }

    pub fn contains(&self, t: OffsetDateTime) -> bool {
        self.local(t).is_some_and(|z| {
            let day = usize::try_from(z.weekday().to_monday_zero_offset()).unwrap_or(0);
            self.days[day] && (self.start..self.end).contains(&z.hour())
        })
    }

    /// `t` as the zone's local time, for messages: `Sat 2026-03-07 23:15 EST`.
    pub fn describe(&self, t: OffsetDateTime) -> String {
        self.local(t).map_or_else(
            || t.to_string(),
            |z| z.strftime("%a %Y-%m-%d %H:%M %Z").to_string(),
        )
    }

    pub fn zone(&self) -> &str {
        &self.zone_name
    }
}

/// What the rules see of one audit record.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    pub time: OffsetDateTime,
    pub event_name: &'a str,
    /// An event the service recorded by itself (rotation steps), not a request.
    pub service_event: bool,
    /// The authenticated caller's ARN.
    pub principal: Option<&'a str>,
    /// The secrets the event concerns, by name.
    pub secrets: &'a [String],
    pub error_code: Option<&'a str>,
    /// For service events: the service's own reason (a failed step's error).
    pub detail: Option<&'a str>,
}

/// One alarm's state for one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmStatus {
    pub alarm: String,
    pub kind: String,
    /// The secret or principal the state is about.
    pub subject: String,
    pub state: AlarmState,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_breach: OffsetDateTime,
}

/// One state change, as the history keeps it and notifications carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub id: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub alarm: String,
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    pub subject: String,
    pub from: AlarmState,
    pub to: AlarmState,
    pub reason: String,
    /// How its notifications went: `delivered`, or why not (filled in after the fact).
    #[serde(default)]
    pub delivery: Option<String>,
}

/// The alarm file's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    #[serde(default)]
    pub alarms: Vec<AlarmStatus>,
    #[serde(default)]
    pub history: VecDeque<Change>,
    #[serde(default)]
    pub seen_principals: BTreeSet<String>,
    #[serde(default)]
    pub next_id: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("alarm state {path}: {reason}")]
pub struct AlarmFileError {
    pub path: PathBuf,
    pub reason: String,
}

impl Snapshot {
    /// Reads the alarm file; a missing file is an empty snapshot.
    pub fn read(path: &Path) -> Result<Self, AlarmFileError> {
        let fail = |reason: String| AlarmFileError {
            path: path.to_owned(),
            reason,
        };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// Replaces the file atomically: a temporary file, fsynced, renamed over it.
    fn write(&self, path: &Path) -> Result<(), AlarmFileError> {
        let fail = |e: std::io::Error| AlarmFileError {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| AlarmFileError {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let mut file = s9_store::private_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(fail)?;
        file.write_all(&bytes).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

/// The rules, their states and history.
#[derive(Debug)]
pub struct Alarms {
    rules: Vec<Rule>,
    path: Option<PathBuf>,
    saved: Snapshot,
    /// Recent read times per rule (by index) and secret: at most `threshold + 1` are needed.
    reads: Vec<HashMap<String, VecDeque<OffsetDateTime>>>,
    /// Where each rule's (by index) subjects are in `saved.alarms`: every record looks one up.
    statuses: Vec<HashMap<String, usize>>,
    dirty: bool,
}

impl Alarms {
    /// The rules with the states and history kept in `path` (if any). States of rules no
    /// longer configured are dropped; their history stays.
    pub fn open(rules: Vec<Rule>, path: Option<PathBuf>) -> Result<Self, AlarmFileError> {
        let mut saved = match &path {
            Some(p) => Snapshot::read(p)?,
            None => Snapshot::default(),
        };
        saved
            .alarms
            .retain(|s| rules.iter().any(|r| r.name == s.alarm));
        let mut statuses = vec![HashMap::new(); rules.len()];
        for (at, s) in saved.alarms.iter().enumerate() {
            if let Some(rule) = rules.iter().position(|r| r.name == s.alarm) {
                statuses[rule].insert(s.subject.clone(), at);
            }
        }
        Ok(Self {
            reads: vec![HashMap::new(); rules.len()],
            statuses,
            rules,
            path,
            saved,
            dirty: false,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.saved
    }

    /// Writes the file if anything changed since the last save.
    pub fn save(&mut self) -> Result<(), AlarmFileError> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(path) = &self.path {
            self.saved.write(path)?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Records how the notifications of change `id` went.
    pub fn set_delivery(&mut self, id: u64, outcome: String) {
        if let Some(c) = self.saved.history.iter_mut().find(|c| c.id == id) {
            c.delivery = Some(outcome);
            self.dirty = true;
        }
    }

    /// Evaluates one audit record; returns the state changes it caused.
    pub fn observe(&mut self, o: &Observation<'_>) -> Vec<Change> {
        let mut changes = Vec::new();
        let is_read = !o.service_event && READS.contains(&o.event_name);
        let who = o.principal.unwrap_or("anonymous");
        let what = || o.secrets.join(", ");
        if let Some(p) = o.principal.filter(|_| !o.service_event)
            && !self.saved.seen_principals.contains(p)
            && self.saved.seen_principals.insert(p.to_owned())
        {
            self.dirty = true;
            for i in self.indexes(|k| matches!(k, RuleKind::NewPrincipal)) {
                let reason = || format!("first request from {p} ({})", o.event_name);
                self.set(i, AlarmState::Alarm, p, o.time, reason, &mut changes);
            }
        }
        for i in 0..self.rules.len() {
            match &self.rules[i].kind {
                RuleKind::ReadRate { threshold, period } if is_read => {
                    let (threshold, period) = (*threshold, *period);
                    for secret in o.secrets {
                        let reads = &mut self.reads[i];
                        if !reads.contains_key(secret) {
                            reads.insert(secret.clone(), VecDeque::new());
                        }
                        let Some(times) = reads.get_mut(secret) else {
                            continue;
                        };
                        times.push_back(o.time);
                        while times.front().is_some_and(|t| *t <= o.time - period)
                            || times.len() > threshold as usize + 1
                        {
                            times.pop_front();
                        }
                        if times.len() > threshold as usize {
                            let reason = || {
                                format!(
                                    "more than {threshold} reads of {secret} within {period} (latest by {who})"
                                )
                            };
                            self.set(i, AlarmState::Alarm, secret, o.time, reason, &mut changes);
                        }
                    }
                }
                RuleKind::AccessDenied
                    if o.error_code.is_some_and(|c| c.starts_with("AccessDenied")) =>
                {
                    let reason = || {
                        let what = what();
                        if what.is_empty() {
                            format!("{who} was denied {}", o.event_name)
                        } else {
                            format!("{who} was denied {} on {what}", o.event_name)
                        }
                    };
                    self.set(i, AlarmState::Alarm, who, o.time, reason, &mut changes);
                }
                RuleKind::OutsideBusinessHours { hours, ignore }
                    if is_read && !ignore.contains(who) && !hours.contains(o.time) =>
                {
                    let hours = hours.clone();
                    let reason = move || {
                        format!(
                            "{who} called {} on {} at {}, outside business hours",
                            o.event_name,
                            what(),
                            hours.describe(o.time)
                        )
                    };
                    self.set(i, AlarmState::Alarm, who, o.time, reason, &mut changes);
                }
                RuleKind::RotationFailed | RuleKind::RotationAwaitingInput if o.service_event => {
                    let raised_by = match self.rules[i].kind {
                        RuleKind::RotationFailed => "RotationFailed",
                        _ => "RotationAwaitingInput",
                    };
                    let to = match o.event_name {
                        name if name == raised_by => AlarmState::Alarm,
                        "RotationSucceeded" | "RotationAbandoned" => AlarmState::Ok,
                        _ => continue,
                    };
                    for secret in o.secrets {
                        let reason = || match o.event_name {
                            "RotationFailed" => format!(
                                "rotation of {secret} failed: {}",
                                o.detail.unwrap_or("no reason given")
                            ),
                            "RotationAwaitingInput" => format!(
                                "rotation of {secret} waits for new keys: s9-secrets rotate complete {secret}"
                            ),
                            "RotationSucceeded" => format!("rotation of {secret} succeeded"),
                            _ => format!("rotation of {secret} was cancelled"),
                        };
                        self.set(i, to, secret, o.time, reason, &mut changes);
                    }
                }
                _ => {}
            }
        }
        changes
    }

    /// Time-driven evaluation at `now`: alarms raised by events return to OK after their
    /// quiet period; rotation alarms follow the secrets' rotation state.
    pub fn tick(
        &mut self,
        now: OffsetDateTime,
        rotations: &[RotationStatus],
        volumes: &[Volume],
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let now_epoch = crate::clock::epoch_seconds(now);
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            let firing: Vec<(String, OffsetDateTime)> = self
                .saved
                .alarms
                .iter()
                .filter(|s| s.alarm == rule.name && s.state == AlarmState::Alarm)
                .map(|s| (s.subject.clone(), s.last_breach))
                .collect();
            match &rule.kind {
                RuleKind::RotationOverdue { grace } => {
                    let grace = *grace;
                    let mut overdue = BTreeMap::new();
                    for r in rotations.iter().filter(|r| r.enabled) {
                        if let Some(next) = r.next_rotation
                            && now_epoch > next + grace.as_seconds_f64()
                        {
                            overdue.insert(r.name.clone(), (next, r));
                        }
                    }
                    for (name, (next, r)) in &overdue {
                        let hours = (now_epoch - next) / 3600.0;
                        let at = r
                            .step
                            .map_or_else(String::new, |s| format!("; waiting at {}", s.name()));
                        let reason = || {
                            format!(
                                "rotation of {name} is {hours:.1} h past its NextRotationDate{at}"
                            )
                        };
                        self.set(i, AlarmState::Alarm, name, now, reason, &mut changes);
                    }
                    for (subject, _) in firing {
                        if !overdue.contains_key(&subject) {
                            let reason = || format!("rotation of {subject} is no longer overdue");
                            self.set(i, AlarmState::Ok, &subject, now, reason, &mut changes);
                        }
                    }
                }
                RuleKind::AuditDiskSpace { min_free_bytes } => {
                    let floor = *min_free_bytes;
                    for v in volumes {
                        let mib = |b: u64| b / (1 << 20);
                        if v.free_bytes < floor {
                            let reason = || {
                                format!(
                                    "{} has {} MiB free, under the floor of {} MiB: when it is full, reads fail closed",
                                    v.name,
                                    mib(v.free_bytes),
                                    mib(floor)
                                )
                            };
                            self.set(i, AlarmState::Alarm, &v.name, now, reason, &mut changes);
                        } else if firing.iter().any(|(s, _)| *s == v.name) {
                            let reason =
                                || format!("{} has {} MiB free again", v.name, mib(v.free_bytes));
                            self.set(i, AlarmState::Ok, &v.name, now, reason, &mut changes);
                        }
                    }
                }
                RuleKind::RotationFailed | RuleKind::RotationAwaitingInput => {
                    let waiting = matches!(rule.kind, RuleKind::RotationAwaitingInput);
                    for (subject, _) in firing {
                        let still = rotations.iter().any(|r| {
                            r.name == subject && if waiting { r.step.is_some() } else { r.failing }
                        });
                        if !still {
                            let reason = || {
                                if waiting {
                                    format!("{subject} has no rotation in progress")
                                } else {
                                    format!("{subject} has no failing rotation")
                                }
                            };
                            self.set(i, AlarmState::Ok, &subject, now, reason, &mut changes);
                        }
                    }
                }
                _ => {
                    let ok_after = rule.ok_after;
                    for (subject, last) in firing {
                        if now >= last + ok_after {
                            let reason = || format!("no breach for {ok_after}");
                            self.set(i, AlarmState::Ok, &subject, now, reason, &mut changes);
                        }
                    }
                }
            }
        }
        changes
    }

    fn indexes(&self, f: impl Fn(&RuleKind) -> bool) -> Vec<usize> {
        (0..self.rules.len())
            .filter(|i| f(&self.rules[*i].kind))
            .collect()
    }

    /// Moves `rule`'s state for `subject` to `to`; `reason` is built only for a change.
    fn set(
        &mut self,
        rule: usize,
        to: AlarmState,
        subject: &str,
        at: OffsetDateTime,
        reason: impl FnOnce() -> String,
        changes: &mut Vec<Change>,
    ) {
        let index = &mut self.statuses[rule];
        let known = index.get(subject).copied();
        let rule = &self.rules[rule];
        let status = match known.and_then(|at| self.saved.alarms.get_mut(at)) {
            Some(s) => s,
            None if to == AlarmState::Ok => return,
            None => {
                index.insert(subject.to_owned(), self.saved.alarms.len());
                self.saved.alarms.push(AlarmStatus {
                    alarm: rule.name.clone(),
                    kind: rule.kind.name().to_owned(),
                    subject: subject.to_owned(),
                    state: AlarmState::Ok,
                    since: at,
                    reason: String::new(),
                    last_breach: at,
                });
                self.saved
                    .alarms
                    .last_mut()
                    .unwrap_or_else(|| unreachable!())
            }
        };
        if to == AlarmState::Alarm {
            status.last_breach = at;
        }
        // A breach of a firing alarm only moves `last_breach`: not worth a write (after a
        // restart the alarm may return to OK up to one quiet period early).
        if status.state == to {
            return;
        }
        self.dirty = true;
        let reason = reason();
        let change = Change {
            id: self.saved.next_id,
            time: at,
            alarm: rule.name.clone(),
            kind: rule.kind.name().to_owned(),
            description: rule.description.clone(),
            subject: subject.to_owned(),
            from: status.state,
            to,
            reason: reason.clone(),
            delivery: None,
        };
        status.state = to;
        status.since = at;
        status.reason = reason;
        self.saved.next_id += 1;
        self.saved.history.push_back(change.clone());
        while self.saved.history.len() > HISTORY_LIMIT {
            self.saved.history.pop_front();
        }
        changes.push(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn rule(name: &str, kind: RuleKind) -> Rule {
        Rule {
            name: name.into(),
            description: None,
            kind,
            ok_after: Duration::minutes(5),
        }
    }

    fn read<'a>(t: OffsetDateTime, secrets: &'a [String], who: &'a str) -> Observation<'a> {
        Observation {
            time: t,
            event_name: "GetSecretValue",
            service_event: false,
            principal: Some(who),
            secrets,
            error_code: None,
            detail: None,
        }
    }

    #[test]
    fn business_hours_follow_daylight_saving_time() {
        let days: Vec<String> = ["Mon", "Tue", "Wed", "Thu", "Fri"]
            .map(String::from)
            .to_vec();
        let h = BusinessHours::new("America/New_York", &days, [8, 18]).expect("hours");
        // 12:30 UTC is 07:30 EST in winter (outside) but 08:30 EDT in summer (inside).
        assert!(!h.contains(datetime!(2026-01-14 12:30 UTC)));
        assert!(h.contains(datetime!(2026-07-15 12:30 UTC)));
        // The Monday after the spring change (2026-03-08): 12:30 UTC is 08:30 EDT.
        assert!(!h.contains(datetime!(2026-03-06 12:30 UTC)));
        assert!(h.contains(datetime!(2026-03-09 12:30 UTC)));
        // Saturday noon local is outside; Friday 17:59 local inside, 18:00 outside.
        assert!(!h.contains(datetime!(2026-07-18 16:00 UTC)));
        assert!(h.contains(datetime!(2026-07-17 21:59 UTC)));
        assert!(!h.contains(datetime!(2026-07-17 22:00 UTC)));
        assert_eq!(
            h.describe(datetime!(2026-01-17 04:15 UTC)),
            "Fri 2026-01-16 23:15 EST"
        );
        assert!(BusinessHours::new("Mars/Olympus", &days, [8, 18]).is_err());
        assert!(BusinessHours::new("UTC", &["Moonday".into()], [8, 18]).is_err());
        assert!(BusinessHours::new("UTC", &days, [18, 8]).is_err());
    }

    #[test]
    fn read_rate_fires_above_threshold_within_period_and_recovers() {
        let mut a = Alarms::open(
            vec![rule(
                "rate",
                RuleKind::ReadRate {
                    threshold: 3,
                    period: Duration::minutes(1),
                },
            )],
            None,
        )
        .expect("alarms");
        let s = vec!["app/key".to_owned()];
        let t0 = datetime!(2026-11-27 10:00 UTC);
        // Three reads a minute, spread out: never more than 3 in any minute.
        for k in 0..9 {
            assert!(
                a.observe(&read(t0 + Duration::seconds(20 * k), &s, "r"))
                    .is_empty()
            );
        }
        let t1 = t0 + Duration::minutes(10);
        for k in 0..3 {
            assert!(
                a.observe(&read(t1 + Duration::seconds(k), &s, "r"))
                    .is_empty()
            );
        }
        let fired = a.observe(&read(t1 + Duration::seconds(3), &s, "r"));
        assert_eq!(fired.len(), 1);
        assert_eq!(
            (fired[0].to, fired[0].subject.as_str()),
            (AlarmState::Alarm, "app/key")
        );
        assert!(
            fired[0].reason.contains("more than 3 reads"),
            "{}",
            fired[0].reason
        );
        // A fifth read does not fire again.
        assert!(
            a.observe(&read(t1 + Duration::seconds(4), &s, "r"))
                .is_empty()
        );
        assert!(a.tick(t1 + Duration::minutes(4), &[], &[]).is_empty());
        let ok = a.tick(t1 + Duration::minutes(6), &[], &[]);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].to, AlarmState::Ok);
        assert_eq!(a.snapshot().history.len(), 2);
    }

    #[test]
    fn new_principals_are_remembered_across_restarts() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("alarms.json");
        let rules = || vec![rule("new", RuleKind::NewPrincipal)];
        let s: Vec<String> = Vec::new();
        let t = datetime!(2026-11-27 10:00 UTC);
        let mut a = Alarms::open(rules(), Some(path.clone())).expect("alarms");
        assert_eq!(a.observe(&read(t, &s, "arn:p1")).len(), 1);
        assert!(a.observe(&read(t, &s, "arn:p1")).is_empty());
        a.save().expect("save");
        let mut a = Alarms::open(rules(), Some(path)).expect("reopen");
        assert!(a.observe(&read(t, &s, "arn:p1")).is_empty());
        assert_eq!(a.observe(&read(t, &s, "arn:p2")).len(), 1);
        assert_eq!(a.snapshot().alarms.len(), 2, "p1 still firing, p2 too");
    }
}
