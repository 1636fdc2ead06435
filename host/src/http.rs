//! The HTTP/JSON API: `/v1` resources, health, metrics, the OpenAPI document (generated
//! from the handlers and types that serve it) and its reference page. Errors are
//! `application/problem+json` (RFC 9457), including what is refused before a handler runs.

pub mod api;
pub mod auth;
pub mod cursor;
mod error;
mod extract;
pub mod metrics;
mod routes;
pub mod wire;

pub use error::{ApiError, Problem};
pub use routes::MAX_URI_BYTES;

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
    /// Seals pagination cursors.
    pub cursors: Arc<cursor::Cursors>,
    /// The OpenAPI document, as served.
    pub openapi: Arc<String>,
}

impl AppState {
    /// The state of a service over `engine`: the cursor key is the deployment's shared
    /// `cursor-key` secret (made by the first replica to start).
    pub async fn new(engine: Engine) -> Result<Self, crate::store::StoreError> {
        let key = engine.store().instance_secret("cursor-key").await?;
        Ok(Self {
            metrics: Arc::new(metrics::Metrics::new(engine.clone())),
            engine,
            keys: Arc::default(),
            cursors: Arc::new(cursor::Cursors::new(&key)),
            openapi: Arc::default(),
        })
    }
}

/// Largest JSON body accepted (a batch of 1,000 conversions fits comfortably).
pub const JSON_BODY_LIMIT_BYTES: usize = 8 << 20;

/// The OpenAPI document of the API (what `GET /openapi.json` serves).
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = routes::api(usize::MAX).split_for_parts();
    api::finish(doc)
}

/// The whole application.
pub fn router(mut state: AppState) -> Router {
    let plugin_limit = state.engine.runtime().limits().component_bytes + 1;
    let (routes, doc) = routes::api(plugin_limit).split_for_parts();
    let doc = api::finish(doc);
    state.openapi = Arc::new(doc.to_json().unwrap_or_default());
    routes::router(state, routes)
}
