//! `/v1/conversions`, `/v1/conversions/batch`, `/v1/quotes`, refunds and replays.

use crate::engine::IngestOutcome;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, PauseBeforeAnswering};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, idempotency_key, parse_value};
use crate::http::wire::Key;
use crate::http::wire::conversions::{
    BatchIn, BatchItemOut, BatchOut, BatchStatus, ConversionIn, ConversionResultOut, MAX_BATCH,
    RefundIn, RefundOut, ReplayOut, ReplayQuery,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

/// A conversion's id in a path (any client key).
#[derive(Debug, Deserialize)]
pub struct ConversionPath {
    id: Key,
}

/// Post one conversion.
///
/// Answers 201 with each credited partner's commission. Idempotent by the conversion's id
/// (the body's `id` or the `Idempotency-Key` header): the same id with the same payload
/// answers 200 with the original body; with another payload, 409. Admin only.
///
/// Rules the document cannot express: the program and every touchpoint's partner must
/// exist, the partners must be the program's, the amount may have no more decimals than its
/// currency and be at most 10^15 − 1 minor units, an FX rate must be recorded into each
/// partner's payout currency, and the id must come in the body or the header (422 on
/// failure).
#[utoipa::path(
    post, path = "/v1/conversions", tag = "conversions", operation_id = "create_conversion",
    params(("Idempotency-Key" = Option<Key>, Header, description = "The conversion's id, if not in the body")),
    request_body = ConversionIn,
    responses(
        (status = 201, description = "Stored", body = ConversionResultOut),
        (status = 200, description = "Stored before with the same payload: the original answer", body = ConversionResultOut),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ConversionIn>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let input = body.into_input(idempotency_key(&headers)?.as_ref())?;
    let outcome = state.engine.ingest(&input).await?;
    state
        .metrics
        .count_ingest(matches!(outcome, IngestOutcome::Created(_)), 1);
    Ok(match outcome {
        IngestOutcome::Created(r) => {
            (StatusCode::CREATED, Json(ConversionResultOut::from(r))).into_response()
        }
        IngestOutcome::Replayed(r) => {
            (StatusCode::OK, Json(ConversionResultOut::from(r))).into_response()
        }
    })
}

/// Post up to 1,000 conversions at once.
///
/// Each item gets its own result or problem, in request order: an item that is not a
/// valid conversion, or that the engine refuses, fails alone and the others are stored
/// (the new ones in one transaction). Admin only.
///
/// Rules the document cannot express: each item is checked on its own and a malformed one
/// fails alone in the 200 answer, so the request as a whole is refused only when it is not
/// a batch.
#[utoipa::path(
    post, path = "/v1/conversions/batch", tag = "conversions", operation_id = "create_conversions",
    request_body = BatchIn,
    responses((status = 200, description = "One result per item", body = BatchOut)),
    security(("bearer" = []))
)]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BatchIn>,
) -> Result<(Option<Extension<PauseBeforeAnswering>>, Json<BatchOut>), ApiError> {
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
    let mut results: Vec<Option<BatchItemOut>> =
        (0..body.conversions.len()).map(|_| None).collect();
    let mut inputs = Vec::new();
    let mut positions = Vec::new();
    for (i, item) in body.conversions.iter().enumerate() {
        let parsed = parse_value::<ConversionIn>(item).and_then(|c| c.into_input(None));
        match parsed {
            Ok(input) => {
                inputs.push(input);
                positions.push(i);
            }
            Err(e) => results[i] = Some(item_error(i, &e)),
        }
    }
    let outcomes = state.engine.ingest_batch(&inputs).await?;
    let (mut created, mut replayed, mut suspended) = (0, 0, false);
    for (outcome, i) in outcomes.into_iter().zip(positions) {
        results[i] = Some(match outcome {
            Ok(IngestOutcome::Created(r)) => {
                created += 1;
                item_result(i, BatchStatus::Created, r.into())
            }
            Ok(IngestOutcome::Replayed(r)) => {
                replayed += 1;
                item_result(i, BatchStatus::Replayed, r.into())
            }
            Err(e) => {
                let e = ApiError::from(e);
                suspended |= e.kind == "plugin-suspended";
                item_error(i, &e)
            }
        });
    }
    state.metrics.count_ingest(true, created as u64);
    state.metrics.count_ingest(false, replayed as u64);
    // A batch with items refused by a suspended plug-in is paused like a single refusal.
    let pause = suspended.then_some(Extension(PauseBeforeAnswering));
    Ok((
        pause,
        Json(BatchOut {
            created,
            replayed,
            results: results.into_iter().flatten().collect(),
        }),
    ))
}

