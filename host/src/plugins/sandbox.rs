//! The per-evaluation store data (resource limiter, log accounting) and the host's `log`
//! import.
//!
//! A limit hit inside wasmtime surfaces as an opaque error (a memory-growth refusal is not
//! a `Trap`), so the sandbox records which limit it refused in `hit`; the runtime reads it
//! after a failed call to name the limit precisely.
//!
//! `log` is the one thing a plug-in can ask of the host, so it is where a plug-in could make
//! the host work for free. Every call therefore costs: fuel (a fixed price plus one per
//! byte, so spinning on `log` exhausts the instruction budget long before the wall-clock
//! deadline), and bytes against the per-evaluation log budget (a fixed price per call plus
//! the message, so empty messages are not free). What reaches the service's own log is
//! rate-limited per plug-in by [`LogGate`].

use super::bindings::LogLevel;
use super::error::LimitKind;
use super::limits::Limits;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime::component::{Linker, WasmStr};
use wasmtime::{ResourceLimiter, StoreContextMut, Trap};

/// Store data for one evaluation.
pub(super) struct Sandbox {
    plugin: String,
    memory_bytes: usize,
    table_elements: usize,
    log_message_bytes: usize,
    log_bytes_per_call: usize,
    log_call_bytes: usize,
    host_call_fuel: u64,
    log_used: usize,
    gate: Arc<LogGate>,
    /// The last message logged (panic messages arrive here just before the trap).
    pub last_log: Option<String>,
    /// The limit the sandbox refused, if any, with a detail.
    pub hit: Option<(LimitKind, String)>,
    /// Whether the guest grew a linear memory past its initial size during the call (each
    /// growth costs the host `mprotect` calls; the SDK's allocator avoids it for small calls).
    pub grew_memory: bool,
}

impl Sandbox {
    pub fn new(plugin: String, limits: &Limits, gate: Arc<LogGate>) -> Self {
        Self {
            plugin,
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            log_message_bytes: limits.log_message_bytes,
            log_bytes_per_call: limits.log_bytes_per_call,
            log_call_bytes: limits.log_call_bytes,
            host_call_fuel: limits.host_call_fuel,
            log_used: 0,
            gate,
            last_log: None,
            hit: None,
            grew_memory: false,
        }
    }
}

impl ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            let detail = format!(
                "tried to grow linear memory from {current} to {desired} bytes; the cap is {}",
                self.memory_bytes
            );
            self.hit = Some((LimitKind::Memory, detail.clone()));
            // An error (not `Ok(false)`) stops the guest here instead of letting it see a
            // failed `memory.grow` and abort with a less precise trap.
            return Err(wasmtime::Error::msg(detail));
        }
        // Instantiation asks too, from 0 to the initial size: only later asks are growth.
        if current > 0 {
            self.grew_memory = true;
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // Growth past the module's or the pool's own maximum fails before `memory_growing`
        // is asked; treat it as the memory cap too rather than let the guest abort blindly.
        let detail = format!("linear memory could not grow: {error}");
        self.hit.get_or_insert((LimitKind::Memory, detail.clone()));
        Err(wasmtime::Error::msg(detail))
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let detail = format!("a table could not grow: {error}");
        self.hit.get_or_insert((LimitKind::Table, detail.clone()));
        Err(wasmtime::Error::msg(detail))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            let detail = format!(
                "tried to grow a table from {current} to {desired} elements; the cap is {}",
                self.table_elements
            );
            self.hit = Some((LimitKind::Table, detail.clone()));
            return Err(wasmtime::Error::msg(detail));
        }
        // Instantiation asks too, from 0 to the initial size: only later asks are growth.
        if current > 0 {
            self.grew_memory = true;
        }
        Ok(true)
    }
}

/// The import name of the `host` interface at the version this host implements.
const HOST_INTERFACE: &str = "accrue:rules/host@1.0.0";

/// Define the host's imports: the shared types (nothing to define) and `host.log`.
///
/// `log` is defined by hand rather than through the generated `Host` trait because it must
/// charge fuel, which needs the store, and it takes the message as a [`WasmStr`] so that it
/// is measured in the guest's memory before anything is copied out of it.
pub(super) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    super::bindings::accrue::rules::types::add_to_linker::<
        Sandbox,
        wasmtime::component::HasSelf<Sandbox>,
    >(linker, |s| s)?;
    linker
        .instance(HOST_INTERFACE)?
        .func_wrap("log", |store, (level, message): (LogLevel, WasmStr)| {
            log(store, level, &message)
        })
}

impl super::bindings::accrue::rules::types::Host for Sandbox {}

