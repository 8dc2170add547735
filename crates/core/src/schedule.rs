//! Rotation schedules: `AutomaticallyAfterDays` or a `rate()`/`cron()` expression, with an
//! optional window `Duration`.

use s9_wire::ApiError;
use s9_wire::shapes::RotationRules;

enum Interval {
    Seconds(f64),
    Cron,
}

fn interval(rules: &RotationRules) -> Result<Option<Interval>, ApiError> {
    match (
        rules.automatically_after_days,
        rules.schedule_expression.as_deref(),
    ) {
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
            "You can't specify both AutomaticallyAfterDays and ScheduleExpression.",
        )),
        (Some(days), None) => Ok(Some(Interval::Seconds(days as f64 * 86_400.0))),
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
        if inner.split_whitespace().count() != 6 {
            return Err(bad());
        }
        return Ok(Interval::Cron);
    }
    Err(bad())
}

/// Checks the rules as RotateSecret does.
pub(crate) fn validate(rules: &RotationRules) -> Result<(), ApiError> {
    let interval = interval(rules)?;
    if let Some(d) = rules.duration.as_deref() {
        let hours: u32 = d
            .trim_end_matches('h')
            .parse()
            .map_err(|_| ApiError::invalid_parameter("Invalid Duration."))?;
        if !(1..=24).contains(&hours) {
            return Err(ApiError::invalid_parameter(
                "The rotation window Duration must be between 1h and 24h.",
            ));
        }
        if let Some(Interval::Seconds(s)) = interval
            && f64::from(hours) * 3600.0 >= s
        {
            return Err(ApiError::invalid_parameter(
                "The rotation window must end before the next rotation starts.",
            ));
        }
    }
    Ok(())
}

/// When the next rotation is due after `from`; `None` for cron schedules (computed by the
/// rotation scheduler).
pub(crate) fn next_after(rules: &RotationRules, from: f64) -> Option<f64> {
    match interval(rules).ok()?? {
        Interval::Seconds(s) => Some(from + s),
        Interval::Cron => None,
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
        assert_eq!(
            next_after(&rules(None, Some("cron(0 8 1 * ? *)"), None), 0.0),
            None
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
            rules(None, Some("every day"), None),
            rules(Some(1), None, Some("25h")),
            rules(Some(1), None, Some("24h")),
            rules(None, Some("rate(4 hours)"), Some("4h")),
            rules(Some(1), None, Some("xh")),
        ] {
            assert!(validate(&bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
