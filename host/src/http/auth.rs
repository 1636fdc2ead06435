//! API keys and scopes. A key is `acc_<64 hex>`; only its sha256 is stored. Scopes:
//! admin; partner (bound to one partner: reads only its own data); plug-in author (bound
//! to one program: manages only that program's plug-ins).

use super::AppState;
use super::error::ApiError;
use crate::engine::hash_secret;
use crate::store::now_ms;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// What a key may do (the engine's notion: commands that depend on who asks take it).
pub use crate::engine::Scope;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's public id.
    pub key_id: String,
    /// Its scope.
    pub scope: Scope,
}

impl Caller {
    /// Only admins.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin => Ok(()),
            _ => Err(ApiError::forbidden("this needs an admin key")),
        }
    }

    /// Admins, or the partner itself. Another partner's data is answered as not found, so
    /// a partner key cannot even learn that it exists.
    pub fn require_partner(&self, partner_id: &str) -> Result<(), ApiError> {
        match &self.scope {
            Scope::Admin => Ok(()),
            Scope::Partner(own) if own == partner_id => Ok(()),
            Scope::Partner(_) => Err(ApiError::not_found(format!("partner {partner_id:?}"))),
            Scope::PluginAuthor(_) => Err(ApiError::forbidden(
                "a plug-in author key cannot read partner data",
            )),
        }
    }

    /// Admins, or the plug-in author of this program.
    pub fn require_program_author(&self, program_id: &str) -> Result<(), ApiError> {
        match &self.scope {
            Scope::Admin => Ok(()),
            Scope::PluginAuthor(own) if own == program_id => Ok(()),
            _ => Err(ApiError::forbidden(format!(
                "this key cannot manage program {program_id:?}"
            ))),
        }
    }
}

/// How long a verified key is trusted without asking the database again.
///
/// Looking the key up cost one database round trip per request (of about six for a single
/// conversion). Revoking a key takes effect within this time on every replica, and at once
/// on the replica that revoked it: the revocation empties this service's cache and turns it
/// off for a while, so that no request racing the revocation can put the key back before
/// the database has it revoked.
/// Unknown and revoked keys are never cached: a new key works at once.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);

/// Verified keys of one service (it lives in [`AppState`]).
pub struct KeyCache {
    /// Secret hash → the caller.
    keys: moka::sync::Cache<String, Caller>,
    /// Until when (ms since the epoch) the cache is neither read nor filled.
    off_until_ms: AtomicI64,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            keys: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(KEY_CACHE_TTL)
                .build(),
            off_until_ms: AtomicI64::new(0),
        }
    }
}

impl KeyCache {
    fn on(&self) -> bool {
        now_ms() >= self.off_until_ms.load(Ordering::SeqCst)
    }

    fn get(&self, hash: &str) -> Option<Caller> {
        self.keys.get(hash).filter(|_| self.on())
    }

    fn put(&self, hash: String, caller: &Caller) {
        if self.on() {
            self.keys.insert(hash, caller.clone());
        }
    }

    /// A key is about to be revoked: forget every key, and cache none for twice the time to
    /// live, so that an entry a racing request puts in just now has expired when caching
    /// resumes.
    pub fn revoking(&self) {
        let off_ms = i64::try_from(2 * KEY_CACHE_TTL.as_millis()).unwrap_or(i64::MAX);
        self.off_until_ms
            .fetch_max(now_ms().saturating_add(off_ms), Ordering::SeqCst);
        self.keys.invalidate_all();
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <api key>"))?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <api key>`")
            })?;
        let hash = hash_secret(secret);
        let caller = match state.keys.get(&hash) {
            Some(caller) => caller,
            None => {
                let caller = Self::look_up(state, &hash).await?;
                state.keys.put(hash, &caller);
                caller
            }
        };
        Ok(caller)
    }
}

impl Caller {
    /// The key with this secret hash, from the database.
    async fn look_up(state: &AppState, hash: &str) -> Result<Self, ApiError> {
        let key = state
            .engine
            .api_key_by_secret_hash(hash)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
        Ok(Self {
            key_id: key.id,
            scope: key.scope,
        })
    }
}
