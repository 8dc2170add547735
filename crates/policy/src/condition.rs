//! Condition operators and how they decide against a request's context, with AWS's rules
//! for keys missing from the context.

use std::net::IpAddr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::pattern;

/// The comparison an operator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOp {
    ForAllValues,
    ForAnyValue,
}

/// A parsed operator: its comparison, whether it is the negated form, `IfExists`, and a set
/// qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) kind: Kind,
    pub(crate) negated: bool,
    pub(crate) if_exists: bool,
    pub(crate) set: Option<SetOp>,
}

impl Operator {
    /// Parses `ForAnyValue:StringNotLikeIfExists` and friends.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let (set, rest) = match name.split_once(':') {
            Some(("ForAllValues", rest)) => (Some(SetOp::ForAllValues), rest),
            Some(("ForAnyValue", rest)) => (Some(SetOp::ForAnyValue), rest),
            Some(_) => return None,
            None => (None, name),
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(r) if r != "Null" => (r, true),
            _ => (rest, false),
        };
        let (kind, negated) = match rest {
            "StringEquals" => (Kind::StringEquals, false),
            "StringNotEquals" => (Kind::StringEquals, true),
            "StringEqualsIgnoreCase" => (Kind::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Kind::StringEqualsIgnoreCase, true),
            "StringLike" => (Kind::StringLike, false),
            "StringNotLike" => (Kind::StringLike, true),
            "NumericEquals" => (Kind::NumericEquals, false),
            "NumericNotEquals" => (Kind::NumericEquals, true),
            "NumericLessThan" => (Kind::NumericLessThan, false),
            "NumericLessThanEquals" => (Kind::NumericLessThanEquals, false),
            "NumericGreaterThan" => (Kind::NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (Kind::NumericGreaterThanEquals, false),
            "DateEquals" => (Kind::DateEquals, false),
            "DateNotEquals" => (Kind::DateEquals, true),
            "DateLessThan" => (Kind::DateLessThan, false),
            "DateLessThanEquals" => (Kind::DateLessThanEquals, false),
            "DateGreaterThan" => (Kind::DateGreaterThan, false),
            "DateGreaterThanEquals" => (Kind::DateGreaterThanEquals, false),
            "Bool" => (Kind::Bool, false),
            "BinaryEquals" => (Kind::BinaryEquals, false),
            "IpAddress" => (Kind::IpAddress, false),
            "NotIpAddress" => (Kind::IpAddress, true),
            "ArnEquals" | "ArnLike" => (Kind::ArnLike, false),
            "ArnNotEquals" | "ArnNotLike" => (Kind::ArnLike, true),
            "Null" => (Kind::Null, false),
            _ => return None,
        };
        if kind == Kind::Null && (if_exists || set.is_some()) {
            return None;
        }
        Some(Self {
            kind,
            negated,
            if_exists,
            set,
        })
    }

    /// Checks that a policy value is well formed for this operator; the reason if not.
    pub(crate) fn check_value(&self, value: &str) -> Result<(), String> {
        let ok = match self.kind {
            Kind::NumericEquals
            | Kind::NumericLessThan
            | Kind::NumericLessThanEquals
            | Kind::NumericGreaterThan
            | Kind::NumericGreaterThanEquals => value.parse::<f64>().is_ok(),
            Kind::DateEquals
            | Kind::DateLessThan
            | Kind::DateLessThanEquals
            | Kind::DateGreaterThan
            | Kind::DateGreaterThanEquals => parse_date(value).is_some(),
            Kind::Bool | Kind::Null => {
                matches!(value.to_ascii_lowercase().as_str(), "true" | "false")
            }
            Kind::IpAddress => Cidr::parse(value).is_some(),
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "'{value}' is not a valid value for this condition operator"
            ))
        }
    }

    /// Decides the condition for one key. `actual` is `None` when the key is absent from
    /// the request context.
    pub(crate) fn evaluate(&self, expected: &[String], actual: Option<&[String]>) -> bool {
        if self.kind == Kind::Null {
            let want_absent = expected.iter().any(|v| v.eq_ignore_ascii_case("true"));
            let absent = actual.is_none_or(<[String]>::is_empty);
            return want_absent == absent;
        }
        let actual = match actual {
            None | Some([]) => {
                return match self.set {
                    // Vacuous truth: every one of no values matches.
                    Some(SetOp::ForAllValues) => true,
                    Some(SetOp::ForAnyValue) => false,
                    None => self.if_exists || self.negated,
                };
            }
            Some(values) => values,
        };
        // One request value against the policy's values: a positive operator matches any of
        // them; a negated one matches none of them.
        let one = |value: &str| -> bool {
            let hit = expected.iter().any(|e| compare(self.kind, e, value));
            hit != self.negated
        };
        match self.set {
            Some(SetOp::ForAllValues) => actual.iter().all(|v| one(v)),
            Some(SetOp::ForAnyValue) => actual.iter().any(|v| one(v)),
            // A single-valued key: with several values present (a list key used without a
            // set operator), any may satisfy a positive operator; all must for a negated one.
            None if self.negated => actual.iter().all(|v| one(v)),
            None => actual.iter().any(|v| one(v)),
        }
    }
}

