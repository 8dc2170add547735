//! GetRandomPassword: uniform choices from a cryptographic RNG.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use s9_wire::ApiError;
use s9_wire::shapes::GetRandomPasswordRequest;
use zeroize::Zeroizing;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const DEFAULT_LENGTH: i64 = 32;

/// A uniformly random index below `bound` (rejection sampling, no modulo bias).
fn uniform(rng: &SystemRandom, bound: usize) -> Result<usize, ApiError> {
    let bound = u32::try_from(bound).map_err(|_| ApiError::internal())?;
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let mut buf = [0u8; 4];
        rng.fill(&mut buf).map_err(|_| ApiError::internal())?;
        let n = u32::from_le_bytes(buf);
        if n < zone {
            return Ok((n % bound) as usize);
        }
    }
}

/// Generates a password per the request's options.
pub(crate) fn generate(req: &GetRandomPasswordRequest) -> Result<Zeroizing<String>, ApiError> {
    let length = usize::try_from(req.password_length.unwrap_or(DEFAULT_LENGTH))
        .map_err(|_| ApiError::internal())?;
    let excluded = req.exclude_characters.as_deref().unwrap_or_default();
    let keep =
        |set: &str| -> Vec<char> { set.chars().filter(|c| !excluded.contains(*c)).collect() };
    let mut classes: Vec<Vec<char>> = Vec::new();
    for (exclude, set) in [
        (req.exclude_lowercase, LOWER),
        (req.exclude_uppercase, UPPER),
        (req.exclude_numbers, DIGITS),
        (req.exclude_punctuation, PUNCTUATION),
    ] {
        if exclude != Some(true) {
            classes.push(keep(set));
        }
    }
    classes.retain(|c| !c.is_empty());
    // A space may appear, but RequireEachIncludedType covers only the four character
    // classes (as on AWS: length 4 with IncludeSpace succeeds).
    let space = if req.include_space == Some(true) {
        keep(" ")
    } else {
        Vec::new()
    };
    let all: Vec<char> = classes.iter().flatten().chain(&space).copied().collect();
    if all.is_empty() {
        return Err(ApiError::invalid_parameter(
            "The password length can't be satisfied: all characters are excluded.",
        ));
    }
    let require_each = req.require_each_included_type != Some(false);
    if require_each && length < classes.len() {
        return Err(ApiError::invalid_parameter(format!(
            "The password length {length} is too short to include a character of each of the {} included types.",
            classes.len()
        )));
    }
    let rng = SystemRandom::new();
    let mut chars: Zeroizing<Vec<char>> = Zeroizing::new(Vec::with_capacity(length));
    if require_each {
        for class in &classes {
            chars.push(class[uniform(&rng, class.len())?]);
        }
    }
    while chars.len() < length {
        chars.push(all[uniform(&rng, all.len())?]);
    }
    // Fisher-Yates, so the required characters are not always first.
    for i in (1..chars.len()).rev() {
        let j = uniform(&rng, i + 1)?;
        chars.swap(i, j);
    }
    Ok(Zeroizing::new(chars.iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_options() {
        let p = generate(&GetRandomPasswordRequest::default()).expect("password");
        assert_eq!(p.chars().count(), 32);
        let req = GetRandomPasswordRequest {
            password_length: Some(200),
            exclude_punctuation: Some(true),
            exclude_uppercase: Some(true),
            exclude_characters: Some("abc".into()),
            ..Default::default()
        };
        let p = generate(&req).expect("password");
        assert_eq!(p.len(), 200);
        assert!(
            p.chars()
                .all(|c| (c.is_ascii_lowercase() || c.is_ascii_digit()) && !"abc".contains(c))
        );
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        // Spaces are allowed, not required: length 4 with four types and a space works.
        let req = GetRandomPasswordRequest {
            password_length: Some(4),
            include_space: Some(true),
            ..Default::default()
        };
        assert_eq!(generate(&req).expect("password").chars().count(), 4);
        let req = GetRandomPasswordRequest {
            password_length: Some(64),
            include_space: Some(true),
            exclude_uppercase: Some(true),
            exclude_numbers: Some(true),
            exclude_punctuation: Some(true),
            exclude_characters: Some("bcdefghijklmnopqrstuvwxyz".into()),
            ..Default::default()
        };
        let p = generate(&req).expect("password");
        assert!(p.chars().all(|c| c == 'a' || c == ' ') && p.contains(' ') && p.contains('a'));
        let none = GetRandomPasswordRequest {
            exclude_lowercase: Some(true),
            exclude_uppercase: Some(true),
            exclude_numbers: Some(true),
            exclude_punctuation: Some(true),
            ..Default::default()
        };
        assert!(generate(&none).is_err());
        let short = GetRandomPasswordRequest {
            password_length: Some(3),
            ..Default::default()
        };
        assert!(generate(&short).is_err());
    }
}
