//! `*` and `?` wildcards, as IAM matches actions, resources and `StringLike` values.

/// Whether `text` matches `pattern`, where `*` stands for any run of characters and `?`
/// for exactly one. Iterative with backtracking to the last `*`: linear in practice, never
/// exponential.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Case-insensitive [`matches`] (action names).
pub(crate) fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    matches(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
}

/// ARN matching: the six `:`-separated parts are matched part by part, so a wildcard never
/// spans a `:` boundary of the first five parts (the resource part may contain `:`).
pub(crate) fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() != 6 || a.len() != 6 {
        return matches(pattern, arn);
    }
    p.iter().zip(&a).all(|(p, a)| matches(p, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", ""));
        assert!(matches(
            "secretsmanager:Get*",
            "secretsmanager:GetSecretValue"
        ));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*Secret*", "GetSecretValue"));
        assert!(!matches("Get", "GetSecretValue"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches_ignore_case(
            "SecretsManager:getsecret*",
            "secretsmanager:GetSecretValue"
        ));
        assert!(!matches(
            "secretsmanager:getsecretvalue",
            "secretsmanager:GetSecretValue"
        ));
    }

    #[test]
    fn arns() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signal9-advisor/api-credentials-AbCdEf";
        assert!(arn_matches(
            "arn:aws:secretsmanager:*:*:secret:signal9-advisor/*",
            arn
        ));
        assert!(arn_matches(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:signal9-advisor/api-credentials-??????",
            arn
        ));
        assert!(!arn_matches(
            "arn:aws:secretsmanager:eu-west-1:*:secret:*",
            arn
        ));
        assert!(
            !arn_matches("arn:aws:secretsmanager:*:secret:*", arn),
            "a * does not span parts"
        );
        assert!(arn_matches("*", arn));
    }
}
