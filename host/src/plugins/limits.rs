//! The per-evaluation limits a plug-in runs under. All configurable, all enforced.

/// Limits on one plug-in evaluation, and on components at upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Instructions (wasmtime fuel) per evaluation: deterministic, so the same input always
    /// stops at the same point. Default 11 M, in the order of Shopify Functions' budget.
    pub fuel: u64,
    /// Wall-clock backstop per evaluation, in milliseconds (epoch interruption; the ticker
    /// runs every [`Limits::epoch_tick_ms`]). Default 100 ms.
    pub deadline_ms: u64,
    /// Epoch ticker period, in milliseconds. Default 5 ms.
    pub epoch_tick_ms: u64,
    /// Linear memory per instance, in bytes. Default 10 MiB.
    pub memory_bytes: usize,
    /// Table elements per table. Default 10,000.
    pub table_elements: usize,
    /// Wasm stack, in bytes. Default 512 KiB.
    pub stack_bytes: usize,
    /// Input size per evaluation (strings and records as the guest receives them), in bytes.
    /// Default 256 KiB.
    pub input_bytes: usize,
    /// Output size per evaluation, in bytes. Default 64 KiB.
    pub output_bytes: usize,
    /// One log message is cut to this many bytes. Default 4 KiB.
    pub log_message_bytes: usize,
    /// Log bytes per evaluation; past this the evaluation fails. Default 64 KiB.
    pub log_bytes_per_call: usize,
    /// Size of an uploaded component, in bytes. Default 4 MiB.
    pub component_bytes: usize,
    /// Evaluations that may run at once (pooling allocator slots). Default 128.
    pub max_concurrent: u32,
    /// Compiled components kept in memory. Default 256.
    pub compiled_cache_entries: u64,
    /// Plug-in results kept in memory. Default 100,000.
    pub result_cache_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 11_000_000,
            deadline_ms: 100,
            epoch_tick_ms: 5,
            memory_bytes: 10 << 20,
            table_elements: 10_000,
            stack_bytes: 512 << 10,
            input_bytes: 256 << 10,
            output_bytes: 64 << 10,
            log_message_bytes: 4 << 10,
            log_bytes_per_call: 64 << 10,
            component_bytes: 4 << 20,
            max_concurrent: 128,
            compiled_cache_entries: 256,
            result_cache_entries: 100_000,
        }
    }
}

impl Limits {
    /// The epoch deadline in ticks (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        self.deadline_ms.div_ceil(self.epoch_tick_ms.max(1)).max(1)
    }
}
