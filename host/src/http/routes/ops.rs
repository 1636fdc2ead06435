//! Health, readiness, metrics and the OpenAPI document (no key needed).

use crate::http::AppState;
use crate::http::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers and the default rule modules are compiled. Uploaded
/// plug-ins still compiling do not hold readiness back: their programs answer 503 with
/// Retry-After until they are ready (`compiling` says how many there are).
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.engine.store().ping().await.map_err(|e| {
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
    let compiling = state.engine.runtime().metrics().compiling;
    Ok(Json(
        serde_json::json!({ "status": "ready", "plugins_compiling": compiling }),
    ))
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(
        &state.engine.runtime().metrics(),
        state.engine.store().check_counts(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The OpenAPI document.
pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::http::openapi::document())
}
