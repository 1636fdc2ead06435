//! The per-evaluation store data: resource limiter and the host's `log` import.
//!
//! A limit hit inside wasmtime surfaces as an opaque error (a memory-growth refusal is not
//! a `Trap`), so the sandbox records which limit it refused in `hit`; the runtime reads it
//! after a failed call to name the limit precisely.

use super::bindings::{self, LogLevel};
use super::error::LimitKind;
use super::limits::Limits;
use wasmtime::ResourceLimiter;

/// Store data for one evaluation.
pub(super) struct Sandbox {
    plugin: String,
    memory_bytes: usize,
    table_elements: usize,
    log_message_bytes: usize,
    log_bytes_per_call: usize,
    log_used: usize,
    /// The last message logged (panic messages arrive here just before the trap).
    pub last_log: Option<String>,
    /// The limit the sandbox refused, if any, with a detail.
    pub hit: Option<(LimitKind, String)>,
    /// Whether the guest grew a linear memory past its initial size during the call (each
    /// growth costs the host `mprotect` calls; the SDK's allocator avoids it for small calls).
    pub grew_memory: bool,
}

impl Sandbox {
    pub fn new(plugin: String, limits: &Limits) -> Self {
        Self {
            plugin,
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            log_message_bytes: limits.log_message_bytes,
            log_bytes_per_call: limits.log_bytes_per_call,
            log_used: 0,
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

impl bindings::accrue::rules::types::Host for Sandbox {}

impl bindings::accrue::rules::host::Host for Sandbox {
    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.log_used = self.log_used.saturating_add(message.len());
        if self.log_used > self.log_bytes_per_call {
            let detail = format!(
                "logged more than {} bytes in one evaluation",
                self.log_bytes_per_call
            );
            self.hit = Some((LimitKind::Log, detail.clone()));
            return Err(wasmtime::Error::msg(detail));
        }
        let message = truncate(message, self.log_message_bytes);
        let plugin = self.plugin.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(target: "accrue::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "accrue::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "accrue::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "accrue::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "accrue::plugin", plugin, "{message}"),
        }
        self.last_log = Some(message);
        Ok(())
    }
}

/// Cut `text` to at most `max` bytes on a character boundary, marking the cut.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo".into(), 2), "h…");
        assert_eq!(truncate("abc".into(), 3), "abc");
    }
}
