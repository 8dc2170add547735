//! ListSecrets and BatchGetSecretValue filters, sorting, and opaque pagination tokens.

use base64::Engine as _;
use s9_wire::shapes::Filter;
use s9_wire::{ApiError, ErrorCode};

use crate::record::SecretRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterKey {
    Name,
    Description,
    TagKey,
    TagValue,
    PrimaryRegion,
    OwningService,
    All,
}

/// Parsed filters: all must match; within one filter, any value may match; a value
/// starting with `!` negates.
#[derive(Debug, Default)]
pub(crate) struct Filters(Vec<(FilterKey, Vec<String>)>);

impl Filters {
    pub(crate) fn parse(filters: &[Filter]) -> Result<Self, ApiError> {
        let mut out = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            let key = match f.key.as_deref() {
                Some("name") => FilterKey::Name,
                Some("description") => FilterKey::Description,
                Some("tag-key") => FilterKey::TagKey,
                Some("tag-value") => FilterKey::TagValue,
                Some("primary-region") => FilterKey::PrimaryRegion,
                Some("owning-service") => FilterKey::OwningService,
                Some("all") => FilterKey::All,
                other => {
                    return Err(ApiError::new(
                        ErrorCode::Validation,
                        format!(
                            "1 validation error detected: Value '{}' at 'filters.{}.member.key' failed to satisfy constraint: Member must satisfy enum value set: [all, name, tag-key, description, tag-value, primary-region, owning-service]",
                            other.unwrap_or("null"),
                            i + 1
                        ),
                    ));
                }
            };
            let values = f.values.clone().unwrap_or_default();
            if values.is_empty() {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid filter: {} must have at least one value.",
                    f.key.as_deref().unwrap_or_default()
                )));
            }
            out.push((key, values));
        }
        Ok(Self(out))
    }

    pub(crate) fn matches(&self, record: &SecretRecord) -> bool {
        self.0
            .iter()
            .all(|(key, values)| values.iter().any(|v| value_matches(*key, v, record)))
    }
}

fn value_matches(key: FilterKey, value: &str, record: &SecretRecord) -> bool {
    let (negate, value) = match value.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let hit = match key {
        FilterKey::Name => words_match(value, &record.name),
        FilterKey::Description => record
            .description
            .as_deref()
            .is_some_and(|d| words_match(value, d)),
        FilterKey::TagKey => record
            .tags
            .iter()
            .flatten()
            .any(|(k, _)| k.starts_with(value)),
        FilterKey::TagValue => record
            .tags
            .iter()
            .flatten()
            .any(|(_, v)| v.starts_with(value)),
        FilterKey::PrimaryRegion => primary_region(record).is_some_and(|r| r.starts_with(value)),
        FilterKey::OwningService => record
            .owning_service
            .as_deref()
            .is_some_and(|s| s.starts_with(value)),
        FilterKey::All => all_attributes(record)
            .iter()
            .any(|attribute| words_match(value, attribute)),
    };
    hit != negate
}

/// Every word of `value` is a case-insensitive prefix of some word of `text`, words as
/// [`words`] splits them ("d t" matches "DescTwo"; "company" matches "uat/COMPANY/x" but not
/// "uat/COMPANYthings/x", whose words are "compan" and "ythings").
fn words_match(value: &str, text: &str) -> bool {
    let text = words(text);
    let filter = words(value);
    !filter.is_empty()
        && filter
            .iter()
            .all(|w| text.iter().any(|t| t.starts_with(w.as_str())))
}

