//! Request parameters and response elements as CloudTrail records them: a JSON object with
//! members in camelCase and secret material removed at any depth.
//!
//! The rule lives here, once: a member named `SecretString`, `SecretBinary` or
//! `RandomPassword` (in any letter case) is dropped with its value, wherever it is. The
//! request's bytes are copied into the record as they are read, member by member, with no
//! tree in between: a request costs its record no allocation beyond the text itself.

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// Members that carry secret material.
const SECRET_MEMBERS: [&str; 3] = ["SecretString", "SecretBinary", "RandomPassword"];

fn is_secret(name: &str) -> bool {
    SECRET_MEMBERS.iter().any(|m| m.eq_ignore_ascii_case(name))
}

/// A JSON object as a record holds it (see the module docs), kept as its text (valid JSON:
/// written by the copy, or read back as a [`RawValue`]).
#[derive(Clone)]
pub struct Members(Box<str>);

impl Serialize for Members {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::from_str::<&RawValue>(&self.0)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self(raw.get().into()))
    }
}

impl Members {
    /// `json` (a request body or response), as CloudTrail records it; `None` unless it is a
    /// JSON object.
    pub fn sanitize(json: &[u8]) -> Option<Self> {
        Self::copy(json, None)
    }

    /// A request body as its operation read it: only the top-level members in `known`
    /// (spelled exactly so) are copied, so the record names what was acted on, not another
    /// spelling the decoder ignored.
    pub fn sanitize_request(json: &[u8], known: &[&str]) -> Option<Self> {
        Self::copy(json, Some(known))
    }

    fn copy(json: &[u8], known: Option<&[&str]>) -> Option<Self> {
        if json.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        let mut out = Vec::with_capacity(json.len());
        let mut de = serde_json::Deserializer::from_slice(json);
        CopyValue {
            known,
            ..CopyValue::new(&mut out)
        }
        .deserialize(&mut de)
        .ok()?;
        de.end().ok()?;
        String::from_utf8(out).ok().map(|text| Self(text.into()))
    }

    /// Details the service itself gives (of its own events): recorded as they are.
    pub fn from_value(details: &serde_json::Value) -> Self {
        Self(details.to_string().into())
    }

    /// The member `name` (top level), if it is there and reads as a `T`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let [value] = self.find([name]);
        read(value)
    }

    /// The top-level members named `names`, found in one pass, each as its JSON text; the
    /// last of the same name counts, as in a `serde_json::Value`.
    pub fn find<const N: usize>(&self, names: [&str; N]) -> [Option<&RawValue>; N] {
        let mut de = serde_json::Deserializer::from_str(&self.0);
        de.deserialize_map(Find { names }).unwrap_or([None; N])
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Members {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

/// A member [`Members::find`] found, if it reads as a `T`.
pub(crate) fn read<T: DeserializeOwned>(value: Option<&RawValue>) -> Option<T> {
    serde_json::from_str(value?.get()).ok()
}

/// Holds no secret material: that never gets in.
impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member name as read: borrowed from the input unless it had escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Copies one JSON value from a deserializer to `out`, dropping secret members and
/// lowering the first letter of member names (`SecretId` → `secretId`).
struct CopyValue<'a> {
    out: &'a mut Vec<u8>,
    /// Put a comma before the value (it follows another in an array).
    comma: bool,
    /// The members an object may keep (top level only); `None` keeps all.
    known: Option<&'a [&'a str]>,
}

