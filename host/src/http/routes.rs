//! The routes, each registered together with its documentation (utoipa-axum), and the
//! middleware every request passes through.

mod analytics;
mod conversions;
mod dashboard;
mod events;
mod fraud;
mod keys;
mod ledger;
mod ops;
mod partners;
mod payout_profiles;
mod payouts;
mod plugins;
mod programs;
mod reports;

use super::AppState;
use super::error::{ApiError, PauseBeforeAnswering, REQUEST_ID};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest request target (path and query) accepted, in bytes. Longer ones are
/// answered 414 with a problem document (hyper itself refuses far longer ones earlier).
pub const MAX_URI_BYTES: usize = 8 << 10;

/// Every route with its documentation, before state and middleware.
pub fn api(plugin_body_limit: usize) -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(plugins::upload, plugins::list))
        .layer(DefaultBodyLimit::max(plugin_body_limit));
    OpenApiRouter::with_openapi(super::api::base())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(ops::docs))
        .routes(routes!(ops::docs_script))
        .routes(routes!(dashboard::page))
        .routes(routes!(dashboard::script))
        .routes(routes!(dashboard::style))
        .routes(routes!(programs::create, programs::list))
        .routes(routes!(programs::show, programs::update))
        .routes(routes!(programs::close_period))
        .routes(routes!(partners::create, partners::list))
        .routes(routes!(partners::show, partners::update))
        .routes(routes!(partners::balance))
        .routes(routes!(partners::put_fx, partners::list_fx))
        .merge(uploads)
        .routes(routes!(plugins::show))
        .routes(routes!(conversions::create))
        .routes(routes!(conversions::batch))
        .routes(routes!(conversions::quote))
        .routes(routes!(conversions::refund))
        .routes(routes!(conversions::replay))
        .routes(routes!(ledger::commissions))
        .routes(routes!(ledger::adjust))
        .routes(routes!(ledger::open_dispute, ledger::disputes))
        .routes(routes!(ledger::resolve_dispute))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(keys::me))
        .routes(routes!(payouts::put_schedule, payouts::get_schedule))
        .routes(routes!(payouts::create_run, payouts::list_runs))
        .routes(routes!(payouts::get_run))
        .routes(routes!(payouts::list_items))
        .routes(routes!(payouts::approve))
        .routes(routes!(payouts::cancel))
        .routes(routes!(payouts::export))
        .routes(routes!(payouts::files))
        .routes(routes!(payouts::download))
        .routes(routes!(payouts::feedback))
        .routes(routes!(payouts::outcome))
        .routes(routes!(payouts::partner_payouts))
        .routes(routes!(payouts::remittance))
        .routes(routes!(payouts::tax_report))
        .routes(routes!(payouts::notices))
        .routes(routes!(
            payout_profiles::put_method,
            payout_profiles::show_method,
            payout_profiles::delete_method
        ))
        .routes(routes!(
            payout_profiles::put_tax,
            payout_profiles::show_tax,
            payout_profiles::delete_tax
        ))
        .routes(routes!(
            payout_profiles::add_rule,
            payout_profiles::list_rules
        ))
        .routes(routes!(events::create))
        .routes(routes!(events::batch))
        .routes(routes!(fraud::list))
        .routes(routes!(fraud::show))
        .routes(routes!(fraud::resolve))
        .routes(routes!(fraud::get_rules, fraud::put_rules))
        .routes(routes!(fraud::get_identity, fraud::put_identity))
        .routes(routes!(reports::generate))
        .routes(routes!(reports::show))
        .routes(routes!(reports::file))
        .routes(routes!(analytics::revenue))
        .routes(routes!(analytics::conversions))
        .routes(routes!(analytics::customers))
        .routes(routes!(analytics::roi))
        .routes(routes!(analytics::ranking))
        .routes(routes!(analytics::forecast))
        .routes(routes!(analytics::churn))
}

/// Build the router from the routes and their document (see [`super::router`]).
pub fn router(state: AppState, routes: Router<AppState>) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(super::JSON_BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no-such-route",
        "Not found",
        "no such route; see /openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "see /openapi.json",
    )
}

/// Give each request an id (in the response header, in 5xx bodies and in logs), refuse
/// overlong request targets, and record its route, status and latency.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| crate::ids::random_token(8), str::to_owned);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let _in_flight = state.metrics.start_request();
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let too_long = req
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().len() > MAX_URI_BYTES);
    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            if too_long {
                return ApiError::new(
                    StatusCode::URI_TOO_LONG,
                    "uri-too-long",
                    "URI too long",
                    format!("the request target may be at most {MAX_URI_BYTES} bytes"),
                )
                .into_response();
            }
            let response = tracing::Instrument::instrument(next.run(req), span).await;
            if response
                .extensions()
                .get::<PauseBeforeAnswering>()
                .is_some()
            {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            response
        })
        .await;
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_request(method.as_str(), &route, response.status().as_u16(), elapsed);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::debug!(request_id = %id, %method, route = %route, status = response.status().as_u16(), elapsed_us = elapsed.as_micros() as u64, "handled");
    response
}
