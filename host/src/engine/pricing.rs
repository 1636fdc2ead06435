//! Pricing one conversion: from input to commission lines and the rows to store. Pure of
//! storage writes; it reads partners, volume and FX rates.

use super::{Engine, EngineError, ProgramState, Result};
use crate::domain::calc::{apply_geo, shares};
pub use crate::domain::conversion::{ConversionInput, TouchpointInput};
use crate::domain::fx;
use crate::domain::ledger::{Cause, Provenance, Status};
use crate::domain::program::{PluginBinding, RateTable, VolumeStats};
use crate::domain::{Currency, DomainError};
use crate::plugins::{Digest, InputHasher, attribution_input_hash};
use crate::store::{NewAttribution, NewConversion, NewEntry, PartnerRecord};
use accrue_plugin_sdk::{Conversion, KeyValue, Money, PartnerWeight, RateInput, Touchpoint};
use chrono::{Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// One partner's commission on a conversion, as returned to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionLine {
    /// Partner.
    pub partner_id: String,
    /// Attribution weight (0..=1).
    #[serde(with = "rust_decimal::serde::str")]
    pub share: Decimal,
    /// Attributed revenue, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub attributed_amount: Decimal,
    /// The rate applied (tier + volume, then geographic).
    #[serde(with = "rust_decimal::serde::str")]
    pub rate: Decimal,
    /// Commission, sale currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// Commission in the payout currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub payout_amount: Decimal,
    /// Payout currency.
    pub payout_currency: String,
    /// FX rate sale → payout.
    #[serde(with = "rust_decimal::serde::str")]
    pub fx_rate: Decimal,
    /// Status when computed.
    pub status: Status,
}

/// The commissions of one conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionResult {
    /// Program.
    pub program_id: String,
    /// Conversion id.
    pub conversion_id: String,
    /// Sale amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Sale currency.
    pub currency: String,
    /// One line per credited partner.
    pub commissions: Vec<CommissionLine>,
}

/// A priced conversion: the result and the rows that record it.
pub(super) struct Priced {
    pub result: ConversionResult,
    pub record: NewConversion,
}

/// Settings that can be overridden when re-pricing: retroactive adjustments override the
/// rate table or the attribution plug-in; a replay overrides everything with what the
/// entries' provenance recorded.
#[derive(Default, Clone)]
pub(super) struct Overrides {
    pub rate_table: Option<RateTable>,
    pub attribution: Option<PluginBinding>,
    /// `Some(None)`: no geographic plug-in.
    pub geo: Option<Option<PluginBinding>>,
    /// Per partner: the tier and the volume it had at the time.
    pub facts: Option<HashMap<String, (String, VolumeStats)>>,
}

/// What one pricing run (a batch, an adjustment, a period close) has already read, so that
/// each conversion does not read it again: FX rates by (from, to, instant), and partners.
#[derive(Default)]
pub(super) struct Lookups {
    pub fx: HashMap<(String, String, i64), Decimal>,
    /// Partners read ahead (an id missing here is read when needed).
    pub partners: HashMap<String, PartnerRecord>,
    /// Attributions evaluated ahead for a batch, by (program, conversion id), each with
    /// the key it was evaluated under (see [`Engine::prefetch_attributions`]).
    pub attributions: HashMap<(String, String), Prefetched>,
}

/// An attribution evaluated ahead: its key (plug-in, config, input hash) and its answer.
pub(super) type Prefetched = (AttributionKey, Arc<Vec<PartnerWeight>>);

/// What identifies an attribution's answer: the plug-in, its config, the input's hash.
pub(super) type AttributionKey = (Digest, String, [u8; 32]);

/// One attribution to evaluate: the plug-in, its config, and the input with its hash.
pub(super) struct AttributionCall {
    pub digest: Digest,
    pub config: String,
    pub input_hash: [u8; 32],
    pub conversion: Conversion,
    pub touchpoints: Vec<Touchpoint>,
}

