//! The runtime: one engine, compiled components by digest, one fresh store per call.
//!
//! A component is usable once compiled. Compiling is bounded (see `compile`) and happens
//! either in the foreground, for an upload that waits for its verdict, or in the
//! background, for the stored plug-ins a restart loads, so the service serves at once; an
//! evaluation of a component that is not compiled yet fails with [`Failure::NotReady`]
//! (the API's 503 with Retry-After), never waits.

use super::bindings::{wit_attribution as wa, wit_bonus as wb, wit_geo_rate as wg};
use super::compile::{Artifacts, CompileMode, Compiled, Compiler, engine_config};
use super::error::{EvalError, Failure, LimitKind, ValidationError};
use super::hash::{Digest, InputHasher};
use super::limits::Limits;
use super::sandbox::{LogGate, Sandbox};
use super::validate::{self, World};
use super::{contract, convert};
use accrue_plugin_sdk::{
    BonusDecision, Conversion, PartnerWeight, PeriodStats, RateDecision, RateInput, Touchpoint,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use wasmtime::component::{Component, Instance, InstancePre, Linker};
use wasmtime::{Engine, Store, Trap};

/// What the runtime knows of an accepted component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentInfo {
    /// Its content address.
    pub digest: Digest,
    /// The hook it implements.
    pub world: World,
    /// The `accrue:rules` version of its export.
    pub wit_version: String,
    /// The SDK's WIT version recorded in its custom section; `None` when the component has
    /// no such section (it was not built with the SDK).
    pub sdk_wit_version: Option<String>,
    /// Its size in bytes.
    pub size_bytes: usize,
}

/// Where a registered component stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentStatus {
    /// Compiled and loaded: evaluations run.
    Ready,
    /// Being compiled in the background.
    Compiling,
    /// This host could not compile it; the reason.
    Failed(String),
    /// Not registered with this runtime.
    Unknown,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeMetrics {
    /// Evaluations run in a sandbox (result-cache misses).
    pub evaluations: u64,
    /// Failed evaluations by failure kind ("fuel", "memory", "trap", "contract", ...).
    pub failures: Vec<(String, u64)>,
    /// Compiled-component cache hits.
    pub compiled_hits: u64,
    /// Compiled-component cache misses (compilations or artifact loads).
    pub compiled_misses: u64,
    /// Result cache hits.
    pub result_hits: u64,
    /// Result cache misses.
    pub result_misses: u64,
    /// Evaluations in which the plug-in grew its linear memory past the initial size.
    pub memory_grows: u64,
    /// Compilations run (foreground and background), and those refused at a limit.
    pub compilations: u64,
    /// Compilations stopped by the time or memory limit.
    pub compile_limit_hits: u64,
    /// Components waiting for or in a background compilation now.
    pub compiling: u64,
    /// The most compilations that have run at once (never above the concurrency limit).
    pub compile_peak: u64,
    /// Plug-in log lines dropped by the per-plug-in rate limit.
    pub log_lines_dropped: u64,
}

#[derive(Default)]
struct Counters {
    evaluations: AtomicU64,
    failures: Mutex<HashMap<&'static str, u64>>,
    compiled_hits: AtomicU64,
    compiled_misses: AtomicU64,
    result_hits: AtomicU64,
    result_misses: AtomicU64,
    memory_grows: AtomicU64,
    compilations: AtomicU64,
    compile_limit_hits: AtomicU64,
}

enum Exports {
    Attribution(wa::GuestIndices),
    Bonus(wb::GuestIndices),
    GeoRate(wg::GuestIndices),
}

struct Loaded {
    info: ComponentInfo,
    pre: InstancePre<Sandbox>,
    exports: Exports,
}

#[derive(Clone)]
enum CachedOutput {
    Weights(Arc<Vec<PartnerWeight>>),
    Bonus(Arc<BonusDecision>),
    Geo(Arc<RateDecision>),
}

struct Source {
    bytes: Arc<[u8]>,
    label: String,
}

/// A component registered but not loaded: compiling, or refused by this host.
enum Pending {
    Compiling,
    Failed(String),
}

