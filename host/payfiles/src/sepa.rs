//! Credit transfers as an ISO 20022 `pain.001.001.09` message
//! (CustomerCreditTransferInitiationV09): SEPA credit transfers and, in the same message,
//! international wires.
//!
//! One `PmtInf` per (execution date, currency, scheme): SEPA items (method
//! [`Method::Sepa`](crate::Method::Sepa): EUR to an IBAN in a SEPA country) carry
//! `SvcLvl` `SEPA` and charge bearer `SLEV`, as the EPC implementation guidelines require;
//! wires ([`Method::Wire`](crate::Method::Wire)) carry no service level, charge bearer
//! `SHAR`, the creditor agent's BIC and the account's currency on `InstdAmt`. Free text
//! is transliterated to the EPC character set and cut to the schema's lengths;
//! identifiers are checked, never rewritten, since the bank's `pain.002` names items by
//! them. The same [`Batch`] always gives the same bytes.

mod plan;
mod xml;

use crate::error::WriteError;
use crate::item::Item;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The message's XML namespace.
pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";

/// Longest `MsgId`, `PmtInfId` and `EndToEndId` (`Max35Text`).
pub const ID_MAX: usize = 35;

/// Longest name (`Nm`, `Max140Text`).
pub const NAME_MAX: usize = 140;

/// Longest unstructured remittance line (`Ustrd`, `Max140Text`).
pub const REMITTANCE_MAX: usize = 140;

/// The account that pays: the company running the payouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Name, as the bank knows the account holder (also the initiating party).
    pub name: String,
    /// The account's IBAN.
    pub iban: String,
    /// The bank's BIC; without it the debtor agent is written `NOTPROVIDED`, as the EPC
    /// guidelines allow for IBAN-only SEPA payments.
    pub bic: Option<String>,
}

/// A message's worth of credit transfers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// `MsgId`: unique per message for the bank (it rejects duplicates), at most 35
    /// characters of the EPC set without spaces.
    pub message_id: String,
    /// `CreDtTm`, from the caller: the writer reads no clock.
    pub created_at: DateTime<Utc>,
    /// Requested execution date of items that do not name their own.
    pub execution_date: NaiveDate,
    /// Who pays.
    pub debtor: Party,
    /// The transfers, each paid by [`Method::Sepa`](crate::Method::Sepa) or
    /// [`Method::Wire`](crate::Method::Wire); their ids become `EndToEndId`s.
    pub items: Vec<Item>,
}

/// Writes `batch` as a `pain.001.001.09` document (UTF-8, LF line ends, two-space
/// indents), after checking every item: a method other than SEPA or wire, a SEPA item
/// not in EUR, an invalid account, an amount with too many decimals or over the limit
/// (999,999,999.99 for SEPA, 18 digits otherwise), a duplicate or malformed id: each is
/// refused with its own [`WriteError`].
pub fn write(batch: &Batch) -> Result<Vec<u8>, WriteError> {
    let plan = plan::plan(batch)?;
    Ok(xml::render(&plan).into_bytes())
}
