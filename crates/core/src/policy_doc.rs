//! Structural checks of resource policy documents (PutResourcePolicy,
//! ValidateResourcePolicy). Evaluation belongs to the policy engine.

use s9_wire::shapes::ValidationErrorEntry;
use s9_wire::{ApiError, ErrorCode};
use serde_json::Value;

fn malformed(reason: &str) -> ApiError {
    ApiError::new(
        ErrorCode::MalformedPolicyDocument,
        format!("This resource policy contains an unsupported format: {reason}"),
    )
}

/// Parses a policy document: a JSON object whose `Statement` is an object or a non-empty
/// array of objects, each with `Effect` Allow or Deny.
pub(crate) fn parse(text: &str) -> Result<Value, ApiError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|_| malformed("the document is not valid JSON"))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| malformed("the document must be a JSON object"))?;
    if let Some(v) = obj.get("Version")
        && !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17"))
    {
        return Err(malformed("Version must be 2012-10-17 or 2008-10-17"));
    }
    let statements = statements(&doc);
    if statements.is_empty() {
        return Err(malformed("the document has no Statement"));
    }
    for s in statements {
        let s = s
            .as_object()
            .ok_or_else(|| malformed("each statement must be a JSON object"))?;
        if !matches!(
            s.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        ) {
            return Err(malformed("each statement needs an Effect of Allow or Deny"));
        }
        if s.get("Action").is_none() && s.get("NotAction").is_none() {
            return Err(malformed("each statement needs an Action or NotAction"));
        }
    }
    Ok(doc)
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

fn grants_everyone(principal: &Value) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Object(map) => map.get("AWS").is_some_and(grants_everyone),
        Value::Array(list) => list.iter().any(grants_everyone),
        _ => false,
    }
}

/// Whether an unconditional Allow statement grants access to any principal.
pub(crate) fn is_public(doc: &Value) -> bool {
    statements(doc).into_iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && s.get("Condition").is_none()
            && (s.get("Principal").is_some_and(grants_everyone) || s.get("NotPrincipal").is_some())
    })
}

/// Findings that do not make the document unparseable but make it wrong for a resource
/// policy.
pub(crate) fn findings(doc: &Value) -> Vec<ValidationErrorEntry> {
    let mut out = Vec::new();
    for (i, s) in statements(doc).into_iter().enumerate() {
        if s.get("Principal").is_none() && s.get("NotPrincipal").is_none() {
            out.push(ValidationErrorEntry {
                check_name: "MISSING_PRINCIPAL".into(),
                error_message: format!("Statement {i} of a resource policy must name a Principal."),
            });
        }
        if s.get("Principal").is_some_and(grants_everyone)
            && s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && s.get("Condition").is_none()
        {
            out.push(ValidationErrorEntry {
                check_name: "BROAD_ACCESS".into(),
                error_message: format!("Statement {i} grants access to every principal."),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_is_checked() {
        for bad in [
            "not json",
            "[]",
            r#"{"Version":"2001-01-01","Statement":[]}"#,
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Statement":["x"]}"#,
            r#"{"Statement":{"Effect":"Maybe","Action":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow"}}"#,
        ] {
            assert_eq!(
                parse(bad).expect_err(bad).code,
                ErrorCode::MalformedPolicyDocument,
                "{bad}"
            );
        }
        let single = parse(r#"{"Statement":{"Effect":"Deny","NotAction":"secretsmanager:Get*","Principal":{"AWS":["arn:aws:iam::1:root","*"]}}}"#).expect("single statement");
        assert!(!is_public(&single), "a Deny is never public");
        assert!(findings(&single).is_empty());
    }

    #[test]
    fn public_grants_are_found() {
        let public = parse(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root","*"]},"Action":"*"}]}"#).expect("doc");
        assert!(is_public(&public));
        assert_eq!(findings(&public)[0].check_name, "BROAD_ACCESS");
        let conditioned = parse(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"1"}}}]}"#).expect("doc");
        assert!(!is_public(&conditioned));
        let no_principal =
            parse(r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#).expect("doc");
        assert_eq!(findings(&no_principal)[0].check_name, "MISSING_PRINCIPAL");
        let not_principal = parse(r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::1:root"},"Action":"*"}]}"#).expect("doc");
        assert!(is_public(&not_principal));
    }
}
