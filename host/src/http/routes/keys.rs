//! `/v1/api-keys`: admins create and revoke keys.

use crate::http::AppState;
use crate::http::auth::{Caller, create_key};
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::wire::format_time;
use crate::store::ApiKeyRecord;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

/// `POST /v1/api-keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    /// "admin", "partner" or "plugin_author".
    scope: String,
    /// For partner keys.
    partner_id: Option<String>,
    /// For plug-in author keys.
    program_id: Option<String>,
    /// A note.
    #[serde(default)]
    label: String,
}

fn key_out(k: &ApiKeyRecord) -> serde_json::Value {
    serde_json::json!({
        "id": k.id, "scope": k.scope, "partner_id": k.partner_id, "program_id": k.program_id,
        "label": k.label, "created_at": format_time(k.created_at_ms), "revoked_at": k.revoked_at_ms.map(format_time),
    })
}

/// Create a key (admin). The secret is in this response only.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<KeyIn>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    caller.require_admin()?;
    let (partner, program) =
        match body.scope.as_str() {
            "admin" => (None, None),
            "partner" => {
                let p = body.partner_id.ok_or_else(|| {
                    ApiError::invalid("partner_id", "a partner key needs partner_id")
                })?;
                state.engine.partner(&p).await.map_err(|_| {
                    ApiError::invalid("partner_id", format!("unknown partner {p:?}"))
                })?;
                (Some(p), None)
            }
            "plugin_author" => {
                let p = body.program_id.ok_or_else(|| {
                    ApiError::invalid("program_id", "a plug-in author key needs program_id")
                })?;
                state.engine.program(&p).await.map_err(|_| {
                    ApiError::invalid("program_id", format!("unknown program {p:?}"))
                })?;
                (None, Some(p))
            }
            other => {
                return Err(ApiError::invalid(
                    "scope",
                    format!("{other:?} is not admin, partner or plugin_author"),
                ));
            }
        };
    let (record, secret) = create_key(
        state.engine.store(),
        &body.scope,
        partner,
        program,
        body.label,
        None,
    )
    .await?;
    let mut out = key_out(&record);
    out["key"] = secret.into();
    Ok((StatusCode::CREATED, Json(out)))
}

/// List keys (admin); secrets are never shown again.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    let items: Vec<_> = state
        .engine
        .store()
        .api_keys()
        .await?
        .iter()
        .map(key_out)
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// Revoke a key (admin).
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    // Before the database write, so that no request can re-cache the key in between.
    state.keys.revoking();
    if state.engine.store().revoke_api_key(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("API key {id:?}")))
    }
}