/// What the runtime and its background compile workers share.
struct Shared {
    engine: Engine,
    linker: Linker<Sandbox>,
    limits: Limits,
    sources: RwLock<HashMap<Digest, Source>>,
    compiled: moka::sync::Cache<Digest, Arc<Loaded>>,
    pending: Mutex<HashMap<Digest, Pending>>,
    artifacts: Artifacts,
    compiler: Compiler,
    counters: Counters,
    log_gate: Arc<LogGate>,
    queue: Mutex<Sender<Digest>>,
}

/// The plug-in runtime. Cheap to share (`Arc`); every method takes `&self`.
pub struct Runtime {
    shared: Arc<Shared>,
    results: moka::sync::Cache<[u8; 32], CachedOutput>,
    ticker_stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Build the engine (pooling allocator, fuel, epoch interruption) and start its epoch
    /// ticker, compiling in this process. `artifact_dir`, if set, keeps precompiled
    /// components on disk across restarts.
    pub fn new(limits: Limits, artifact_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        Self::with_compiler(limits, artifact_dir, CompileMode::InProcess)
    }

    /// [`Runtime::new`] with the compilation mode chosen: the service compiles in a child
    /// process, where the memory limit holds too.
    pub fn with_compiler(
        limits: Limits,
        artifact_dir: Option<PathBuf>,
        mode: CompileMode,
    ) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(&limits, true))?;
        let mut linker = Linker::new(&engine);
        super::sandbox::add_to_linker(&mut linker)?;
        let artifacts = Artifacts::new(artifact_dir, &engine)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(
            engine.clone(),
            Duration::from_millis(limits.epoch_tick_ms.max(1)),
            ticker_stop.clone(),
        )?;
        let (tx, rx) = channel();
        let shared = Arc::new(Shared {
            compiled: moka::sync::Cache::builder()
                .max_capacity(limits.compiled_cache_entries)
                .build(),
            compiler: Compiler::new(mode, &limits),
            log_gate: Arc::new(LogGate::new(
                limits.log_lines_per_second,
                limits.log_lines_burst,
            )),
            engine,
            linker,
            sources: RwLock::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            artifacts,
            counters: Counters::default(),
            queue: Mutex::new(tx),
            limits: limits.clone(),
        });
        spawn_compile_workers(&shared, rx, limits.compile_concurrency.max(1))?;
        Ok(Self {
            results: moka::sync::Cache::builder()
                .max_capacity(limits.result_cache_entries)
                .build(),
            shared,
            ticker_stop,
        })
    }

    /// The limits this runtime enforces.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Validate and compile a component and keep it, addressed by its digest, waiting for
    /// the compilation (bounded by the compile limits). Registering the same bytes again is
    /// cheap and returns the same answer. `label` ("name@version") is used in errors and
    /// logs.
    pub fn register(&self, bytes: &[u8], label: &str) -> Result<ComponentInfo, ValidationError> {
        let digest = Digest::of(bytes);
        if let Some(loaded) = self.shared.compiled.get(&digest) {
            return Ok(loaded.info.clone());
        }
        let loaded = self.shared.load(&digest, bytes)?;
        self.shared.add_source(&digest, bytes, label);
        self.shared.ready(&digest, loaded.clone());
        Ok(loaded.info.clone())
    }

    /// Register a component without waiting for it to compile: it is loaded at once from
    /// its precompiled artifact when there is one, and otherwise compiled in the
    /// background (its evaluations fail with [`Failure::NotReady`] until then). The cheap
    /// checks (size, kind, SDK section) still run now. Returns the component's info when it
    /// is ready already.
    pub fn register_background(
        &self,
        bytes: &[u8],
        label: &str,
    ) -> Result<Option<ComponentInfo>, ValidationError> {
        let digest = Digest::of(bytes);
        if let Some(loaded) = self.shared.compiled.get(&digest) {
            return Ok(Some(loaded.info.clone()));
        }
        let sdk_wit_version = validate::precheck(bytes, &self.shared.limits)?;
        self.shared.add_source(&digest, bytes, label);
        if let Some(component) = self.shared.artifacts.load(&self.shared.engine, &digest) {
            let loaded = self
                .shared
                .assemble(&digest, component, sdk_wit_version, bytes.len())?;
            self.shared.ready(&digest, loaded.clone());
            return Ok(Some(loaded.info.clone()));
        }
        self.shared.compile_later(&digest);
        Ok(None)
    }

    /// Validate a component without keeping it.
    pub fn validate(&self, bytes: &[u8]) -> Result<ComponentInfo, ValidationError> {
        self.shared
            .load(&Digest::of(bytes), bytes)
            .map(|l| l.info.clone())
    }

    /// What is known of a registered component, if it is compiled.
    pub fn info(&self, digest: &Digest) -> Option<ComponentInfo> {
        self.shared.compiled.get(digest).map(|l| l.info.clone())
    }

    /// The SDK version section of a registered component: `Some(None)` when it has none,
    /// `None` when the component is not registered here. Read from its bytes, so it is
    /// known before the component is compiled.
    pub fn sdk_section(&self, digest: &Digest) -> Option<Option<String>> {
        let bytes = self.shared.source(digest)?;
        validate::precheck(&bytes, &self.shared.limits).ok()
    }

    /// Where a component stands: ready, compiling, refused, or unknown here.
    pub fn status(&self, digest: &Digest) -> ComponentStatus {
        if self.shared.compiled.contains_key(digest) {
            return ComponentStatus::Ready;
        }
        let pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match pending.get(digest) {
            Some(Pending::Compiling) => ComponentStatus::Compiling,
            Some(Pending::Failed(m)) => ComponentStatus::Failed(m.clone()),
            None if self.shared.has_source(digest) => ComponentStatus::Ready,
            None => ComponentStatus::Unknown,
        }
    }

    /// Precompile a component for this engine (the bytes an artifact file holds).
    pub fn precompile(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(self.shared.engine.precompile_component(bytes)?)
    }

    /// Load a component from precompiled bytes made by [`Runtime::precompile`] on an engine
    /// with the same configuration (used by benchmarks to time a cold artifact load).
    pub fn load_precompiled(&self, precompiled: &[u8]) -> anyhow::Result<()> {
        // SAFETY: callers pass bytes produced by `precompile` on this same engine.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(&self.shared.engine, precompiled)? };
        self.shared.linker.instantiate_pre(&component)?;
        Ok(())
    }

    fn loaded(&self, digest: &Digest) -> Result<Arc<Loaded>, Failure> {
        let shared = &self.shared;
        if let Some(loaded) = shared.compiled.get(digest) {
            shared
                .counters
                .compiled_hits
                .fetch_add(1, Ordering::Relaxed);
            return Ok(loaded);
        }
        shared
            .counters
            .compiled_misses
            .fetch_add(1, Ordering::Relaxed);
        match shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            Some(Pending::Compiling) => return Err(Failure::NotReady),
            Some(Pending::Failed(m)) => return Err(Failure::Unavailable(m.clone())),
            None => {}
        }
        let bytes = shared.source(digest).ok_or(Failure::NotFound)?;
        // Evicted from memory: an artifact loads in milliseconds, so that is done here; a
        // compilation is not (it can take seconds), so it goes to the background.
        if let Some(component) = shared.artifacts.load(&shared.engine, digest) {
            let sdk = validate::precheck(&bytes, &shared.limits)
                .map_err(|e| Failure::Unavailable(e.to_string()))?;
            let loaded = shared
                .assemble(digest, component, sdk, bytes.len())
                .map_err(|e| Failure::Unavailable(e.to_string()))?;
            shared.ready(digest, loaded.clone());
            return Ok(loaded);
        }
        shared.compile_later(digest);
        Err(Failure::NotReady)
    }

    fn fail(&self, digest: &Digest, failure: Failure) -> EvalError {
        *self
            .shared
            .counters
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(failure.kind())
            .or_default() += 1;
        let label = self.shared.label(digest);
        let label = if label.is_empty() {
            label
        } else {
            format!(" ({label})")
        };
        EvalError {
            digest: digest.clone(),
            label,
            failure,
        }
    }

    /// Run one call in a fresh store, classifying any failure.
    fn run<T>(
        &self,
        digest: &Digest,
        world: World,
        input_bytes: usize,
        call: impl FnOnce(
            &mut Store<Sandbox>,
            &Instance,
            &Exports,
        ) -> wasmtime::Result<Result<T, Failure>>,
    ) -> Result<T, EvalError> {
        let loaded = self.loaded(digest).map_err(|f| self.fail(digest, f))?;
        if loaded.info.world != world {
            let failure = Failure::WrongWorld {
                expected: world.as_str(),
                actual: loaded.info.world.as_str(),
            };
            return Err(self.fail(digest, failure));
        }
        let limits = &self.shared.limits;
        if input_bytes > limits.input_bytes {
            let detail = format!(
                "input is {input_bytes} bytes; the cap is {}",
                limits.input_bytes
            );
            return Err(self.fail(
                digest,
                Failure::Limit {
                    limit: LimitKind::Input,
                    detail,
                },
            ));
        }
        self.shared
            .counters
            .evaluations
            .fetch_add(1, Ordering::Relaxed);
        let sandbox = Sandbox::new(digest.short(), limits, self.shared.log_gate.clone());
        let mut store = Store::new(&self.shared.engine, sandbox);
        store.limiter(|s| s);
        store.set_epoch_deadline(limits.deadline_ticks());
        // Everything the guest hands the host (a return value, a log message) is measured
        // against this before it is copied out of the guest's memory, so an answer that
        // refers to the same huge string many times is refused before the host allocates
        // for it. The output cap proper is checked on the copied answer (`output_cap`);
        // this is the bound on the copy, with room for the host's own representation.
        store.set_hostcall_fuel(hostcall_budget(limits));
        if let Err(e) = store.set_fuel(limits.fuel) {
            return Err(self.fail(digest, Failure::Instantiate(format!("{e:#}"))));
        }
        let outcome = loaded
            .pre
            .instantiate(&mut store)
            .and_then(|instance| call(&mut store, &instance, &loaded.exports));
        if store.data().grew_memory {
            self.shared
                .counters
                .memory_grows
                .fetch_add(1, Ordering::Relaxed);
        }
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(failure)) => Err(self.fail(digest, failure)),
            Err(error) => Err(self.fail(digest, self.classify(&store, &error))),
        }
        // `store` drops here: after a trap it must not be reused, and it never is.
    }

    fn classify(&self, store: &Store<Sandbox>, error: &wasmtime::Error) -> Failure {
        let limits = &self.shared.limits;
        if let Some((limit, detail)) = store.data().hit.clone() {
            return Failure::Limit { limit, detail };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Failure::Limit {
                limit: LimitKind::Fuel,
                detail: format!(
                    "used all {} instructions of its budget (each host call costs {})",
                    limits.fuel, limits.host_call_fuel
                ),
            },
            Some(Trap::Interrupt) => Failure::Limit {
                limit: LimitKind::Deadline,
                detail: format!("still running after {} ms", limits.deadline_ms),
            },
            Some(Trap::StackOverflow) => Failure::Limit {
                limit: LimitKind::Stack,
                detail: format!("overflowed its {} byte stack", limits.stack_bytes),
            },
            Some(trap) => Failure::Trap {
                trap: trap.to_string(),
                last_log: store.data().last_log.clone(),
            },
            None if error.is::<wasmtime::PoolConcurrencyLimitError>() => {
                Failure::Instantiate(format!("{error:#}"))
            }
            // wasmtime's "hostcall fuel" error type is private; its message is stable.
            None if format!("{error:#}").contains("fuel allocated for hostcalls") => {
                Failure::Limit {
                    limit: LimitKind::Output,
                    detail: format!(
                        "tried to pass the host more than {} bytes at once (an answer or a \
                         log message); the output cap is {}",
                        hostcall_budget(limits),
                        limits.output_bytes
                    ),
                }
            }
            None => Failure::Trap {
                trap: format!("{error:#}"),
                last_log: store.data().last_log.clone(),
            },
        }
    }

    fn output_cap(&self, size: usize) -> Result<(), Failure> {
        let cap = self.shared.limits.output_bytes;
        if size > cap {
            return Err(Failure::Limit {
                limit: LimitKind::Output,
                detail: format!("returned {size} bytes; the cap is {cap}"),
            });
        }
        Ok(())
    }

    /// Attribution through plug-in `digest`, from the result cache when this exact
    /// (digest, config, input) was evaluated before.
    pub fn attribute(
        &self,
        digest: &Digest,
        config: &str,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Arc<Vec<PartnerWeight>>, EvalError> {
        let input_hash = attribution_input_hash(conversion, touchpoints);
        self.attribute_hashed(digest, config, &input_hash, conversion, touchpoints)
    }

    /// [`Runtime::attribute`] for a caller that already holds the input's
    /// [`attribution_input_hash`] (pricing records it in the provenance), so it is not
    /// computed twice.
    pub fn attribute_hashed(
        &self,
        digest: &Digest,
        config: &str,
        input_hash: &[u8; 32],
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Arc<Vec<PartnerWeight>>, EvalError> {
        let key = cache_key(World::Attribution, digest, config, input_hash);
        if let Some(CachedOutput::Weights(w)) = self.results.get(&key) {
            self.shared
                .counters
                .result_hits
                .fetch_add(1, Ordering::Relaxed);
            return Ok(w);
        }
        self.shared
            .counters
            .result_misses
            .fetch_add(1, Ordering::Relaxed);
        let weights = Arc::new(self.attribute_uncached(digest, config, conversion, touchpoints)?);
        self.results
            .insert(key, CachedOutput::Weights(weights.clone()));
        Ok(weights)
    }

    /// The cached attribution for this exact (digest, config, input), if there is one:
    /// what [`Runtime::attribute_hashed`] would answer without evaluating.
    pub fn cached_attribution(
        &self,
        digest: &Digest,
        config: &str,
        input_hash: &[u8; 32],
    ) -> Option<Arc<Vec<PartnerWeight>>> {
        let key = cache_key(World::Attribution, digest, config, input_hash);
        match self.results.get(&key) {
            Some(CachedOutput::Weights(w)) => {
                self.shared
                    .counters
                    .result_hits
                    .fetch_add(1, Ordering::Relaxed);
                Some(w)
            }
            _ => None,
        }
    }

    /// The cached geographic decision for this exact (digest, config, input), if any.
    pub fn cached_rate(
        &self,
        digest: &Digest,
        config: &str,
        input: &RateInput,
    ) -> Option<Arc<RateDecision>> {
        let key = cache_key(World::GeoRate, digest, config, &geo_input_hash(input));
        match self.results.get(&key) {
            Some(CachedOutput::Geo(d)) => {
                self.shared
                    .counters
                    .result_hits
                    .fetch_add(1, Ordering::Relaxed);
                Some(d)
            }
            _ => None,
        }
    }

    /// Attribution in a fresh instance, bypassing the result cache (as the first call for
    /// an input runs; benchmarks use it to time the sandbox itself).
    pub fn attribute_uncached(
        &self,
        digest: &Digest,
        config: &str,
        conversion: &Conversion,
        touchpoints: &[Touchpoint],
    ) -> Result<Vec<PartnerWeight>, EvalError> {
        let (conv, tps, size) = convert::attribution_in(conversion, touchpoints).map_err(|e| {
            self.fail(
                digest,
                Failure::Limit {
                    limit: LimitKind::Input,
                    detail: e,
                },
            )
        })?;
        self.run(
            digest,
            World::Attribution,
            size + config.len(),
            |store, instance, exports| {
                let Exports::Attribution(indices) = exports else {
                    unreachable!("world checked")
                };
                let guest = indices.load(&mut *store, instance)?;
                let answer = guest.call_attribute(&mut *store, config, &conv, &tps)?;
                Ok(match answer {
                    Err(e) => Err(Failure::Declined(convert::rule_error(e))),
                    Ok(weights) => self
                        .output_cap(convert::attribution_out_size(&weights))
                        .and_then(|()| {
                            contract::attribution(weights, touchpoints).map_err(Failure::Contract)
                        }),
                })
            },
        )
    }

    /// A bonus decision through plug-in `digest` (cached like [`Runtime::attribute`]).
    pub fn evaluate_bonus(
        &self,
        digest: &Digest,
        config: &str,
        stats: &PeriodStats,
    ) -> Result<Arc<BonusDecision>, EvalError> {
        let key = cache_key(World::Bonus, digest, config, &bonus_input_hash(stats));
        if let Some(CachedOutput::Bonus(d)) = self.results.get(&key) {
            self.shared
                .counters
                .result_hits
                .fetch_add(1, Ordering::Relaxed);
            return Ok(d);
        }
        self.shared
            .counters
            .result_misses
            .fetch_add(1, Ordering::Relaxed);
        let (input, size) = convert::bonus_in(stats).map_err(|e| {
            self.fail(
                digest,
                Failure::Limit {
                    limit: LimitKind::Input,
                    detail: e,
                },
            )
        })?;
        let decision = self.run(
            digest,
            World::Bonus,
            size + config.len(),
            |store, instance, exports| {
                let Exports::Bonus(indices) = exports else {
                    unreachable!("world checked")
                };
                let guest = indices.load(&mut *store, instance)?;
                Ok(match guest.call_evaluate(&mut *store, config, &input)? {
                    Err(e) => Err(Failure::Declined(convert::rule_error(e))),
                    Ok(d) => self.output_cap(d.reason.len() + 32).and_then(|()| {
                        let d = convert::bonus_out(d).map_err(Failure::Contract)?;
                        contract::bonus(&d).map_err(Failure::Contract)?;
                        Ok(d)
                    }),
                })
            },
        )?;
        let decision = Arc::new(decision);
        self.results
            .insert(key, CachedOutput::Bonus(decision.clone()));
        Ok(decision)
    }

    /// A geographic rate decision through plug-in `digest` (cached like [`Runtime::attribute`]).
    pub fn adjust_rate(
        &self,
        digest: &Digest,
        config: &str,
        input: &RateInput,
    ) -> Result<Arc<RateDecision>, EvalError> {
        let key = cache_key(World::GeoRate, digest, config, &geo_input_hash(input));
        if let Some(CachedOutput::Geo(d)) = self.results.get(&key) {
            self.shared
                .counters
                .result_hits
                .fetch_add(1, Ordering::Relaxed);
            return Ok(d);
        }
        self.shared
            .counters
            .result_misses
            .fetch_add(1, Ordering::Relaxed);
        let (wit_input, size) = convert::geo_in(input).map_err(|e| {
            self.fail(
                digest,
                Failure::Limit {
                    limit: LimitKind::Input,
                    detail: e,
                },
            )
        })?;
        let decision = self.run(
            digest,
            World::GeoRate,
            size + config.len(),
            |store, instance, exports| {
                let Exports::GeoRate(indices) = exports else {
                    unreachable!("world checked")
                };
                let guest = indices.load(&mut *store, instance)?;
                Ok(match guest.call_adjust(&mut *store, config, &wit_input)? {
                    Err(e) => Err(Failure::Declined(convert::rule_error(e))),
                    Ok(d) => self.output_cap(d.reason.len() + 32).and_then(|()| {
                        let d = convert::geo_out(d).map_err(Failure::Contract)?;
                        contract::geo(&d).map_err(Failure::Contract)?;
                        Ok(d)
                    }),
                })
            },
        )?;
        let decision = Arc::new(decision);
        self.results
            .insert(key, CachedOutput::Geo(decision.clone()));
        Ok(decision)
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        let c = &self.shared.counters;
        let mut failures: Vec<(String, u64)> = c
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        failures.sort();
        RuntimeMetrics {
            evaluations: c.evaluations.load(Ordering::Relaxed),
            failures,
            compiled_hits: c.compiled_hits.load(Ordering::Relaxed),
            compiled_misses: c.compiled_misses.load(Ordering::Relaxed),
            result_hits: c.result_hits.load(Ordering::Relaxed),
            result_misses: c.result_misses.load(Ordering::Relaxed),
            memory_grows: c.memory_grows.load(Ordering::Relaxed),
            compilations: c.compilations.load(Ordering::Relaxed),
            compile_limit_hits: c.compile_limit_hits.load(Ordering::Relaxed),
            compiling: self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .filter(|p| matches!(p, Pending::Compiling))
                .count() as u64,
            compile_peak: self.shared.compiler.peak(),
            log_lines_dropped: self.shared.log_gate.dropped(),
        }
    }
}

/// The bound on one transfer from the guest to the host, in the host's bytes.
fn hostcall_budget(limits: &Limits) -> usize {
    limits
        .output_bytes
        .max(limits.log_bytes_per_call)
        .saturating_mul(4)
}

impl Shared {
    fn add_source(&self, digest: &Digest, bytes: &[u8], label: &str) {
        self.sources
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.clone())
            .or_insert_with(|| Source {
                bytes: bytes.into(),
                label: label.to_owned(),
            });
    }

    fn source(&self, digest: &Digest) -> Option<Arc<[u8]>> {
        let sources = self.sources.read().unwrap_or_else(|p| p.into_inner());
        sources.get(digest).map(|s| s.bytes.clone())
    }

    fn has_source(&self, digest: &Digest) -> bool {
        let sources = self.sources.read().unwrap_or_else(|p| p.into_inner());
        sources.contains_key(digest)
    }

    fn label(&self, digest: &Digest) -> String {
        let sources = self.sources.read().unwrap_or_else(|p| p.into_inner());
        sources
            .get(digest)
            .map(|s| s.label.clone())
            .unwrap_or_default()
    }

    fn ready(&self, digest: &Digest, loaded: Arc<Loaded>) {
        self.compiled.insert(digest.clone(), loaded);
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
    }

    /// Queue a background compilation of a registered component (once).
    fn compile_later(&self, digest: &Digest) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.contains_key(digest) {
            return;
        }
        pending.insert(digest.clone(), Pending::Compiling);
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let _ = queue.send(digest.clone());
    }

    /// Everything between bytes and a runnable component: the cheap checks, then the
    /// artifact if one is kept, else a bounded compilation (whose artifact is kept).
    fn load(&self, digest: &Digest, bytes: &[u8]) -> Result<Arc<Loaded>, ValidationError> {
        let sdk_wit_version = validate::precheck(bytes, &self.limits)?;
        let component = match self.artifacts.load(&self.engine, digest) {
            Some(c) => c,
            None => {
                self.counters.compilations.fetch_add(1, Ordering::Relaxed);
                let Compiled {
                    component,
                    artifact,
                } = self
                    .compiler
                    .compile(&self.engine, bytes)
                    .inspect_err(|e| {
                        if matches!(e, ValidationError::CompileLimit { .. }) {
                            self.counters
                                .compile_limit_hits
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    })?;
                if let Some(artifact) = artifact {
                    self.artifacts.store(digest, &artifact);
                }
                component
            }
        };
        self.assemble(digest, component, sdk_wit_version, bytes.len())
    }

    /// The checks on a compiled component's type, and what evaluating it needs.
    fn assemble(
        &self,
        digest: &Digest,
        component: Component,
        sdk_wit_version: Option<String>,
        size_bytes: usize,
    ) -> Result<Arc<Loaded>, ValidationError> {
        let (world, wit_version) = validate::inspect(&self.engine, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| ValidationError::Invalid(format!("{e:#}")))?;
        let exports = match world {
            World::Attribution => wa::GuestIndices::new(&pre).map(Exports::Attribution),
            World::Bonus => wb::GuestIndices::new(&pre).map(Exports::Bonus),
            World::GeoRate => wg::GuestIndices::new(&pre).map(Exports::GeoRate),
        }
        .map_err(|e| ValidationError::Invalid(format!("{e:#}")))?;
        let info = ComponentInfo {
            digest: digest.clone(),
            world,
            wit_version,
            sdk_wit_version,
            size_bytes,
        };
        Ok(Arc::new(Loaded { info, pre, exports }))
    }
}