impl AttributionCall {
    /// The attribution `binding` makes of conversion `i` with its currency `currency`.
    pub fn new(
        binding: &PluginBinding,
        lookback_days: u32,
        i: &ConversionInput,
        currency: &Currency,
    ) -> Result<Self> {
        let conversion = Conversion {
            id: i.id.clone(),
            amount: Money {
                amount: i.amount,
                currency: currency.code().to_owned(),
            },
            occurred_at_ms: i.occurred_at_ms,
            customer_id: i.customer_id.clone(),
            country: i.country.clone(),
            region: i.region.clone(),
            new_customer: i.new_customer,
            attributes: i
                .attributes
                .iter()
                .map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        };
        let touchpoints: Vec<Touchpoint> = i
            .touchpoints
            .iter()
            .map(|t| Touchpoint {
                partner_id: t.partner_id.clone(),
                channel: t.channel.clone(),
                occurred_at_ms: t.occurred_at_ms,
                campaign: t.campaign.clone(),
                attributes: Vec::new(),
            })
            .collect();
        Ok(Self {
            digest: digest(&binding.digest)?,
            config: attribution_config(binding, lookback_days),
            input_hash: attribution_input_hash(&conversion, &touchpoints),
            conversion,
            touchpoints,
        })
    }

    pub fn key(&self) -> AttributionKey {
        (self.digest.clone(), self.config.clone(), self.input_hash)
    }
}

/// sha256 of a config text, hex.
pub(super) fn config_hash(text: &str) -> String {
    let mut h = InputHasher::default();
    h.str(text);
    hex::encode(h.finish())
}

/// The hash that tells a replay (same payload) from a conflicting reuse of a key.
pub(super) fn payload_hash(i: &ConversionInput) -> String {
    let mut h = InputHasher::default();
    h.str(&i.program_id)
        .str(&i.id)
        .dec(i.amount.normalize())
        .str(&i.currency)
        .i64(i.occurred_at_ms);
    h.opt(i.customer_id.as_deref())
        .opt(i.country.as_deref())
        .opt(i.region.as_deref())
        .i64(i64::from(i.new_customer));
    for (k, v) in &i.attributes {
        h.str(k).str(v);
    }
    h.i64(i.touchpoints.len() as i64);
    for t in &i.touchpoints {
        h.str(&t.partner_id)
            .str(&t.channel)
            .i64(t.occurred_at_ms)
            .opt(t.campaign.as_deref());
    }
    // Only when present, so that a payload without them hashes as it always did.
    if !i.signals.is_empty() {
        h.str("signals")
            .opt(i.signals.click_id.as_deref())
            .opt(i.signals.visitor_id.as_deref())
            .opt(i.signals.customer_email.as_deref());
    }
    hex::encode(h.finish())
}

/// The plug-in's config with the program's lookback window added unless it sets its own.
fn attribution_config(binding: &PluginBinding, lookback_days: u32) -> String {
    let mut config = binding.config.clone();
    if let Some(map) = config.as_object_mut() {
        map.entry("lookback_days")
            .or_insert_with(|| serde_json::Value::from(lookback_days));
    }
    config.to_string()
}

fn digest(text: &str) -> Result<Digest> {
    // A stored binding that does not parse is our fault, not the request's.
    Digest::parse(text).ok_or_else(|| {
        EngineError::Internal(format!("stored plug-in digest {text:?} does not parse"))
    })
}

/// Start of the calendar month (UTC) containing `at_ms`, and of the next one.
fn month_of(at_ms: i64) -> (i64, i64) {
    let at = Utc.timestamp_millis_opt(at_ms).single().unwrap_or_default();
    let start = Utc
        .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let (y, m) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    (start.timestamp_millis(), end.timestamp_millis())
}

