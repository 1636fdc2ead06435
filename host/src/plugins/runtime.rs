//! The runtime: one engine, compiled components by digest, one fresh store per call.

use super::bindings::{HostView, wit_attribution as wa, wit_bonus as wb, wit_geo_rate as wg};
use super::error::{EvalError, Failure, LimitKind, ValidationError};
use super::hash::{Digest, InputHasher};
use super::limits::Limits;
use super::sandbox::Sandbox;
use super::validate::{self, World};
use super::{contract, convert};
use accrue_plugin_sdk::{
    BonusDecision, Conversion, PartnerWeight, PeriodStats, RateDecision, RateInput, Touchpoint,
};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

/// What the runtime knows of an accepted component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentInfo {
    /// Its content address.
    pub digest: Digest,
    /// The hook it implements.
    pub world: World,
    /// The `accrue:rules` version of its export.
    pub wit_version: String,
    /// The SDK's WIT version recorded in its custom section, if it was built with the SDK.
    pub sdk_wit_version: Option<String>,
    /// Its size in bytes.
    pub size_bytes: usize,
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

/// The plug-in runtime. Cheap to share (`Arc`); every method takes `&self`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Sandbox>,
    limits: Limits,
    sources: RwLock<HashMap<Digest, Source>>,
    compiled: moka::sync::Cache<Digest, Arc<Loaded>>,
    results: moka::sync::Cache<[u8; 32], CachedOutput>,
    artifact_dir: Option<PathBuf>,
    counters: Counters,
    ticker_stop: Arc<AtomicBool>,
}

struct Source {
    bytes: Arc<[u8]>,
    label: String,
}

impl Runtime {
    /// Build the engine (pooling allocator, fuel, epoch interruption) and start its epoch
    /// ticker. `artifact_dir`, if set, keeps precompiled components on disk across restarts.
    pub fn new(limits: Limits, artifact_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(limits.stack_bytes);
        let mut pool = PoolingAllocationConfig::default();
        let slots = limits.max_concurrent.max(1);
        pool.total_component_instances(slots)
            .total_core_instances(slots * 4)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .max_memories_per_component(2)
            .max_tables_per_component(4)
            .max_core_instances_per_component(8)
            // The pool's own cap sits above ours so that `Sandbox` is the one that refuses,
            // and can say which limit it was.
            .max_memory_size(limits.memory_bytes.saturating_mul(2))
            // Returning a slot to the pool resets what the guest dirtied. With PAGEMAP_SCAN
            // (Linux >= 6.7; `Auto` falls back elsewhere) wasmtime finds the pages actually
            // written and restores up to `*_keep_resident` bytes of them in place, so a
            // small evaluation needs no madvise and takes no page faults on the slot's next
            // use. Without the scan, the keep-resident bytes are always the lowest addresses,
            // which for a Rust guest are the unused bottom of its 1 MiB shadow stack. Measured
            // (docs/PERFORMANCE.md): 29.1 -> 14.6 µs per fresh linear evaluation.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(16 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        HostView::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |s| s)?;
        if let Some(dir) = &artifact_dir {
            std::fs::create_dir_all(dir)?;
        }
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(
            engine.clone(),
            Duration::from_millis(limits.epoch_tick_ms.max(1)),
            ticker_stop.clone(),
        )?;
        Ok(Self {
            compiled: moka::sync::Cache::builder()
                .max_capacity(limits.compiled_cache_entries)
                .build(),
            results: moka::sync::Cache::builder()
                .max_capacity(limits.result_cache_entries)
                .build(),
            engine,
            linker,
            limits,
            sources: RwLock::new(HashMap::new()),
            artifact_dir,
            counters: Counters::default(),
            ticker_stop,
        })
    }

