//! `/v1/plugins`: upload (validated, compiled under limits, stored, addressed by digest),
//! list, show.

use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::{ApiPath, ApiQuery, body_rejection};
use crate::http::wire::plugins::{PluginOut, UploadQuery, WasmComponent};
use crate::http::wire::{Items, reject};
use crate::plugins::{ComponentStatus, Digest};
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
/// it is stored. A digest names the code; the record (name, version) is the program's own:
/// 201 with it, or 200 with the first record if this program registered these exact bytes
/// before. Another program's upload of the same bytes is its own record, never shown here.
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
    let done = state
        .engine
        .register_plugin(owner, name, version, body.to_vec())
        .await?;
    let mut out = PluginOut::from(done.record);
    out.wit_version = Some(done.info.wit_version);
    out.sdk_section_present = Some(done.info.sdk_wit_version.is_some());
    out.sdk_wit_version = Some(done.info.sdk_wit_version);
    out.status = Some("ready".into());
    Ok((
        if done.fresh {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(out),
    ))
}

/// List plug-ins: every program's registrations (each with its program) for admins; the
/// platform's and its own program's for a plug-in author (never another program's, even of
/// the same digest).
#[utoipa::path(
    get, path = "/v1/plugins", tag = "plugins", operation_id = "list_plugins",
    responses((status = 200, description = "Plug-ins", body = Items<PluginOut>)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Items<PluginOut>>, ApiError> {
    let items = state
        .engine
        .plugins(&caller.scope)
        .await?
        .into_iter()
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

/// Show a plug-in by digest: a plug-in author's own program's registration (or the
/// platform's), never another program's (not found).
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
    let record = state.engine.plugin(&caller.scope, &digest).await?;
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
