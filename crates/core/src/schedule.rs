//! Rotation schedules: `AutomaticallyAfterDays`, or a `rate()` / `cron()` expression as
//! Secrets Manager accepts them, with an optional window `Duration`: when the next rotation
//! is due, and when its window closes.

use s9_wire::ApiError;
use s9_wire::shapes::RotationRules;
use time::{Date, OffsetDateTime, Time};

enum Interval {
    Seconds(f64),
    Cron(Box<Cron>),
}

fn interval(rules: &RotationRules) -> Result<Option<Interval>, ApiError> {
    match (
        rules.automatically_after_days,
        rules.schedule_expression.as_deref(),
    ) {
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
            "You can't specify both AutomaticallyAfterDays and ScheduleExpression.",
        )),
        (Some(days), None) if (1..=1000).contains(&days) => {
            Ok(Some(Interval::Seconds(days as f64 * 86_400.0)))
        }
        (Some(_), None) => Err(ApiError::invalid_parameter(
            "AutomaticallyAfterDays must be between 1 and 1000.",
        )),
        (None, Some(expr)) => parse_expression(expr).map(Some),
        (None, None) => Ok(None),
    }
}

fn parse_expression(expr: &str) -> Result<Interval, ApiError> {
    let bad = || ApiError::invalid_parameter(format!("Invalid ScheduleExpression: {expr}"));
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|e| e.strip_suffix(')')) {
        let (n, unit) = inner.split_once(' ').ok_or_else(bad)?;
        let n: u32 = n.parse().map_err(|_| bad())?;
        let seconds = match unit {
            "hour" | "hours" if (4..=23).contains(&n) => f64::from(n) * 3600.0,
            "day" | "days" if (1..=1000).contains(&n) => f64::from(n) * 86_400.0,
            _ => return Err(bad()),
        };
        return Ok(Interval::Seconds(seconds));
    }
    if let Some(inner) = expr.strip_prefix("cron(").and_then(|e| e.strip_suffix(')')) {
        return Cron::parse(inner)
            .map(|c| Interval::Cron(Box::new(c)))
            .ok_or_else(bad);
    }
    Err(bad())
}

fn window_hours(rules: &RotationRules) -> Result<Option<u32>, ApiError> {
    let Some(d) = rules.duration.as_deref() else {
        return Ok(None);
    };
    let hours: u32 = d
        .strip_suffix('h')
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| ApiError::invalid_parameter("Invalid Duration."))?;
    if !(1..=24).contains(&hours) {
        return Err(ApiError::invalid_parameter(
            "The rotation window Duration must be between 1h and 24h.",
        ));
    }
    Ok(Some(hours))
}

/// Checks the rules as RotateSecret does.
pub(crate) fn validate(rules: &RotationRules) -> Result<(), ApiError> {
    let interval = interval(rules)?;
    if let (Some(hours), Some(Interval::Seconds(s))) = (window_hours(rules)?, interval)
        && f64::from(hours) * 3600.0 >= s
    {
        return Err(ApiError::invalid_parameter(
            "The rotation window must end before the next rotation starts.",
        ));
    }
    Ok(())
}

/// When the next rotation window opens after `from` (epoch seconds).
pub(crate) fn next_after(rules: &RotationRules, from: f64) -> Option<f64> {
    match interval(rules).ok()?? {
        Interval::Seconds(s) => Some(from + s),
        Interval::Cron(cron) => cron.next_after(from),
    }
}

/// When the window opening at `start` closes: after `Duration`, else (as Secrets Manager
/// does) an hour later for schedules in hours and at the end of the (UTC) day otherwise.
pub(crate) fn window_end(rules: &RotationRules, start: f64) -> f64 {
    if let Ok(Some(hours)) = window_hours(rules) {
        return start + f64::from(hours) * 3600.0;
    }
    let hourly = rules
        .schedule_expression
        .as_deref()
        .is_some_and(|e| e.starts_with("rate(") && e.contains("hour"));
    if hourly {
        start + 3600.0
    } else {
        (start / 86_400.0).floor() * 86_400.0 + 86_400.0
    }
}

/// One field of a cron expression: the values it allows, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field(u64);

impl Field {
    fn has(self, v: u32) -> bool {
        v < 64 && self.0 & (1 << v) != 0
    }

