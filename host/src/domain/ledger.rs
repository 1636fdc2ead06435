//! The ledger's vocabulary: entries, their state events, and balances derived from them.
//!
//! Entries are immutable: an amount is never updated or deleted. A state change
//! (approved, paid, frozen, released) is a new event row; a correction is a new entry
//! (reversal or adjustment) that points at what it corrects.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What produced an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A commission on a conversion.
    Commission,
    /// A performance bonus for a closed period.
    Bonus,
    /// Undoes (part of) another entry: refunds, upheld disputes.
    Reversal,
    /// A retroactive correction.
    Adjustment,
    /// Tax withheld from a payout (negative), or its undoing (positive, pointing at it)
    /// when the payout failed or came back.
    Withholding,
    /// A payout fee (negative), or its undoing.
    Fee,
}

impl EntryKind {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commission => "commission",
            Self::Bonus => "bonus",
            Self::Reversal => "reversal",
            Self::Adjustment => "adjustment",
            Self::Withholding => "withholding",
            Self::Fee => "fee",
        }
    }

    /// Whether entries of this kind are paid out to the partner: everything except what a
    /// payout itself keeps back.
    pub fn is_payable(self) -> bool {
        !matches!(self, Self::Withholding | Self::Fee)
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Commission,
            Self::Bonus,
            Self::Reversal,
            Self::Adjustment,
            Self::Withholding,
            Self::Fee,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// A state change of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The hold period is over: payable.
    Approved,
    /// Included in a payout that succeeded.
    Paid,
    /// Frozen by a dispute: not payable.
    Frozen,
    /// Unfrozen: the dispute was rejected or resolved.
    Released,
    /// A paid payout came back from the bank: payable again.
    Returned,
}

impl EventKind {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Paid => "paid",
            Self::Frozen => "frozen",
            Self::Released => "released",
            Self::Returned => "returned",
        }
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Approved,
            Self::Paid,
            Self::Frozen,
            Self::Released,
            Self::Returned,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Within the hold period.
    Pending,
    /// Payable.
    Approved,
    /// Paid out.
    Paid,
    /// Frozen by an open dispute.
    Frozen,
}

impl Status {
    /// Its API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Paid => "paid",
            Self::Frozen => "frozen",
        }
    }

    /// Parse an API name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Paid, Self::Frozen]
            .into_iter()
            .find(|k| k.as_str() == text)
    }

    /// The status after `events`, in order.
    pub fn from_events(events: impl IntoIterator<Item = EventKind>) -> Self {
        let mut status = Self::Pending;
        let mut frozen = false;
        for e in events {
            match e {
                EventKind::Approved => status = Self::Approved,
                EventKind::Paid => status = Self::Paid,
                EventKind::Frozen => frozen = true,
                EventKind::Released => frozen = false,
                EventKind::Returned => status = Self::Approved,
            }
        }
        if frozen { Self::Frozen } else { status }
    }
}

/// Where a dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// Its entries are frozen until it is resolved.
    Open,
    /// The complaint was right: the entries were reversed.
    Upheld,
    /// The complaint was wrong: the entries were released.
    Rejected,
}

impl DisputeStatus {
    /// Its stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Upheld => "upheld",
            Self::Rejected => "rejected",
        }
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Upheld, Self::Rejected]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Why an entry exists: what the ledger records beside it, and what reversals, refunds and
/// replays match on. Stored as `conversion`, `refund:<id>`, `dispute:<id>`,
/// `adjustment:<id>`, `payout:<item id>` or `period:<from ms>-<to ms>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The conversion's own pricing.
    Conversion,
    /// A refund of the conversion (the refund's id).
    Refund(String),
    /// An upheld dispute (the dispute's id).
    Dispute(String),
    /// A retroactive adjustment (the adjustment's id).
    Adjustment(String),
    /// A payout item's withholding or fee (the item's id).
    Payout(String),
    /// A period's bonus (its first and last instants, ms).
    Period {
        /// First instant of the period (ms).
        from_ms: i64,
        /// Last instant of the period (ms).
        to_ms: i64,
    },
}

