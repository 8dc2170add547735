//! Turning a secret's text into typed values without ever quoting it: serde's own messages
//! can echo the offending value ("invalid type: string \"…\""), so only field names and the
//! kind of problem leave this module.

use serde::de::DeserializeOwned;

use crate::Error;

/// A JSON secret document that checks itself before it is cached.
pub trait SecretDocument: DeserializeOwned + Send + Sync + 'static {
    /// What the document is, for error messages ("Signal9 API credentials").
    const EXPECTED: &'static str;

    /// Checks the parsed document; an error names the field, never its value.
    fn validate(&self) -> Result<(), FieldError>;
}

/// A field of a secret document that is missing or implausible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Parses and validates a [`SecretDocument`].
pub(crate) fn document<T: SecretDocument>(secret_id: &str, text: &str) -> Result<T, Error> {
    let doc: T = json(secret_id, text, T::EXPECTED)?;
    doc.validate().map_err(|f| Error::Invalid {
        secret_id: secret_id.to_owned(),
        expected: T::EXPECTED,
        field: Some(f.field),
        problem: f.problem,
    })?;
    Ok(doc)
}

/// Parses `text` as JSON into `T`, reporting only where and what kind of problem there was.
pub(crate) fn json<T: DeserializeOwned>(
    secret_id: &str,
    text: &str,
    expected: &'static str,
) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (field, problem) = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => (
                None,
                format!(
                    "not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ),
            ),
            serde_json::error::Category::Data => data_problem(&path, &inner.to_string()),
            serde_json::error::Category::Io => (None, "could not be read".to_owned()),
        };
        Error::Invalid {
            secret_id: secret_id.to_owned(),
            expected,
            field,
            problem,
        }
    })
}

/// Field-name-only messages pass through; anything else becomes "wrong type".
fn data_problem(path: &str, message: &str) -> (Option<String>, String) {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('`'))
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_owned())
    };
    if let Some(name) = named("missing field ") {
        return (Some(name), "missing".to_owned());
    }
    if let Some(name) = named("duplicate field ") {
        return (Some(name), "given twice".to_owned());
    }
    let field = (path != ".").then(|| path.to_owned());
    (field, "has the wrong type or an invalid value".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        key: String,
        n: u32,
    }

    fn problem(text: &str) -> (Option<String>, String) {
        match json::<Doc>("s", text, "doc") {
            Err(Error::Invalid { field, problem, .. }) => (field, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_fields_but_never_quote_values() {
        let canary = "CANARY-7f3a9";
        for text in [
            format!(r#"{{"key": 1, "n": "{canary}"}}"#),
            format!(r#"{{"key": "x", "n": "{canary}"}}"#),
            format!(r#"{{"key": "{canary}", "n": -1}}"#),
            format!(r#"["{canary}"]"#),
            format!(r#"{{"key": "{canary}""#),
            format!(r#"{{"key": "{canary}", "n": 1, "key": "{canary}"}}"#),
        ] {
            let (field, problem) = problem(&text);
            assert!(!problem.contains(canary), "{problem}");
            assert!(!field.unwrap_or_default().contains(canary));
        }
        assert_eq!(
            problem(r#"{"key": "x"}"#),
            (Some("n".into()), "missing".into())
        );
        assert_eq!(problem(r#"{"key": "x", "n": "1"}"#).0, Some("n".into()));
        assert!(problem("{").1.starts_with("not valid JSON"));
    }
}