    /// `*`, `N`, `A-B`, `*/S`, `A/S`, `A-B/S` and comma lists of them, within `min..=max`;
    /// names resolved by `name`.
    fn parse(text: &str, min: u32, max: u32, name: impl Fn(&str) -> Option<u32>) -> Option<Self> {
        let value = |t: &str| t.parse::<u32>().ok().or_else(|| name(t));
        let mut bits = 0u64;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
                None => (part, 1),
            };
            let (lo, hi) = match range {
                "*" => (min, max),
                r => match r.split_once('-') {
                    Some((a, b)) => (value(a)?, value(b)?),
                    None if part.contains('/') => (value(r)?, max),
                    None => (value(r)?, value(r)?),
                },
            };
            if lo < min || hi > max || lo > hi {
                return None;
            }
            for v in (lo..=hi).step_by(step as usize) {
                bits |= 1 << v;
            }
        }
        Some(Self(bits))
    }
}

/// Which days a cron expression allows: by day of month or by day of week (the other is
/// `?`), as in EventBridge's `cron()`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    Any,
    OfMonth(Field),
    LastOfMonth,
    OfWeek(Field),
    /// `D#N`: the Nth weekday D (1 = Sunday) of the month.
    NthOfWeek(u32, u32),
}

/// `cron(minutes hours day-of-month month day-of-week year)`, in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cron {
    minutes: Field,
    hours: Field,
    days: Days,
    months: Field,
    years: Option<(u32, u32)>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn named(names: &[&str], text: &str) -> Option<u32> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
        .and_then(|i| u32::try_from(i + 1).ok())
}

