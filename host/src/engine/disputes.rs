//! Disputes: opening one freezes the entries it concerns (not payable); resolving it
//! upheld reverses them, rejected releases them. Every step is an event row.
//!
//! Who may dispute what is decided here, from the caller's [`Scope`]: an admin any entry of
//! a conversion (or all of them); a partner only its own entries, and without an entry all
//! of its own entries on the conversion. Another partner's entry is answered exactly like
//! an entry that does not exist, so a partner learns nothing of the others. A dispute
//! records the partner whose entries it concerns, and resolving it touches only those.

use super::idempotency::{Command, record};
use super::refunds::reversal;
use super::{Engine, EngineError, Result, Scope};
use crate::domain::ledger::{Cause, DisputeStatus, EntryKind, EventKind, Status};
use crate::plugins::InputHasher;
use crate::store::{DisputeRecord, EntryRecord, LedgerWrite, NewEvent, StoreError, now_ms};
use rust_decimal::Decimal;

/// A request to open a dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDispute {
    /// Program.
    pub program_id: String,
    /// The conversion disputed.
    pub conversion_id: String,
    /// One entry of it, or all of its entries (a partner: all of its own) if `None`.
    pub entry_id: Option<i64>,
    /// Who opens it (API key id).
    pub opened_by: String,
    /// What the opener may dispute.
    pub scope: Scope,
    /// Why.
    pub reason: String,
    /// The client's idempotency key, if it sent one.
    pub idempotency_key: Option<String>,
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

impl DisputeOutcome {
    /// The dispute's status once resolved so.
    fn status(self) -> DisputeStatus {
        match self {
            Self::Upheld => DisputeStatus::Upheld,
            Self::Rejected => DisputeStatus::Rejected,
        }
    }
}

/// Whether dispute `d` concerns entry `e` (of its conversion).
fn concerns(d: &DisputeRecord, e: &EntryRecord) -> bool {
    d.entry_id.is_none_or(|id| id == e.id)
        && d.partner_id.as_ref().is_none_or(|p| *p == e.partner_id)
}

