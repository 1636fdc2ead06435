//! Accrue's payout files, as pure code: validation of payout destinations and writers of
//! the files a bank or provider takes (SEPA `pain.001`, NACHA ACH, PayPal and Wise batch
//! CSV), plus readers of what comes back (`pain.002` status reports, NACHA returns).
//!
//! Nothing here touches a clock, a file, the network or a database: every writer takes
//! plain structs (time and identifiers come from the caller) and returns bytes, and the
//! same input always gives the same bytes, so a payout run's files can be regenerated and
//! compared. Money is [`rust_decimal::Decimal`] with the currency's exact minor units;
//! no float is ever involved.

pub mod accounts;
pub mod csv;
pub mod error;
pub mod feedback;
pub mod item;
pub mod money;
pub mod nacha;
pub mod sepa;
pub mod text;

pub use accounts::{AccountError, Method, mask};
pub use error::WriteError;
pub use item::{Item, PartyKind};
