//! The Signal9 pipeline's API credentials: one JSON secret holding the AlphaVantage key and
//! the Alpaca key pair, checked for plausibility before it is cached.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::decode::{FieldError, SecretDocument};

/// `{"alphaVantageApiKey": "…", "alpacaApiKey": "…", "alpacaApiSecret": "…"}`. Values are
/// zeroized on drop and never shown by `Debug`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCredentials {
    alpha_vantage_api_key: SecretString,
    alpaca_api_key: SecretString,
    alpaca_api_secret: SecretString,
}

impl std::fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCredentials")
            .field("alpha_vantage_api_key", &"[REDACTED]")
            .field("alpaca_api_key", &"[REDACTED]")
            .field("alpaca_api_secret", &"[REDACTED]")
            .finish()
    }
}

impl ApiCredentials {
    /// The document's field names, in order.
    pub const FIELDS: [&'static str; 3] = ["alphaVantageApiKey", "alpacaApiKey", "alpacaApiSecret"];

    /// Checked credentials from their three values, as `populate` takes them.
    pub fn new(
        alpha_vantage_api_key: SecretString,
        alpaca_api_key: SecretString,
        alpaca_api_secret: SecretString,
    ) -> Result<Self, crate::Error> {
        let creds = Self {
            alpha_vantage_api_key,
            alpaca_api_key,
            alpaca_api_secret,
        };
        creds.validate().map_err(|f| crate::Error::Invalid {
            secret_id: String::new(),
            expected: Self::EXPECTED,
            field: Some(f.field),
            problem: f.problem,
        })?;
        Ok(creds)
    }

    /// Parses and checks a credentials document, as the cache does before caching it.
    pub fn parse(text: &str) -> Result<Self, crate::Error> {
        crate::decode::document("", text)
    }

    /// The secret's JSON document, built by a real encoder (any character survives).
    pub fn to_json(&self) -> SecretString {
        // Members in sorted order whether or not serde_json keeps insertion order: the
        // document's bytes name its version (`populate` and populate-secrets.sh derive the
        // ClientRequestToken from them).
        let doc = serde_json::json!({
            "alpacaApiKey": self.alpaca_api_key.expose_secret(),
            "alpacaApiSecret": self.alpaca_api_secret.expose_secret(),
            "alphaVantageApiKey": self.alpha_vantage_api_key.expose_secret(),
        });
        SecretString::from(doc.to_string())
    }

    pub fn alpha_vantage_api_key(&self) -> &SecretString {
        &self.alpha_vantage_api_key
    }

    pub fn alpaca_api_key(&self) -> &SecretString {
        &self.alpaca_api_key
    }

    pub fn alpaca_api_secret(&self) -> &SecretString {
        &self.alpaca_api_secret
    }
}

/// What a plausible value of one field looks like: `api-credentials.rules.json`, which
/// `scripts/populate-secrets.sh` reads too, so both refuse the same values.
#[derive(Deserialize)]
struct Rule {
    field: String,
    min: usize,
    max: usize,
    alphabet: String,
    charset: String,
}

#[derive(Deserialize)]
struct Rules {
    fields: Vec<Rule>,
}

fn rules() -> &'static [Rule] {
    static RULES: std::sync::LazyLock<Rules> = std::sync::LazyLock::new(|| {
        serde_json::from_str(include_str!("api-credentials.rules.json"))
            .expect("the embedded rules parse (a unit test reads them)")
    });
    &RULES.fields
}

impl Rule {
    fn check(&self, value: &str) -> Result<(), FieldError> {
        let problem = if value.is_empty() {
            "is empty".to_owned()
        } else if value.chars().any(char::is_whitespace) {
            "contains whitespace".to_owned()
        } else if !(self.min..=self.max).contains(&value.chars().count()) {
            format!("is not {} to {} characters long", self.min, self.max)
        } else if !value.chars().all(|c| self.alphabet.contains(c)) {
            format!("has characters other than {}", self.charset)
        } else {
            return Ok(());
        };
        Err(FieldError::new(&self.field, problem))
    }
}

impl SecretDocument for ApiCredentials {
    const EXPECTED: &'static str = "Signal9 API credentials document";

    fn validate(&self) -> Result<(), FieldError> {
        let values = [
            &self.alpha_vantage_api_key,
            &self.alpaca_api_key,
            &self.alpaca_api_secret,
        ];
        rules()
            .iter()
            .zip(values)
            .try_for_each(|(rule, value)| rule.check(value.expose_secret()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AV: &str = "DEMO1234ABCD5678";
    const KEY: &str = "PKTEST1234567890ABCD";
    const SECRET: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";

    fn parse(av: &str, key: &str, secret: &str) -> Result<ApiCredentials, crate::Error> {
        let text = serde_json::json!({
            "alphaVantageApiKey": av, "alpacaApiKey": key, "alpacaApiSecret": secret
        })
        .to_string();
        ApiCredentials::parse(&text)
    }

    fn field_problem(av: &str, key: &str, secret: &str) -> (String, String) {
        match parse(av, key, secret) {
            Err(crate::Error::Invalid {
                field: Some(field),
                problem,
                ..
            }) => (field, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_shared_rules_name_the_fields_in_document_order() {
        let names: Vec<&str> = rules().iter().map(|r| r.field.as_str()).collect();
        assert_eq!(names, ApiCredentials::FIELDS);
    }

    #[test]
    fn plausible_credentials_pass_and_debug_hides_them() {
        let creds = parse(AV, KEY, SECRET).expect("valid");
        assert_eq!(creds.alpaca_api_key().expose_secret(), KEY);
        let again = ApiCredentials::parse(creds.to_json().expose_secret()).expect("round trip");
        assert_eq!(again.alpaca_api_secret().expose_secret(), SECRET);
        let debug = format!("{creds:?}");
        for v in [AV, KEY, SECRET] {
            assert!(!debug.contains(v), "{debug}");
        }
    }

    #[test]
    fn each_bad_field_is_named_without_its_value() {
        let cases = [
            ("", KEY, SECRET, "alphaVantageApiKey", "is empty"),
            (
                "DEMO 1234ABCD5678",
                KEY,
                SECRET,
                "alphaVantageApiKey",
                "contains whitespace",
            ),
            (
                "SHORT",
                KEY,
                SECRET,
                "alphaVantageApiKey",
                "is not 8 to 64 characters long",
            ),
            (
                AV,
                "pktest1234567890abcd",
                SECRET,
                "alpacaApiKey",
                "has characters other than upper-case letters and digits",
            ),
            (
                AV,
                KEY,
                "tooshort",
                "alpacaApiSecret",
                "is not 32 to 128 characters long",
            ),
            (
                AV,
                KEY,
                "abcdefghijklmnopqrstuvwxyz0123456789ABC\n",
                "alpacaApiSecret",
                "contains whitespace",
            ),
        ];
        for (av, key, secret, field, problem) in cases {
            let (f, p) = field_problem(av, key, secret);
            assert_eq!((f.as_str(), p.as_str()), (field, problem));
            for v in [av, key, secret].into_iter().filter(|v| v.len() > 4) {
                assert!(!p.contains(v));
            }
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        let r: Result<ApiCredentials, _> =
            crate::decode::json("s", r#"{"alphaVantageApiKey":"DEMO1234ABCD5678"}"#, "creds");
        match r {
            Err(crate::Error::Invalid { field, problem, .. }) => {
                assert_eq!(field.as_deref(), Some("alpacaApiKey"));
                assert_eq!(problem, "missing");
            }
            other => panic!("{other:?}"),
        }
    }
}
