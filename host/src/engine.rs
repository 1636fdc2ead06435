//! The commission engine: runs the pipeline of DESIGN.md over the domain, the plug-in
//! runtime and the store.
//!
//! conversion → program (cached) → attribution plug-in → tier base + volume → geographic
//! plug-in → amounts (largest remainder, half-even) → FX → one transaction.

mod adjust;
mod admin;
mod analytics;
mod bonus;
mod bootstrap;
mod breaker;
mod disputes;
mod error;
mod evaluations;
mod events;
mod fraud;
mod idempotency;
mod ingest;
mod keys;
mod payout_files;
mod payout_profiles;
mod payouts;
mod plugin_registry;
mod pricing;
mod programs;
mod refunds;
mod replay;
mod reports;
mod secrets;

#[cfg(test)]
mod tests;

pub use adjust::{AdjustmentAsk, AdjustmentChange, AdjustmentReport, AdjustmentRequest};
pub use admin::{DEFAULT_TIER, NewPartner, PluginRef};
pub use analytics::*;
pub use bonus::{BonusFailure, BonusOutcome, BonusStatus};
pub use bootstrap::{BUILTIN_VERSION, LoadReport};
pub use disputes::{DisputeOutcome, OpenDispute};
pub use error::EngineError;
pub use events::{EventInput, EventKind, EventOutcome, MAX_EVENT_BATCH, USER_AGENT_CLASSES};
pub use fraud::AlertOutcome;
pub use ingest::{BatchItem, IngestOutcome};
pub use keys::hash_secret;
pub use payout_files::FeedbackFormat;
pub use payout_profiles::masked as masked_method;
pub use payout_profiles::{
    NewPayoutMethod, NewTaxProfile, NewWithholdingRule, PayoutMethodView, ProfileError,
    TaxProfileView,
};
pub use payouts::{
    CurrencyTotals, FeedbackReport, ItemOutcome, ItemStatus, RunRequest, RunStarted, RunStatus,
    RunView, Schedule,
};
pub use plugin_registry::Registered;
pub use pricing::{CommissionLine, ConversionInput, ConversionResult, TouchpointInput};
pub use programs::{DEFAULT_HOLD_DAYS, DEFAULT_LOOKBACK_DAYS, NewProgram, ProgramChange};
pub use refunds::RefundResult;
pub use replay::{ReplayLine, ReplayReport};
pub use reports::{REPORT_KINDS, REPORT_LEASE_MS, ReportParams};
pub use secrets::{KeyTextError, OpenError, SECRETS_KEY_VAR, Sealer};

use crate::domain::program::{Program, RateTable};
use crate::plugins::Runtime;
use crate::store::Store;
use std::sync::Arc;

pub use crate::domain::scope::Scope;

/// Result of engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// A program with every version of its rate table.
#[derive(Debug, Clone)]
pub struct ProgramState {
    /// The program.
    pub program: Program,
    /// Its rate tables, oldest first (never empty).
    pub rate_tables: Vec<RateTable>,
}

impl ProgramState {
    /// The rate table in force at `at_ms`: the newest whose effective-from is not later;
    /// the first one for conversions older than every table.
    pub fn rate_table_at(&self, at_ms: i64) -> &RateTable {
        self.rate_tables
            .iter()
            .rev()
            .find(|t| t.effective_from_ms <= at_ms)
            .unwrap_or(&self.rate_tables[0])
    }
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    runtime: Arc<Runtime>,
    programs: moka::sync::Cache<String, Arc<ProgramState>>,
    evals: Arc<evaluations::EvalPool>,
    /// Seals payout destinations and TINs; `None` until a key is configured.
    secrets: Option<Arc<Sealer>>,
    /// The key of visitor and e-mail hashes, read once from the store.
    identity_key: Arc<tokio::sync::OnceCell<[u8; 32]>>,
    /// Per program, a counter bumped whenever this process changes its rollups: part of
    /// every cached analytics answer's key, so a change here is seen at once.
    analytics_generations: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
    /// Hot analytics answers (JSON), by request and generation; kept a few seconds, which
    /// bounds how long another replica's changes go unseen.
    analytics_cache: moka::sync::Cache<String, Arc<dyn std::any::Any + Send + Sync>>,
    /// Analytics cache hits and misses, for `/metrics`.
    analytics_hits: Arc<std::sync::atomic::AtomicU64>,
    analytics_misses: Arc<std::sync::atomic::AtomicU64>,
}

