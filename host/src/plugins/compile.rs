//! Compiling components: bounded in time, memory and concurrency, and kept as precompiled
//! artifacts so a restart does not compile again.
//!
//! Compiling untrusted WebAssembly is itself an attack surface: a valid 17 KB component
//! (nested loops over many locals) can take the compiler seconds and hundreds of MiB. In
//! the service, every compilation therefore runs in a child process (`accrue plugin
//! compile-worker`, the same binary) whose data segment is capped with `RLIMIT_DATA` and
//! which is killed at the time limit; the parent loads the artifact the child wrote. Tools
//! and tests may compile in process instead, where only the time is bounded (the thread is
//! abandoned, not stopped).
//!
//! Artifacts are named by the component's digest and the engine's compatibility hash, so an
//! artifact written by another engine configuration or wasmtime version is never loaded.

use super::error::{CompileLimitKind, ValidationError};
use super::hash::Digest;
use super::limits::Limits;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Where compilation happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileMode {
    /// On a thread of this process: the time limit holds, the memory limit does not. For
    /// tools and tests.
    InProcess,
    /// In a child process running this executable's hidden `plugin compile-worker`
    /// command, under both limits. What the service uses.
    Subprocess(PathBuf),
}

/// The environment variable that carries the limits to a compile worker.
pub const WORKER_LIMITS_ENV: &str = "ACCRUE_COMPILE_WORKER_LIMITS";

/// Exit status of a compile worker that refused the component as invalid.
const EXIT_INVALID: i32 = 3;

/// The engine configuration. The compile worker builds the same one (without the pooling
/// allocator, which only affects instantiation), so its artifacts load in the service.
pub(super) fn engine_config(limits: &Limits, pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.stack_bytes);
    // Replay must be bit for bit on any machine: NaNs produced by arithmetic are
    // canonical, and the relaxed-SIMD instructions give their deterministic results,
    // instead of whatever this CPU's native instruction does.
    config.cranelift_nan_canonicalization(true);
    config.relaxed_simd_deterministic(true);
    if pooling {
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
            // use. Without the scan, the keep-resident bytes are always the lowest
            // addresses, which for a Rust guest are the unused bottom of its 1 MiB shadow
            // stack. Measured (docs/PERFORMANCE.md): 29.1 -> 14.6 µs per fresh linear
            // evaluation.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(16 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// The default place for precompiled artifacts: `$XDG_CACHE_HOME/accrue/artifacts`, or
/// `~/.cache/accrue/artifacts`; `None` when neither variable is set.
pub fn default_artifact_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("accrue").join("artifacts"))
}

/// Precompiled artifacts on disk, by digest and engine compatibility hash.
pub(super) struct Artifacts {
    dir: Option<PathBuf>,
    engine_hash: u64,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Artifacts {
    pub fn new(dir: Option<PathBuf>, engine: &Engine) -> std::io::Result<Self> {
        if let Some(dir) = &dir {
            create_private_dir(dir)?;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(Self {
            dir,
            engine_hash: h.finish(),
        })
    }

    fn path(&self, digest: &Digest) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!(
            "{}-{:016x}.cwasm",
            hex::encode(digest.as_bytes()),
            self.engine_hash
        )))
    }

    /// The stored artifact of `digest`, loaded, if there is a usable one.
    pub fn load(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let path = self.path(digest)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is named by the source digest and by this engine's compatibility
        // hash, and only this runtime (or its compile worker) writes into the artifact
        // directory, which it creates private to the service's user; wasmtime still checks
        // the header.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable artifact: {e:#}");
                None
            }
        }
    }

    /// Keep `artifact` for `digest` (written to a unique temporary name, then renamed, so a
    /// reader never sees half a file even with several replicas on one directory).
    pub fn store(&self, digest: &Digest, artifact: &[u8]) {
        let Some(path) = self.path(digest) else {
            return;
        };
        let tmp = path.with_extension(format!(
            "{}.{}.tmp",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if std::fs::write(&tmp, artifact)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), "could not write precompiled artifact");
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// A compiled component, and its artifact bytes when they were produced on the way.
pub(super) struct Compiled {
    pub component: Component,
    pub artifact: Option<Vec<u8>>,
}

/// Runs compilations under the limits, at most `compile_concurrency` at once.
pub(super) struct Compiler {
    mode: CompileMode,
    limits: Limits,
    /// A pool of tokens: taking one is taking a compile slot (a counting semaphore from
    /// the standard library's bounded channel).
    slot_tx: SyncSender<()>,
    slot_rx: Mutex<Receiver<()>>,
    in_flight: AtomicU64,
    peak: AtomicU64,
}

struct Slot<'a> {
    tokens: &'a SyncSender<()>,
    in_flight: &'a AtomicU64,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let _ = self.tokens.try_send(());
    }
}

