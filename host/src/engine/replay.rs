//! Replay: re-price a stored conversion from what its entries' provenance recorded (plug-in
//! digests and configs, rate table version, tier, volume) and compare, bit for bit, with
//! the commissions stored. Plug-ins are pure, so a mismatch means something changed that
//! should not have (a component, the rounding, an FX rate recorded after the fact).

use super::pricing::{Lookups, Overrides};
use super::{Engine, EngineError, Result};
use crate::domain::ledger::{EntryKind, Provenance};
use crate::domain::program::PluginBinding;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;

/// One partner's stored and replayed commission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayLine {
    /// Partner.
    pub partner_id: String,
    /// Stored commission, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub stored: Decimal,
    /// Replayed commission.
    #[serde(with = "rust_decimal::serde::str")]
    pub replayed: Decimal,
    /// Stored payout amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub stored_payout: Decimal,
    /// Replayed payout amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub replayed_payout: Decimal,
}

/// The outcome of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Program.
    pub program_id: String,
    /// Conversion.
    pub conversion_id: String,
    /// True when every line matches exactly (and no partner is missing on either side).
    pub matches: bool,
    /// Per partner.
    pub lines: Vec<ReplayLine>,
}

fn parse_config(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| EngineError::Internal(format!("recorded config is not JSON: {e}")))
}

impl Engine {
    /// Replay one conversion's commissions from their provenance.
    pub async fn replay(&self, program_id: &str, conversion_id: &str) -> Result<ReplayReport> {
        let conversion = self
            .store
            .conversion(program_id, conversion_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("conversion {conversion_id:?}")))?;
        let entries: Vec<_> = self
            .conversion_entries(program_id, conversion_id)
            .await?
            .into_iter()
            .filter(|e| e.kind == EntryKind::Commission)
            .collect();
        let provenances: Vec<Provenance> = entries
            .iter()
            .filter_map(|e| e.provenance.as_deref())
            .map(|p| {
                serde_json::from_str(p)
                    .map_err(|e| EngineError::Internal(format!("unreadable provenance: {e}")))
            })
            .collect::<Result<_>>()?;
        let state = self.program(program_id).await?;
        let mut overrides = Overrides::default();
        if let Some(p) = provenances.first() {
            overrides.attribution = Some(PluginBinding {
                digest: p.attribution_digest.clone(),
                config: parse_config(&p.attribution_config)?,
            });
            overrides.geo = Some(match (&p.geo_digest, &p.geo_config) {
                (Some(digest), Some(config)) => Some(PluginBinding {
                    digest: digest.clone(),
                    config: parse_config(config)?,
                }),
                _ => None,
            });
            overrides.rate_table = state
                .rate_tables
                .iter()
                .find(|t| t.version == p.rate_table_version)
                .cloned();
            let facts: HashMap<String, (String, crate::domain::program::VolumeStats)> = entries
                .iter()
                .zip(&provenances)
                .map(|(e, p)| (e.partner_id.clone(), (p.tier.clone(), p.volume)))
                .collect();
            overrides.facts = Some(facts);
        }
        let priced = self
            .price(
                &state,
                &conversion.conversion,
                &overrides,
                &mut Lookups::default(),
            )
            .await?;
        let mut lines = Vec::new();
        let mut matches = priced.record.entries.len() == entries.len();
        for e in &entries {
            let replayed = priced
                .record
                .entries
                .iter()
                .find(|r| r.partner_id == e.partner_id);
            let line = ReplayLine {
                partner_id: e.partner_id.clone(),
                stored: e.amount,
                replayed: replayed.map_or(Decimal::ZERO, |r| r.amount),
                stored_payout: e.payout_amount,
                replayed_payout: replayed.map_or(Decimal::ZERO, |r| r.payout_amount),
            };
            // Bit for bit: the same value with the same scale, from the same input.
            let input_hash = |p: Option<&str>| {
                p.and_then(|p| serde_json::from_str::<Provenance>(p).ok())
                    .map(|p| p.input_hash)
            };
            matches &= line.stored.serialize() == line.replayed.serialize()
                && line.stored_payout.serialize() == line.replayed_payout.serialize()
                && input_hash(e.provenance.as_deref())
                    == input_hash(replayed.and_then(|r| r.provenance.as_deref()));
            lines.push(line);
        }
        Ok(ReplayReport {
            program_id: program_id.to_owned(),
            conversion_id: conversion_id.to_owned(),
            matches,
            lines,
        })
    }
}