impl Engine {
    /// An engine over `store`, running plug-ins in `runtime`.
    pub fn new(store: Store, runtime: Arc<Runtime>) -> Self {
        Self {
            store,
            evals: Arc::new(evaluations::EvalPool::new(runtime.limits())),
            runtime,
            // A short time-to-live bounds how long another replica's change goes unseen.
            programs: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(std::time::Duration::from_secs(5))
                .build(),
            secrets: None,
            identity_key: Arc::new(tokio::sync::OnceCell::new()),
            analytics_generations: Arc::default(),
            analytics_cache: moka::sync::Cache::builder()
                .max_capacity(2_000)
                .time_to_live(std::time::Duration::from_secs(5))
                .build(),
            analytics_hits: Arc::default(),
            analytics_misses: Arc::default(),
        }
    }

    /// Analytics cache `(hits, misses)` so far.
    pub fn analytics_cache_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.analytics_hits.load(Relaxed),
            self.analytics_misses.load(Relaxed),
        )
    }

    /// This engine with `sealer` for secrets at rest (`ACCRUE_SECRETS_KEY`).
    pub fn with_secrets(mut self, sealer: Sealer) -> Self {
        self.secrets = Some(Arc::new(sealer));
        self
    }

    /// The sealer; without a configured key, `secrets-key-missing` (503): payout methods
    /// and TINs cannot be stored or read.
    pub fn sealer(&self) -> Result<&Sealer> {
        self.secrets
            .as_deref()
            .ok_or(EngineError::SecretsKeyMissing)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The plug-in runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// A program and its rate tables, from the cache or the store.
    pub async fn program(&self, id: &str) -> Result<Arc<ProgramState>> {
        if let Some(p) = self.programs.get(id) {
            return Ok(p);
        }
        let program = self
            .store
            .program(id)
            .await?
            .ok_or_else(|| EngineError::UnknownProgram(id.to_owned()))?;
        let rate_tables = self.store.rate_tables(id).await?;
        if rate_tables.is_empty() {
            return Err(EngineError::UnknownProgram(id.to_owned()));
        }
        let state = Arc::new(ProgramState {
            program,
            rate_tables,
        });
        self.programs.insert(id.to_owned(), state.clone());
        Ok(state)
    }

    /// Forget a cached program (after it or its rate tables change).
    pub fn invalidate_program(&self, id: &str) {
        self.programs.invalidate(id);
    }

    /// Approve every entry whose hold period is over. Returns how many.
    pub async fn approve_due(&self, now_ms: i64) -> Result<u64> {
        Ok(self.store.approve_due(now_ms).await?)
    }

    /// A partner's balances by payout currency, derived from its entries.
    pub async fn balance(&self, partner_id: &str) -> Result<Vec<crate::domain::ledger::Balance>> {
        let ledger = self.store.partner_ledger(partner_id).await?;
        let mut balances = crate::domain::ledger::balances(
            ledger.iter().map(|(c, a, s, k)| (c.as_str(), *a, *s, *k)),
        );
        // What the next run may pay is the payable set; the rest of the approved entries
        // are claimed by a run whose items are not paid yet.
        let set = self.store.payable_sums(partner_id).await?;
        for b in &mut balances {
            let payable = set
                .iter()
                .find(|(c, _)| *c == b.currency)
                .map_or(rust_decimal::Decimal::ZERO, |(_, sum)| *sum);
            b.in_payout = crate::domain::scaled_to(b.payable - payable, &b.currency);
            b.payable = crate::domain::scaled_to(payable, &b.currency);
        }
        Ok(balances)
    }
}
