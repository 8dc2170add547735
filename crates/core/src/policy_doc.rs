//! Resource policies as Secrets Manager takes them: parsed by `s9-policy`, checked for public
//! access (BlockPublicPolicy) and for findings (ValidateResourcePolicy).

use s9_policy::{Effect, Policy, PolicyKind};
use s9_wire::shapes::ValidationErrorEntry;
use s9_wire::{ApiError, ErrorCode};

/// Parses a resource policy; a malformed one is MalformedPolicyDocumentException with
/// AWS's text, and the JSON path and reason of the problem in the service log (and from
/// `s9-secrets policy validate`).
pub(crate) fn parse(text: &str) -> Result<Policy, ApiError> {
    Policy::parse(text, PolicyKind::Resource).map_err(|e| {
        tracing::info!(problem = %e, "malformed resource policy");
        ApiError::new(
            ErrorCode::MalformedPolicyDocument,
            "This policy has invalid syntax.",
        )
    })
}

/// Whether an unconditional Allow grants access to any principal (`"*"`, or a
/// `NotPrincipal`, which grants everyone it does not name).
pub(crate) fn is_public(policy: &Policy) -> bool {
    policy.statements.iter().any(|s| {
        s.effect == Effect::Allow
            && s.conditions.is_empty()
            && s.principal
                .as_ref()
                .is_some_and(|p| p.everyone || p.negated)
    })
}

/// Findings that leave the document valid but wrong for a secret's resource policy.
pub(crate) fn findings(policy: &Policy) -> Vec<ValidationErrorEntry> {
    let mut out = Vec::new();
    let mut finding = |check: &str, message: String| {
        out.push(ValidationErrorEntry {
            check_name: check.into(),
            error_message: message,
        })
    };
    for s in &policy.statements {
        let at = format!("Statement[{}]", s.index);
        if s.effect == Effect::Allow
            && s.conditions.is_empty()
            && s.principal
                .as_ref()
                .is_some_and(|p| p.everyone || p.negated)
        {
            finding(
                "BROAD_ACCESS",
                format!("{at} allows every principal: the secret would be public."),
            );
        }
        let foreign_action = s.action.values.iter().find(|a| {
            !(a.as_str() == "*" || a.to_ascii_lowercase().starts_with("secretsmanager:"))
        });
        if let Some(a) = foreign_action.filter(|_| !s.action.negated) {
            finding(
                "ACTION_MISMATCH",
                format!("{at}: action {a} does not apply to a secret."),
            );
        }
        if let Some(r) = s.resource.as_ref().and_then(|r| {
            r.values
                .iter()
                .find(|v| v.as_str() != "*" && !v.starts_with("arn:aws:secretsmanager:"))
        }) {
            finding(
                "RESOURCE_MISMATCH",
                format!("{at}: resource {r} is not a secret."),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_documents_get_the_answer_aws_gives() {
        let err = parse(r#"{"Statement":{"Effect":"Maybe","Action":"*","Principal":"*"}}"#)
            .expect_err("effect");
        assert_eq!(err.code, ErrorCode::MalformedPolicyDocument);
        assert_eq!(err.message, "This policy has invalid syntax.");
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#).is_err());
    }

    #[test]
    fn public_grants_and_findings() {
        let public = parse(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root","*"]},"Action":"*"}]}"#).expect("doc");
        assert!(is_public(&public));
        assert_eq!(findings(&public)[0].check_name, "BROAD_ACCESS");
        let conditioned = parse(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"1"}}}]}"#).expect("doc");
        assert!(!is_public(&conditioned));
        let deny =
            parse(r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"*"}}"#).expect("doc");
        assert!(!is_public(&deny));
        assert!(findings(&deny).is_empty());
        let not_principal = parse(r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::1:root"},"Action":"secretsmanager:*"}]}"#).expect("doc");
        assert!(is_public(&not_principal));
        let mismatched = parse(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:role/r"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}]}"#).expect("doc");
        let checks: Vec<String> = findings(&mismatched)
            .into_iter()
            .map(|f| f.check_name)
            .collect();
        assert_eq!(checks, ["ACTION_MISMATCH", "RESOURCE_MISMATCH"]);
    }
}
