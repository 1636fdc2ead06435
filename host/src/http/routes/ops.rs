//! Health, readiness, metrics, the OpenAPI document and the API reference page (no key
//! needed).

use crate::http::AppState;
use crate::http::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always "ok".
    pub status: String,
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Always "ready" (otherwise the answer is a 503 problem).
    pub status: String,
    /// Uploaded plug-ins still compiling in the background (their programs answer 503
    /// with Retry-After until they are ready).
    pub plugins_compiling: u64,
}

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "Alive", body = Health)),
    security(())
)]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database answers and the default rule modules are compiled.
///
/// Uploaded plug-ins still compiling do not hold readiness back: their programs answer 503
/// with Retry-After until they are ready.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses((status = 200, description = "Ready", body = Ready)),
    security(())
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    state.engine.ping().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            format!("database unreachable: {e}"),
        )
        .retry_after(1)
    })?;
    if !state.engine.builtins_ready() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "the default rule modules are still compiling",
        )
        .retry_after(1));
    }
    Ok(Json(Ready {
        status: "ready".into(),
        plugins_compiling: state.engine.runtime().metrics().compiling,
    }))
}

/// Prometheus metrics, in the text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain")),
    security(())
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::http::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}

/// The API reference page: the document below, rendered in the browser (no CDN).
#[utoipa::path(
    get, path = "/docs", tag = "operations", operation_id = "docs",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html")),
    security(())
)]
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("../../../assets/api-docs/index.html"))
}

/// The script of the API reference page (RapiDoc 9.3.8, vendored, MIT).
#[utoipa::path(
    get, path = "/docs/rapidoc-min.js", tag = "operations", operation_id = "docs_script",
    responses((status = 200, description = "JavaScript", body = String, content_type = "text/javascript")),
    security(())
)]
pub async fn docs_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_bytes!("../../../assets/api-docs/rapidoc-min.js").as_slice(),
    )
}

/// This document: the API in OpenAPI 3.1, generated from the code that serves it.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI document", body = Object)),
    security(())
)]
pub async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_ref().clone(),
    )
}