fn parse_date(value: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(t);
    }
    // Epoch seconds are accepted too.
    value
        .parse::<i64>()
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
}

fn compare(kind: Kind, expected: &str, actual: &str) -> bool {
    let numbers = || Some((expected.parse::<f64>().ok()?, actual.parse::<f64>().ok()?));
    let dates = || Some((parse_date(expected)?, parse_date(actual)?));
    match kind {
        Kind::StringEquals => expected == actual,
        Kind::StringEqualsIgnoreCase => expected.to_lowercase() == actual.to_lowercase(),
        Kind::StringLike => pattern::matches(expected, actual),
        Kind::NumericEquals => numbers().is_some_and(|(e, a)| a == e),
        Kind::NumericLessThan => numbers().is_some_and(|(e, a)| a < e),
        Kind::NumericLessThanEquals => numbers().is_some_and(|(e, a)| a <= e),
        Kind::NumericGreaterThan => numbers().is_some_and(|(e, a)| a > e),
        Kind::NumericGreaterThanEquals => numbers().is_some_and(|(e, a)| a >= e),
        Kind::DateEquals => dates().is_some_and(|(e, a)| a == e),
        Kind::DateLessThan => dates().is_some_and(|(e, a)| a < e),
        Kind::DateLessThanEquals => dates().is_some_and(|(e, a)| a <= e),
        Kind::DateGreaterThan => dates().is_some_and(|(e, a)| a > e),
        Kind::DateGreaterThanEquals => dates().is_some_and(|(e, a)| a >= e),
        Kind::Bool => expected.eq_ignore_ascii_case(actual),
        Kind::BinaryEquals => expected == actual,
        Kind::IpAddress => Cidr::parse(expected)
            .is_some_and(|c| actual.parse::<IpAddr>().is_ok_and(|ip| c.contains(ip))),
        Kind::ArnLike => pattern::arn_matches(expected, actual),
        Kind::Null => false,
    }
}

