//! Domain errors: each a distinct, stable kind the API maps to its own problem type.

/// Why the domain refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// An ISO 4217 code this system does not know.
    #[error("unknown currency {0:?}: use an ISO 4217 code such as USD, EUR or JPY")]
    UnknownCurrency(String),
    /// A negative amount where only ≥ 0 makes sense.
    #[error("{field} must not be negative, got {value}")]
    NegativeAmount {
        /// Which field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// An amount with more decimals than its currency has.
    #[error("{value} has more decimal places than {currency} allows ({minor_units})")]
    TooPrecise {
        /// The value.
        value: String,
        /// The currency.
        currency: String,
        /// Its minor units.
        minor_units: u32,
    },
    /// An amount above the largest this system accepts (see
    /// [`MAX_AMOUNT_MINOR`](super::money::MAX_AMOUNT_MINOR)).
    #[error("{field} {value} {currency} is above the largest amount accepted, {max} {currency}")]
    AmountTooLarge {
        /// Which field.
        field: &'static str,
        /// The value.
        value: String,
        /// The currency.
        currency: String,
        /// The largest amount accepted in that currency.
        max: String,
    },
    /// An ISO 4217 code that has been withdrawn: still read in stored data, refused for
    /// anything new.
    #[error(
        "{code} is a withdrawn ISO 4217 currency{replacement}: it is kept for stored data but refused for anything new"
    )]
    WithdrawnCurrency {
        /// The field at fault.
        field: String,
        /// The code.
        code: String,
        /// " (replaced by EUR)" where ISO names a successor, else empty.
        replacement: String,
    },
    /// No FX rate in force.
    #[error("no FX rate from {base} to {quote} in force at {at}")]
    MissingFxRate {
        /// From.
        base: String,
        /// To.
        quote: String,
        /// When (RFC 3339).
        at: String,
    },
    /// A rate outside 0..=1.
    #[error("{field} must be a rate between 0 and 1, got {value}")]
    BadRate {
        /// Which field.
        field: String,
        /// The value.
        value: String,
    },
    /// Arithmetic would overflow.
    #[error("amount out of range in {0}")]
    Overflow(&'static str),
    /// Anything else wrong with an input, with the field at fault.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl DomainError {
    /// A stable slug (the problem `type` of the HTTP API).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownCurrency(_) => "unknown-currency",
            Self::NegativeAmount { .. } => "negative-amount",
            Self::TooPrecise { .. } => "too-precise",
            Self::AmountTooLarge { .. } => "amount-too-large",
            Self::WithdrawnCurrency { .. } => "withdrawn-currency",
            Self::MissingFxRate { .. } => "missing-fx-rate",
            Self::BadRate { .. } => "bad-rate",
            Self::Overflow(_) => "amount-out-of-range",
            Self::Invalid { .. } => "invalid-input",
        }
    }

    /// The same error blamed on another request field, where the error names one
    /// (a payout currency is checked by the same rule as a sale currency).
    pub fn for_field(self, name: &str) -> Self {
        match self {
            Self::WithdrawnCurrency {
                code, replacement, ..
            } => Self::WithdrawnCurrency {
                field: name.to_owned(),
                code,
                replacement,
            },
            Self::Invalid { message, .. } => Self::Invalid {
                field: name.to_owned(),
                message,
            },
            other => other,
        }
    }

    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
