//! Plug-in registrations: a digest names code, and each program names and owns its own
//! registration of it. The same bytes uploaded by two programs are one compiled component
//! in the runtime and two records (name, version, upload time), each visible only to its
//! program (and to admins); the platform's registrations (built-ins, admin uploads for no
//! program) are visible to every program and bindable by any.

use super::{Engine, EngineError, Result, Scope};
use crate::plugins::{ComponentInfo, Digest};
use crate::store::{PluginRecord, now_ms};

/// What an upload registered.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The caller's program's registration (the first one if it registered these bytes
    /// before).
    pub record: PluginRecord,
    /// Whether this upload created the registration.
    pub fresh: bool,
    /// What the runtime found in the component.
    pub info: ComponentInfo,
}

impl Engine {
    /// Validate, compile (bounded, on a blocking thread) and register `bytes` for
    /// `owner` (the platform's if `None`) as `name@version`.
    pub async fn register_plugin(
        &self,
        owner: Option<String>,
        name: String,
        version: String,
        bytes: Vec<u8>,
    ) -> Result<Registered> {
        if let Some(p) = &owner {
            self.program(p).await?;
        }
        let runtime = self.runtime.clone();
        // A program's names stay its own: its code is labelled only by its digest in the
        // runtime, whose errors may reach another program that uploads the same bytes.
        let label = match owner {
            None => format!("{name}@{version}"),
            Some(_) => String::new(),
        };
        let bytes: std::sync::Arc<[u8]> = bytes.into();
        let code = bytes.clone();
        // Compiling takes time (in a child process, under the compile limits): keep the
        // wait off the async workers.
        let info = tokio::task::spawn_blocking(move || runtime.register(&code, &label))
            .await
            .map_err(|e| EngineError::Internal(format!("compile task: {e}")))?
            .map_err(EngineError::Rejected)?;
        let record = PluginRecord {
            digest: info.digest.to_string(),
            name,
            version,
            world: info.world,
            size_bytes: bytes.len() as i64,
            owner_program_id: owner,
            builtin: false,
            created_at_ms: now_ms(),
        };
        let fresh = self.store.put_plugin(&record, &bytes).await?;
        let record = self
            .store
            .plugin_registrations(&record.digest)
            .await?
            .into_iter()
            .find(|r| r.owner_program_id == record.owner_program_id)
            .ok_or_else(|| EngineError::Internal("a plug-in registration vanished".into()))?;
        Ok(Registered {
            record,
            fresh,
            info,
        })
    }

    /// The registrations the caller may see: an admin every one, a plug-in author its
    /// program's and the platform's.
    pub async fn plugins(&self, caller: &Scope) -> Result<Vec<PluginRecord>> {
        match caller {
            Scope::Admin => Ok(self.store.plugins(None).await?),
            Scope::PluginAuthor(own) => Ok(self.store.plugins(Some(own)).await?),
            Scope::Partner(_) => Err(EngineError::Forbidden(
                "a partner key cannot list plug-ins".into(),
            )),
        }
    }

    /// One digest's registration as the caller sees it: a plug-in author its program's (or
    /// the platform's); an admin the platform's, else the first program's. Anything else is
    /// not found.
    pub async fn plugin(&self, caller: &Scope, digest: &Digest) -> Result<PluginRecord> {
        let digest = digest.to_string();
        let found = match caller {
            Scope::Admin => self
                .store
                .plugin_registrations(&digest)
                .await?
                .into_iter()
                .next(),
            Scope::PluginAuthor(own) => self.store.plugin_for(own, &digest).await?,
            Scope::Partner(_) => None,
        };
        found.ok_or_else(|| EngineError::NotFound(format!("plug-in {digest}")))
    }
}
