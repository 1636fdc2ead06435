//! `/v1/plugins`: upload (validated, compiled, stored, addressed by digest), list, show.

use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::wire::PluginOut;
use crate::plugins::{ComponentStatus, Digest};
use crate::store::{PluginRecord, now_ms};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;

/// Query of `POST /v1/plugins`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// Name (default "unnamed").
    name: Option<String>,
    /// Version label (default "0.0.0").
    version: Option<String>,
    /// Owning program (admins only; a plug-in author's uploads belong to its program).
    program_id: Option<String>,
}

/// Upload a component (`application/wasm`). Admins upload platform plug-ins (or for a
/// program); plug-in authors upload for their own program. 201 with its digest, or 200
/// if these exact bytes were stored before.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<UploadQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let owner = match (&caller.scope, q.program_id) {
        (Scope::Admin, p) => p,
        (Scope::PluginAuthor(own), None) => Some(own.clone()),
        (Scope::PluginAuthor(own), Some(p)) if *own == p => Some(p),
        (Scope::PluginAuthor(_), Some(p)) => {
            return Err(ApiError::forbidden(format!(
                "this key cannot upload for program {p:?}"
            )));
        }
        (Scope::Partner(_), _) => {
            return Err(ApiError::forbidden("a partner key cannot upload plug-ins"));
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/wasm" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the component as application/wasm",
        ));
    }
    if let Some(p) = &owner {
        state.engine.program(p).await?;
    }
    let limit = state.engine.runtime().limits().component_bytes;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::from(crate::plugins::ValidationError::TooLarge {
                size: limit + 1,
                limit,
            })
        } else {
            ApiError::bad_request("unreadable-body", e.body_text())
        }
    })?;
    let name = q.name.unwrap_or_else(|| "unnamed".into());
    let version = q.version.unwrap_or_else(|| "0.0.0".into());
    if name.is_empty() || name.len() > 100 || version.is_empty() || version.len() > 50 {
        return Err(ApiError::invalid(
            "name",
            "name must be 1 to 100 characters and version 1 to 50",
        ));
    }
    let runtime = state.engine.runtime().clone();
    let label = format!("{name}@{version}");
    let bytes = body.clone();
    // Compiling takes milliseconds of CPU: keep it off the async workers.
    let info = tokio::task::spawn_blocking(move || runtime.register(&bytes, &label))
        .await
        .map_err(ApiError::internal)??;
    let record = PluginRecord {
        digest: info.digest.to_string(),
        name,
        version,
        world: info.world.as_str().to_owned(),
        size_bytes: body.len() as i64,
        owner_program_id: owner,
        builtin: false,
        created_at_ms: now_ms(),
    };
    let fresh = state.engine.store().put_plugin(&record, &body).await?;
    let stored = state
        .engine
        .store()
        .plugin(&record.digest)
        .await?
        .ok_or_else(|| ApiError::internal("plug-in vanished"))?;
    let mut out = serde_json::to_value(PluginOut::from(stored)).map_err(ApiError::internal)?;
    out["wit_version"] = info.wit_version.into();
    out["sdk_section_present"] = info.sdk_wit_version.is_some().into();
    out["sdk_wit_version"] = info.sdk_wit_version.into();
    out["status"] = "ready".into();
    Ok((
        if fresh {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(out),
    ))
}

fn visible(caller: &Caller, p: &PluginRecord) -> bool {
    match &caller.scope {
        Scope::Admin => true,
        Scope::PluginAuthor(own) => p.owner_program_id.as_ref().is_none_or(|o| o == own),
        Scope::Partner(_) => false,
    }
}

/// List plug-ins: all for admins; the platform's and its own program's for an author.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Scope::Partner(_) = caller.scope {
        return Err(ApiError::forbidden("a partner key cannot list plug-ins"));
    }
    let items: Vec<PluginOut> = state
        .engine
        .store()
        .plugins(None)
        .await?
        .into_iter()
        .filter(|p| visible(&caller, p))
        .map(PluginOut::from)
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// One plug-in by digest (another program's is not found).
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(digest): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let parsed = Digest::parse(&digest)
        .ok_or_else(|| ApiError::invalid("digest", "expected sha256:<64 hex digits>"))?;
    let record = state
        .engine
        .store()
        .plugin(&parsed.to_string())
        .await?
        .filter(|p| visible(&caller, p))
        .ok_or_else(|| ApiError::not_found(format!("plug-in {digest}")))?;
    let runtime = state.engine.runtime();
    let mut out = serde_json::to_value(PluginOut::from(record)).map_err(ApiError::internal)?;
    if let Some(info) = runtime.info(&parsed) {
        out["wit_version"] = info.wit_version.into();
    }
    if let Some(sdk) = runtime.sdk_section(&parsed) {
        out["sdk_section_present"] = sdk.is_some().into();
        out["sdk_wit_version"] = sdk.into();
    }
    out["status"] = match runtime.status(&parsed) {
        ComponentStatus::Ready => "ready".into(),
        ComponentStatus::Compiling => "compiling".into(),
        ComponentStatus::Failed(reason) => {
            out["status_detail"] = reason.into();
            "failed".into()
        }
        ComponentStatus::Unknown => "unknown".into(),
    };
    Ok(Json(out))
}
