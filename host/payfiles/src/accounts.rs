//! Payout destinations and their validation: IBAN, BIC, US routing and account numbers,
//! e-mail addresses, and the [`Method`] that combines them with the payout currency.
//!
//! Every validator normalises what people type (spaces, lower case) and returns the
//! canonical form, or an [`AccountError`] whose [`AccountError::kind`] is stable. Error
//! messages show account numbers only [`mask`]ed.

mod bic;
mod email;
mod error;
mod iban;
mod mask;
mod method;
mod sepa_countries;
mod us;

pub use bic::validate_bic;
pub use email::validate_email;
pub use error::AccountError;
pub use iban::{normalize_iban, validate_iban};
pub use mask::mask;
pub use method::{Method, WiseRecipient};
pub use sepa_countries::{SEPA_COUNTRIES, is_sepa_country};
pub use us::{AccountType, validate_aba_routing, validate_us_account};
