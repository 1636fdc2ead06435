//! Funnel events: clicks and leads, posted one at a time or in batches of up to 10,000,
//! idempotent by the client's event id (per program). Each is checked on its own (one bad
//! event fails alone); the new ones are stored, and added to the funnel rollup, in one
//! transaction.

use super::analytics::events_rollup;
use super::{Engine, EngineError, Result};
use crate::domain::DomainError;
use crate::store::rollups::NewEvent;
use std::collections::{HashMap, HashSet};

/// The most events one batch may carry.
pub const MAX_EVENT_BATCH: usize = 10_000;

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A click on a partner's link.
    Click,
    /// A lead (a sign-up).
    Lead,
}

impl EventKind {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Click => "click",
            Self::Lead => "lead",
        }
    }
}

/// The class of user agent an event came from.
pub const USER_AGENT_CLASSES: [&str; 5] = ["desktop", "mobile", "tablet", "bot", "other"];

/// An event as a client posts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInput {
    /// Program.
    pub program_id: String,
    /// The client's id (idempotency key, per program).
    pub id: String,
    /// Click or lead.
    pub kind: EventKind,
    /// Partner.
    pub partner_id: String,
    /// When (ms).
    pub occurred_at_ms: i64,
    /// The visitor (stored only as a keyed hash).
    pub visitor_id: Option<String>,
    /// Campaign.
    pub campaign: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Landing page.
    pub landing_page: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// One of [`USER_AGENT_CLASSES`].
    pub user_agent_class: Option<String>,
    /// For a lead, the click it came from.
    pub click_id: Option<String>,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Stored now.
    Created,
    /// Its id was stored before (nothing changed).
    Duplicate,
}

impl Engine {
    /// Record events; each gets its own outcome, in order. An error that concerns the
    /// whole batch (the database is down) is `Err`.
    pub async fn record_events(&self, inputs: &[EventInput]) -> Result<Vec<Result<EventOutcome>>> {
        if inputs.len() > MAX_EVENT_BATCH {
            return Err(DomainError::invalid(
                "events",
                format!(
                    "at most {MAX_EVENT_BATCH} events per batch, got {}",
                    inputs.len()
                ),
            )
            .into());
        }
        let mut out: Vec<Option<Result<EventOutcome>>> = (0..inputs.len()).map(|_| None).collect();
        let ids: Vec<String> = inputs
            .iter()
            .map(|e| e.partner_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let partners: HashMap<String, String> = self
            .store
            .partners_by_id(&ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p.program_id))
            .collect();
        let now = crate::store::now_ms();
        let mut rows = Vec::with_capacity(inputs.len());
        let mut positions: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, e) in inputs.iter().enumerate() {
            if let Err(err) = self.program(&e.program_id).await {
                out[i] = Some(Err(err));
                continue;
            }
            match partners.get(&e.partner_id) {
                None => {
                    out[i] = Some(Err(EngineError::UnknownPartner(e.partner_id.clone())));
                    continue;
                }
                Some(p) if p != &e.program_id => {
                    out[i] = Some(Err(EngineError::PartnerOutsideProgram {
                        partner: e.partner_id.clone(),
                        program: e.program_id.clone(),
                    }));
                    continue;
                }
                Some(_) => {}
            }
            if let Some(class) = &e.user_agent_class
                && !USER_AGENT_CLASSES.contains(&class.as_str())
            {
                out[i] = Some(Err(DomainError::invalid(
                    "user_agent_class",
                    format!("{class:?}: expected one of {USER_AGENT_CLASSES:?}"),
                )
                .into()));
                continue;
            }
            if e.kind == EventKind::Click && e.click_id.is_some() {
                out[i] = Some(Err(DomainError::invalid(
                    "click_id",
                    "only a lead names the click it came from",
                )
                .into()));
                continue;
            }
            let visitor_hash = match &e.visitor_id {
                Some(v) => Some(self.identity_hash("visitor", v).await?),
                None => None,
            };
            let key = (e.program_id.clone(), e.id.clone());
            let seen = positions.entry(key).or_default();
            seen.push(i);
            if seen.len() > 1 {
                continue;
            }
            rows.push(NewEvent {
                program_id: e.program_id.clone(),
                id: e.id.clone(),
                kind: e.kind.as_str().to_owned(),
                partner_id: e.partner_id.clone(),
                occurred_at_ms: e.occurred_at_ms,
                visitor_hash,
                campaign: e.campaign.clone(),
                channel: e.channel.clone(),
                landing_page: e.landing_page.clone(),
                country: e.country.as_ref().map(|c| c.to_ascii_uppercase()),
                user_agent_class: e.user_agent_class.clone(),
                click_id: e.click_id.clone(),
                created_at_ms: now,
            });
        }
        let inserted: HashSet<(String, String)> = if rows.is_empty() {
            HashSet::new()
        } else {
            self.store
                .insert_events(&rows, |new| events_rollup(new.iter().copied()))
                .await?
                .into_iter()
                .collect()
        };
        let programs: HashSet<&str> = rows.iter().map(|r| r.program_id.as_str()).collect();
        for p in programs {
            self.analytics_changed(p);
        }
        for (key, at) in positions {
            let first = if inserted.contains(&key) {
                EventOutcome::Created
            } else {
                EventOutcome::Duplicate
            };
            for (n, i) in at.into_iter().enumerate() {
                out[i] = Some(Ok(if n == 0 {
                    first
                } else {
                    EventOutcome::Duplicate
                }));
            }
        }
        Ok(out
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Err(EngineError::Internal("event without outcome".into())))
            })
            .collect())
    }
}