impl Engine {
    /// Validate the input and load the partners it names (all must be in the program).
    pub(super) async fn check_input(
        &self,
        state: &ProgramState,
        i: &ConversionInput,
        known: &HashMap<String, PartnerRecord>,
    ) -> Result<(Currency, Vec<PartnerRecord>)> {
        if i.id.trim().is_empty() || i.id.len() > 200 {
            return Err(DomainError::invalid("id", "must be 1 to 200 characters").into());
        }
        let currency = Currency::parse(&i.currency)?;
        currency.check_amount("amount", i.amount)?;
        let mut ids: Vec<String> = i.touchpoints.iter().map(|t| t.partner_id.clone()).collect();
        ids.sort();
        ids.dedup();
        // Partners read ahead for a whole batch are taken from `known`; an id not there
        // (unknown, or created since) is read now, so the outcome is the same either way.
        let (mut partners, mut missing) = (Vec::with_capacity(ids.len()), Vec::new());
        for id in &ids {
            match known.get(id) {
                Some(p) => partners.push(p.clone()),
                None => missing.push(id.clone()),
            }
        }
        if !missing.is_empty() {
            partners.extend(self.store.partners_by_id(&missing).await?);
        }
        for id in &ids {
            match partners.iter().find(|p| &p.id == id) {
                None => return Err(EngineError::UnknownPartner(id.clone())),
                Some(p) if p.program_id != state.program.id => {
                    return Err(EngineError::PartnerOutsideProgram {
                        partner: id.clone(),
                        program: state.program.id.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok((currency, partners))
    }

    /// The FX rate from `from` to `to` at `at_ms`: recorded directly, or the inverse of the
    /// opposite direction; 1 for the same currency; an error if neither is recorded.
    pub(super) async fn fx_rate(
        &self,
        from: Currency,
        to: Currency,
        at_ms: i64,
        lookups: &mut Lookups,
    ) -> Result<Decimal> {
        if from == to {
            return Ok(Decimal::ONE);
        }
        let key = (from.code().to_owned(), to.code().to_owned(), at_ms);
        if let Some(r) = lookups.fx.get(&key) {
            return Ok(*r);
        }
        let rate = match self.store.fx_rate_at(from.code(), to.code(), at_ms).await? {
            Some(r) => r,
            None => match self.store.fx_rate_at(to.code(), from.code(), at_ms).await? {
                Some(r) => fx::inverse(r)?,
                None => {
                    let at = Utc
                        .timestamp_millis_opt(at_ms)
                        .single()
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default();
                    return Err(DomainError::MissingFxRate {
                        base: from.code().into(),
                        quote: to.code().into(),
                        at,
                    }
                    .into());
                }
            },
        };
        lookups.fx.insert(key, rate);
        Ok(rate)
    }

    /// Price one conversion (nothing is written).
    pub(super) async fn price(
        &self,
        state: &ProgramState,
        i: &ConversionInput,
        overrides: &Overrides,
        lookups: &mut Lookups,
    ) -> Result<Priced> {
        let (currency, partners) = self.check_input(state, i, &lookups.partners).await?;
        let program = &state.program;
        let table = overrides
            .rate_table
            .as_ref()
            .unwrap_or_else(|| state.rate_table_at(i.occurred_at_ms));
        let binding = overrides
            .attribution
            .as_ref()
            .unwrap_or(&program.attribution);
        let attribution_config = attribution_config(binding, program.lookback_days);
        let attribution_digest = digest(&binding.digest)?;
        // Evaluated ahead with this batch (the input hashed there, not again here), if it
        // was under the same plug-in and config.
        let prefetched = lookups
            .attributions
            .get(&(program.id.clone(), i.id.clone()))
            .filter(|((d, config, _), _)| {
                *d == attribution_digest && *config == attribution_config
            });
        let (input_hash, weights) = match prefetched {
            Some(((_, _, input_hash), weights)) => (*input_hash, weights.clone()),
            None => {
                let call = AttributionCall::new(binding, program.lookback_days, i, &currency)?;
                (call.input_hash, self.attribute(&program.id, call).await?)
            }
        };
        let input_hash = hex::encode(input_hash);
        let (month_start, month_end) = month_of(i.occurred_at_ms);
        let mut rates = Vec::with_capacity(weights.len());
        let mut provenances = Vec::with_capacity(weights.len());
        // The same for every partner of this conversion: hashed once, not once per line.
        let attribution_config_hash = config_hash(&attribution_config);
        let geo_binding = match &overrides.geo {
            Some(g) => g.as_ref(),
            None => program.geo_rate.as_ref(),
        };
        let geo_config = geo_binding.map(PluginBinding::config_text);
        let geo_config_hash = geo_config.as_deref().map(config_hash);
        for w in weights.iter() {
            let partner = partners
                .iter()
                .find(|p| p.id == w.partner_id)
                .ok_or_else(|| EngineError::UnknownPartner(w.partner_id.clone()))?;
            let recorded = overrides.facts.as_ref().and_then(|f| f.get(&partner.id));
            let tier = recorded.map_or_else(
                || partner.tier_at(i.occurred_at_ms).to_owned(),
                |(t, _)| t.clone(),
            );
            let volume = if let Some((_, v)) = recorded {
                *v
            } else if table.uses_volume() {
                self.store
                    .volume_stats(&partner.id, month_start, i.occurred_at_ms.min(month_end))
                    .await?
            } else {
                Default::default()
            };
            let (base, volume_add) = table.base_rate(&tier, &volume)?;
            let mut rate = base + volume_add;
            if let Some(geo) = geo_binding {
                let input = RateInput {
                    conversion_country: i.country.clone(),
                    conversion_region: i.region.clone(),
                    partner_tier: tier.clone(),
                    partner_country: partner.country.clone(),
                    base_rate: rate,
                };
                let decision = self
                    .adjust_rate(
                        &program.id,
                        digest(&geo.digest)?,
                        geo_config.clone().unwrap_or_default(),
                        input,
                    )
                    .await?;
                rate = apply_geo(rate, &decision.adjustment)?;
            }
            rates.push(rate);
            provenances.push(Provenance {
                attribution_digest: binding.digest.clone(),
                attribution_config_hash: attribution_config_hash.clone(),
                attribution_config: attribution_config.clone(),
                geo_digest: geo_binding.map(|g| g.digest.clone()),
                geo_config_hash: geo_config_hash.clone(),
                geo_config: geo_config.clone(),
                volume,
                rate_table_version: table.version,
                tier,
                base_rate: base,
                volume_add_rate: volume_add,
                weight: w.weight,
                input_hash: input_hash.clone(),
            });
        }
        let weight_values: Vec<Decimal> = weights.iter().map(|w| w.weight).collect();
        let tie_keys: Vec<[u8; 32]> = weights
            .iter()
            .map(|w| crate::domain::tie_key(&i.id, &w.partner_id))
            .collect();
        let parts = shares(i.amount, currency, &weight_values, &tie_keys, &rates)?;
        let hold_until_ms = i
            .occurred_at_ms
            .saturating_add(i64::from(program.hold_days) * 86_400_000);
        let mut lines = Vec::with_capacity(parts.len());
        let mut entries = Vec::with_capacity(parts.len());
        let mut attributions = Vec::with_capacity(parts.len());
        for (((w, part), rate), provenance) in
            weights.iter().zip(&parts).zip(&rates).zip(provenances)
        {
            let partner = partners
                .iter()
                .find(|p| p.id == w.partner_id)
                .ok_or_else(|| EngineError::UnknownPartner(w.partner_id.clone()))?;
            let payout_currency = partner.payout_currency;
            let fx_rate = self
                .fx_rate(currency, payout_currency, i.occurred_at_ms, lookups)
                .await?;
            let payout_amount = fx::convert(part.commission, fx_rate, payout_currency)?;
            lines.push(CommissionLine {
                partner_id: w.partner_id.clone(),
                share: w.weight,
                attributed_amount: part.attributed,
                rate: *rate,
                amount: part.commission,
                currency: currency.code().to_owned(),
                payout_amount,
                payout_currency: payout_currency.code().to_owned(),
                fx_rate,
                status: Status::Pending,
            });
            attributions.push(NewAttribution {
                partner_id: w.partner_id.clone(),
                weight: w.weight,
                attributed_amount: part.attributed,
            });
            entries.push(NewEntry {
                program_id: program.id.clone(),
                partner_id: w.partner_id.clone(),
                conversion_id: Some(i.id.clone()),
                kind: crate::domain::ledger::EntryKind::Commission,
                amount: part.commission,
                currency,
                payout_amount,
                payout_currency,
                fx_rate,
                rate: Some(*rate),
                reverses_entry_id: None,
                cause: Cause::Conversion,
                provenance: serde_json::to_string(&provenance).ok(),
                hold_until_ms,
                initial_events: Vec::new(),
            });
        }
        let result = ConversionResult {
            program_id: program.id.clone(),
            conversion_id: i.id.clone(),
            amount: crate::domain::round_minor(i.amount, currency),
            currency: currency.code().to_owned(),
            commissions: lines,
        };
        let record = NewConversion {
            conversion: ConversionInput {
                program_id: program.id.clone(),
                currency: currency.code().to_owned(),
                ..i.clone()
            },
            payload_hash: payload_hash(i),
            result: serde_json::to_string(&result).unwrap_or_default(),
            attributions,
            entries,
            created_at_ms: crate::store::now_ms(),
            // Set by ingestion, which holds the hashing key.
            visitor_hash: None,
            email_hash: None,
        };
        Ok(Priced { result, record })
    }

    /// What a conversion would earn, computed exactly as ingestion does; nothing is stored.
    pub async fn quote(&self, input: &ConversionInput) -> Result<ConversionResult> {
        let state = self.program(&input.program_id).await?;
        Currency::parse_current(&input.currency)?;
        let priced = self
            .price(
                &state,
                input,
                &Overrides::default(),
                &mut Lookups::default(),
            )
            .await?;
        Ok(priced.result)
    }
}

#[cfg(test)]
mod tests {
    use super::month_of;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2026-12-15T12:00:00Z
        let (start, end) = month_of(1_797_336_000_000);
        assert_eq!(start, 1_796_083_200_000); // 2026-12-01
        assert_eq!(end, 1_798_761_600_000); // 2027-01-01
    }
}
