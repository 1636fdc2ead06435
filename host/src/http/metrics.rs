//! Prometheus metrics, with the `prometheus-client` crate (the Prometheus text format,
//! label values escaped by it): requests by route and status, latency histograms, requests
//! in flight, ingest counts; and, read from the plug-in runtime and the store at each
//! scrape, plug-in evaluations, failures by kind, cache hits and misses, compilations, and
//! how ingest batches checked their references.

use crate::engine::Engine;
use crate::plugins::{Runtime, RuntimeMetrics};
use crate::store::{CheckCounts, Store};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    in_flight: Gauge,
    created: Counter,
    replayed: Counter,
    events: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

impl Metrics {
    /// Metrics that also read `engine`'s runtime, store and caches at each scrape.
    pub fn new(engine: Engine) -> Self {
        let (runtime, store) = (engine.runtime().clone(), engine.store().clone());
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "accrue_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS_S));
        registry.register(
            "accrue_http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "accrue_http_requests_in_flight",
            "HTTP requests being handled now",
            in_flight.clone(),
        );
        let created = Counter::default();
        registry.register(
            "accrue_conversions_created",
            "Conversions stored",
            created.clone(),
        );
        let replayed = Counter::default();
        registry.register(
            "accrue_conversions_replayed",
            "Conversions answered from their idempotency record",
            replayed.clone(),
        );
        let events = Counter::default();
        registry.register(
            "accrue_events_created",
            "Click and lead events stored",
            events.clone(),
        );
        registry.register_collector(Box::new(Scraped {
            runtime,
            store,
            engine,
        }));
        Self {
            registry,
            requests,
            latency,
            in_flight,
            created,
            replayed,
            events,
        }
    }

    /// Count stored click and lead events.
    pub fn count_events(&self, n: u64) {
        self.events.inc_by(n);
    }

    /// A request started; the guard counts it in flight until dropped.
    pub fn start_request(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Record one handled request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Count ingested conversions.
    pub fn count_ingest(&self, created: bool, n: u64) {
        let counter = if created {
            &self.created
        } else {
            &self.replayed
        };
        counter.inc_by(n);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            tracing::warn!("could not encode the metrics");
        }
        out
    }
}

/// A request in flight (see [`Metrics::start_request`]).
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What is read from the runtime and the store at each scrape.
struct Scraped {
    runtime: Arc<Runtime>,
    store: Store,
    engine: Engine,
}

impl std::fmt::Debug for Scraped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scraped(..)")
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let RuntimeMetrics {
            evaluations,
            failures,
            compiled_hits,
            compiled_misses,
            result_hits,
            result_misses,
            memory_grows,
            compilations,
            compile_limit_hits,
            compiling,
            compile_peak,
            log_lines_dropped,
        } = self.runtime.metrics();
        let e = &mut encoder;
        counter(
            e,
            "accrue_plugin_evaluations",
            "Plug-in evaluations run in a sandbox",
            evaluations,
        )?;
        counter(
            e,
            "accrue_plugin_result_cache_hits",
            "Plug-in result cache hits",
            result_hits,
        )?;
        counter(
            e,
            "accrue_plugin_result_cache_misses",
            "Plug-in result cache misses",
            result_misses,
        )?;
        counter(
            e,
            "accrue_plugin_memory_grows",
            "Plug-in evaluations that grew linear memory past its initial size",
            memory_grows,
        )?;
        counter(
            e,
            "accrue_plugin_compiled_cache_hits",
            "Compiled component cache hits",
            compiled_hits,
        )?;
        counter(
            e,
            "accrue_plugin_compiled_cache_misses",
            "Compiled component cache misses",
            compiled_misses,
        )?;
        counter(
            e,
            "accrue_plugin_compilations",
            "Plug-in compilations run (uploads and background)",
            compilations,
        )?;
        counter(
            e,
            "accrue_plugin_compile_limit_hits",
            "Plug-in compilations stopped at the compile time or memory limit",
            compile_limit_hits,
        )?;
        counter(
            e,
            "accrue_plugin_log_lines_dropped",
            "Plug-in log lines dropped by the per-plug-in rate limit",
            log_lines_dropped,
        )?;
        gauge(
            e,
            "accrue_plugin_compiling",
            "Plug-ins waiting for or in a background compilation",
            compiling,
        )?;
        gauge(
            e,
            "accrue_plugin_compile_peak",
            "The most plug-in compilations that have run at once",
            compile_peak,
        )?;
        let mut family = e.encode_descriptor(
            "accrue_plugin_failures",
            "Failed plug-in evaluations by kind (fuel, memory, trap, contract, ...)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (kind, n) in &failures {
            ConstCounter::new(*n).encode(family.encode_family(&[("kind", kind.as_str())])?)?;
        }
        let (hits, misses) = self.engine.analytics_cache_counts();
        counter(
            e,
            "accrue_analytics_cache_hits",
            "Analytics answers served from the cache",
            hits,
        )?;
        counter(
            e,
            "accrue_analytics_cache_misses",
            "Analytics answers computed from the rollups",
            misses,
        )?;
        let CheckCounts { statement, row } = self.store.check_counts();
        let mut family = e.encode_descriptor(
            "accrue_store_conversion_writes",
            "Conversion writes (one per ingest call or batch) by how their references were \
             checked: once per statement, or row by row by the foreign keys",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (how, n) in [("statement", statement), ("row", row)] {
            ConstCounter::new(n).encode(family.encode_family(&[("checks", how)])?)?;
        }
        Ok(())
    }
}
