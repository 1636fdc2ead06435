//! API keys and scopes. A key is `acc_<64 hex>`; only its sha256 is stored. Scopes:
//! admin; partner (bound to one partner: reads only its own data); plug-in author (bound
//! to one program: manages only that program's plug-ins).

use super::AppState;
use super::error::ApiError;
use crate::store::{ApiKeyRecord, Store, now_ms};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest as _, Sha256};

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    Admin,
    /// Read one partner's own data.
    Partner(String),
    /// Manage one program's plug-ins.
    PluginAuthor(String),
}

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

/// The sha256 of a secret, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new secret.
pub fn new_secret() -> String {
    format!("acc_{}", crate::ids::random_token(32))
}

/// Create and store a key; returns the record and the secret (shown once).
pub async fn create_key(
    store: &Store,
    scope: &str,
    partner_id: Option<String>,
    program_id: Option<String>,
    label: String,
    secret: Option<String>,
) -> Result<(ApiKeyRecord, String), ApiError> {
    let secret = secret.unwrap_or_else(new_secret);
    let record = ApiKeyRecord {
        id: format!("key_{}", crate::ids::random_token(8)),
        key_hash: hash_secret(&secret),
        scope: scope.to_owned(),
        partner_id,
        program_id,
        label,
        created_at_ms: now_ms(),
        revoked_at_ms: None,
    };
    store.insert_api_key(&record).await?;
    Ok((record, secret))
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
        let key = state
            .engine
            .store()
            .api_key_by_hash(&hash_secret(secret))
            .await?
            .filter(|k| k.revoked_at_ms.is_none())
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
        let scope = match (key.scope.as_str(), key.partner_id, key.program_id) {
            ("admin", _, _) => Scope::Admin,
            ("partner", Some(p), _) => Scope::Partner(p),
            ("plugin_author", _, Some(p)) => Scope::PluginAuthor(p),
            _ => {
                return Err(ApiError::internal(format!(
                    "key {} has an inconsistent scope",
                    key.id
                )));
            }
        };
        Ok(Self {
            key_id: key.id,
            scope,
        })
    }
}
