//! Start-up: put the default rule modules in the store, and register every stored plug-in
//! with the runtime without waiting for compilations (they run in the background; a
//! program whose plug-in is not compiled yet answers "not ready" until it is).

use super::{Engine, Result};
use crate::plugins::{ComponentStatus, Digest, builtin_plugins};
use crate::store::{PluginRecord, now_ms};
use std::time::{Duration, Instant};

/// The version label of the built-in modules: the host's own version.
pub const BUILTIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What [`Engine::load_plugins`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Components ready now (from precompiled artifacts, or already compiled).
    pub ready: usize,
    /// Components queued for a background compilation.
    pub compiling: usize,
    /// Stored components this runtime refuses outright (logged and skipped).
    pub refused: usize,
}

impl Engine {
    /// Register the built-in modules (idempotent) and every stored component with the
    /// runtime. Nothing waits for a compilation. A stored component the runtime now refuses
    /// is logged and skipped, so one bad upload cannot stop the service.
    pub async fn load_plugins(&self) -> Result<LoadReport> {
        for p in builtin_plugins() {
            let record = PluginRecord {
                digest: Digest::of(p.bytes).to_string(),
                name: p.name.to_owned(),
                version: BUILTIN_VERSION.to_owned(),
                world: p.world,
                size_bytes: p.bytes.len() as i64,
                owner_program_id: None,
                builtin: true,
                created_at_ms: now_ms(),
            };
            self.store.put_plugin(&record, p.bytes).await?;
        }
        let mut report = LoadReport::default();
        for (digest, label, bytes) in self.store.plugin_components().await? {
            match self.runtime.register_background(&bytes, &label) {
                Ok(Some(_)) => report.ready += 1,
                Ok(None) => report.compiling += 1,
                Err(e) => {
                    report.refused += 1;
                    tracing::error!(%digest, "stored plug-in refused by the runtime: {e}")
                }
            }
        }
        Ok(report)
    }

    /// Whether every built-in module is compiled (the service is ready to serve the
    /// default rules).
    pub fn builtins_ready(&self) -> bool {
        builtin_plugins()
            .all(|p| self.runtime.status(&Digest::of(p.bytes)) == ComponentStatus::Ready)
    }

    /// Wait (at most `timeout`) until no registered component is still compiling; true if
    /// none is. For commands and tests that need every plug-in at once.
    pub async fn wait_for_plugins(&self, timeout: Duration) -> bool {
        let started = Instant::now();
        loop {
            if self.runtime.metrics().compiling == 0 {
                return true;
            }
            if started.elapsed() >= timeout {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