    /// The limits this runtime enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validate and compile a component and keep it, addressed by its digest. Registering
    /// the same bytes again is cheap and returns the same answer. `label` ("name@version")
    /// is used in errors and logs.
    pub fn register(&self, bytes: &[u8], label: &str) -> Result<ComponentInfo, ValidationError> {
        let digest = Digest::of(bytes);
        if let Some(loaded) = self.compiled.get(&digest) {
            return Ok(loaded.info.clone());
        }
        let loaded = self.compile(&digest, bytes)?;
        let info = loaded.info.clone();
        self.sources
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                digest.clone(),
                Source {
                    bytes: bytes.into(),
                    label: label.to_owned(),
                },
            );
        self.compiled.insert(digest, loaded);
        Ok(info)
    }

    /// Validate a component without keeping it.
    pub fn validate(&self, bytes: &[u8]) -> Result<ComponentInfo, ValidationError> {
        self.compile(&Digest::of(bytes), bytes)
            .map(|l| l.info.clone())
    }

    /// What is known of a registered component.
    pub fn info(&self, digest: &Digest) -> Option<ComponentInfo> {
        self.loaded(digest).ok().map(|l| l.info.clone())
    }

    fn compile(&self, digest: &Digest, bytes: &[u8]) -> Result<Arc<Loaded>, ValidationError> {
        let sdk_wit_version = validate::precheck(bytes, &self.limits)?;
        let component = self.component(digest, bytes)?;
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
            size_bytes: bytes.len(),
        };
        Ok(Arc::new(Loaded { info, pre, exports }))
    }

    /// Compile, or load a precompiled artifact that this same engine configuration wrote.
    fn component(
        &self,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<wasmtime::component::Component, ValidationError> {
        let invalid = |e: wasmtime::Error| ValidationError::Invalid(format!("{e:#}"));
        let Some(dir) = &self.artifact_dir else {
            return wasmtime::component::Component::new(&self.engine, bytes).map_err(invalid);
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let path = dir.join(format!(
            "{}-{:016x}.cwasm",
            hex::encode(digest.as_bytes()),
            h.finish()
        ));
        if path.exists() {
            // SAFETY: the file is named by the source digest and by this engine's
            // compatibility hash, and only this runtime writes into `artifact_dir` (an
            // operator-controlled directory); wasmtime still checks its header.
            #[allow(unsafe_code)]
            let loaded =
                unsafe { wasmtime::component::Component::deserialize_file(&self.engine, &path) };
            match loaded {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable artifact: {e:#}")
                }
            }
        }
        let component =
            wasmtime::component::Component::new(&self.engine, bytes).map_err(invalid)?;
        if let Ok(serialized) = component.serialize() {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, serialized)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .is_err()
            {
                tracing::warn!(path = %path.display(), "could not write precompiled artifact");
            }
        }
        Ok(component)
    }

    /// Precompile a component for this engine (the bytes an artifact file holds).
    pub fn precompile(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(self.engine.precompile_component(bytes)?)
    }

    /// Load a component from precompiled bytes made by [`Runtime::precompile`] on an engine
    /// with the same configuration (used by benchmarks to time a cold artifact load).
    pub fn load_precompiled(&self, precompiled: &[u8]) -> anyhow::Result<()> {
        // SAFETY: callers pass bytes produced by `precompile` on this same engine.
        #[allow(unsafe_code)]
        let component =
            unsafe { wasmtime::component::Component::deserialize(&self.engine, precompiled)? };
        self.linker.instantiate_pre(&component)?;
        Ok(())
    }

    fn loaded(&self, digest: &Digest) -> Result<Arc<Loaded>, Failure> {
        if let Some(loaded) = self.compiled.get(digest) {
            self.counters.compiled_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(loaded);
        }
        self.counters
            .compiled_misses
            .fetch_add(1, Ordering::Relaxed);
        let bytes = {
            let sources = self.sources.read().unwrap_or_else(|p| p.into_inner());
            sources
                .get(digest)
                .map(|s| s.bytes.clone())
                .ok_or(Failure::NotFound)?
        };
        let loaded = self
            .compile(digest, &bytes)
            .map_err(|e| Failure::Instantiate(e.to_string()))?;
        self.compiled.insert(digest.clone(), loaded.clone());
        Ok(loaded)
    }

    fn label(&self, digest: &Digest) -> String {
        let sources = self.sources.read().unwrap_or_else(|p| p.into_inner());
        sources
            .get(digest)
            .map(|s| s.label.clone())
            .unwrap_or_default()
    }

    fn fail(&self, digest: &Digest, failure: Failure) -> EvalError {
        *self
            .counters
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(failure.kind())
            .or_default() += 1;
        let label = self.label(digest);
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
        if input_bytes > self.limits.input_bytes {
            let detail = format!(
                "input is {input_bytes} bytes; the cap is {}",
                self.limits.input_bytes
            );
            return Err(self.fail(
                digest,
                Failure::Limit {
                    limit: LimitKind::Input,
                    detail,
                },
            ));
        }
        self.counters.evaluations.fetch_add(1, Ordering::Relaxed);
        let mut store = Store::new(&self.engine, Sandbox::new(digest.short(), &self.limits));
        store.limiter(|s| s);
        store.set_epoch_deadline(self.limits.deadline_ticks());
        if let Err(e) = store.set_fuel(self.limits.fuel) {
            return Err(self.fail(digest, Failure::Instantiate(format!("{e:#}"))));
        }
        let outcome = loaded
            .pre
            .instantiate(&mut store)
            .and_then(|instance| call(&mut store, &instance, &loaded.exports));
        if store.data().grew_memory {
            self.counters.memory_grows.fetch_add(1, Ordering::Relaxed);
        }
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(failure)) => Err(self.fail(digest, failure)),
            Err(error) => Err(self.fail(digest, self.classify(&store, &error))),
        }
        // `store` drops here: after a trap it must not be reused, and it never is.
    }

    fn classify(&self, store: &Store<Sandbox>, error: &wasmtime::Error) -> Failure {
        if let Some((limit, detail)) = store.data().hit.clone() {
            return Failure::Limit { limit, detail };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Failure::Limit {
                limit: LimitKind::Fuel,
                detail: format!("used all {} instructions of its budget", self.limits.fuel),
            },
            Some(Trap::Interrupt) => Failure::Limit {
                limit: LimitKind::Deadline,
                detail: format!("still running after {} ms", self.limits.deadline_ms),
            },
            Some(Trap::StackOverflow) => Failure::Limit {
                limit: LimitKind::Stack,
                detail: format!("overflowed its {} byte stack", self.limits.stack_bytes),
            },
            Some(trap) => Failure::Trap {
                trap: trap.to_string(),
                last_log: store.data().last_log.clone(),
            },
            None if error.is::<wasmtime::PoolConcurrencyLimitError>() => {
                Failure::Instantiate(format!("{error:#}"))
            }
            None => Failure::Trap {
                trap: format!("{error:#}"),
                last_log: store.data().last_log.clone(),
            },
        }
    }

    fn output_cap(&self, size: usize) -> Result<(), Failure> {
        if size > self.limits.output_bytes {
            return Err(Failure::Limit {
                limit: LimitKind::Output,
                detail: format!(
                    "returned {size} bytes; the cap is {}",
                    self.limits.output_bytes
                ),
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
            self.counters.result_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(w);
        }
        self.counters.result_misses.fetch_add(1, Ordering::Relaxed);
        let weights = Arc::new(self.attribute_uncached(digest, config, conversion, touchpoints)?);
        self.results
            .insert(key, CachedOutput::Weights(weights.clone()));
        Ok(weights)
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
            self.counters.result_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(d);
        }
        self.counters.result_misses.fetch_add(1, Ordering::Relaxed);
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
            self.counters.result_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(d);
        }
        self.counters.result_misses.fetch_add(1, Ordering::Relaxed);
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
        let c = &self.counters;
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