/// Background compile workers: they take queued digests and compile them under the same
/// limits (and the same concurrency slots) as uploads. They hold the runtime weakly and
/// stop when it is dropped (its queue's sender goes with it).
fn spawn_compile_workers(
    shared: &Arc<Shared>,
    rx: Receiver<Digest>,
    workers: usize,
) -> std::io::Result<()> {
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..workers {
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("accrue-compile-{i}"))
            .spawn(move || {
                loop {
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(digest) = next else { break };
                    let Some(shared) = weak.upgrade() else { break };
                    compile_queued(&shared, &digest);
                }
            })?;
    }
    Ok(())
}

fn compile_queued(shared: &Shared, digest: &Digest) {
    let Some(bytes) = shared.source(digest) else {
        shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
        return;
    };
    match shared.load(digest, &bytes) {
        Ok(loaded) => {
            tracing::info!(plugin = %digest, label = %shared.label(digest), "plug-in compiled");
            shared.ready(digest, loaded);
        }
        Err(e) => {
            tracing::error!(plugin = %digest, label = %shared.label(digest), "plug-in cannot be compiled by this host: {e}");
            shared
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(digest.clone(), Pending::Failed(e.to_string()));
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn spawn_ticker(engine: Engine, period: Duration, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("accrue-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(period);
                engine.increment_epoch();
            }
        })?;
    Ok(())
}

fn cache_key(world: World, digest: &Digest, config: &str, input_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = InputHasher::default();
    h.str(world.as_str())
        .str(&digest.to_string())
        .str(config)
        .str(&hex::encode(input_hash));
    h.finish()
}

/// The canonical hash of an attribution input (recorded with ledger entries for replay).
pub fn attribution_input_hash(c: &Conversion, touchpoints: &[Touchpoint]) -> [u8; 32] {
    let mut h = InputHasher::default();
    h.str(&c.id)
        .dec(c.amount.amount)
        .str(&c.amount.currency)
        .i64(c.occurred_at_ms);
    h.opt(c.customer_id.as_deref())
        .opt(c.country.as_deref())
        .opt(c.region.as_deref());
    h.i64(i64::from(c.new_customer))
        .i64(c.attributes.len() as i64);
    for kv in &c.attributes {
        h.str(&kv.key).str(&kv.value);
    }
    h.i64(touchpoints.len() as i64);
    for t in touchpoints {
        h.str(&t.partner_id)
            .str(&t.channel)
            .i64(t.occurred_at_ms)
            .opt(t.campaign.as_deref());
        h.i64(t.attributes.len() as i64);
        for kv in &t.attributes {
            h.str(&kv.key).str(&kv.value);
        }
    }
    h.finish()
}

fn bonus_input_hash(s: &PeriodStats) -> [u8; 32] {
    let mut h = InputHasher::default();
    h.str(&s.partner_id)
        .str(&s.tier)
        .i64(s.period_start_ms)
        .i64(s.period_end_ms)
        .str(&s.currency);
    for t in std::iter::once(Some(&s.current)).chain(std::iter::once(s.previous.as_ref())) {
        match t {
            Some(t) => h
                .i64(1)
                .i64(t.conversions as i64)
                .dec(t.revenue)
                .dec(t.commissions),
            None => h.i64(0),
        };
    }
    for kv in &s.attributes {
        h.str(&kv.key).str(&kv.value);
    }
    h.finish()
}

fn geo_input_hash(i: &RateInput) -> [u8; 32] {
    let mut h = InputHasher::default();
    h.opt(i.conversion_country.as_deref())
        .opt(i.conversion_region.as_deref());
    h.str(&i.partner_tier)
        .opt(i.partner_country.as_deref())
        .dec(i.base_rate);
    h.finish()
}
