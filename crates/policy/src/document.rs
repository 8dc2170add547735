//! IAM JSON policy documents: parsing with errors that name their JSON path.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

use crate::condition::Operator;

/// Where a policy is attached, which decides what it may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a principal: no `Principal`, and a `Resource` is required.
    Identity,
    /// Attached to a secret: a `Principal` is required; `Resource` may be omitted.
    Resource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list of patterns, or its negation (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub values: Vec<String>,
    pub negated: bool,
}

/// `Principal` / `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalSpec {
    /// `"*"` or `{"AWS": "*"}`.
    pub everyone: bool,
    /// `AWS` principals: ARNs or account ids.
    pub aws: Vec<String>,
    /// `Service` principals (`secretsmanager.amazonaws.com`).
    pub service: Vec<String>,
    pub negated: bool,
}

/// One `operator: {key: values}` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionEntry {
    pub(crate) operator: Operator,
    /// The operator as written.
    pub operator_name: String,
    /// The key as written; matched case-insensitively.
    pub key: String,
    pub(crate) key_lower: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Position in the document (0-based).
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<PrincipalSpec>,
    pub action: Patterns,
    pub resource: Option<Patterns>,
    pub conditions: Vec<ConditionEntry>,
}

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

/// Why a document is not a valid policy: the JSON path of the problem and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PolicyError {
    /// `$.Statement[1].Condition.StringEquals`.
    pub path: String,
    pub reason: String,
}

fn err(path: impl fmt::Display, reason: impl Into<String>) -> PolicyError {
    PolicyError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Policy {
    /// Whether `${…}` in its values are policy variables: only in documents of version
    /// 2012-10-17, as in IAM (in older ones, and without a version, they are literal text).
    pub fn takes_variables(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }

    /// Parses and validates `text` as a policy of `kind`.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            err(
                "$",
                format!("not valid JSON (line {}, column {})", e.line(), e.column()),
            )
        })?;
        let Value::Object(top) = &doc else {
            return Err(err("$", "a policy must be a JSON object"));
        };
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(err(format!("$.{key}"), "unknown policy element"));
            }
        }
        let version = match top.get("Version") {
            None => None,
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
            Some(_) => return Err(err("$.Version", "must be \"2012-10-17\" or \"2008-10-17\"")),
        };
        let id = match top.get("Id") {
            None => None,
            Some(Value::String(v)) => Some(v.clone()),
            Some(_) => return Err(err("$.Id", "must be a string")),
        };
        let raw: Vec<(String, &Value)> = match top.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("$.Statement[{i}]"), s))
                .collect(),
            Some(Value::Array(_)) => {
                return Err(err("$.Statement", "must hold at least one statement"));
            }
            Some(s @ Value::Object(_)) => vec![("$.Statement".to_owned(), s)],
            Some(_) => {
                return Err(err(
                    "$.Statement",
                    "must be a statement object or an array of them",
                ));
            }
            None => return Err(err("$", "missing Statement")),
        };
        let mut statements = Vec::with_capacity(raw.len());
        let mut sids = HashSet::new();
        for (index, (path, value)) in raw.into_iter().enumerate() {
            let statement = parse_statement(&path, value, index, kind)?;
            if let Some(sid) = &statement.sid
                && !sids.insert(sid.clone())
            {
                return Err(err(format!("{path}.Sid"), format!("duplicate Sid '{sid}'")));
            }
            statements.push(statement);
        }
        Ok(Self {
            version,
            id,
            statements,
        })
    }
}

fn strings(path: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(format!("{path}[{i}]"), "must be a string"))
            })
            .collect(),
        Value::Array(_) => Err(err(path, "must not be empty")),
        _ => Err(err(path, "must be a string or an array of strings")),
    }
}

/// Condition values may also be written as JSON booleans or numbers.
fn condition_values(path: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    let one = |p: String, v: &Value| -> Result<String, PolicyError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(err(p, "must be a string, number or boolean")),
        }
    };
    match value {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| one(format!("{path}[{i}]"), v))
            .collect(),
        Value::Array(_) => Err(err(path, "must not be empty")),
        v => Ok(vec![one(path.to_owned(), v)?]),
    }
}

