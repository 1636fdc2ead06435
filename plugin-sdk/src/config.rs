//! A plug-in's configuration: the JSON document a program binds it with.

use crate::decimal::parse_decimal;
use crate::types::RuleError;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// A parsed configuration object. An empty string or `null` is an empty object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    values: Map<String, Value>,
}

impl Config {
    /// Parse the configuration document; anything but a JSON object is invalid input.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(values)) => Ok(Self { values }),
            Ok(Value::Null) => Ok(Self::default()),
            Ok(other) => Err(RuleError::InvalidInput(format!(
                "config must be a JSON object, got {other}"
            ))),
            Err(e) => Err(RuleError::InvalidInput(format!("config is not JSON: {e}"))),
        }
    }

    /// The raw JSON value of `key`, if present.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// A decimal setting, written as a string ("0.4") or a JSON number (0.4, read from its
    /// text, never through a float); `default` if absent.
    pub fn decimal(&self, key: &str, default: Decimal) -> Result<Decimal, RuleError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => decimal_value(v).map_err(|e| bad(key, e)),
        }
    }

    /// A whole-number setting; `default` if absent.
    pub fn i64(&self, key: &str, default: i64) -> Result<i64, RuleError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| bad(key, RuleError::InvalidInput(format!("not an integer: {v}")))),
        }
    }

    /// A string setting; `default` if absent.
    pub fn string(&self, key: &str, default: &str) -> Result<String, RuleError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(default.to_owned()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(bad(
                key,
                RuleError::InvalidInput(format!("not a string: {v}")),
            )),
        }
    }

    /// A list of strings; empty if absent.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, RuleError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        bad(key, RuleError::InvalidInput(format!("not a string: {v}")))
                    })
                })
                .collect(),
            Some(v) => Err(bad(
                key,
                RuleError::InvalidInput(format!("not a list: {v}")),
            )),
        }
    }

    /// An object of decimals (e.g. a per-country table); empty if absent.
    pub fn decimal_map(&self, key: &str) -> Result<Vec<(String, Decimal)>, RuleError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| Ok((k.clone(), decimal_value(v).map_err(|e| bad(key, e))?)))
                .collect(),
            Some(v) => Err(bad(
                key,
                RuleError::InvalidInput(format!("not an object: {v}")),
            )),
        }
    }
}

/// Read a decimal from a JSON string or number without going through a float.
pub fn decimal_value(value: &Value) -> Result<Decimal, RuleError> {
    match value {
        Value::String(s) => parse_decimal(s),
        // serde_json prints a number as the shortest text that reads back the same, so
        // 0.4 is "0.4"; Decimal::from_scientific handles "1e-3" style output.
        Value::Number(n) => {
            let text = n.to_string();
            parse_decimal(&text).or_else(|_| {
                Decimal::from_scientific(&text)
                    .map_err(|e| RuleError::InvalidInput(format!("not a decimal: {text} ({e})")))
            })
        }
        other => Err(RuleError::InvalidInput(format!("not a decimal: {other}"))),
    }
}

fn bad(key: &str, e: RuleError) -> RuleError {
    RuleError::InvalidInput(format!("config {key:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::dec;

    #[test]
    fn reads_numbers_and_strings_exactly() {
        let c = Config::parse(r#"{"a": 0.4, "b": "0.2", "d": 30}"#).expect("ok");
        assert_eq!(c.decimal("a", Decimal::ZERO).expect("ok"), dec("0.4"));
        assert_eq!(c.decimal("b", Decimal::ZERO).expect("ok"), dec("0.2"));
        assert_eq!(c.decimal("zz", dec("7")).expect("ok"), dec("7"));
        assert_eq!(c.i64("d", 0).expect("ok"), 30);
    }

    #[test]
    fn rejects_non_objects_and_wrong_types() {
        assert!(Config::parse("[1]").is_err());
        assert!(Config::parse("{").is_err());
        assert!(Config::parse("").expect("empty ok").value("x").is_none());
        let c = Config::parse(r#"{"a": true}"#).expect("ok");
        assert!(c.decimal("a", Decimal::ZERO).is_err());
        assert!(c.i64("a", 0).is_err());
    }
}
