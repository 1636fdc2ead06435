//! The per-evaluation limits a plug-in runs under, and the limits on compiling one. All
//! configurable, all enforced, each proven by a fixture that misbehaves on purpose.

/// Limits on one plug-in evaluation, on compiling a component, and on components at upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Bytes every `log` call counts toward [`Limits::log_bytes_per_call`] on top of its
    /// message, so that empty messages cannot make an unbounded number of calls: with the
    /// defaults, at most 1,024 calls per evaluation. Default 64.
    pub log_call_bytes: usize,
    /// Fuel every host call costs (plus one per byte it passes), so that a plug-in that
    /// spins on cheap-looking host calls runs out of fuel instead of running to the
    /// wall-clock deadline: fuel stays the binding limit. Default 10,000 (about the
    /// instructions the host spends on a log call).
    pub host_call_fuel: u64,
    /// Plug-in log lines per second that reach the service's log, per plug-in; the rest are
    /// counted and dropped (a plug-in cannot flood the operators' log). Default 20.
    pub log_lines_per_second: u32,
    /// Lines a plug-in may log in a burst above [`Limits::log_lines_per_second`]. Default 100.
    pub log_lines_burst: u32,
    /// Size of an uploaded component, in bytes. Default 4 MiB.
    pub component_bytes: usize,
    /// Wall-clock time one compilation may take, in milliseconds. The default modules
    /// compile in well under a second; a component built to choke the compiler (nested
    /// loops over thousands of locals) is stopped here. Default 10,000.
    pub compile_timeout_ms: u64,
    /// Memory one compilation may use, in bytes (the compiling process's data limit, when
    /// compiling in a child process). Default 512 MiB.
    pub compile_memory_bytes: u64,
    /// Compilations that may run at once. Default 1.
    pub compile_concurrency: usize,
    /// Evaluations that may run at once (pooling allocator slots). Default 128.
    pub max_concurrent: u32,
    /// Evaluations that may run at once across all programs, each on a thread of its own
    /// (never on the service's async workers). 0 means one per CPU.
    pub eval_threads: usize,
    /// Evaluations one program may run at once, so that no program can take every
    /// evaluation thread from the others. 0 means half of the evaluation threads (at least
    /// one).
    pub eval_per_program: usize,
    /// How much lower than the service's the evaluation threads' scheduling priority is
    /// (a `nice` value, 0 to 19), so that CPU-heavy evaluations yield to request handling
    /// and the database. Default 0 (the same priority): measured, a lower priority did not
    /// help a neighbour reliably, and it can invert priorities (a program's own short
    /// evaluation waiting behind other work). See docs/PERFORMANCE.md.
    pub eval_nice: i32,
    /// A plug-in's evaluations for a program are suspended after this many resource-limit
    /// failures in a row (a circuit breaker, `engine::breaker`); 0 never suspends.
    /// Default 5.
    pub breaker_failures: u32,
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
            log_call_bytes: 64,
            host_call_fuel: 10_000,
            log_lines_per_second: 20,
            log_lines_burst: 100,
            component_bytes: 4 << 20,
            compile_timeout_ms: 10_000,
            compile_memory_bytes: 512 << 20,
            compile_concurrency: 1,
            max_concurrent: 128,
            eval_threads: 0,
            eval_per_program: 0,
            breaker_failures: 5,
            eval_nice: 0,
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

    /// Evaluations that may run at once, [`Limits::eval_threads`] resolved.
    pub fn eval_threads(&self) -> usize {
        match self.eval_threads {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        }
    }

    /// Evaluations one program may run at once, [`Limits::eval_per_program`] resolved.
    pub fn eval_per_program(&self) -> usize {
        match self.eval_per_program {
            0 => (self.eval_threads() / 2).max(1),
            n => n.min(self.eval_threads()),
        }
    }
}