impl Cause {
    /// Parse a stored cause.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "conversion" {
            return Some(Self::Conversion);
        }
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "refund" => Some(Self::Refund(rest.to_owned())),
            "dispute" => Some(Self::Dispute(rest.to_owned())),
            "adjustment" => Some(Self::Adjustment(rest.to_owned())),
            "payout" => Some(Self::Payout(rest.to_owned())),
            "period" => {
                // The instants may be negative (before 1970): split at the '-' that
                // follows a digit.
                let at = rest
                    .char_indices()
                    .skip(1)
                    .find(|&(i, c)| c == '-' && rest.as_bytes()[i - 1].is_ascii_digit())?
                    .0;
                Some(Self::Period {
                    from_ms: rest[..at].parse().ok()?,
                    to_ms: rest[at + 1..].parse().ok()?,
                })
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Conversion => f.write_str("conversion"),
            Self::Refund(id) => write!(f, "refund:{id}"),
            Self::Dispute(id) => write!(f, "dispute:{id}"),
            Self::Adjustment(id) => write!(f, "adjustment:{id}"),
            Self::Payout(id) => write!(f, "payout:{id}"),
            Self::Period { from_ms, to_ms } => write!(f, "period:{from_ms}-{to_ms}"),
        }
    }
}

/// What produced a commission, enough to replay it bit for bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Attribution plug-in digest.
    pub attribution_digest: String,
    /// sha256 of its configuration text.
    pub attribution_config_hash: String,
    /// Its configuration text, as passed (lookback window included).
    #[serde(default)]
    pub attribution_config: String,
    /// Geographic plug-in digest, if one ran.
    pub geo_digest: Option<String>,
    /// sha256 of its configuration text.
    pub geo_config_hash: Option<String>,
    /// Its configuration text.
    #[serde(default)]
    pub geo_config: Option<String>,
    /// The rate table version used.
    pub rate_table_version: i64,
    /// The partner's tier at the conversion time.
    pub tier: String,
    /// The partner's volume that month before this conversion (zero if the rate table
    /// has no volume tiers).
    #[serde(default)]
    pub volume: crate::domain::program::VolumeStats,
    /// The tier's base rate.
    #[serde(with = "rust_decimal::serde::str")]
    pub base_rate: Decimal,
    /// Volume points added.
    #[serde(with = "rust_decimal::serde::str")]
    pub volume_add_rate: Decimal,
    /// The partner's attribution weight.
    #[serde(with = "rust_decimal::serde::str")]
    pub weight: Decimal,
    /// sha256 of the canonical attribution input.
    pub input_hash: String,
}

/// A partner's balance in one payout currency, derived from entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Payout currency.
    pub currency: String,
    /// Within the hold period.
    #[serde(with = "rust_decimal::serde::str")]
    pub pending: Decimal,
    /// Payable now (may be negative: a clawback carried to the next payout).
    #[serde(with = "rust_decimal::serde::str")]
    pub approved: Decimal,
    /// Paid out.
    #[serde(with = "rust_decimal::serde::str")]
    pub paid: Decimal,
    /// Frozen by disputes.
    #[serde(with = "rust_decimal::serde::str")]
    pub frozen: Decimal,
    /// Everything: pending + approved + paid + frozen.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// What the next payout run may pay before withholding and fees: approved entries
    /// of the kinds paid out (negative ones, clawbacks, netted in).
    #[serde(with = "rust_decimal::serde::str")]
    pub payable: Decimal,
    /// Approved entries claimed by a payout run whose items are not paid yet.
    #[serde(with = "rust_decimal::serde::str")]
    pub in_payout: Decimal,
    /// Tax withheld from payouts that were paid (a positive figure).
    #[serde(with = "rust_decimal::serde::str")]
    pub withheld: Decimal,
    /// Fees kept from payouts that were paid (a positive figure).
    #[serde(with = "rust_decimal::serde::str")]
    pub fees: Decimal,
}

