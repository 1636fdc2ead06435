//! `/v1/events`: clicks and leads for the funnel, one at a time or in batches.

use crate::engine::{EventInput, EventOutcome, MAX_EVENT_BATCH};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, parse_value};
use crate::http::wire::events::{
    EventBatchIn, EventBatchOut, EventIn, EventItemOut, EventOut, EventStatus,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Post one click or lead. Idempotent by its `id` (per program): posting it again
/// answers 200 `duplicate` and stores nothing. Admin only (the merchant's or tracker's
/// back end).
///
/// Rules the document cannot express: the program and the partner must exist and the
/// partner be the program's; only a lead names a `click_id` (422).
#[utoipa::path(
    post, path = "/v1/events", tag = "events", operation_id = "create_event",
    request_body = EventIn,
    responses(
        (status = 201, description = "Stored", body = EventOut),
        (status = 200, description = "Stored before", body = EventOut),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<EventIn>,
) -> Result<(StatusCode, Json<EventOut>), ApiError> {
    caller.require_admin()?;
    let id = body.id.0.clone();
    let mut out = state.engine.record_events(&[body.into()]).await?;
    let outcome = out
        .pop()
        .ok_or_else(|| ApiError::internal("no outcome"))?
        .map_err(event_error)?;
    state.metrics.count_events(1);
    Ok(match outcome {
        EventOutcome::Created => (
            StatusCode::CREATED,
            Json(EventOut {
                id,
                status: EventStatus::Created,
            }),
        ),
        EventOutcome::Duplicate => (
            StatusCode::OK,
            Json(EventOut {
                id,
                status: EventStatus::Duplicate,
            }),
        ),
    })
}

/// Post up to 10,000 clicks and leads at once. Each item is checked on its own and gets
/// its own result in request order: a bad one fails alone, the others are stored (the new
/// ones in one transaction). Admin only.
///
/// Rules the document cannot express: as for one event; a malformed item fails alone in
/// the 200 answer.
#[utoipa::path(
    post, path = "/v1/events/batch", tag = "events", operation_id = "create_events",
    request_body = EventBatchIn,
    responses((status = 200, description = "One result per item", body = EventBatchOut)),
    security(("bearer" = []))
)]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<EventBatchIn>,
) -> Result<Json<EventBatchOut>, ApiError> {
    caller.require_admin()?;
    if body.events.len() > MAX_EVENT_BATCH {
        return Err(ApiError::invalid(
            "events",
            format!(
                "at most {MAX_EVENT_BATCH} events per batch, got {}",
                body.events.len()
            ),
        ));
    }
    let mut results: Vec<Option<EventItemOut>> = (0..body.events.len()).map(|_| None).collect();
    let mut inputs: Vec<EventInput> = Vec::with_capacity(body.events.len());
    let mut positions = Vec::with_capacity(body.events.len());
    for (i, item) in body.events.iter().enumerate() {
        match parse_value::<EventIn>(item) {
            Ok(e) => {
                inputs.push(e.into());
                positions.push(i);
            }
            Err(e) => results[i] = Some(error_item(i, &e)),
        }
    }
    let outcomes = state.engine.record_events(&inputs).await?;
    let (mut created, mut duplicates) = (0, 0);
    for (outcome, i) in outcomes.into_iter().zip(positions) {
        results[i] = Some(match outcome {
            Ok(EventOutcome::Created) => {
                created += 1;
                ok_item(i, EventStatus::Created)
            }
            Ok(EventOutcome::Duplicate) => {
                duplicates += 1;
                ok_item(i, EventStatus::Duplicate)
            }
            Err(e) => error_item(i, &event_error(e)),
        });
    }
    state.metrics.count_events(created as u64);
    let results: Vec<EventItemOut> = results.into_iter().flatten().collect();
    let errors = results
        .iter()
        .filter(|r| r.status == EventStatus::Error)
        .count();
    Ok(Json(EventBatchOut {
        created,
        duplicates,
        errors,
        results,
    }))
}

/// An event's error: a partner the event cannot name is at fault in `partner_id` (the
/// same engine errors point at a conversion's `touchpoints`).
fn event_error(e: crate::engine::EngineError) -> ApiError {
    use crate::engine::EngineError as E;
    let partner = matches!(e, E::UnknownPartner(_) | E::PartnerOutsideProgram { .. });
    let api = ApiError::from(e);
    if partner {
        api.with_field("partner_id")
    } else {
        api
    }
}

fn ok_item(index: usize, status: EventStatus) -> EventItemOut {
    EventItemOut {
        index,
        status,
        error: None,
    }
}

fn error_item(index: usize, e: &ApiError) -> EventItemOut {
    EventItemOut {
        index,
        status: EventStatus::Error,
        error: Some(e.problem()),
    }
}
