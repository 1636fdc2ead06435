//! Conversions, batches, quotes, refunds and replays.

use super::programs::CurrencyCode;
use super::{Amount, DecimalAnswer, Id, Instant, Key, Text};
use crate::domain::conversion::{ConversionInput, TouchpointInput};
use crate::engine::{CommissionLine, ConversionResult, RefundResult, ReplayReport};
use crate::http::error::{ApiError, Problem};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The most touchpoints one conversion may carry.
pub const MAX_TOUCHPOINTS: usize = 1000;
/// The most free-form attributes one conversion may carry.
pub const MAX_ATTRIBUTES: usize = 100;
/// The most conversions one batch may carry.
pub const MAX_BATCH: usize = 1000;

/// A touchpoint in a conversion request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TouchpointIn {
    /// The partner credited for this contact (of the conversion's program).
    pub partner_id: Id,
    /// The channel: "email", "social", "search", "direct", ...
    pub channel: Text<100>,
    /// When the contact happened.
    pub occurred_at: Instant,
    /// The campaign, if any.
    #[serde(default)]
    pub campaign: Option<Text<200>>,
}

/// Free-form attributes: names of at most 100 characters, values of at most 1,000, no
/// control characters in either.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Attributes(pub BTreeMap<Text<100>, Text<1000>>);

impl PartialSchema for Attributes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(super::text::TEXT_PATTERN))
                    .max_length(Some(100)),
            ))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(super::text::TEXT_PATTERN))
                    .max_length(Some(1000)),
            ))
            .max_properties(Some(MAX_ATTRIBUTES))
            .description(Some("Free-form attributes (e.g. \"coupon\": \"SPRING\")."))
            .into()
    }
}

impl ToSchema for Attributes {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Attributes")
    }
}

/// `POST /v1/conversions`, an item of `POST /v1/conversions/batch`, and `POST /v1/quotes`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversionIn {
    /// The program.
    pub program_id: Id,
    /// The client's id for the conversion, its idempotency key (or send it as the
    /// `Idempotency-Key` header; one of the two is required for a conversion, neither for
    /// a quote).
    #[serde(default)]
    pub id: Option<Key>,
    /// The sale amount in `currency`.
    pub amount: Amount,
    /// The sale currency.
    pub currency: CurrencyCode,
    /// When the conversion happened.
    pub occurred_at: Instant,
    /// The merchant's customer id.
    #[serde(default)]
    pub customer_id: Option<Text<200>>,
    /// Country of the customer (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub country: Option<Text<100>>,
    /// Region (ISO 3166-2).
    #[serde(default)]
    pub region: Option<Text<100>>,
    /// The customer's first purchase.
    #[serde(default)]
    pub new_customer: bool,
    /// Free-form attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// The partners' contacts before the conversion, in order.
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub touchpoints: Vec<TouchpointIn>,
    /// The id of the click (`POST /v1/events`) the sale came from: gives the
    /// click-to-conversion time, the channel and campaign of the sale, and the visitor.
    #[serde(default)]
    pub click_id: Option<Key>,
    /// The visitor (a cookie or device id); stored only as a keyed hash, for the fraud
    /// rules.
    #[serde(default)]
    pub visitor_id: Option<Text<200>>,
    /// The customer's e-mail address; stored only as a keyed hash of its lower-cased form,
    /// for the self-referral rule.
    #[serde(default)]
    pub customer_email: Option<Text<320>>,
}

impl ConversionIn {
    /// As engine input. `key` is the `Idempotency-Key` header; a conversion needs it or the
    /// body's `id` (and they must agree). A quote passes a key of its own.
    pub fn into_input(self, key: Option<&Key>) -> Result<ConversionInput, ApiError> {
        let id = match (key, self.id) {
            (Some(k), Some(id)) if k.0 != id.0 => {
                return Err(ApiError::invalid(
                    "id",
                    format!(
                        "the Idempotency-Key header ({:?}) and the body's id ({:?}) differ",
                        k.0, id.0
                    ),
                ));
            }
            (Some(k), _) => k.0.clone(),
            (None, Some(id)) => id.0,
            (None, None) => {
                return Err(ApiError::invalid(
                    "id",
                    "send the conversion id in `id` or the Idempotency-Key header",
                ));
            }
        };
        if self.touchpoints.len() > MAX_TOUCHPOINTS {
            return Err(ApiError::invalid(
                "touchpoints",
                format!("at most {MAX_TOUCHPOINTS} touchpoints per conversion"),
            ));
        }
        if self.attributes.0.len() > MAX_ATTRIBUTES {
            return Err(ApiError::invalid(
                "attributes",
                format!("at most {MAX_ATTRIBUTES} attributes per conversion"),
            ));
        }
        Ok(ConversionInput {
            program_id: self.program_id.0,
            id,
            amount: self.amount.0,
            currency: self.currency.0.code().to_owned(),
            occurred_at_ms: self.occurred_at.0,
            customer_id: self.customer_id.map(|t| t.0),
            country: self.country.map(|t| t.0),
            region: self.region.map(|t| t.0),
            new_customer: self.new_customer,
            attributes: self
                .attributes
                .0
                .into_iter()
                .map(|(k, v)| (k.0, v.0))
                .collect(),
            touchpoints: self
                .touchpoints
                .into_iter()
                .map(|t| TouchpointInput {
                    partner_id: t.partner_id.0,
                    channel: t.channel.0,
                    occurred_at_ms: t.occurred_at.0,
                    campaign: t.campaign.map(|c| c.0),
                })
                .collect(),
            signals: crate::domain::conversion::Signals {
                click_id: self.click_id.map(|k| k.0),
                visitor_id: self.visitor_id.map(|t| t.0),
                customer_email: self.customer_email.map(|t| t.0),
            },
        })
    }
}