impl<'a> CopyValue<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            comma: false,
            known: None,
        }
    }

    fn write<T: Serialize + ?Sized, E: de::Error>(self, value: &T) -> Result<(), E> {
        if self.comma {
            self.out.push(b',');
        }
        value
            .serialize(&mut serde_json::Serializer::new(&mut *self.out))
            .map_err(E::custom)
    }

    /// A member's name, first letter lowered (names are ASCII in every AWS shape; a first
    /// ASCII letter is never escaped, so it is the byte after the quote).
    fn write_name<E: de::Error>(&mut self, name: &str) -> Result<(), E> {
        let first = self.out.len() + 1;
        CopyValue::new(self.out).write(name)?;
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            self.out[first].make_ascii_lowercase();
        }
        self.out.push(b':');
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for CopyValue<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CopyValue<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.write(&v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.write(&v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.write(&v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.write(&v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.write(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.write(&())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.comma {
            self.out.push(b',');
        }
        self.out.push(b'[');
        let mut comma = false;
        while seq
            .next_element_seed(CopyValue {
                out: &mut *self.out,
                comma,
                known: None,
            })?
            .is_some()
        {
            comma = true;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        if self.comma {
            self.out.push(b',');
        }
        self.out.push(b'{');
        let mut first = true;
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            let unknown = self.known.is_some_and(|k| !k.contains(&name.as_ref()));
            if unknown || is_secret(&name) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            self.write_name(&name)?;
            map.next_value_seed(CopyValue::new(&mut *self.out))?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// Finds top-level members by name (see [`Members::find`]).
struct Find<'n, const N: usize> {
    names: [&'n str; N],
}

impl<'de, const N: usize> Visitor<'de> for Find<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = [None; N];
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            match self.names.iter().position(|n| *n == name) {
                Some(i) => found[i] = Some(map.next_value::<&'de RawValue>()?),
                None => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanitized(json: &str) -> String {
        Members::sanitize(json.as_bytes())
            .expect("an object")
            .as_str()
            .to_owned()
    }

    #[test]
    fn a_request_keeps_only_the_members_its_operation_reads() {
        let kept = Members::sanitize_request(
            br#"{"SecretId":"a","secretId":"b","SECRETID":"c","VersionStage":"AWSCURRENT","Filters":[{"Key":"name"}]}"#,
            &["SecretId", "VersionStage"],
        )
        .expect("an object");
        assert_eq!(
            kept.as_str(),
            r#"{"secretId":"a","versionStage":"AWSCURRENT"}"#
        );
    }

    #[test]
    fn secret_members_are_dropped_at_any_depth_and_in_any_case() {
        let s = sanitized(
            r#"{"SecretId":"a","SecretString":"canary","SecretBinary":"Y2FuYXJ5",
                "SecretValues":[{"ARN":"x","SecretString":"canary"},{"secretstring":"canary"}],
                "RandomPassword":"canary","Secret\u0053tring":"canary","Tags":[]}"#,
        );
        assert!(!s.contains("canary") && !s.contains("Y2FuYXJ5"), "{s}");
        assert_eq!(
            s,
            r#"{"secretId":"a","secretValues":[{"aRN":"x"},{}],"tags":[]}"#
        );
    }

    #[test]
    fn values_are_copied_exactly() {
        let s = sanitized(
            r#" { "A": [1, -2, 2.5, true, false, null, "q\"\u00e9\n", {"\u0042": {}}], "b": "é" } "#,
        );
        assert_eq!(
            s,
            r#"{"a":[1,-2,2.5,true,false,null,"q\"é\n",{"b":{}}],"b":"é"}"#
        );
        let reparsed: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(reparsed["a"][6], "q\"é\n");
    }

    #[test]
    fn only_objects_are_members() {
        for json in [
            "[1]",
            "\"x\"",
            "3",
            "null",
            "",
            "{",
            "{\"a\":1} x",
            "{\"a\":}",
            "\u{fffd}",
        ] {
            assert!(Members::sanitize(json.as_bytes()).is_none(), "{json}");
        }
        assert!(Members::sanitize(b"\xff{}").is_none());
    }

    #[test]
    fn members_are_found_by_name() {
        let m =
            Members::sanitize(br#"{"SecretId":"a","SecretIdList":["b","c"],"N":1,"SecretId":"d"}"#)
                .expect("an object");
        assert_eq!(m.get::<String>("secretId").as_deref(), Some("d"));
        assert_eq!(
            m.get::<Vec<String>>("secretIdList"),
            Some(vec!["b".into(), "c".into()])
        );
        assert_eq!(m.get::<String>("n"), None, "not a string");
        assert_eq!(m.get::<u64>("n"), Some(1));
        assert_eq!(m.get::<String>("missing"), None);
        let details = Members::from_value(&serde_json::json!({"reason": "scheduled"}));
        assert_eq!(
            details.get::<String>("reason").as_deref(),
            Some("scheduled")
        );
    }
}
