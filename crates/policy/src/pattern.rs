//! `*` and `?` wildcards, as IAM matches actions, resources and `StringLike` values.

/// Whether `text` matches `pattern`, where `*` stands for any run of characters and `?`
/// for exactly one. Iterative with backtracking to the last `*`: linear in practice, never
/// exponential. Works on bytes when both are ASCII (no allocation), on chars otherwise.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return glob(pattern.as_bytes(), text.as_bytes(), |a, b| a == b);
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob(&p, &t, |a, b| a == b)
}

/// Case-insensitive [`matches`] for ASCII (action names).
pub(crate) fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return glob(pattern.as_bytes(), text.as_bytes(), |a: &u8, b: &u8| {
            a.eq_ignore_ascii_case(b)
        });
    }
    matches(&pattern.to_lowercase(), &text.to_lowercase())
}

trait Wild: Copy {
    fn is_star(self) -> bool;
    fn is_any(self) -> bool;
}

impl Wild for &u8 {
    fn is_star(self) -> bool {
        *self == b'*'
    }
    fn is_any(self) -> bool {
        *self == b'?'
    }
}

impl Wild for &char {
    fn is_star(self) -> bool {
        *self == '*'
    }
    fn is_any(self) -> bool {
        *self == '?'
    }
}

fn glob<'a, T>(p: &'a [T], t: &'a [T], eq: impl Fn(&'a T, &'a T) -> bool) -> bool
where
    &'a T: Wild,
{
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && !p[pi].is_star() && (p[pi].is_any() || eq(&p[pi], &t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi].is_star() {
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
    p[pi..].iter().all(|c| c.is_star())
}

/// ARN matching: the six `:`-separated parts are matched part by part, so a wildcard never
/// spans a `:` boundary of the first five parts (the resource part may contain `:`).
pub(crate) fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern.matches(':').count() < 5 || arn.matches(':').count() < 5 {
        return matches(pattern, arn);
    }
    pattern
        .splitn(6, ':')
        .zip(arn.splitn(6, ':'))
        .all(|(p, a)| matches(p, a))
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