/// `POST /v1/conversions/batch`. Each item is read and checked on its own: an item that
/// is not a valid conversion fails alone, in its own result, and the others are stored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    /// Up to 1,000 conversions, each with its `id`.
    #[schema(value_type = Vec<ConversionIn>, max_items = 1000)]
    pub conversions: Vec<serde_json::Value>,
}

/// One partner's commission on a conversion.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommissionLineOut {
    /// Partner.
    pub partner_id: String,
    /// Attribution weight (0..=1).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub share: Decimal,
    /// Attributed revenue, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub attributed_amount: Decimal,
    /// The rate applied (tier and volume, then geographic).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub rate: Decimal,
    /// Commission, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// Commission in the payout currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub payout_amount: Decimal,
    /// Payout currency.
    pub payout_currency: String,
    /// FX rate sale → payout.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub fx_rate: Decimal,
    /// Status when computed.
    pub status: String,
}

impl From<CommissionLine> for CommissionLineOut {
    fn from(c: CommissionLine) -> Self {
        Self {
            partner_id: c.partner_id,
            share: c.share,
            attributed_amount: c.attributed_amount,
            rate: c.rate,
            amount: c.amount,
            currency: c.currency,
            payout_amount: c.payout_amount,
            payout_currency: c.payout_currency,
            fx_rate: c.fx_rate,
            status: c.status.as_str().to_owned(),
        }
    }
}

/// The commissions of one conversion.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversionResultOut {
    /// Program.
    pub program_id: String,
    /// Conversion id.
    pub conversion_id: String,
    /// Sale amount.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// One line per credited partner.
    pub commissions: Vec<CommissionLineOut>,
}

impl From<ConversionResult> for ConversionResultOut {
    fn from(r: ConversionResult) -> Self {
        Self {
            program_id: r.program_id,
            conversion_id: r.conversion_id,
            amount: r.amount,
            currency: r.currency,
            commissions: r.commissions.into_iter().map(Into::into).collect(),
        }
    }
}

/// What happened to one item of a batch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Stored now.
    Created,
    /// Stored before with the same payload: the original result.
    Replayed,
    /// Refused: see `error`.
    Error,
}

/// One item's outcome in a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemOut {
    /// Its position in the request.
    pub index: usize,
    /// Created, replayed or error.
    pub status: BatchStatus,
    /// The commissions, unless it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ConversionResultOut>,
    /// Why it failed (a problem document, as a single request would have been answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

/// The answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOut {
    /// Items stored now.
    pub created: usize,
    /// Items answered from an earlier post of the same payload.
    pub replayed: usize,
    /// One result per item, in request order.
    pub results: Vec<BatchItemOut>,
}

/// `POST /v1/conversions/{id}/refunds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    /// The conversion's program.
    pub program_id: Id,
    /// Amount refunded, sale currency; everything not refunded yet if absent.
    #[serde(default)]
    pub amount: Option<Amount>,
    /// The refund's id (or the `Idempotency-Key` header); generated if neither.
    #[serde(default)]
    pub id: Option<Key>,
}

/// One reversal entry of a refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReversalLineOut {
    /// Partner.
    pub partner_id: String,
    /// The entry reversed.
    pub reverses_entry_id: i64,
    /// Amount, sale currency (negative).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub amount: Decimal,
    /// Amount, payout currency (negative).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub payout_amount: Decimal,
    /// Payout currency.
    pub payout_currency: String,
}

/// What a refund did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundOut {
    /// Program.
    pub program_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// This refund's id.
    pub refund_id: String,
    /// This refund's amount.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub amount: Decimal,
    /// Every refund of the conversion so far.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub refunded_total: Decimal,
    /// Sale currency.
    pub currency: String,
    /// The reversal entries written.
    pub reversals: Vec<ReversalLineOut>,
}

impl From<RefundResult> for RefundOut {
    fn from(r: RefundResult) -> Self {
        Self {
            program_id: r.program_id,
            conversion_id: r.conversion_id,
            refund_id: r.refund_id,
            amount: r.amount,
            refunded_total: r.refunded_total,
            currency: r.currency,
            reversals: r
                .reversals
                .into_iter()
                .map(|l| ReversalLineOut {
                    partner_id: l.partner_id,
                    reverses_entry_id: l.reverses_entry_id,
                    amount: l.amount,
                    payout_amount: l.payout_amount,
                    payout_currency: l.payout_currency,
                })
                .collect(),
        }
    }
}

/// Query of `GET /v1/conversions/{id}/replay`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// The conversion's program.
    #[param(value_type = Id)]
    pub program_id: Id,
}

/// One partner's line of a replay.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayLineOut {
    /// Partner.
    pub partner_id: String,
    /// Stored commission, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub stored: Decimal,
    /// Replayed commission.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub replayed: Decimal,
    /// Stored payout amount.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub stored_payout: Decimal,
    /// Replayed payout amount.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = DecimalAnswer)]
    pub replayed_payout: Decimal,
}

/// The outcome of a replay.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayOut {
    /// Program.
    pub program_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// True when every line matches exactly and no partner is missing on either side.
    pub matches: bool,
    /// Per partner.
    pub lines: Vec<ReplayLineOut>,
}

impl From<ReplayReport> for ReplayOut {
    fn from(r: ReplayReport) -> Self {
        Self {
            program_id: r.program_id,
            conversion_id: r.conversion_id,
            matches: r.matches,
            lines: r
                .lines
                .into_iter()
                .map(|l| ReplayLineOut {
                    partner_id: l.partner_id,
                    stored: l.stored,
                    replayed: l.replayed,
                    stored_payout: l.stored_payout,
                    replayed_payout: l.replayed_payout,
                })
                .collect(),
        }
    }
}
