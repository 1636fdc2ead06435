//! What comes back from banks: ISO 20022 `pain.002` payment status reports and NACHA
//! return lists, read into per-item outcomes the payout engine can apply (an item paid,
//! failed or returned).

mod error;
mod pain002;
mod return_codes;
mod returns;

pub use error::FeedbackError;
pub use pain002::{PaymentGroupStatus, StatusReport, parse_pain002};
pub use return_codes::{RETURN_CODES, return_code_meaning};
pub use returns::parse_nacha_returns;

/// How bank feedback names an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemKey {
    /// A SEPA/ISO 20022 `EndToEndId` (the item id the `pain.001` carried).
    EndToEndId(String),
    /// A NACHA trace number (see [`crate::nacha::Written::trace_numbers`]).
    TraceNumber(String),
    /// A NACHA individual identification number (the item id the entry carried).
    IndividualId(String),
}

/// What happened to a payment, or to a group of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the bank for execution or settled (`ACCP`, `ACSC`, `ACSP`, `ACWC`,
    /// `ACCC`): the item can be marked paid.
    Accepted {
        /// The ISO 20022 status code.
        status: String,
    },
    /// Received or checked but not yet accepted (`RCVD`, `ACTC`, `PDNG`, `ACFC`, `ACWP`,
    /// `ACIS`, `PART`, and any code not listed here): wait for a later report.
    Pending {
        /// The ISO 20022 status code.
        status: String,
    },
    /// Refused by the bank (`RJCT`): the item failed and nothing was paid.
    Rejected {
        /// The ISO 20022 reason code (`AC01` account number incorrect, `AC04` closed
        /// account, `AM05` duplicate …) or the bank's proprietary reason.
        reason: Option<String>,
        /// The bank's additional information, if any.
        detail: Option<String>,
    },
    /// Paid, then returned by the receiving bank (NACHA R-codes).
    Returned {
        /// The return reason code (`R01` … `R85`).
        code: String,
        /// What the code means (NACHA Operating Rules).
        meaning: &'static str,
    },
}

/// One item's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    /// Which item.
    pub key: ItemKey,
    /// What happened to it.
    pub outcome: Outcome,
}