fn parse_statement(
    path: &str,
    value: &Value,
    index: usize,
    kind: PolicyKind,
) -> Result<Statement, PolicyError> {
    let Value::Object(map) = value else {
        return Err(err(path, "a statement must be a JSON object"));
    };
    for key in map.keys() {
        if !STATEMENT_KEYS.contains(&key.as_str()) {
            return Err(err(format!("{path}.{key}"), "unknown statement element"));
        }
    }
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) if s.chars().all(|c| c.is_ascii_alphanumeric()) => Some(s.clone()),
        Some(_) => {
            return Err(err(
                format!("{path}.Sid"),
                "must be a string of letters and digits",
            ));
        }
    };
    let effect = match map.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(_) => return Err(err(format!("{path}.Effect"), "must be Allow or Deny")),
        None => return Err(err(path, "missing Effect")),
    };
    let action = match (map.get("Action"), map.get("NotAction")) {
        (Some(_), Some(_)) => return Err(err(path, "has both Action and NotAction")),
        (Some(v), None) => Patterns {
            values: actions(&format!("{path}.Action"), v)?,
            negated: false,
        },
        (None, Some(v)) => Patterns {
            values: actions(&format!("{path}.NotAction"), v)?,
            negated: true,
        },
        (None, None) => return Err(err(path, "missing Action or NotAction")),
    };
    let resource = match (map.get("Resource"), map.get("NotResource")) {
        (Some(_), Some(_)) => return Err(err(path, "has both Resource and NotResource")),
        (Some(v), None) => Some(Patterns {
            values: resources(&format!("{path}.Resource"), v)?,
            negated: false,
        }),
        (None, Some(v)) => Some(Patterns {
            values: resources(&format!("{path}.NotResource"), v)?,
            negated: true,
        }),
        (None, None) if kind == PolicyKind::Identity => {
            return Err(err(path, "missing Resource or NotResource"));
        }
        (None, None) => None,
    };
    let principal = match (map.get("Principal"), map.get("NotPrincipal")) {
        (Some(_), Some(_)) => return Err(err(path, "has both Principal and NotPrincipal")),
        (Some(_), None) | (None, Some(_)) if kind == PolicyKind::Identity => {
            return Err(err(
                path,
                "an identity-based policy must not name a Principal",
            ));
        }
        (Some(v), None) => Some(principals(&format!("{path}.Principal"), v, false)?),
        (None, Some(v)) => Some(principals(&format!("{path}.NotPrincipal"), v, true)?),
        (None, None) if kind == PolicyKind::Resource => {
            return Err(err(path, "a resource-based policy must name a Principal"));
        }
        (None, None) => None,
    };
    let conditions = match map.get("Condition") {
        None => Vec::new(),
        Some(v) => conditions(&format!("{path}.Condition"), v)?,
    };
    Ok(Statement {
        index,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn actions(path: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    let list = strings(path, value)?;
    for (i, a) in list.iter().enumerate() {
        let valid = a == "*"
            || a.split_once(':').is_some_and(|(svc, name)| {
                !svc.is_empty()
                    && !name.is_empty()
                    && svc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(err(
                format!("{path}[{i}]"),
                format!("'{a}' is not an action (service:Action)"),
            ));
        }
    }
    Ok(list)
}

fn resources(path: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    let list = strings(path, value)?;
    for (i, r) in list.iter().enumerate() {
        if r != "*" && !(r.starts_with("arn:") && r.splitn(6, ':').count() == 6) {
            return Err(err(
                format!("{path}[{i}]"),
                format!("'{r}' is not an ARN or \"*\""),
            ));
        }
    }
    Ok(list)
}

fn principals(path: &str, value: &Value, negated: bool) -> Result<PrincipalSpec, PolicyError> {
    let mut spec = PrincipalSpec {
        negated,
        ..PrincipalSpec::default()
    };
    match value {
        Value::String(s) if s == "*" => spec.everyone = true,
        Value::Object(map) if !map.is_empty() => {
            for (kind, v) in map {
                let p = format!("{path}.{kind}");
                let list = strings(&p, v)?;
                match kind.as_str() {
                    "AWS" => {
                        for (i, a) in list.iter().enumerate() {
                            let account = a.len() == 12 && a.chars().all(|c| c.is_ascii_digit());
                            if a != "*" && !account && !a.starts_with("arn:") {
                                return Err(err(
                                    format!("{p}[{i}]"),
                                    format!("'{a}' is not an ARN, an account id or \"*\""),
                                ));
                            }
                        }
                        spec.everyone |= list.iter().any(|a| a == "*");
                        spec.aws.extend(list.into_iter().filter(|a| a != "*"));
                    }
                    "Service" => spec.service.extend(list),
                    "Federated" | "CanonicalUser" => {}
                    _ => return Err(err(p, "unknown principal type")),
                }
            }
        }
        _ => return Err(err(path, "must be \"*\" or an object like {\"AWS\": ARN}")),
    }
    Ok(spec)
}

fn conditions(path: &str, value: &Value) -> Result<Vec<ConditionEntry>, PolicyError> {
    let Value::Object(ops) = value else {
        return Err(err(path, "must be an object of condition operators"));
    };
    let mut out = Vec::new();
    for (name, keys) in ops {
        let p = format!("{path}.{name}");
        let operator = Operator::parse(name)
            .ok_or_else(|| err(&p, format!("unknown condition operator '{name}'")))?;
        let Value::Object(keys) = keys else {
            return Err(err(&p, "must be an object of condition keys"));
        };
        if keys.is_empty() {
            return Err(err(&p, "names no condition key"));
        }
        for (key, values) in keys {
            let kp = format!("{p}.{key}");
            if key.is_empty() {
                return Err(err(&kp, "empty condition key"));
            }
            let values = condition_values(&kp, values)?;
            for v in &values {
                operator.check_value(v).map_err(|reason| err(&kp, reason))?;
            }
            out.push(ConditionEntry {
                operator,
                operator_name: name.clone(),
                key: key.clone(),
                key_lower: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_path() {
        let cases = [
            ("{", "$"),
            ("[]", "$"),
            (r#"{"Version":"2012-10-17"}"#, "$"),
            (r#"{"Version":"1","Statement":[]}"#, "$.Version"),
            (r#"{"Statement":[],"Extra":1}"#, "$.Extra"),
            (r#"{"Statement":[]}"#, "$.Statement"),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Perhaps","Action":"*","Resource":"*"}]}"#,
                "$.Statement[1].Effect",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":["secretsmanager:Get*", 5],"Resource":"*"}}"#,
                "$.Statement.Action[1]",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"GetSecretValue","Resource":"*"}}"#,
                "$.Statement.Action[0]",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"my-secret"}}"#,
                "$.Statement.Resource[0]",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#,
                "$.Statement",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}}"#,
                "$.Statement",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSorta":{"k":"v"}}}}"#,
                "$.Statement.Condition.StringSorta",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"k":"ten"}}}}"#,
                "$.Statement.Condition.NumericLessThan.k",
            ),
            (
                r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                "$.Statement[1].Sid",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Bogus":1}}"#,
                "$.Statement.Bogus",
            ),
        ];
        for (text, path) in cases {
            let e = Policy::parse(text, PolicyKind::Identity).expect_err(text);
            assert_eq!(e.path, path, "{text}: {e}");
        }
        let e = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#,
            PolicyKind::Resource,
        )
        .expect_err("principal");
        assert!(e.reason.contains("Principal"));
        let e = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Principal":{"AWS":"bob"}}}"#,
            PolicyKind::Resource,
        )
        .expect_err("bad principal");
        assert_eq!(e.path, "$.Statement.Principal.AWS[0]");
    }

    #[test]
    fn parses_the_signal9_reader_policy() {
        let text = r#"{
          "Version": "2012-10-17",
          "Statement": [{
            "Sid": "ReadApiKeys",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": "arn:aws:secretsmanager:*:*:secret:signal9-advisor/*",
            "Condition": {"StringEquals": {"secretsmanager:ResourceTag/Project": "Signal9Advisor"}, "Bool": {"aws:SecureTransport": true}}
          }]
        }"#;
        let p = Policy::parse(text, PolicyKind::Identity).expect("policy");
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.statements[0].sid.as_deref(), Some("ReadApiKeys"));
        assert_eq!(p.statements[0].conditions.len(), 2);
        let resource = r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":["123456789012","arn:aws:iam::123456789012:role/x"],"Service":"secretsmanager.amazonaws.com"},"NotAction":"secretsmanager:Describe*"}}"#;
        let p = Policy::parse(resource, PolicyKind::Resource).expect("resource policy");
        let principal = p.statements[0].principal.as_ref().expect("principal");
        assert_eq!(principal.aws.len(), 2);
        assert!(p.statements[0].action.negated);
    }
}