/// An address block: `203.0.113.0/24`, `2001:db8::/32`, or a single address.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    addr: IpAddr,
    prefix: u32,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u32>().ok()?),
            None => {
                let a = text.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u32) {
            match a {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((net, width), (addr, width2)) = (bits(self.addr), bits(ip));
        if width != width2 {
            return false;
        }
        if self.prefix == 0 {
            return true;
        }
        let shift = width - self.prefix;
        (net >> shift) == (addr >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str) -> Operator {
        Operator::parse(name).unwrap_or_else(|| panic!("{name}"))
    }

    fn v(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn missing_keys_follow_aws() {
        let absent = None;
        assert!(!op("StringEquals").evaluate(&v(&["a"]), absent));
        assert!(
            op("StringNotEquals").evaluate(&v(&["a"]), absent),
            "a negated operator holds when the key is absent"
        );
        assert!(op("StringEqualsIfExists").evaluate(&v(&["a"]), absent));
        assert!(op("ForAllValues:StringEquals").evaluate(&v(&["a"]), absent));
        assert!(!op("ForAnyValue:StringEquals").evaluate(&v(&["a"]), absent));
        assert!(op("Null").evaluate(&v(&["true"]), absent));
        assert!(!op("Null").evaluate(&v(&["false"]), absent));
        assert!(op("Null").evaluate(&v(&["false"]), Some(&v(&["x"]))));
        assert!(!op("NotIpAddress").evaluate(&v(&["10.0.0.0/8"]), Some(&v(&["10.1.2.3"]))));
        assert!(op("NotIpAddress").evaluate(&v(&["10.0.0.0/8"]), absent));
    }

    #[test]
    fn operators_compare() {
        assert!(
            op("StringEquals")
                .evaluate(&v(&["x", "Signal9Advisor"]), Some(&v(&["Signal9Advisor"])))
        );
        assert!(
            !op("StringEquals").evaluate(&v(&["signal9advisor"]), Some(&v(&["Signal9Advisor"])))
        );
        assert!(
            op("StringEqualsIgnoreCase")
                .evaluate(&v(&["signal9advisor"]), Some(&v(&["Signal9Advisor"])))
        );
        assert!(
            op("StringNotEqualsIgnoreCase").evaluate(&v(&["other"]), Some(&v(&["Signal9Advisor"])))
        );
        assert!(op("StringLike").evaluate(&v(&["Signal9*"]), Some(&v(&["Signal9Advisor"]))));
        assert!(op("StringNotLike").evaluate(&v(&["prod-*"]), Some(&v(&["dev-1"]))));
        assert!(op("NumericLessThan").evaluate(&v(&["30"]), Some(&v(&["7"]))));
        assert!(op("NumericGreaterThanEquals").evaluate(&v(&["7"]), Some(&v(&["7"]))));
        assert!(op("NumericNotEquals").evaluate(&v(&["7"]), Some(&v(&["8"]))));
        assert!(!op("NumericEquals").evaluate(&v(&["7"]), Some(&v(&["seven"]))));
        assert!(op("DateLessThan").evaluate(
            &v(&["2027-01-01T00:00:00Z"]),
            Some(&v(&["2026-11-27T10:00:00Z"]))
        ));
        assert!(
            op("DateGreaterThan")
                .evaluate(&v(&["1700000000"]), Some(&v(&["2026-11-27T10:00:00Z"])))
        );
        assert!(op("Bool").evaluate(&v(&["true"]), Some(&v(&["True"]))));
        assert!(op("IpAddress").evaluate(&v(&["203.0.113.0/24"]), Some(&v(&["203.0.113.9"]))));
        assert!(op("IpAddress").evaluate(&v(&["2001:db8::/32"]), Some(&v(&["2001:db8::1"]))));
        assert!(!op("IpAddress").evaluate(&v(&["2001:db8::/32"]), Some(&v(&["203.0.113.9"]))));
        assert!(op("IpAddress").evaluate(&v(&["0.0.0.0/0"]), Some(&v(&["8.8.8.8"]))));
        assert!(op("ArnLike").evaluate(
            &v(&["arn:aws:iam::*:role/asset-*"]),
            Some(&v(&["arn:aws:iam::123456789012:role/asset-sync"]))
        ));
        assert!(op("ArnNotEquals").evaluate(
            &v(&["arn:aws:iam::1:role/a"]),
            Some(&v(&["arn:aws:iam::1:role/b"]))
        ));
        assert!(op("BinaryEquals").evaluate(&v(&["QmluYXJ5"]), Some(&v(&["QmluYXJ5"]))));
    }

    #[test]
    fn set_operators() {
        let keys = v(&["Project", "Owner"]);
        assert!(
            op("ForAllValues:StringEquals").evaluate(&v(&["Project", "Owner", "Env"]), Some(&keys))
        );
        assert!(!op("ForAllValues:StringEquals").evaluate(&v(&["Project"]), Some(&keys)));
        assert!(op("ForAnyValue:StringEquals").evaluate(&v(&["Owner"]), Some(&keys)));
        assert!(!op("ForAnyValue:StringEquals").evaluate(&v(&["Env"]), Some(&keys)));
        assert!(op("ForAnyValue:StringNotLike").evaluate(&v(&["Proj*"]), Some(&keys)));
    }

    #[test]
    fn operator_names() {
        assert!(Operator::parse("StringEqualsIfExists").is_some_and(|o| o.if_exists));
        assert!(Operator::parse("ForAnyValue:ArnLikeIfExists").is_some());
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("ForAllValues:Null").is_none());
        assert!(Operator::parse("Sometimes:StringEquals").is_none());
        assert!(Operator::parse("StringSorta").is_none());
        assert!(op("NumericLessThan").check_value("x").is_err());
        assert!(
            op("DateLessThan")
                .check_value("2026-01-01T00:00:00Z")
                .is_ok()
        );
        assert!(op("IpAddress").check_value("10.0.0.0/33").is_err());
        assert!(op("Bool").check_value("yes").is_err());
    }
}