impl Compiler {
    pub fn new(mode: CompileMode, limits: &Limits) -> Self {
        let slots = limits.compile_concurrency.max(1);
        let (slot_tx, slot_rx) = sync_channel(slots);
        for _ in 0..slots {
            let _ = slot_tx.try_send(());
        }
        Self {
            mode,
            limits: limits.clone(),
            slot_tx,
            slot_rx: Mutex::new(slot_rx),
            in_flight: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    fn slot(&self) -> Slot<'_> {
        let rx = self.slot_rx.lock().unwrap_or_else(|p| p.into_inner());
        // The sender lives as long as `self`, so this never disconnects.
        let _ = rx.recv();
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Slot {
            tokens: &self.slot_tx,
            in_flight: &self.in_flight,
        }
    }

    /// The most compilations that have run at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Compile `bytes` for `engine`, waiting for a free slot first.
    pub fn compile(&self, engine: &Engine, bytes: &[u8]) -> Result<Compiled, ValidationError> {
        let _slot = self.slot();
        match &self.mode {
            CompileMode::InProcess => self.in_process(engine, bytes),
            CompileMode::Subprocess(exe) => {
                let artifact = self.in_child(exe, bytes)?;
                // SAFETY: the bytes are the artifact our own compile worker (this same
                // executable) produced for this engine configuration; wasmtime checks the
                // header and the compatibility hash.
                #[allow(unsafe_code)]
                let component = unsafe { Component::deserialize(engine, &artifact) }
                    .map_err(|e| ValidationError::Invalid(format!("{e:#}")))?;
                Ok(Compiled {
                    component,
                    artifact: Some(artifact),
                })
            }
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.limits.compile_timeout_ms.max(1))
    }

    fn time_limit(&self) -> ValidationError {
        ValidationError::CompileLimit {
            limit: CompileLimitKind::Time,
            detail: format!(
                "compiling took longer than {} ms",
                self.limits.compile_timeout_ms
            ),
        }
    }

    fn in_process(&self, engine: &Engine, bytes: &[u8]) -> Result<Compiled, ValidationError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let engine = engine.clone();
        let bytes: Arc<[u8]> = bytes.into();
        std::thread::Builder::new()
            .name("accrue-compile".into())
            .spawn(move || {
                let _ = tx.send(Component::new(&engine, &*bytes));
            })
            .map_err(|e| ValidationError::Invalid(format!("cannot start compiling: {e}")))?;
        match rx.recv_timeout(self.timeout()) {
            Ok(Ok(component)) => {
                let artifact = component.serialize().ok();
                Ok(Compiled {
                    component,
                    artifact,
                })
            }
            Ok(Err(e)) => Err(ValidationError::Invalid(format!("{e:#}"))),
            // The thread is left to finish on its own: a thread cannot be stopped.
            Err(_) => Err(self.time_limit()),
        }
    }

