//! The one payout item every writer takes: who is paid, where, how much, and the id that
//! bank or provider feedback will be matched on.

use crate::accounts::Method;
use crate::error::WriteError;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Whether the payee is a person or an organisation. NACHA picks its SEC code from it
/// (PPD for individuals, CCD for companies); Wise its `receiverType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    /// A natural person.
    Individual,
    /// A company, charity or other organisation.
    Company,
}

/// One payment to one payee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The caller's id for this payment, unique within a file: the SEPA `EndToEndId`
    /// (at most 35 characters), the NACHA individual identification number (at most
    /// 15), the PayPal customer id. Bank feedback names items by it, so it is never
    /// transliterated or cut: an id a format cannot carry is refused.
    pub id: String,
    /// The payee's name, as on the account (transliterated and cut to each format's
    /// field).
    pub name: String,
    /// Person or organisation.
    pub kind: PartyKind,
    /// Where the money goes.
    pub method: Method,
    /// How much, in `currency`, with at most the currency's decimals; more than zero.
    pub amount: Decimal,
    /// ISO 4217 code of `amount`.
    pub currency: String,
    /// Free text for the payee: remittance information, note, payment reference.
    pub reference: String,
    /// When the bank should execute the payment, where the format has such a date
    /// (SEPA's requested execution date, NACHA's effective entry date); `None` takes the
    /// file's date. PayPal and Wise pay on upload and ignore it.
    pub execution_date: Option<NaiveDate>,
}

impl Item {
    /// The item's method, validated for the item's currency, if the format `accepts` it.
    /// The method is checked first, so a PayPal item in a SEPA file is reported as a
    /// method the format cannot pay, not as a currency PayPal's e-mail cannot take.
    pub(crate) fn checked_method(
        &self,
        format: &'static str,
        accepts: fn(&Method) -> bool,
    ) -> Result<Method, WriteError> {
        if !accepts(&self.method) {
            return Err(self.method_not_allowed(&self.method, format));
        }
        self.method
            .validate(&self.currency)
            .map_err(|source| WriteError::Account {
                item: self.id.clone(),
                source,
            })
    }

    /// The refusal of `method` for this item in a `format` file.
    pub(crate) fn method_not_allowed(&self, method: &Method, format: &'static str) -> WriteError {
        WriteError::MethodNotAllowed {
            item: self.id.clone(),
            method: method.name(),
            format,
        }
    }
}
