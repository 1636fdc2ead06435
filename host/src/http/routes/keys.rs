//! `/v1/api-keys`: admins create, list and revoke keys.

use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::wire::keys::{KeyIn, KeyOut, ScopeText};
use crate::http::wire::{Items, Text};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

/// Create a key. Its secret is in this answer only (stored hashed). Admin only.
///
/// Rules the document cannot express: a partner key needs an existing `partner_id`, a plug-
/// in author key an existing `program_id` (422).
#[utoipa::path(
    post, path = "/v1/api-keys", tag = "keys", operation_id = "create_api_key",
    request_body = KeyIn,
    responses((status = 201, description = "Created; `key` is the secret, shown once", body = KeyOut)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<KeyIn>,
) -> Result<(StatusCode, Json<KeyOut>), ApiError> {
    caller.require_admin()?;
    let scope = match body.scope {
        ScopeText::Admin => Scope::Admin,
        ScopeText::Partner => Scope::Partner(
            body.partner_id
                .ok_or_else(|| ApiError::invalid("partner_id", "a partner key needs partner_id"))?
                .0,
        ),
        ScopeText::PluginAuthor => Scope::PluginAuthor(
            body.program_id
                .ok_or_else(|| {
                    ApiError::invalid("program_id", "a plug-in author key needs program_id")
                })?
                .0,
        ),
    };
    let label = body.label.map(|l| l.0).unwrap_or_default();
    let (record, secret) = state.engine.create_api_key(scope, label, None).await?;
    let mut out = KeyOut::from(&record);
    out.key = Some(secret);
    Ok((StatusCode::CREATED, Json(out)))
}

/// List keys; secrets are never shown again. Admin only.
#[utoipa::path(
    get, path = "/v1/api-keys", tag = "keys", operation_id = "list_api_keys",
    responses((status = 200, description = "Every key", body = Items<KeyOut>)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Items<KeyOut>>, ApiError> {
    caller.require_admin()?;
    let items = state
        .engine
        .api_keys()
        .await?
        .iter()
        .map(KeyOut::from)
        .collect();
    Ok(Json(Items { items }))
}

/// A key's id in a path.
#[derive(Debug, Deserialize)]
pub struct KeyPath {
    id: Text<100>,
}

/// Revoke a key: it stops working at once here and within seconds on every replica.
/// Admin only.
#[utoipa::path(
    delete, path = "/v1/api-keys/{id}", tag = "keys", operation_id = "revoke_api_key",
    params(("id" = Text<100>, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked")),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<KeyPath>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    // Before the database write, so that no request can re-cache the key in between.
    state.keys.revoking();
    state.engine.revoke_api_key(&path.id.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the caller's key is (any key): its id, scope, and the partner or program it is
/// bound to. The dashboard signs in with it.
#[utoipa::path(
    get, path = "/v1/me", tag = "keys", operation_id = "who_am_i",
    responses((status = 200, description = "The caller's key", body = crate::http::wire::keys::MeOut)),
    security(("bearer" = []))
)]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<crate::http::wire::keys::MeOut>, ApiError> {
    let (partner_id, program_id) = match &caller.scope {
        Scope::Admin => (None, None),
        Scope::Partner(p) => (
            Some(p.clone()),
            Some(state.engine.partner(p).await?.program_id),
        ),
        Scope::PluginAuthor(p) => (None, Some(p.clone())),
    };
    Ok(Json(crate::http::wire::keys::MeOut {
        key_id: caller.key_id.clone(),
        scope: caller.scope.name().to_owned(),
        partner_id,
        program_id,
    }))
}
