//! Disputes: opening one freezes the entries it concerns (not payable); resolving it
//! upheld reverses them, rejected releases them. Every step is an event row.

use super::refunds::reversal;
use super::{Engine, EngineError, Result};
use crate::domain::ledger::{EntryKind, EventKind, Status};
use crate::store::{DisputeRecord, LedgerWrite, NewEvent, StoreError};
use rust_decimal::Decimal;

/// A request to open a dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDispute {
    /// Program.
    pub program_id: String,
    /// The conversion disputed.
    pub conversion_id: String,
    /// One entry of it, or all of its entries if `None`.
    pub entry_id: Option<i64>,
    /// Who opens it (API key id).
    pub opened_by: String,
    /// Why.
    pub reason: String,
}

/// How a dispute ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeOutcome {
    /// The complaint is right: the entries are reversed.
    Upheld,
    /// The complaint is wrong: the entries are released.
    Rejected,
}

impl Engine {
    /// Open a dispute and freeze the entries it concerns.
    pub async fn open_dispute(&self, d: &OpenDispute) -> Result<DisputeRecord> {
        let entries = self
            .conversion_entries(&d.program_id, &d.conversion_id)
            .await?;
        if self
            .store
            .conversion(&d.program_id, &d.conversion_id)
            .await?
            .is_none()
        {
            return Err(EngineError::NotFound(format!(
                "conversion {:?}",
                d.conversion_id
            )));
        }
        if let Some(id) = d.entry_id
            && !entries.iter().any(|e| e.id == id)
        {
            return Err(EngineError::NotFound(format!(
                "entry {id} of conversion {:?}",
                d.conversion_id
            )));
        }
        let id = format!("dsp_{}", crate::ids::random_token(12));
        let record = DisputeRecord {
            id: id.clone(),
            program_id: d.program_id.clone(),
            conversion_id: d.conversion_id.clone(),
            entry_id: d.entry_id,
            opened_by: d.opened_by.clone(),
            reason: d.reason.clone(),
            opened_at_ms: crate::store::now_ms(),
            status: "open".into(),
            resolution: None,
            resolved_at_ms: None,
        };
        let events = entries
            .iter()
            .filter(|e| d.entry_id.is_none_or(|id| id == e.id))
            .filter(|e| matches!(e.status, Status::Pending | Status::Approved))
            .map(|e| NewEvent {
                entry_id: e.id,
                event: EventKind::Frozen,
                reason: format!("dispute:{id}"),
            })
            .collect();
        let write = LedgerWrite {
            dispute: Some(record.clone()),
            dispute_events: vec![(
                id.clone(),
                "opened".into(),
                d.opened_by.clone(),
                d.reason.clone(),
            )],
            events,
            ..LedgerWrite::default()
        };
        self.store.write_ledger(&write).await?;
        Ok(record)
    }

    /// Resolve an open dispute.
    pub async fn resolve_dispute(
        &self,
        id: &str,
        outcome: DisputeOutcome,
        actor: &str,
        note: &str,
    ) -> Result<DisputeRecord> {
        let dispute = self
            .store
            .dispute(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("dispute {id:?}")))?;
        if dispute.status != "open" {
            return Err(EngineError::Conflict(format!(
                "dispute {id} is already {}",
                dispute.status
            )));
        }
        let entries = self
            .conversion_entries(&dispute.program_id, &dispute.conversion_id)
            .await?;
        let cause = format!("dispute:{id}");
        let frozen: Vec<_> = entries
            .iter()
            .filter(|e| e.status == Status::Frozen)
            .collect();
        let mut write = LedgerWrite {
            dispute_events: vec![(
                id.to_owned(),
                match outcome {
                    DisputeOutcome::Upheld => "upheld".into(),
                    DisputeOutcome::Rejected => "rejected".into(),
                },
                actor.to_owned(),
                note.to_owned(),
            )],
            events: frozen
                .iter()
                .map(|e| NewEvent {
                    entry_id: e.id,
                    event: EventKind::Released,
                    reason: cause.clone(),
                })
                .collect(),
            ..LedgerWrite::default()
        };
        if outcome == DisputeOutcome::Upheld {
            for entry in entries
                .iter()
                .filter(|e| dispute.entry_id.is_none_or(|x| x == e.id))
                .filter(|e| matches!(e.kind, EntryKind::Commission | EntryKind::Adjustment))
            {
                // Reverse what is left of the entry after earlier reversals.
                let (left, payout_left) = entries
                    .iter()
                    .filter(|r| {
                        r.kind == EntryKind::Reversal && r.reverses_entry_id == Some(entry.id)
                    })
                    .fold((entry.amount, entry.payout_amount), |acc, r| {
                        (acc.0 + r.amount, acc.1 + r.payout_amount)
                    });
                if left == Decimal::ZERO && payout_left == Decimal::ZERO {
                    continue;
                }
                let mut released = entry.clone();
                if released.status == Status::Frozen {
                    released.status = Status::Pending;
                }
                write
                    .entries
                    .push(reversal(&released, left, payout_left, cause.clone()));
            }
        }
        match self.store.write_ledger(&write).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(EngineError::Conflict(format!(
                    "dispute {id} was resolved concurrently"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.store
            .dispute(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("dispute {id:?}")))
    }
}
