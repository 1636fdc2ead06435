//! A conversion and its touchpoints: what a client posts, what the store keeps, and what
//! pricing reads again for adjustments and replay. One shape for all three, so nothing is
//! copied field by field between layers.

use rust_decimal::Decimal;

/// A conversion as a client posts it (and as it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionInput {
    /// Program.
    pub program_id: String,
    /// Client id (the idempotency key).
    pub id: String,
    /// Sale amount, ≥ 0, at most the currency's minor units.
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
    /// When (ms).
    pub occurred_at_ms: i64,
    /// Customer.
    pub customer_id: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// ISO 3166-2.
    pub region: Option<String>,
    /// First purchase.
    pub new_customer: bool,
    /// Free-form attributes, in the client's order.
    pub attributes: Vec<(String, String)>,
    /// Touchpoints in client order.
    pub touchpoints: Vec<TouchpointInput>,
    /// What analytics and the fraud rules read, and pricing does not.
    pub signals: Signals,
}

/// What a conversion may say beyond what prices it: the click it came from, the visitor
/// and the customer's e-mail address. The visitor id and the address are stored only as
/// keyed hashes; pricing never reads any of them, so they change no commission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// The id of the click event (`POST /v1/events`) the conversion came from.
    pub click_id: Option<String>,
    /// The visitor (a cookie or device id), as posted.
    pub visitor_id: Option<String>,
    /// The customer's e-mail address, as posted.
    pub customer_email: Option<String>,
}

impl Signals {
    /// Whether it says anything.
    pub fn is_empty(&self) -> bool {
        self.click_id.is_none() && self.visitor_id.is_none() && self.customer_email.is_none()
    }
}

/// A touchpoint as a client posts it (and as it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchpointInput {
    /// Partner.
    pub partner_id: String,
    /// Channel.
    pub channel: String,
    /// When (ms).
    pub occurred_at_ms: i64,
    /// Campaign.
    pub campaign: Option<String>,
}