impl Engine {
    /// Open a dispute and freeze the entries it concerns.
    pub async fn open_dispute(&self, d: &OpenDispute) -> Result<DisputeRecord> {
        let own = match &d.scope {
            Scope::Admin => None,
            Scope::Partner(p) => Some(p.as_str()),
            Scope::PluginAuthor(_) => {
                return Err(EngineError::Forbidden(
                    "a plug-in author key cannot open disputes".into(),
                ));
            }
        };
        let cmd = d.idempotency_key.as_ref().map(|key| {
            let mut payload = InputHasher::default();
            payload
                .str(&d.conversion_id)
                .opt(d.entry_id.map(|e| e.to_string()).as_deref())
                .str(&d.reason);
            Command::new(
                &d.program_id,
                &d.scope,
                "open-dispute",
                key.clone(),
                payload,
            )
        });
        if let Some(done) = self.answered(cmd.as_ref()).await? {
            return Ok(done);
        }
        let not_found = || EngineError::NotFound(format!("conversion {:?}", d.conversion_id));
        // The entries the caller may see: a partner's own only.
        let entries: Vec<EntryRecord> = self
            .conversion_entries(&d.program_id, &d.conversion_id)
            .await?
            .into_iter()
            .filter(|e| own.is_none_or(|p| e.partner_id == p))
            .collect();
        if own.is_some() && entries.is_empty() {
            return Err(not_found());
        }
        if self
            .store
            .conversion(&d.program_id, &d.conversion_id)
            .await?
            .is_none()
        {
            return Err(not_found());
        }
        let partner_id = match d.entry_id {
            Some(id) => Some(
                entries
                    .iter()
                    .find(|e| e.id == id)
                    .ok_or_else(|| {
                        EngineError::NotFound(format!(
                            "entry {id} of conversion {:?}",
                            d.conversion_id
                        ))
                    })?
                    .partner_id
                    .clone(),
            ),
            None => own.map(str::to_owned),
        };
        let id = format!("dsp_{}", crate::ids::random_token(12));
        let opened = DisputeRecord {
            id: id.clone(),
            program_id: d.program_id.clone(),
            conversion_id: d.conversion_id.clone(),
            entry_id: d.entry_id,
            partner_id,
            opened_by: d.opened_by.clone(),
            reason: d.reason.clone(),
            opened_at_ms: now_ms(),
            status: DisputeStatus::Open,
            resolution: None,
            resolved_at_ms: None,
        };
        let events = entries
            .iter()
            .filter(|e| concerns(&opened, e))
            .filter(|e| matches!(e.status, Status::Pending | Status::Approved))
            .map(|e| NewEvent {
                entry_id: e.id,
                event: EventKind::Frozen,
                reason: format!("dispute:{id}"),
            })
            .collect();
        let write = LedgerWrite {
            dispute: Some(opened.clone()),
            dispute_events: vec![(
                id.clone(),
                "opened".into(),
                d.opened_by.clone(),
                d.reason.clone(),
                opened.opened_at_ms,
            )],
            events,
            command: record(cmd.as_ref(), &opened)?,
            ..LedgerWrite::default()
        };
        match self.store.write_ledger(&write).await {
            Ok(_) => Ok(opened),
            Err(e @ StoreError::Conflict(_)) => match self.answered(cmd.as_ref()).await? {
                Some(done) => Ok(done),
                None => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Disputes the caller may read, newest first: an admin all (of `program_id` if set),
    /// a partner those that concern its own entries.
    pub async fn disputes(
        &self,
        caller: &Scope,
        program_id: Option<&str>,
    ) -> Result<Vec<DisputeRecord>> {
        let partner = match caller {
            Scope::Admin => None,
            Scope::Partner(p) => Some(p.as_str()),
            Scope::PluginAuthor(_) => {
                return Err(EngineError::Forbidden(
                    "a plug-in author key cannot read disputes".into(),
                ));
            }
        };
        Ok(self.store.disputes(program_id, None, partner).await?)
    }

    /// Resolve an open dispute (an admin's decision). With `key`, a retry answers the
    /// first resolution again.
    pub async fn resolve_dispute(
        &self,
        id: &str,
        outcome: DisputeOutcome,
        actor: &str,
        note: &str,
        key: Option<&str>,
    ) -> Result<DisputeRecord> {
        let dispute = self
            .store
            .dispute(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("dispute {id:?}")))?;
        let cmd = key.map(|key| {
            let mut payload = InputHasher::default();
            payload.str(id).str(outcome.status().as_str()).str(note);
            Command::new(
                &dispute.program_id,
                &Scope::Admin,
                "resolve-dispute",
                key.to_owned(),
                payload,
            )
        });
        if let Some(done) = self.answered(cmd.as_ref()).await? {
            return Ok(done);
        }
        if dispute.status != DisputeStatus::Open {
            return Err(EngineError::Conflict(format!(
                "dispute {id} is already {}",
                dispute.status.as_str()
            )));
        }
        let entries: Vec<EntryRecord> = self
            .conversion_entries(&dispute.program_id, &dispute.conversion_id)
            .await?;
        let cause = Cause::Dispute(id.to_owned());
        let resolved_at_ms = now_ms();
        let resolved = DisputeRecord {
            status: outcome.status(),
            resolution: Some(note.to_owned()),
            resolved_at_ms: Some(resolved_at_ms),
            ..dispute.clone()
        };
        let mut write = LedgerWrite {
            dispute_events: vec![(
                id.to_owned(),
                outcome.status().as_str().to_owned(),
                actor.to_owned(),
                note.to_owned(),
                resolved_at_ms,
            )],
            // Only what this dispute froze is released: another partner's entries on the
            // same conversion stay as they are.
            events: entries
                .iter()
                .filter(|e| concerns(&dispute, e) && e.status == Status::Frozen)
                .map(|e| NewEvent {
                    entry_id: e.id,
                    event: EventKind::Released,
                    reason: cause.to_string(),
                })
                .collect(),
            command: record(cmd.as_ref(), &resolved)?,
            ..LedgerWrite::default()
        };
        if outcome == DisputeOutcome::Upheld {
            // A frozen entry that had been approved is released above and payable again:
            // its reversal is approved with it, in the same transaction, so no payout run
            // can take the entry without its reversal (a frozen or disputed entry is never
            // paid).
            let frozen: Vec<i64> = entries
                .iter()
                .filter(|e| e.status == Status::Frozen)
                .map(|e| e.id)
                .collect();
            let approved_before = self.store.approved_among(&frozen).await?;
            for entry in entries
                .iter()
                .filter(|e| concerns(&dispute, e))
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
                    released.status = if approved_before.contains(&entry.id) {
                        Status::Approved
                    } else {
                        Status::Pending
                    };
                }
                write
                    .entries
                    .push(reversal(&released, left, payout_left, cause.clone()));
            }
        }
        match self.store.write_ledger(&write).await {
            Ok(_) => Ok(resolved),
            Err(StoreError::Conflict(_)) => match self.answered(cmd.as_ref()).await? {
                Some(done) => Ok(done),
                None => Err(EngineError::Conflict(format!(
                    "dispute {id} was resolved concurrently"
                ))),
            },
            Err(e) => Err(e.into()),
        }
    }
}
