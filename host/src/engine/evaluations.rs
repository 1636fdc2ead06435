//! Where plug-in evaluations run: on threads of their own, never on the async workers that
//! serve every request, and fairly between programs.
//!
//! An evaluation can take the whole fuel budget (milliseconds of CPU). Run on an async
//! worker, one hostile program's evaluations would stall every other program's requests
//! queued on that worker. Here each evaluation waits for a permit of its program (at most
//! [`Limits::eval_per_program`](crate::plugins::Limits::eval_per_program) at once) and
//! then for one of the pool's (at most
//! [`Limits::eval_threads`](crate::plugins::Limits::eval_threads)), and runs on a blocking
//! thread. A program's own permit is taken first, so a program with a queue holds at most
//! its share of the pool while it waits; the pool's semaphore is first come, first served.
//! Result-cache hits never come here: they cost no evaluation.

use super::breaker::{Breakers, burns_a_limit};
use super::{EngineError, Result};
use crate::plugins::{Digest, EvalError, Failure, Limits};
use accrue_plugin_sdk::{
    BonusDecision, Conversion, PartnerWeight, PeriodStats, RateDecision, RateInput, Touchpoint,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// The evaluation pool.
pub(super) struct EvalPool {
    pool: Arc<Semaphore>,
    per_program: usize,
    programs: Mutex<HashMap<String, Arc<Semaphore>>>,
    breakers: Arc<Breakers>,
}

impl EvalPool {
    /// A pool sized by the plug-in limits.
    pub fn new(limits: &Limits) -> Self {
        Self {
            pool: Arc::new(Semaphore::new(limits.eval_threads())),
            per_program: limits.eval_per_program(),
            programs: Mutex::new(HashMap::new()),
            breakers: Arc::new(Breakers::new(limits.breaker_failures)),
        }
    }

    fn program(&self, program_id: &str) -> Arc<Semaphore> {
        let mut programs = self.programs.lock().unwrap_or_else(|p| p.into_inner());
        programs
            .entry(program_id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_program)))
            .clone()
    }

    /// Run `evaluate` (of plug-in `digest`) for `program_id` on an evaluation thread, once
    /// the program and the pool both have room, unless the plug-in's breaker is open for
    /// this program.
    pub async fn run<T, F>(&self, program_id: &str, digest: &Digest, evaluate: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> std::result::Result<T, EvalError> + Send + 'static,
    {
        if let Err(retry_after_s) = self.breakers.admit(program_id, digest) {
            return Err(EngineError::Plugin(EvalError {
                digest: digest.clone(),
                label: String::new(),
                failure: Failure::Suspended { retry_after_s },
            }));
        }
        let closed = |_| EngineError::Internal("the evaluation pool is closed".into());
        let _program = self
            .program(program_id)
            .acquire_owned()
            .await
            .map_err(closed)?;
        let _slot = self.pool.clone().acquire_owned().await.map_err(closed)?;
        let outcome = tokio::task::spawn_blocking(evaluate)
            .await
            .map_err(|e| EngineError::Internal(format!("an evaluation thread failed: {e}")))?;
        let burned = matches!(&outcome, Err(e) if burns_a_limit(&e.failure));
        self.breakers.record(program_id, digest, burned);
        outcome.map_err(EngineError::Plugin)
    }
}

impl super::Engine {
    /// Attribution through plug-in `digest` for `program_id`: from the result cache, or
    /// evaluated on the pool.
    pub(super) async fn attribute(
        &self,
        program_id: &str,
        digest: Digest,
        config: String,
        input_hash: [u8; 32],
        conversion: Conversion,
        touchpoints: Vec<Touchpoint>,
    ) -> Result<Arc<Vec<PartnerWeight>>> {
        if let Some(weights) = self
            .runtime
            .cached_attribution(&digest, &config, &input_hash)
        {
            return Ok(weights);
        }
        let runtime = self.runtime.clone();
        let key = digest.clone();
        self.evals
            .run(program_id, &key, move || {
                runtime.attribute_hashed(&digest, &config, &input_hash, &conversion, &touchpoints)
            })
            .await
    }

    /// A geographic rate decision (cached, or evaluated on the pool).
    pub(super) async fn adjust_rate(
        &self,
        program_id: &str,
        digest: Digest,
        config: String,
        input: RateInput,
    ) -> Result<Arc<RateDecision>> {
        if let Some(decision) = self.runtime.cached_rate(&digest, &config, &input) {
            return Ok(decision);
        }
        let runtime = self.runtime.clone();
        let key = digest.clone();
        self.evals
            .run(program_id, &key, move || {
                runtime.adjust_rate(&digest, &config, &input)
            })
            .await
    }

    /// A bonus decision (evaluated on the pool; the runtime's result cache still applies).
    pub(super) async fn evaluate_bonus(
        &self,
        program_id: &str,
        digest: Digest,
        config: String,
        stats: PeriodStats,
    ) -> Result<Arc<BonusDecision>> {
        let runtime = self.runtime.clone();
        let key = digest.clone();
        self.evals
            .run(program_id, &key, move || {
                runtime.evaluate_bonus(&digest, &config, &stats)
            })
            .await
    }
}
