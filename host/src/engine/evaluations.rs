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
//!
//! The evaluation threads are the pool's own; they can run at a lower scheduling priority
//! ([`Limits::eval_nice`](crate::plugins::Limits::eval_nice), off by default) so that
//! CPU-heavy work yields to the threads that parse requests and talk to the database. A
//! plug-in that burns its budget on every call is stopped by the circuit breaker
//! (`engine::breaker`) instead.

use super::breaker::{Breakers, burns_a_limit};
use super::pricing::{AttributionCall, Prefetched};
use super::{EngineError, Result};
use crate::plugins::{Digest, EvalError, Failure, Limits};
use accrue_plugin_sdk::{BonusDecision, PartnerWeight, PeriodStats, RateDecision, RateInput};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// A job for an evaluation thread.
type Job = Box<dyn FnOnce() + Send>;

/// The evaluation pool.
pub(super) struct EvalPool {
    pool: Arc<Semaphore>,
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    per_program: usize,
    programs: Mutex<HashMap<String, Arc<Semaphore>>>,
    breakers: Arc<Breakers>,
}

impl EvalPool {
    /// A pool sized by the plug-in limits.
    pub fn new(limits: &Limits) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..limits.eval_threads() {
            let rx = rx.clone();
            let nice = limits.eval_nice;
            let spawned = std::thread::Builder::new()
                .name(format!("accrue-eval-{i}"))
                .spawn(move || {
                    lower_priority(nice);
                    loop {
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            // The pool is gone: so is this thread.
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("could not start an evaluation thread: {e}");
            }
        }
        Self {
            pool: Arc::new(Semaphore::new(limits.eval_threads())),
            jobs: Mutex::new(tx),
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
        let burned = |outcome: &std::result::Result<T, EvalError>| matches!(outcome, Err(e) if burns_a_limit(&e.failure));
        self.run_job(program_id, digest, evaluate, burned)
            .await?
            .map_err(EngineError::Plugin)
    }

    /// Run a job of several evaluations (of plug-in `digest`, for `program_id`) on one
    /// evaluation thread, admitted once like [`EvalPool::run`]. The job answers what it
    /// evaluated and the failure it stopped at, if any; the breaker hears of that failure.
    /// A refused admission answers nothing (the caller then evaluates one by one, and
    /// reports the refusal for each).
    pub async fn run_all<T, F>(&self, program_id: &str, digest: &Digest, job: F) -> Vec<T>
    where
        T: Send + 'static,
        F: FnOnce() -> (Vec<T>, Option<EvalError>) + Send + 'static,
    {
        let burned = |outcome: &(Vec<T>, Option<EvalError>)| matches!(&outcome.1, Some(e) if burns_a_limit(&e.failure));
        match self.run_job(program_id, digest, job, burned).await {
            Ok((answered, _)) => answered,
            Err(_) => Vec::new(),
        }
    }

    /// Admit a job (the breaker, then the program's share, then a pool slot), run it on an
    /// evaluation thread, and tell the breaker whether it `burned` a resource limit.
    async fn run_job<T, F>(
        &self,
        program_id: &str,
        digest: &Digest,
        job: F,
        burned: impl FnOnce(&T) -> bool,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if let Err(retry_after_s) = self.breakers.admit(program_id, digest) {
            // The refusal is answered at once here; the HTTP layer pauses the request that
            // carries it (once per request, whatever the number of refused evaluations).
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
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(job());
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| EngineError::Internal("the evaluation threads are gone".into()))?;
        let outcome = answer
            .await
            .map_err(|_| EngineError::Internal("an evaluation thread failed".into()))?;
        self.breakers.record(program_id, digest, burned(&outcome));
        Ok(outcome)
    }
}

/// Lower this thread's scheduling priority by `nice` (Linux schedules threads one by one;
/// elsewhere, or without the right, it stays as it is).
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
            tracing::warn!("could not lower an evaluation thread's priority: {e}");
        }
    }
}

impl super::Engine {
    /// Attribution `call` for `program_id`: from the result cache, or evaluated on the pool.
    pub(super) async fn attribute(
        &self,
        program_id: &str,
        call: AttributionCall,
    ) -> Result<Arc<Vec<PartnerWeight>>> {
        if let Some(weights) =
            self.runtime
                .cached_attribution(&call.digest, &call.config, &call.input_hash)
        {
            return Ok(weights);
        }
        let runtime = self.runtime.clone();
        let key = call.digest.clone();
        self.evals
            .run(program_id, &key, move || {
                runtime.attribute_hashed(
                    &call.digest,
                    &call.config,
                    &call.input_hash,
                    &call.conversion,
                    &call.touchpoints,
                )
            })
            .await
    }

    /// Evaluate a batch's attributions ahead of pricing: the calls not in the result cache
    /// run as one job per (program, plug-in) on the pool, in order, instead of one job per
    /// conversion. Each hop to an evaluation thread and back costs tens of microseconds of
    /// wake-ups, as much as the evaluation itself, so a batch of 500 paid for 500 hops.
    /// The same admission applies (the program's share, the breaker), and the job stops at
    /// its first failure: what it did not answer is evaluated one by one by the pricing,
    /// which reports each failure for its own conversion.
    pub(super) async fn prefetch_attributions(
        &self,
        calls: Vec<(String, AttributionCall)>,
    ) -> HashMap<(String, String), Prefetched> {
        let mut found = HashMap::new();
        let mut jobs: HashMap<(String, Digest), Vec<AttributionCall>> = HashMap::new();
        for (program_id, call) in calls {
            match self
                .runtime
                .cached_attribution(&call.digest, &call.config, &call.input_hash)
            {
                Some(weights) => {
                    found.insert(
                        (program_id, call.conversion.id.clone()),
                        (call.key(), weights),
                    );
                }
                None => jobs
                    .entry((program_id, call.digest.clone()))
                    .or_default()
                    .push(call),
            }
        }
        for ((program_id, digest), calls) in jobs {
            let runtime = self.runtime.clone();
            let answered =
                self.evals
                    .run_all(&program_id, &digest, move || {
                        let mut answered = Vec::with_capacity(calls.len());
                        for call in calls {
                            match runtime.attribute_hashed(
                                &call.digest,
                                &call.config,
                                &call.input_hash,
                                &call.conversion,
                                &call.touchpoints,
                            ) {
                                Ok(weights) => answered
                                    .push((call.conversion.id.clone(), (call.key(), weights))),
                                Err(e) => return (answered, Some(e)),
                            }
                        }
                        (answered, None)
                    })
                    .await;
            found.extend(
                answered
                    .into_iter()
                    .map(|(id, prefetched)| ((program_id.clone(), id), prefetched)),
            );
        }
        found
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
