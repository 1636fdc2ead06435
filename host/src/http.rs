//! The HTTP/JSON API: `/v1` resources, the product's reporting paths, health, metrics and
//! the OpenAPI document. Errors are `application/problem+json` (RFC 9457).

pub mod auth;
mod error;
mod extract;
pub mod metrics;
pub mod openapi;
mod routes;
mod wire;

pub use error::ApiError;
pub use routes::ROUTES;

use crate::engine::Engine;
use axum::Router;
use std::sync::Arc;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The engine (and through it the store and the plug-in runtime).
    pub engine: Engine,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Verified API keys, briefly (see [`auth::KEY_CACHE_TTL`]).
    pub keys: Arc<auth::KeyCache>,
}

/// Largest JSON body accepted (a batch of 1,000 conversions fits comfortably).
pub const JSON_BODY_LIMIT_BYTES: usize = 8 << 20;

/// The whole application.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}
