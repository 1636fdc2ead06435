//! `/v1/plugins`: upload (validated, compiled under limits, stored, addressed by digest),
//! list, show.

use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::{ApiPath, ApiQuery, body_rejection};
use crate::http::wire::plugins::{PluginOut, UploadQuery, WasmComponent};
use crate::http::wire::{Items, reject};
use crate::plugins::{ComponentStatus, Digest};
use crate::store::{PluginRecord, now_ms};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Deserializer};

/// Upload a component.
///
/// Admins upload platform plug-ins (or one for a program); plug-in authors upload for their
/// own program. The component is validated and compiled (bounded in time and memory) before
/// it is stored. 201 with its record, or 200 if these exact bytes were stored before.
///
/// Rules the document cannot express: the bytes must be a WebAssembly component that
/// exports one Accrue hook and imports only the host's `log`, within the size and compile
/// limits (413, 422 plugin-*).
#[utoipa::path(
    post, path = "/v1/plugins", tag = "plugins", operation_id = "upload_plugin",
    params(UploadQuery),
    request_body(content = inline(WasmComponent), content_type = "application/wasm", description = "The component's bytes"),
    responses(
        (status = 201, description = "Stored", body = PluginOut),
        (status = 200, description = "Stored before", body = PluginOut),
    ),
    security(("bearer" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<UploadQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PluginOut>), ApiError> {
    let owner = match (&caller.scope, q.program_id.map(|p| p.0)) {
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
            body_rejection(e.status(), e.body_text())
        }
    })?;
    let name = q.name.map_or_else(|| "unnamed".into(), |n| n.0);
    let version = q.version.map_or_else(|| "0.0.0".into(), |v| v.0);
    if name.is_empty() || version.is_empty() {
        return Err(ApiError::invalid(
            "name",
            "name and version may not be empty",
        ));
    }
    let runtime = state.engine.runtime().clone();
    let label = format!("{name}@{version}");
    let bytes = body.clone();
    // Compiling takes time (in a child process, under the compile limits): keep the wait
    // off the async workers.
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
    let mut out = PluginOut::from(stored);
    out.wit_version = Some(info.wit_version);
    out.sdk_section_present = Some(info.sdk_wit_version.is_some());
    out.sdk_wit_version = Some(info.sdk_wit_version);
    out.status = Some("ready".into());
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

/// List plug-ins: every one for admins; the platform's and its own program's for a plug-in
/// author.
#[utoipa::path(
    get, path = "/v1/plugins", tag = "plugins", operation_id = "list_plugins",
    responses((status = 200, description = "Plug-ins", body = Items<PluginOut>)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Items<PluginOut>>, ApiError> {
    if let Scope::Partner(_) = caller.scope {
        return Err(ApiError::forbidden("a partner key cannot list plug-ins"));
    }
    let items = state
        .engine
        .store()
        .plugins(None)
        .await?
        .into_iter()
        .filter(|p| visible(&caller, p))
        .map(PluginOut::from)
        .collect();
    Ok(Json(Items { items }))
}

/// A digest: `sha256:<64 lower-case hex digits>`.
#[derive(Debug)]
pub struct DigestText(Digest);

impl<'de> Deserialize<'de> for DigestText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let well_formed = text.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        match Digest::parse(&text).filter(|_| well_formed) {
            Some(digest) => Ok(Self(digest)),
            None => Err(reject(
                "invalid-input",
                "expected sha256:<64 lower-case hex digits>".into(),
            )),
        }
    }
}

/// A digest in a path.
#[derive(Debug, Deserialize)]
pub struct DigestPath {
    digest: DigestText,
}

/// Show a plug-in by digest (another program's is not found).
#[utoipa::path(
    get, path = "/v1/plugins/{digest}", tag = "plugins", operation_id = "show_plugin",
    params(("digest" = String, Path, pattern = r"^sha256:[0-9a-f]{64}$", description = "The component's digest")),
    responses((status = 200, description = "The plug-in, with its compile status here", body = PluginOut)),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<DigestPath>,
) -> Result<Json<PluginOut>, ApiError> {
    let digest = path.digest.0;
    let record = state
        .engine
        .store()
        .plugin(&digest.to_string())
        .await?
        .filter(|p| visible(&caller, p))
        .ok_or_else(|| ApiError::not_found(format!("plug-in {digest}")))?;
    let runtime = state.engine.runtime();
    let mut out = PluginOut::from(record);
    out.wit_version = runtime.info(&digest).map(|i| i.wit_version);
    if let Some(sdk) = runtime.sdk_section(&digest) {
        out.sdk_section_present = Some(sdk.is_some());
        out.sdk_wit_version = Some(sdk);
    }
    out.status = Some(
        match runtime.status(&digest) {
            ComponentStatus::Ready => "ready",
            ComponentStatus::Compiling => "compiling",
            ComponentStatus::Failed(reason) => {
                out.status_detail = Some(reason);
                "failed"
            }
            ComponentStatus::Unknown => "unknown",
        }
        .to_owned(),
    );
    Ok(Json(out))
}