/// The words Secrets Manager's search sees in `text`, lowercased: a word ends at any
/// character that is not a letter or digit, between a letter and a digit, where a lowercase
/// letter is followed by an uppercase one ("Desc|Two"), and before the last capital of a
/// run of capitals followed by a lowercase letter ("COMPAN|Ythings").
fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p))
            && prev.is_alphanumeric()
        {
            let next = chars.get(i + 1).copied();
            let boundary = prev.is_alphabetic() != c.is_alphabetic()
                || (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase()
                    && c.is_uppercase()
                    && next.is_some_and(char::is_lowercase));
            if boundary && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn primary_region(record: &SecretRecord) -> Option<&str> {
    record
        .primary_region
        .as_deref()
        .or_else(|| (!record.replicas.is_empty()).then_some(record.region.as_str()))
}

/// The attributes the `all` filter searches, each on its own.
fn all_attributes(record: &SecretRecord) -> Vec<&str> {
    let mut out = vec![record.name.as_str()];
    out.extend(record.description.as_deref());
    for (k, v) in record.tags.iter().flatten() {
        out.push(k);
        out.push(v);
    }
    out.extend(primary_region(record));
    out.extend(record.owning_service.as_deref());
    out
}

/// Sorts by `sort_by` (default creation date) in `order` (default ascending); ties by name.
pub(crate) fn sort(records: &mut [&SecretRecord], sort_by: Option<&str>, order: Option<&str>) {
    let key = |r: &SecretRecord| -> f64 {
        match sort_by {
            Some("last-accessed-date") => r.last_accessed.unwrap_or(0.0),
            Some("last-changed-date") => r.last_changed,
            _ => r.created,
        }
    };
    records.sort_by(|a, b| {
        let primary = if sort_by == Some("name") {
            a.name.cmp(&b.name)
        } else {
            key(a).total_cmp(&key(b))
        };
        primary.then_with(|| a.name.cmp(&b.name))
    });
    if order == Some("desc") {
        records.reverse();
    }
}

/// An offset into a listing, carried in an opaque `NextToken`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    offset: usize,
    size: usize,
}

const TOKEN_PREFIX: &str = "s9p1:";

impl Page {
    pub(crate) fn new(token: Option<&str>, max_results: i64) -> Result<Self, ApiError> {
        let size = usize::try_from(max_results).unwrap_or(100).max(1);
        let offset = match token {
            None => 0,
            Some(t) => {
                let invalid = || {
                    ApiError::new(
                        ErrorCode::InvalidNextToken,
                        "The NextToken value is invalid.",
                    )
                };
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .map_err(|_| invalid())?;
                let text = String::from_utf8(bytes).map_err(|_| invalid())?;
                text.strip_prefix(TOKEN_PREFIX)
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(invalid)?
            }
        };
        Ok(Self { offset, size })
    }

    /// The page's items and the token for the next page, if any.
    pub(crate) fn apply<'a, T>(&self, items: &'a [T]) -> (&'a [T], Option<String>) {
        let start = self.offset.min(items.len());
        let end = start.saturating_add(self.size).min(items.len());
        let next = (end < items.len()).then(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{end}"))
        });
        (&items[start..end], next)
    }
}

#[cfg(test)]
mod word_tests {
    use super::{words, words_match};

    #[test]
    fn words_split_as_aws_search_does() {
        assert_eq!(words("DescTwo"), ["desc", "two"]);
        assert_eq!(
            words("uat/COMPANYthings/x"),
            ["uat", "compan", "ythings", "x"]
        );
        assert_eq!(words("key2Rotate_v10"), ["key", "2", "rotate", "v", "10"]);
        assert!(words_match("d t", "DescTwo"));
        for name in [
            "prod/AppBeta/x",
            "prod_AppBeta_x",
            "prod+AppBeta+x",
            "prod=AppBeta=x",
            "prod.AppBeta.x",
            "prod@AppBeta@x",
            "prod-AppBeta-x",
        ] {
            assert!(words_match("Beta", name), "{name}");
        }
        assert!(words_match("company", "uat/COMPANY/x"));
        assert!(!words_match("company", "uat/COMPANYthings/x"));
        assert!(words_match("Ythings", "uat/COMPANYthings/x"));
        for nothing in ["things", "pany", "ret"] {
            assert!(
                !words_match(nothing, "uat/COMPANYthings/secret"),
                "{nothing}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list() {
        let items: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = Page::new(token.as_deref(), 3).expect("page");
            let (slice, next) = page.apply(&items);
            seen.extend_from_slice(slice);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
        assert_eq!(
            Page::new(Some("garbage!"), 3).expect_err("bad").code,
            ErrorCode::InvalidNextToken
        );
    }
}
