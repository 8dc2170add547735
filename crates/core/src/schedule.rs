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
