//! Ingestion: single conversions and batches, idempotent by the client's conversion id.
//!
//! The key is unique in the store and written in the same transaction as the conversion,
//! its attributions and its entries. The same key with the same payload returns the
//! original result; with another payload it is a conflict. When two writers race on one
//! key, the loser's insert hits the unique key, and it answers from the winner's record.

use super::pricing::{
    AttributionCall, ConversionInput, ConversionResult, Lookups, Overrides, Priced, payload_hash,
};
use super::{Engine, EngineError, Result};
use crate::store::{PartnerRecord, StoreError};
use std::collections::HashMap;

/// What ingestion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored now.
    Created(ConversionResult),
    /// Stored before with the same payload: the original result.
    Replayed(ConversionResult),
}

impl IngestOutcome {
    /// The result either way.
    pub fn result(&self) -> &ConversionResult {
        match self {
            Self::Created(r) | Self::Replayed(r) => r,
        }
    }
}

/// One item's outcome in a batch.
pub type BatchItem = Result<IngestOutcome>;

fn replay(
    id: &str,
    hash: &str,
    stored: Option<&(String, String)>,
) -> Option<Result<IngestOutcome>> {
    let (stored_hash, result) = stored?;
    if stored_hash != hash {
        return Some(Err(EngineError::IdempotencyConflict(format!(
            "conversion {id:?}"
        ))));
    }
    Some(
        serde_json::from_str(result)
            .map(IngestOutcome::Replayed)
            .map_err(|e| {
                EngineError::Store(StoreError::Corrupt(format!("stored result of {id}: {e}")))
            }),
    )
}

impl Engine {
    /// Ingest one conversion.
    pub async fn ingest(&self, input: &ConversionInput) -> Result<IngestOutcome> {
        let mut out = self.ingest_batch(std::slice::from_ref(input)).await?;
        out.pop().unwrap_or_else(|| {
            Err(EngineError::Internal(
                "a batch of one answered nothing".into(),
            ))
        })
    }

