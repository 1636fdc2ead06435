//! Start-up: put the default rule modules in the store, and load every stored plug-in into
//! the runtime.

use super::{Engine, Result};
use crate::plugins::builtin_plugins;
use crate::store::{PluginRecord, now_ms};

/// The version label of the built-in modules: the host's own version.
pub const BUILTIN_VERSION: &str = env!("CARGO_PKG_VERSION");

impl Engine {
    /// Register the built-in modules (idempotent) and load every stored component into the
    /// runtime. A stored component the runtime now refuses is logged and skipped, so one
    /// bad upload cannot stop the service.
    pub async fn load_plugins(&self) -> Result<usize> {
        for p in builtin_plugins() {
            let info = self
                .runtime
                .register(p.bytes, &format!("{}@{BUILTIN_VERSION}", p.name))
                .map_err(|e| {
                    super::EngineError::Conflict(format!(
                        "built-in plug-in {} is invalid: {e}",
                        p.name
                    ))
                })?;
            let record = PluginRecord {
                digest: info.digest.to_string(),
                name: p.name.to_owned(),
                version: BUILTIN_VERSION.to_owned(),
                world: info.world.as_str().to_owned(),
                size_bytes: p.bytes.len() as i64,
                owner_program_id: None,
                builtin: true,
                created_at_ms: now_ms(),
            };
            self.store.put_plugin(&record, p.bytes).await?;
        }
        let mut loaded = 0;
        for (record, bytes) in self.store.plugin_components().await? {
            match self
                .runtime
                .register(&bytes, &format!("{}@{}", record.name, record.version))
            {
                Ok(_) => loaded += 1,
                Err(e) => {
                    tracing::error!(digest = %record.digest, "stored plug-in refused by the runtime: {e}")
                }
            }
        }
        Ok(loaded)
    }
}
