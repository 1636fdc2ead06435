//! `/v1/conversions`, `/v1/conversions/batch`, `/v1/quotes`, refunds.

use crate::engine::IngestOutcome;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{JsonBody, parse_json};
use crate::http::wire::ConversionIn;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Deserialize;

/// Most conversions in one batch request.
pub const MAX_BATCH: usize = 1000;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 200)
            .map(|k| Some(k.to_owned()))
            .ok_or_else(|| {
                ApiError::invalid(
                    "Idempotency-Key",
                    "must be 1 to 200 visible ASCII characters",
                )
            }),
    }
}

/// Post one conversion (admin): 201 with its commissions; 200 with the same body when the
/// key was posted before with the same payload; 409 with another payload.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ConversionIn>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let input = body.into_input(idempotency_key(&headers)?.as_deref())?;
    let outcome = state.engine.ingest(&input).await?;
    state
        .metrics
        .count_ingest(matches!(outcome, IngestOutcome::Created(_)), 1);
    Ok(match outcome {
        IngestOutcome::Created(r) => (StatusCode::CREATED, Json(r)).into_response(),
        IngestOutcome::Replayed(r) => (StatusCode::OK, Json(r)).into_response(),
    })
}

/// `POST /v1/conversions/batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    conversions: Vec<serde_json::Value>,
}

/// Post up to 1,000 conversions (admin). Each item gets its own result or problem; the
/// new ones are written in one transaction.
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<BatchIn>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    if body.conversions.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "conversions",
            format!(
                "at most {MAX_BATCH} conversions per batch, got {}",
                body.conversions.len()
            ),
        ));
    }
    let mut results: Vec<Option<serde_json::Value>> = vec![None; body.conversions.len()];
    let mut inputs = Vec::new();
    let mut positions = Vec::new();
    for (i, item) in body.conversions.iter().enumerate() {
        let parsed = serde_json::to_vec(item)
            .map_err(ApiError::internal)
            .and_then(|bytes| parse_json::<ConversionIn>(&bytes))
            .and_then(|c| c.into_input(None));
        match parsed {
            Ok(input) => {
                inputs.push(input);
                positions.push(i);
            }
            Err(e) => results[i] = Some(item_error(i, e)),
        }
    }
    let outcomes = state.engine.ingest_batch(&inputs).await?;
    let (mut created, mut replayed) = (0, 0);
    for (outcome, i) in outcomes.into_iter().zip(positions) {
        results[i] = Some(match outcome {
            Ok(IngestOutcome::Created(r)) => {
                created += 1;
                serde_json::json!({ "index": i, "status": "created", "result": r })
            }
            Ok(IngestOutcome::Replayed(r)) => {
                replayed += 1;
                serde_json::json!({ "index": i, "status": "replayed", "result": r })
            }
            Err(e) => item_error(i, e.into()),
        });
    }
    state.metrics.count_ingest(true, created);
    state.metrics.count_ingest(false, replayed);
    Ok(Json(
        serde_json::json!({ "created": created, "replayed": replayed, "results": results }),
    ))
}

fn item_error(index: usize, e: ApiError) -> serde_json::Value {
    serde_json::json!({
        "index": index,
        "status": "error",
        "error": {
            "type": format!("{}{}", crate::http::error::PROBLEM_TYPE_PREFIX, e.kind),
            "title": e.title,
            "status": e.status.as_u16(),
            "detail": if e.status.is_server_error() { "internal error".to_owned() } else { e.detail },
            "field": e.field,
        }
    })
}

/// What a conversion would earn (admin); nothing is stored.
pub async fn quote(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ConversionIn>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let mut body = body;
    let id = body.id.take().unwrap_or_else(|| "quote".into());
    let input = body.into_input(Some(&id))?;
    Ok(Json(state.engine.quote(&input).await?).into_response())
}

/// `POST /v1/conversions/{id}/refunds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    /// The conversion's program.
    program_id: String,
    /// Amount refunded (decimal string); everything not yet refunded if absent.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    amount: Option<Decimal>,
    /// The refund's id (or the Idempotency-Key header); generated if neither.
    id: Option<String>,
}

/// Refund a conversion, fully or partly (admin): reversal entries proportional to the
/// refunded share.
pub async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RefundIn>,
) -> Result<(StatusCode, Json<crate::engine::RefundResult>), ApiError> {
    caller.require_admin()?;
    let refund_id = idempotency_key(&headers)?
        .or(body.id)
        .unwrap_or_else(|| format!("rfd_{}", crate::ids::random_token(8)));
    let result = state
        .engine
        .refund(&body.program_id, &id, &refund_id, body.amount)
        .await?;
    Ok((StatusCode::CREATED, Json(result)))
}

/// Query of `GET /v1/conversions/{id}/replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayQuery {
    /// The conversion's program.
    program_id: String,
}

/// Replay a stored conversion from its entries' provenance and compare (admin).
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ReplayQuery>,
) -> Result<Json<crate::engine::ReplayReport>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.engine.replay(&q.program_id, &id).await?))
}