    /// Ingest many conversions: each gets its own outcome; every new one is written in one
    /// transaction with multi-row statements. An error that concerns the whole batch (the
    /// database is down) is returned as `Err`.
    pub async fn ingest_batch(&self, inputs: &[ConversionInput]) -> Result<Vec<BatchItem>> {
        let mut outcomes: Vec<Option<BatchItem>> = (0..inputs.len()).map(|_| None).collect();
        // Up to three rounds: a concurrent writer can take a key between our check and our
        // write; the next round answers those from its record.
        for round in 0..3 {
            let pending: Vec<usize> = (0..inputs.len())
                .filter(|i| outcomes[*i].is_none())
                .collect();
            if pending.is_empty() {
                break;
            }
            let started = std::time::Instant::now();
            // The results by input index, and the rows that record them (in the same order).
            let mut priced: Vec<(usize, ConversionResult)> = Vec::new();
            let mut records = Vec::new();
            let mut seen: HashMap<(String, String), (usize, String)> = HashMap::new();
            let existing = self.existing_keys(inputs, &pending).await?;
            let mut lookups = Lookups {
                partners: self.batch_partners(inputs, &pending, &existing).await?,
                ..Lookups::default()
            };
            if pending.len() > 1 {
                let calls = self.attribution_calls(inputs, &pending, &existing).await;
                lookups.attributions = self.prefetch_attributions(calls).await;
            }
            let read_in = started.elapsed();
            for &i in &pending {
                let input = &inputs[i];
                let hash = payload_hash(input);
                let key = (input.program_id.clone(), input.id.clone());
                if let Some(answer) = replay(&input.id, &hash, existing.get(&key)) {
                    outcomes[i] = Some(answer);
                    continue;
                }
                if let Some((first, first_hash)) = seen.get(&key) {
                    // The same key twice in one batch: the later one replays the earlier.
                    outcomes[i] = Some(if *first_hash == hash {
                        priced
                            .iter()
                            .find(|(j, _)| j == first)
                            .map(|(_, r)| Ok(IngestOutcome::Replayed(r.clone())))
                            .unwrap_or_else(|| {
                                Err(EngineError::Conflict(format!(
                                    "{} failed earlier in this batch",
                                    input.id
                                )))
                            })
                    } else {
                        Err(EngineError::IdempotencyConflict(format!(
                            "conversion {:?}",
                            input.id
                        )))
                    });
                    continue;
                }
                seen.insert(key, (i, hash));
                let state = match self.program(&input.program_id).await {
                    Ok(s) => s,
                    Err(e) => {
                        outcomes[i] = Some(Err(e));
                        continue;
                    }
                };
                // A new conversion may not be in a withdrawn currency (a replay of one
                // stored earlier was answered above, from its record).
                if let Err(e) = crate::domain::Currency::parse_current(&input.currency) {
                    outcomes[i] = Some(Err(e.into()));
                    continue;
                }
                match self
                    .price(&state, input, &Overrides::default(), &mut lookups)
                    .await
                {
                    Ok(Priced { result, mut record }) => {
                        self.hash_signals(&mut record).await?;
                        priced.push((i, result));
                        records.push(record);
                    }
                    Err(e) => outcomes[i] = Some(Err(e)),
                }
            }
            self.visitors_from_clicks(&mut records).await?;
            let priced_in = started.elapsed();
            // Keys another writer stored first are skipped, and answered next round from
            // that writer's record (a replay, or a conflict if its payload differs).
            let skipped = self.store.write_conversions(&records).await?;
            tracing::debug!(
                round,
                conversions = records.len(),
                read_us = read_in.as_micros() as u64,
                price_us = (priced_in - read_in).as_micros() as u64,
                write_us = (started.elapsed() - priced_in).as_micros() as u64,
                "batch priced and written"
            );
            if !skipped.is_empty() {
                tracing::debug!(round, skipped = skipped.len(), "batch raced another writer");
            }
            for (i, result) in priced {
                if skipped.contains(&result.conversion_id) {
                    // Repeats of this key inside the batch must be answered again too.
                    for j in 0..inputs.len() {
                        if inputs[j].id == result.conversion_id
                            && inputs[j].program_id == result.program_id
                        {
                            outcomes[j] = None;
                        }
                    }
                } else {
                    outcomes[i] = Some(Ok(IngestOutcome::Created(result)));
                }
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(EngineError::Conflict(
                        "could not settle a race on this key".into(),
                    ))
                })
            })
            .collect())
    }

    /// Every partner the new conversions among `pending` name, read once for the batch
    /// instead of once per conversion (pricing reads any it does not find here).
    async fn batch_partners(
        &self,
        inputs: &[ConversionInput],
        pending: &[usize],
        existing: &HashMap<(String, String), (String, String)>,
    ) -> Result<HashMap<String, PartnerRecord>> {
        let mut ids: Vec<String> = pending
            .iter()
            .map(|&i| &inputs[i])
            .filter(|c| !existing.contains_key(&(c.program_id.clone(), c.id.clone())))
            .flat_map(|c| c.touchpoints.iter().map(|t| t.partner_id.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        let partners = self.store.partners_by_id(&ids).await?;
        Ok(partners.into_iter().map(|p| (p.id.clone(), p)).collect())
    }

    /// The attributions the new conversions among `pending` will ask for, to evaluate them
    /// ahead as one job (see [`Engine::prefetch_attributions`]). A conversion that cannot
    /// be priced (an unknown program, a withdrawn currency) is left out: pricing reports it.
    async fn attribution_calls(
        &self,
        inputs: &[ConversionInput],
        pending: &[usize],
        existing: &HashMap<(String, String), (String, String)>,
    ) -> Vec<(String, AttributionCall)> {
        let mut calls = Vec::with_capacity(pending.len());
        let mut seen = std::collections::HashSet::new();
        for input in pending.iter().map(|&i| &inputs[i]) {
            let key = (input.program_id.clone(), input.id.clone());
            // A key already stored is replayed, and a key repeated in the batch is priced
            // once, as its first occurrence: only that one is evaluated ahead.
            if existing.contains_key(&key) || !seen.insert(key) {
                continue;
            }
            let Ok(state) = self.program(&input.program_id).await else {
                continue;
            };
            let Ok(currency) = crate::domain::Currency::parse_current(&input.currency) else {
                continue;
            };
            let program = &state.program;
            if let Ok(call) = AttributionCall::new(
                &program.attribution,
                program.lookback_days,
                input,
                &currency,
            ) {
                calls.push((input.program_id.clone(), call));
            }
        }
        calls
    }

    async fn existing_keys(
        &self,
        inputs: &[ConversionInput],
        pending: &[usize],
    ) -> Result<HashMap<(String, String), (String, String)>> {
        let mut by_program: HashMap<&str, Vec<String>> = HashMap::new();
        for &i in pending {
            by_program
                .entry(inputs[i].program_id.as_str())
                .or_default()
                .push(inputs[i].id.clone());
        }
        let mut out = HashMap::new();
        for (program, keys) in by_program {
            for (key, record) in self.store.idempotency_records(program, &keys).await? {
                out.insert((program.to_owned(), key), record);
            }
        }
        Ok(out)
    }
}
