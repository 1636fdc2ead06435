//! Text from clients: refused at the edge when it holds control characters (U+0000–U+001F,
//! U+007F–U+009F) or is too long, before it reaches the engine or a database (PostgreSQL
//! cannot store U+0000 at all), and published as the same `pattern`/`maxLength`.

use super::reject;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// Free text without control characters.
pub const TEXT_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";
/// Ids of programs and partners (and the names of tiers).
pub const ID_PATTERN: &str = r"^[A-Za-z0-9._:-]{1,100}$";
/// Client keys (conversion ids, refund ids, idempotency keys): printable, not blank, no
/// leading or trailing space.
pub const KEY_PATTERN: &str =
    r"^[^\x00-\x20\x7F-\x9F]([^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\x9F])?$";

fn control(text: &str) -> Option<(usize, char)> {
    text.chars().enumerate().find(|(_, c)| c.is_control())
}

/// Check `text` against the text rules (no control character, at most `max` characters).
pub fn check_text(text: &str, max: usize) -> Result<(), String> {
    if let Some((at, c)) = control(text) {
        return Err(format!(
            "contains the control character U+{:04X} at position {at}; text may not hold \
             control characters",
            u32::from(c)
        ));
    }
    let n = text.chars().count();
    if n > max {
        return Err(format!("is {n} characters long; at most {max} are allowed"));
    }
    Ok(())
}

/// An id of a program or a partner: 1 to 100 of `A-Z a-z 0-9 . _ : -`.
pub fn is_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

fn is_key(text: &str) -> bool {
    let blank = |c: char| c == ' ' || c.is_control();
    !text.is_empty()
        && !text.starts_with(blank)
        && !text.ends_with(blank)
        && control(text).is_none()
}

fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d)
}

/// Free text of at most `MAX` characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Text<const MAX: usize>(pub String);

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d)?;
        check_text(&text, MAX).map_err(|e| reject("invalid-input", e))?;
        Ok(Self(text))
    }
}

impl<const MAX: usize> PartialSchema for Text<MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(TEXT_PATTERN))
            .max_length(Some(MAX))
            .description(Some("Text without control characters."))
            .into()
    }
}

impl<const MAX: usize> ToSchema for Text<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Text{MAX}"))
    }
}

/// Text that says something: at most `MAX` characters, no control characters, and not
/// only spaces (a reason, a note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonBlank<const MAX: usize>(pub String);

/// The pattern of [`NonBlank`] text.
pub const NON_BLANK_PATTERN: &str =
    r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";

impl<'de, const MAX: usize> Deserialize<'de> for NonBlank<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d)?;
        check_text(&text, MAX).map_err(|e| reject("invalid-input", e))?;
        // Blank is only spaces here, exactly as the pattern says (not Unicode's wider idea
        // of white space), so that the document and the parser agree.
        if text.chars().all(|c| c == ' ') {
            return Err(reject("invalid-input", "must say something".into()));
        }
        Ok(Self(text))
    }
}

impl<const MAX: usize> PartialSchema for NonBlank<MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NON_BLANK_PATTERN))
            .min_length(Some(1))
            .max_length(Some(MAX))
            .description(Some("Text without control characters, not only spaces."))
            .into()
    }
}

impl<const MAX: usize> ToSchema for NonBlank<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("NonBlank{MAX}"))
    }
}

/// The id of a program or partner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d)?;
        if is_id(&text) {
            return Ok(Self(text));
        }
        Err(reject(
            "invalid-input",
            format!(
                "{:?} is not an id: 1 to 100 characters of A-Z a-z 0-9 . _ : -",
                text.chars().take(120).collect::<String>()
            ),
        ))
    }
}

impl PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ID_PATTERN))
            .min_length(Some(1))
            .max_length(Some(100))
            .description(Some("An id: 1 to 100 characters of A-Z a-z 0-9 . _ : -"))
            .examples(["shop"])
            .into()
    }
}

impl ToSchema for Id {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// A client's key for something it creates (a conversion, a refund, an idempotent
/// request): 1 to 200 printable characters, not starting or ending with a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(pub String);

impl Key {
    /// Check a key that arrived outside JSON (a header).
    pub fn parse(text: &str) -> Result<Self, String> {
        if !is_key(text) {
            return Err(
                "must be printable text, not blank, with no leading or trailing space".into(),
            );
        }
        check_text(text, 200)?;
        Ok(Self(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&string(d)?).map_err(|e| reject("invalid-input", e))
    }
}

impl PartialSchema for Key {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(KEY_PATTERN))
            .min_length(Some(1))
            .max_length(Some(200))
            .description(Some(
                "A client-chosen key: 1 to 200 printable characters, no leading or trailing \
                 space. Using it again with the same request gives the original answer.",
            ))
            .examples(["order-1001"])
            .into()
    }
}

impl ToSchema for Key {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern).expect("pattern").is_match(text)
    }

    #[test]
    fn control_characters_are_refused_wherever_they_are() {
        for bad in ["a\u{0}b", "\u{1}", "tab\t", "del\u{7f}", "c1\u{85}", "nl\n"] {
            assert!(check_text(bad, 100).is_err(), "{bad:?}");
        }
        assert!(check_text("héllo — ok ✓", 100).is_ok());
        assert!(check_text("abc", 2).is_err());
    }

    proptest! {
        #[test]
        fn checks_agree_with_their_patterns(text in "[a-z .:_\\-\u{0}-\u{1f}\u{7f}-\u{9f}é]{0,8}") {
            prop_assert_eq!(check_text(&text, 1000).is_ok(), matches(TEXT_PATTERN, &text));
            prop_assert_eq!(is_id(&text), matches(ID_PATTERN, &text));
            prop_assert_eq!(is_key(&text), matches(KEY_PATTERN, &text), "{:?}", text);
            let non_blank = check_text(&text, 1000).is_ok() && !text.chars().all(|c| c == ' ');
            prop_assert_eq!(non_blank, matches(NON_BLANK_PATTERN, &text), "{:?}", text);
        }
    }
}
