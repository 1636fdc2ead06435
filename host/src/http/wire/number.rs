//! Whole numbers in requests. JSON Schema counts `447089.0` as an integer, so these accept
//! a number with a zero fraction as well as a plain one (serde's own integers refuse it),
//! and refuse anything out of their range with a 422 naming the field.

use super::reject;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

/// A whole JSON number within `min..=max`.
fn whole<'de, D: Deserializer<'de>>(d: D, min: i64, max: i64) -> Result<i64, D::Error> {
    struct Whole;
    impl Visitor<'_> for Whole {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(i64::try_from(v).ok())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // Not money: a count written as 12.0. Exact up to 2^53, far beyond any bound here.
            #[allow(clippy::float_cmp, clippy::cast_possible_truncation)]
            let whole = (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64);
            match whole {
                Some(n) => Ok(Some(n)),
                None => Err(reject(
                    "invalid-input",
                    format!("{v} is not a whole number"),
                )),
            }
        }
    }
    match d.deserialize_any(Whole)? {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(reject(
            "invalid-input",
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

/// A number of days: 0 to 3,650 (ten years), the bound of every duration a client sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(pub u32);

/// The most days of a lookback window or a hold period.
pub const MAX_DAYS: u32 = 3650;

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = whole(d, 0, i64::from(MAX_DAYS))?;
        Ok(Self(u32::try_from(n).unwrap_or(MAX_DAYS)))
    }
}

impl PartialSchema for Days {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(MAX_DAYS))
            .description(Some("A number of days, 0 to 3,650."))
            .into()
    }
}

impl ToSchema for Days {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Days")
    }
}

/// A pay day in a schedule: a weekday (1 = Monday … 7 = Sunday) or a day of the month
/// (1 … 28); which of them is checked against the frequency by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayDay(pub u32);

impl<'de> Deserialize<'de> for PayDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = whole(d, i64::MIN, i64::MAX)?;
        match u32::try_from(n) {
            Ok(day) if (1..=28).contains(&day) => Ok(Self(day)),
            // The schedule's own problem type, as for its other rules.
            _ => Err(reject(
                "payout-schedule-invalid",
                format!("{n} is not a pay day: a weekday 1 to 7, or a day of the month 1 to 28"),
            )),
        }
    }
}

impl PartialSchema for PayDay {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(28))
            .description(Some(
                "Weekly: the weekday, 1 (Monday) to 7 (Sunday). Monthly: the day, 1 to 28.",
            ))
            .into()
    }
}

impl ToSchema for PayDay {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PayDay")
    }
}

/// A count or a duration in whole units within `MIN..=MAX` (a threshold of a rule): its
/// schema says the bounds, so the document and the parser agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Count<const MIN: u32, const MAX: u32>(pub u32);

impl<'de, const MIN: u32, const MAX: u32> Deserialize<'de> for Count<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = whole(d, i64::from(MIN), i64::from(MAX))?;
        Ok(Self(u32::try_from(n).unwrap_or(MAX)))
    }
}

impl<const MIN: u32, const MAX: u32> PartialSchema for Count<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(MIN))
            .maximum(Some(MAX))
            .into()
    }
}

impl<const MIN: u32, const MAX: u32> ToSchema for Count<MIN, MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Count{MIN}To{MAX}"))
    }
}

/// A ledger entry's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryId(pub i64);

impl<'de> Deserialize<'de> for EntryId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        whole(d, 1, i64::MAX).map(Self)
    }
}

impl PartialSchema for EntryId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .description(Some("A ledger entry's id."))
            .into()
    }
}

impl ToSchema for EntryId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EntryId")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(json: &str) -> Result<Days, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn whole_numbers_may_carry_a_zero_fraction_and_must_be_in_range() {
        assert_eq!(days("30").expect("ok"), Days(30));
        assert_eq!(days("30.0").expect("ok"), Days(30));
        assert!(days("30.5").is_err());
        assert!(days("3651").is_err());
        assert!(days("-1").is_err());
        assert!(days("4294967295").is_err());
        assert!(days("\"30\"").is_err());
        let id: EntryId = serde_json::from_str("447089.0").expect("ok");
        assert_eq!(id, EntryId(447089));
    }
}
