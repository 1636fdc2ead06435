//! The route table and the middleware every request passes through.

mod conversions;
mod keys;
mod ledger;
mod ops;
mod partners;
mod plugins;
mod programs;

use super::AppState;
use super::error::{ApiError, REQUEST_ID};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use std::time::Instant;

/// Every route: (method, path). The OpenAPI document must list exactly these (tested).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v1/programs"),
    ("get", "/v1/programs"),
    ("get", "/v1/programs/{id}"),
    ("patch", "/v1/programs/{id}"),
    ("post", "/v1/programs/{id}/periods/close"),
    ("post", "/v1/partners"),
    ("get", "/v1/partners"),
    ("get", "/v1/partners/{id}"),
    ("patch", "/v1/partners/{id}"),
    ("get", "/v1/partners/{id}/balance"),
    ("put", "/v1/fx-rates"),
    ("get", "/v1/fx-rates"),
    ("post", "/v1/plugins"),
    ("get", "/v1/plugins"),
    ("get", "/v1/plugins/{digest}"),
    ("post", "/v1/conversions"),
    ("post", "/v1/conversions/batch"),
    ("post", "/v1/quotes"),
    ("post", "/v1/conversions/{id}/refunds"),
    ("get", "/v1/conversions/{id}/replay"),
    ("get", "/v1/commissions"),
    ("post", "/v1/adjustments"),
    ("post", "/v1/disputes"),
    ("get", "/v1/disputes"),
    ("post", "/v1/disputes/{id}/resolve"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{id}"),
];

/// Build the router.
pub fn router(state: AppState) -> Router {
    let plugin_limit = state.engine.runtime().limits().component_bytes + 1;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/programs", post(programs::create).get(programs::list))
        .route(
            "/v1/programs/{id}",
            get(programs::show).patch(programs::update),
        )
        .route(
            "/v1/programs/{id}/periods/close",
            post(programs::close_period),
        )
        .route("/v1/partners", post(partners::create).get(partners::list))
        .route(
            "/v1/partners/{id}",
            get(partners::show).patch(partners::update),
        )
        .route("/v1/partners/{id}/balance", get(ledger::balance))
        .route("/v1/fx-rates", put(partners::put_fx).get(partners::list_fx))
        .route(
            "/v1/plugins",
            post(plugins::upload)
                .layer(DefaultBodyLimit::max(plugin_limit))
                .get(plugins::list),
        )
        .route("/v1/plugins/{digest}", get(plugins::show))
        .route("/v1/conversions", post(conversions::create))
        .route("/v1/conversions/batch", post(conversions::batch))
        .route("/v1/quotes", post(conversions::quote))
        .route("/v1/conversions/{id}/refunds", post(conversions::refund))
        .route("/v1/conversions/{id}/replay", get(conversions::replay))
        .route("/v1/commissions", get(ledger::commissions))
        .route("/v1/adjustments", post(ledger::adjust))
        .route(
            "/v1/disputes",
            post(ledger::open_dispute).get(ledger::disputes),
        )
        .route("/v1/disputes/{id}/resolve", post(ledger::resolve_dispute))
        .route("/v1/api-keys", post(keys::create).get(keys::list))
        .route("/v1/api-keys/{id}", axum::routing::delete(keys::revoke))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(super::JSON_BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "no-such-route",
        "Not found",
        "no such route; see /openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "see /openapi.json",
    )
}

/// Give each request an id (in the response header, in 5xx bodies and in logs), and
/// record its route, status and latency.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .map_or_else(|| crate::ids::random_token(8), str::to_owned);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let mut response = REQUEST_ID
        .scope(
            id.clone(),
            tracing::Instrument::instrument(next.run(req), span),
        )
        .await;
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_request(method.as_str(), &route, response.status().as_u16(), elapsed);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::debug!(request_id = %id, %method, route = %route, status = response.status().as_u16(), elapsed_us = elapsed.as_micros() as u64, "handled");
    response.into_response()
}