    fn in_child(&self, exe: &Path, bytes: &[u8]) -> Result<Vec<u8>, ValidationError> {
        let spawn_failed =
            |e: std::io::Error| ValidationError::Invalid(format!("cannot start compiling: {e}"));
        let limits = serde_json::to_string(&self.limits).map_err(|e| {
            ValidationError::Invalid(format!("cannot pass the limits to the compiler: {e}"))
        })?;
        let started = Instant::now();
        let mut child = Command::new(exe)
            .args(["plugin", "compile-worker"])
            .env(WORKER_LIMITS_ENV, limits)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_failed)?;
        let mut stdin = child.stdin.take();
        let input: Vec<u8> = bytes.to_vec();
        let writer = std::thread::spawn(move || {
            if let Some(stdin) = stdin.as_mut() {
                let _ = stdin.write_all(&input);
            }
        });
        let mut stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut out);
            }
            out
        });
        let mut stderr = child.stderr.take();
        let err_reader = std::thread::spawn(move || {
            let mut out = String::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.take(64 << 10).read_to_string(&mut out);
            }
            out
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout() => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = writer.join();
                    return Err(self.time_limit());
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(spawn_failed(e)),
            }
        };
        let _ = writer.join();
        let artifact = reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        if status.success() {
            return Ok(artifact);
        }
        if status.code() == Some(EXIT_INVALID) {
            return Err(ValidationError::Invalid(stderr.trim().to_owned()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            // SIGXCPU: the CPU-time limit the worker set on itself as a second backstop.
            if status.signal() == Some(24) {
                return Err(self.time_limit());
            }
        }
        // A worker that hits its data limit cannot allocate and aborts; so does one the
        // kernel's OOM killer stops. Either way the component needed more than allowed.
        Err(ValidationError::CompileLimit {
            limit: CompileLimitKind::Memory,
            detail: format!(
                "compiling needed more than {} bytes of memory ({})",
                self.limits.compile_memory_bytes,
                stderr
                    .lines()
                    .last()
                    .unwrap_or("the compiler stopped")
                    .trim()
            ),
        })
    }
}

/// The body of `accrue plugin compile-worker`: read a component on stdin, compile it for
/// the engine configuration the limits describe, write the artifact to stdout. Caps its
/// own data segment and CPU time first. Returns the process exit status.
pub fn compile_worker() -> i32 {
    let limits: Limits = match std::env::var(WORKER_LIMITS_ENV)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("compile-worker: no usable {WORKER_LIMITS_ENV}: {e}");
            return 2;
        }
    };
    if let Err(e) = cap_self(&limits) {
        eprintln!("compile-worker: cannot set resource limits: {e}");
        return 2;
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin()
        .take(limits.component_bytes as u64 + 1)
        .read_to_end(&mut bytes)
    {
        eprintln!("compile-worker: cannot read the component: {e}");
        return 2;
    }
    let engine = match Engine::new(&engine_config(&limits, false)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("compile-worker: {e:#}");
            return 2;
        }
    };
    match engine.precompile_component(&bytes) {
        Ok(artifact) => match std::io::stdout().write_all(&artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("compile-worker: cannot write the artifact: {e}");
                2
            }
        },
        Err(e) => {
            eprintln!("{e:#}");
            EXIT_INVALID
        }
    }
}

#[cfg(unix)]
fn cap_self(limits: &Limits) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let data = Rlimit {
        current: Some(limits.compile_memory_bytes),
        maximum: Some(limits.compile_memory_bytes),
    };
    setrlimit(Resource::Data, data)?;
    // CPU seconds, rounded up, plus one: the parent's wall-clock timer is the real limit;
    // this only stops a worker whose parent died.
    let cpu_s = limits.compile_timeout_ms.div_ceil(1000) + 1;
    let cpu = Rlimit {
        current: Some(cpu_s),
        maximum: Some(cpu_s + 1),
    };
    setrlimit(Resource::Cpu, cpu)?;
    Ok(())
}

#[cfg(not(unix))]
fn cap_self(_limits: &Limits) -> std::io::Result<()> {
    Ok(())
}