fn item_result(index: usize, status: BatchStatus, result: ConversionResultOut) -> BatchItemOut {
    BatchItemOut {
        index,
        status,
        result: Some(result),
        error: None,
    }
}

fn item_error(index: usize, e: &ApiError) -> BatchItemOut {
    BatchItemOut {
        index,
        status: BatchStatus::Error,
        result: None,
        error: Some(e.problem()),
    }
}

/// What a conversion would earn, computed exactly as posting it would; nothing is stored.
/// Admin only.
///
/// Rules the document cannot express: the program and every touchpoint's partner must exist
/// in it, the amount must fit its currency, and the FX rates must be recorded (422).
#[utoipa::path(
    post, path = "/v1/quotes", tag = "conversions", operation_id = "quote",
    request_body = ConversionIn,
    responses((status = 200, description = "The commissions it would earn", body = ConversionResultOut)),
    security(("bearer" = []))
)]
pub async fn quote(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConversionIn>,
) -> Result<Json<ConversionResultOut>, ApiError> {
    caller.require_admin()?;
    let mut body = body;
    let id = body.id.take().unwrap_or_else(|| Key("quote".into()));
    let input = body.into_input(Some(&id))?;
    Ok(Json(state.engine.quote(&input).await?.into()))
}

/// Refund a conversion, fully or partly.
///
/// Writes reversal entries proportional to the refunded share. Idempotent by the refund's
/// id (the `Idempotency-Key` header, else the body's `id`), per conversion: the same id and
/// amount answer the first refund again (status and body) and write nothing more; the same
/// id with another amount is 409 `idempotency-conflict`. Admin only.
///
/// Rules the document cannot express: the program and the conversion must exist (404) and
/// the amount must fit the conversion's currency and what is left to refund (422, 409).
#[utoipa::path(
    post, path = "/v1/conversions/{id}/refunds", tag = "conversions", operation_id = "refund",
    params(
        ("id" = Key, Path, description = "The conversion's id"),
        ("Idempotency-Key" = Option<Key>, Header, description = "The refund's id, if not in the body"),
    ),
    request_body = RefundIn,
    responses((status = 201, description = "Refunded", body = RefundOut)),
    security(("bearer" = []))
)]
pub async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(path): ApiPath<ConversionPath>,
    ApiJson(body): ApiJson<RefundIn>,
) -> Result<(StatusCode, Json<RefundOut>), ApiError> {
    caller.require_admin()?;
    let refund_id = idempotency_key(&headers)?
        .or(body.id)
        .map_or_else(|| format!("rfd_{}", crate::ids::random_token(8)), |k| k.0);
    let result = state
        .engine
        .refund(
            &body.program_id.0,
            &path.id.0,
            &refund_id,
            body.amount.map(|a| a.0),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(result.into())))
}

/// Replay a stored conversion from its entries' provenance and compare bit for bit.
/// Admin only.
///
/// Rules the document cannot express: the conversion must exist in the program (404).
#[utoipa::path(
    get, path = "/v1/conversions/{id}/replay", tag = "conversions", operation_id = "replay",
    params(("id" = Key, Path, description = "The conversion's id"), ReplayQuery),
    responses((status = 200, description = "Stored and replayed commissions", body = ReplayOut)),
    security(("bearer" = []))
)]
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ConversionPath>,
    ApiQuery(q): ApiQuery<ReplayQuery>,
) -> Result<Json<ReplayOut>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .engine
            .replay(&q.program_id.0, &path.id.0)
            .await?
            .into(),
    ))
}