impl Cron {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return None;
        };
        let none = |_: &str| None;
        let days = match (dom, dow) {
            ("?", "?") => return None,
            ("?", "*") | ("*", "?") => Days::Any,
            ("L", "?") => Days::LastOfMonth,
            (d, "?") => Days::OfMonth(Field::parse(d, 1, 31, none)?),
            ("?", w) => match w.split_once('#') {
                Some((d, n)) => {
                    let d = d.parse().ok().or_else(|| named(&WEEKDAYS, d))?;
                    let n: u32 = n.parse().ok()?;
                    ((1..=7).contains(&d) && (1..=5).contains(&n))
                        .then_some(Days::NthOfWeek(d, n))?
                }
                None => Days::OfWeek(Field::parse(w, 1, 7, |t| named(&WEEKDAYS, t))?),
            },
            _ => return None,
        };
        let years = match year {
            "*" => None,
            y => {
                let (a, b) = y.split_once('-').unwrap_or((y, y));
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                ((1970..=2199).contains(&a) && a <= b && b <= 2199)
                    .then_some((a, b))?
                    .into()
            }
        };
        Some(Self {
            minutes: Field::parse(minutes, 0, 59, none)?,
            hours: Field::parse(hours, 0, 23, none)?,
            days,
            months: Field::parse(month, 1, 12, |t| named(&MONTHS, t))?,
            years,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let sunday_based = u32::from(date.weekday().number_days_from_sunday()) + 1;
        match &self.days {
            Days::Any => true,
            Days::OfMonth(f) => f.has(u32::from(date.day())),
            Days::LastOfMonth => date.day() == date.month().length(date.year()),
            Days::OfWeek(f) => f.has(sunday_based),
            Days::NthOfWeek(d, n) => *d == sunday_based && u32::from(date.day()).div_ceil(7) == *n,
        }
    }

    /// The first matching minute strictly after `from` (epoch seconds), within 5 years.
    pub(crate) fn next_after(&self, from: f64) -> Option<f64> {
        let start = OffsetDateTime::from_unix_timestamp(from.floor() as i64).ok()?;
        let mut date = start.date();
        for day in 0..(5 * 366) {
            let year = u32::try_from(date.year()).ok()?;
            if self.years.is_none_or(|(a, b)| (a..=b).contains(&year))
                && self.months.has(u32::from(u8::from(date.month())))
                && self.day_matches(date)
            {
                for hour in 0..24u8 {
                    if !self.hours.has(u32::from(hour)) {
                        continue;
                    }
                    for minute in 0..60u8 {
                        if !self.minutes.has(u32::from(minute)) {
                            continue;
                        }
                        let at = date
                            .with_time(Time::from_hms(hour, minute, 0).ok()?)
                            .assume_utc();
                        if day > 0 || at > start {
                            return Some(at.unix_timestamp() as f64);
                        }
                    }
                }
            }
            date = date.next_day()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(days: Option<i64>, expr: Option<&str>, duration: Option<&str>) -> RotationRules {
        RotationRules {
            automatically_after_days: days,
            schedule_expression: expr.map(str::to_owned),
            duration: duration.map(str::to_owned),
        }
    }

    #[test]
    fn intervals_and_next_dates() {
        assert_eq!(
            next_after(&rules(Some(90), None, None), 0.0),
            Some(90.0 * 86_400.0)
        );
        assert_eq!(
            next_after(&rules(None, Some("rate(10 days)"), None), 5.0),
            Some(5.0 + 10.0 * 86_400.0)
        );
        assert_eq!(
            next_after(&rules(None, Some("rate(4 hours)"), None), 0.0),
            Some(4.0 * 3600.0)
        );
        // 1970-01-01 was a Thursday.
        assert_eq!(
            next_after(&rules(None, Some("cron(0 8 1 * ? *)"), None), 0.0),
            Some(8.0 * 3600.0)
        );
        assert_eq!(next_after(&rules(None, None, None), 0.0), None);
    }

    #[test]
    fn validation() {
        assert!(validate(&rules(Some(30), None, Some("3h"))).is_ok());
        assert!(validate(&rules(None, Some("cron(0 8 1 * ? *)"), Some("2h"))).is_ok());
        for bad in [
            rules(Some(1), Some("rate(1 day)"), None),
            rules(None, Some("rate(2 hours)"), None),
            rules(None, Some("rate(x days)"), None),
            rules(None, Some("rate(1001 days)"), None),
            rules(None, Some("rate(5 weeks)"), None),
            rules(None, Some("cron(0 8 * *)"), None),
            rules(None, Some("cron(0 8 * * * *)"), None),
            rules(None, Some("cron(0 24 * * ? *)"), None),
            rules(None, Some("cron(0 8 ? * 8 *)"), None),
            rules(Some(0), None, None),
            rules(None, Some("every day"), None),
            rules(Some(1), None, Some("25h")),
            rules(Some(1), None, Some("24h")),
            rules(None, Some("rate(4 hours)"), Some("4h")),
            rules(Some(1), None, Some("xh")),
        ] {
            assert!(validate(&bad).is_err(), "{bad:?} should be rejected");
        }
    }

    fn at(text: &str) -> f64 {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("time")
            .unix_timestamp() as f64
    }

    #[test]
    fn cron_expressions_follow_eventbridge() {
        let next = |expr: &str, from: &str| {
            Cron::parse(expr)
                .expect(expr)
                .next_after(at(from))
                .map(|t| OffsetDateTime::from_unix_timestamp(t as i64).expect("ts"))
                .map(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .expect("fmt")
                })
        };
        let cases = [
            // 2026-11-27 is a Friday.
            (
                "0 16 1,15 * ? *",
                "2026-11-27T10:00:00Z",
                "2026-12-01T16:00:00Z",
            ),
            (
                "0 16 1,15 * ? *",
                "2026-12-15T15:59:00Z",
                "2026-12-15T16:00:00Z",
            ),
            (
                "0 16 1,15 * ? *",
                "2026-12-15T16:00:00Z",
                "2027-01-01T16:00:00Z",
            ),
            (
                "30 2 ? * MON-FRI *",
                "2026-11-27T03:00:00Z",
                "2026-11-30T02:30:00Z",
            ),
            (
                "0 8 ? * 1 *",
                "2026-11-27T00:00:00Z",
                "2026-11-29T08:00:00Z",
            ),
            (
                "0 0 L * ? *",
                "2027-02-03T00:00:00Z",
                "2027-02-28T00:00:00Z",
            ),
            (
                "0 0 L * ? *",
                "2028-02-03T00:00:00Z",
                "2028-02-29T00:00:00Z",
            ),
            (
                "0 9 ? * 2#1 *",
                "2026-11-27T00:00:00Z",
                "2026-12-07T09:00:00Z",
            ),
            (
                "0 */6 * * ? *",
                "2026-11-27T07:00:00Z",
                "2026-11-27T12:00:00Z",
            ),
            (
                "0 4 1 JAN ? 2027",
                "2026-11-27T00:00:00Z",
                "2027-01-01T04:00:00Z",
            ),
        ];
        for (expr, from, want) in cases {
            assert_eq!(
                next(expr, from).as_deref(),
                Some(want),
                "{expr} after {from}"
            );
        }
        assert_eq!(next("0 4 1 JAN ? 2025", "2026-11-27T00:00:00Z"), None);
    }

    #[test]
    fn windows_close_after_the_duration_or_as_secrets_manager_defaults() {
        let start = at("2026-11-27T10:00:00Z");
        assert_eq!(
            window_end(&rules(Some(90), None, Some("3h")), start),
            start + 3.0 * 3600.0
        );
        assert_eq!(
            window_end(&rules(Some(90), None, None), start),
            at("2026-11-28T00:00:00Z")
        );
        assert_eq!(
            window_end(&rules(None, Some("rate(6 hours)"), None), start),
            start + 3600.0
        );
    }
}