fn log(
    mut store: StoreContextMut<'_, Sandbox>,
    level: LogLevel,
    message: &WasmStr,
) -> wasmtime::Result<()> {
    // Read the message where it lies (no copy yet), keeping only what will be logged.
    let (len, kept) = {
        let text = message.to_str(&store)?;
        let max = store.data().log_message_bytes;
        (text.len(), truncate(&text, max))
    };
    let sandbox = store.data();
    let fuel_cost = sandbox.host_call_fuel.saturating_add(len as u64);
    let log_cost = sandbox.log_call_bytes.saturating_add(len);
    let fuel = store.get_fuel()?;
    if fuel < fuel_cost {
        store.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    store.set_fuel(fuel - fuel_cost)?;
    let sandbox = store.data_mut();
    sandbox.log_used = sandbox.log_used.saturating_add(log_cost);
    if sandbox.log_used > sandbox.log_bytes_per_call {
        let detail = format!(
            "logged more than {} bytes in one evaluation (each call counts {} bytes besides \
             its message)",
            sandbox.log_bytes_per_call, sandbox.log_call_bytes
        );
        sandbox.hit = Some((LimitKind::Log, detail.clone()));
        return Err(wasmtime::Error::msg(detail));
    }
    if let Some(suppressed) = sandbox.gate.admit(&sandbox.plugin) {
        let plugin = sandbox.plugin.as_str();
        if suppressed > 0 {
            tracing::warn!(target: "accrue::plugin", plugin, suppressed,
                "plug-in log lines dropped by the rate limit");
        }
        match level {
            LogLevel::Trace => tracing::trace!(target: "accrue::plugin", plugin, "{kept}"),
            LogLevel::Debug => tracing::debug!(target: "accrue::plugin", plugin, "{kept}"),
            LogLevel::Info => tracing::info!(target: "accrue::plugin", plugin, "{kept}"),
            LogLevel::Warn => tracing::warn!(target: "accrue::plugin", plugin, "{kept}"),
            LogLevel::Error => tracing::error!(target: "accrue::plugin", plugin, "{kept}"),
        }
    }
    sandbox.last_log = Some(kept);
    Ok(())
}

/// How many plug-in log lines reach the service's log: a token bucket per plug-in.
/// Dropped lines are counted (metric `accrue_plugin_log_lines_dropped_total`) and the next
/// admitted line of that plug-in is preceded by a note of how many were dropped.
pub(super) struct LogGate {
    per_second: u64,
    burst: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
    dropped: AtomicU64,
}

struct Bucket {
    /// Thousandths of a line (integers: the refill is exact without floats).
    milli_tokens: u64,
    refilled: Instant,
    suppressed: u64,
}

impl LogGate {
    /// A gate letting `per_second` lines through per plug-in, after a burst of `burst`.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: u64::from(per_second),
            burst: u64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether `plugin` may log a line now: `Some(lines dropped since its last admitted
    /// line)` if so, `None` if this one is dropped.
    pub fn admit(&self, plugin: &str) -> Option<u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let cap = self.burst * 1000;
        let bucket = buckets.entry(plugin.to_owned()).or_insert(Bucket {
            milli_tokens: cap,
            refilled: now,
            suppressed: 0,
        });
        let elapsed_ms =
            u64::try_from(now.duration_since(bucket.refilled).as_millis()).unwrap_or(u64::MAX);
        if elapsed_ms > 0 {
            bucket.milli_tokens = bucket
                .milli_tokens
                .saturating_add(elapsed_ms.saturating_mul(self.per_second))
                .min(cap);
            bucket.refilled = now;
        }
        if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            Some(std::mem::take(&mut bucket.suppressed))
        } else {
            bucket.suppressed += 1;
            self.dropped.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Lines dropped since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Cut `text` to at most `max` bytes on a character boundary, marking the cut.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 3);
    out.push_str(&text[..end]);
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::{LogGate, truncate};

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 3), "abc");
    }

    #[test]
    fn the_gate_admits_a_burst_then_drops_and_counts() {
        let gate = LogGate::new(0, 3);
        assert_eq!(gate.admit("p"), Some(0));
        assert_eq!(gate.admit("p"), Some(0));
        assert_eq!(gate.admit("p"), Some(0));
        assert_eq!(gate.admit("p"), None);
        assert_eq!(gate.admit("p"), None);
        assert_eq!(gate.dropped(), 2);
        // Another plug-in has a bucket of its own.
        assert_eq!(gate.admit("q"), Some(0));
    }

    #[test]
    fn the_gate_refills_and_reports_what_it_dropped() {
        let gate = LogGate::new(1000, 1);
        assert_eq!(gate.admit("p"), Some(0));
        assert_eq!(gate.admit("p"), None);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(gate.admit("p"), Some(1));
    }
}
