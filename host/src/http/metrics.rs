//! Prometheus metrics: requests by route and status, latency histograms, plug-in
//! evaluations and failures by kind, cache hits and misses, ingest counts.

use crate::plugins::RuntimeMetrics;
use crate::store::CheckCounts;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency histogram bucket bounds, in microseconds (integers: no float on the hot path).
const BUCKETS_US: [u64; 12] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS_US.len()],
    count: u64,
    sum_us: u64,
}

/// The service's request and ingest metrics (the runtime keeps its own).
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    ingest_created: AtomicU64,
    ingest_replayed: AtomicU64,
}

impl Metrics {
    /// Record one handled request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = latency.entry(route.to_owned()).or_default();
        let us = elapsed.as_micros() as u64;
        // Bucket by integer microseconds: no float arithmetic needed on the hot path.
        for (i, bound_us) in BUCKETS_US.iter().enumerate() {
            if us <= *bound_us {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum_us += us;
    }

    /// Count ingested conversions.
    pub fn count_ingest(&self, created: bool, n: u64) {
        let counter = if created {
            &self.ingest_created
        } else {
            &self.ingest_replayed
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, runtime: &RuntimeMetrics, checks: CheckCounts) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP accrue_http_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE accrue_http_requests_total counter");
        for ((method, route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "accrue_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP accrue_http_request_duration_seconds HTTP request latency by route."
        );
        let _ = writeln!(out, "# TYPE accrue_http_request_duration_seconds histogram");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (bound_us, n) in BUCKETS_US.iter().zip(h.counts.iter()) {
                let bound = seconds(*bound_us);
                let _ = writeln!(
                    out,
                    "accrue_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "accrue_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "accrue_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                seconds(h.sum_us)
            );
            let _ = writeln!(
                out,
                "accrue_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let lines = [
            (
                "accrue_plugin_evaluations_total",
                "Plug-in evaluations run in a sandbox.",
                runtime.evaluations,
            ),
            (
                "accrue_plugin_result_cache_hits_total",
                "Plug-in result cache hits.",
                runtime.result_hits,
            ),
            (
                "accrue_plugin_result_cache_misses_total",
                "Plug-in result cache misses.",
                runtime.result_misses,
            ),
            (
                "accrue_plugin_memory_grows_total",
                "Plug-in evaluations that grew linear memory past its initial size.",
                runtime.memory_grows,
            ),
            (
                "accrue_plugin_compiled_cache_hits_total",
                "Compiled component cache hits.",
                runtime.compiled_hits,
            ),
            (
                "accrue_plugin_compiled_cache_misses_total",
                "Compiled component cache misses.",
                runtime.compiled_misses,
            ),
            (
                "accrue_plugin_compilations_total",
                "Plug-in compilations run (uploads and background).",
                runtime.compilations,
            ),
            (
                "accrue_plugin_compile_limit_hits_total",
                "Plug-in compilations stopped at the compile time or memory limit.",
                runtime.compile_limit_hits,
            ),
            (
                "accrue_plugin_log_lines_dropped_total",
                "Plug-in log lines dropped by the per-plug-in rate limit.",
                runtime.log_lines_dropped,
            ),
            (
                "accrue_conversions_created_total",
                "Conversions stored.",
                self.ingest_created.load(Ordering::Relaxed),
            ),
            (
                "accrue_conversions_replayed_total",
                "Conversions answered from their idempotency record.",
                self.ingest_replayed.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in lines {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        for (name, help, value) in [
            (
                "accrue_plugin_compiling",
                "Plug-ins waiting for or in a background compilation.",
                runtime.compiling,
            ),
            (
                "accrue_plugin_compile_peak",
                "The most plug-in compilations that have run at once.",
                runtime.compile_peak,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP accrue_plugin_failures_total Failed plug-in evaluations by kind (fuel, memory, trap, contract...)."
        );
        let _ = writeln!(out, "# TYPE accrue_plugin_failures_total counter");
        for (kind, n) in &runtime.failures {
            let _ = writeln!(out, "accrue_plugin_failures_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP accrue_store_conversion_writes_total Conversion writes (one per ingest call or batch) by how their references were checked: once per statement, or row by row by the foreign keys."
        );
        let _ = writeln!(out, "# TYPE accrue_store_conversion_writes_total counter");
        for (how, n) in [("statement", checks.statement), ("row", checks.row)] {
            let _ = writeln!(
                out,
                "accrue_store_conversion_writes_total{{checks=\"{how}\"}} {n}"
            );
        }
        out
    }
}

/// Microseconds as a decimal number of seconds, for labels ("0.0005", "2.5").
fn seconds(us: u64) -> String {
    let text = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn microseconds_print_as_seconds() {
        assert_eq!(seconds(500), "0.0005");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(1_000_000), "1");
        assert_eq!(seconds(0), "0");
    }
}