/// Sum entries `(payout currency, payout amount, status, kind)` into balances per
/// currency, sorted by currency. `paid` is what reached the partner: the paid entries net
/// of the withholding and fees kept from them.
pub fn balances<'a>(
    entries: impl IntoIterator<Item = (&'a str, Decimal, Status, EntryKind)>,
) -> Vec<Balance> {
    let mut out: Vec<Balance> = Vec::new();
    for (currency, amount, status, kind) in entries {
        let i = match out.iter().position(|b| b.currency == currency) {
            Some(i) => i,
            None => {
                out.push(Balance {
                    currency: currency.to_owned(),
                    ..Balance::default()
                });
                out.len() - 1
            }
        };
        let b = &mut out[i];
        match status {
            Status::Pending => b.pending += amount,
            Status::Approved => b.approved += amount,
            Status::Paid => b.paid += amount,
            Status::Frozen => b.frozen += amount,
        }
        b.total += amount;
        match (kind, status) {
            (k, Status::Approved) if k.is_payable() => b.payable += amount,
            (EntryKind::Withholding, Status::Paid) => b.withheld -= amount,
            (EntryKind::Fee, Status::Paid) => b.fees -= amount,
            _ => {}
        }
    }
    // Every figure with its currency's decimals, a status with no entries too ("0.00").
    for b in &mut out {
        for figure in [
            &mut b.pending,
            &mut b.approved,
            &mut b.paid,
            &mut b.frozen,
            &mut b.total,
            &mut b.payable,
            &mut b.in_payout,
            &mut b.withheld,
            &mut b.fees,
        ] {
            *figure = super::money::scaled_to(*figure, &b.currency);
        }
    }
    out.sort_by(|a, b| a.currency.cmp(&b.currency));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_plugin_sdk::decimal::dec;

    #[test]
    fn status_follows_events_and_freezing_wins() {
        use EventKind::*;
        assert_eq!(Status::from_events([]), Status::Pending);
        assert_eq!(Status::from_events([Approved]), Status::Approved);
        assert_eq!(Status::from_events([Approved, Frozen]), Status::Frozen);
        assert_eq!(
            Status::from_events([Approved, Frozen, Released]),
            Status::Approved
        );
        assert_eq!(Status::from_events([Approved, Paid]), Status::Paid);
        assert_eq!(
            Status::from_events([Approved, Paid, Returned]),
            Status::Approved
        );
        assert_eq!(
            Status::from_events([Approved, Paid, Returned, Paid]),
            Status::Paid
        );
    }

    #[test]
    fn balances_sum_by_currency_and_status() {
        let b = balances([
            ("USD", dec("10.00"), Status::Pending, EntryKind::Commission),
            ("USD", dec("-2.50"), Status::Approved, EntryKind::Reversal),
            ("EUR", dec("5.00"), Status::Paid, EntryKind::Commission),
            ("EUR", dec("-1.20"), Status::Paid, EntryKind::Withholding),
        ]);
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].currency, "USD");
        assert_eq!(b[1].total, dec("7.50"));
        assert_eq!(b[1].approved, dec("-2.50"));
        assert_eq!(
            b[1].paid.to_string(),
            "0.00",
            "with the currency's decimals"
        );
        assert_eq!(b[0].pending.to_string(), "0.00");
        assert_eq!(b[1].payable, dec("-2.50"));
        assert_eq!((b[0].paid, b[0].withheld), (dec("3.80"), dec("1.20")));
    }
}

#[cfg(test)]
mod cause_tests {
    use super::{Cause, DisputeStatus};

    #[test]
    fn causes_and_dispute_statuses_round_trip_through_their_stored_form() {
        for cause in [
            Cause::Conversion,
            Cause::Refund("r:1".into()),
            Cause::Dispute("dsp_1".into()),
            Cause::Adjustment("adj_1".into()),
            Cause::Payout("P1".into()),
            Cause::Period {
                from_ms: 1_700_000_000_000,
                to_ms: 1_702_000_000_000,
            },
            Cause::Period {
                from_ms: -86_400_000,
                to_ms: -1,
            },
        ] {
            assert_eq!(Cause::parse(&cause.to_string()), Some(cause));
        }
        assert_eq!(Cause::parse("refund"), None);
        assert_eq!(Cause::parse("bonus:1"), None);
        for s in [
            DisputeStatus::Open,
            DisputeStatus::Upheld,
            DisputeStatus::Rejected,
        ] {
            assert_eq!(DisputeStatus::parse(s.as_str()), Some(s));
        }
    }
}
