//! Commissions, balances, adjustments and disputes.

use crate::engine::{AdjustmentAsk, OpenDispute};
use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, idempotency_key};
use crate::http::wire::ledger::{
    AdjustmentIn, AdjustmentOut, CommissionQuery, DisputeIn, DisputeOut, DisputeQuery, EntryOut,
    Limit, ResolveIn,
};
use crate::http::wire::programs::{tiers_in, volume_tiers_in};
use crate::http::wire::{Items, Key, Page, Text};
use crate::store::EntryFilter;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

/// Commissions: ledger entries, filtered, oldest first, a page at a time.
///
/// A partner key sees only its own entries. The cursor is opaque and valid only with the
/// same filters.
///
/// Rules the document cannot express: a cursor must be one this listing gave, with the same
/// filters (422).
#[utoipa::path(
    get, path = "/v1/commissions", tag = "ledger", operation_id = "list_commissions",
    params(CommissionQuery),
    responses((status = 200, description = "A page of entries", body = Page<EntryOut>)),
    security(("bearer" = []))
)]
pub async fn commissions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CommissionQuery>,
) -> Result<Json<Page<EntryOut>>, ApiError> {
    let partner_id = match (&caller.scope, q.partner_id.map(|p| p.0)) {
        (Scope::Admin, p) => p,
        (Scope::Partner(own), None) => Some(own.clone()),
        (Scope::Partner(own), Some(p)) if *own == p => Some(p),
        (Scope::Partner(_), Some(_)) => {
            return Err(ApiError::forbidden(
                "a partner key reads only its own commissions",
            ));
        }
        (Scope::PluginAuthor(_), _) => {
            return Err(ApiError::forbidden(
                "a plug-in author key cannot read commissions",
            ));
        }
    };
    let limit = Limit::of(q.limit)?;
    let mut filter = EntryFilter {
        program_id: q.program_id.map(|p| p.0),
        partner_id,
        conversion_id: q.conversion_id.map(|c| c.0),
        status: q.status.map(|s| s.status()),
        from_ms: q.from.map(|t| t.0),
        to_ms: q.to.map(|t| t.0),
        after_id: None,
        limit: limit.0,
    };
    // A cursor names a position in one listing: the same filters (any page size).
    let listing = format!(
        "commissions {:?} {:?} {:?} {:?} {:?} {:?}",
        filter.program_id,
        filter.partner_id,
        filter.conversion_id,
        filter.status,
        filter.from_ms,
        filter.to_ms
    );
    filter.after_id = q
        .cursor
        .map(|c| -> Result<i64, ApiError> {
            state
                .cursors
                .open(&c.0, &listing)?
                .parse()
                .map_err(|_| ApiError::invalid("cursor", "not a cursor of this listing"))
        })
        .transpose()?;
    let entries = state.engine.entries(&filter).await?;
    let next = if entries.len() as i64 == limit.0 {
        entries
            .last()
            .map(|e| state.cursors.seal(&e.id.to_string(), &listing))
    } else {
        None
    };
    Ok(Json(Page {
        items: entries.into_iter().map(EntryOut::from).collect(),
        next_cursor: next,
    }))
}

/// Re-price a date range retroactively and report what changed.
///
/// With `"dry_run": true` nothing is written: a shadow evaluation of other rates or
/// another attribution plug-in on past conversions. Admin only.
///
/// Idempotent with an `Idempotency-Key`: the same key and request answer the first report
/// again and write nothing more; the same key with another request is 409
/// `idempotency-conflict`. Dry runs are not recorded.
///
/// Rules the document cannot express: `to` must be after `from`, at least one of `tiers`,
/// `volume_tiers` and `attribution` is needed, and the program and plug-in must exist
/// (422).
#[utoipa::path(
    post, path = "/v1/adjustments", tag = "ledger", operation_id = "adjust",
    params(("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this adjustment: a retry with it answers the first report")),
    request_body = AdjustmentIn,
    responses((status = 200, description = "What changed (or would)", body = AdjustmentOut)),
    security(("bearer" = []))
)]
pub async fn adjust(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AdjustmentIn>,
) -> Result<Json<AdjustmentOut>, ApiError> {
    caller.require_admin()?;
    let ask = AdjustmentAsk {
        program_id: body.program_id.0,
        from_ms: body.from.0,
        to_ms: body.to.0,
        tiers: body.tiers.as_ref().map(tiers_in),
        volume_tiers: body.volume_tiers.as_deref().map(volume_tiers_in),
        attribution: body.attribution.as_ref().map(|r| r.to_ref()),
        reason: body.reason.0,
        dry_run: body.dry_run,
        idempotency_key: idempotency_key(&headers)?.map(|k| k.0),
    };
    Ok(Json(state.engine.adjust_as_asked(ask).await?.into()))
}

/// Open a dispute: freezes the entries it concerns (not payable until it is resolved).
///
/// An admin may dispute any entry; a partner only its own (without `entry_id`, its own
/// entries on the conversion).
///
/// Idempotent with an `Idempotency-Key` (per caller: a partner's keys are its own): the
/// same key and request answer the first dispute again; another request is 409
/// `idempotency-conflict`.
///
/// Rules the document cannot express: the conversion (and entry) must exist and be the
/// caller's to dispute (404).
#[utoipa::path(
    post, path = "/v1/disputes", tag = "ledger", operation_id = "open_dispute",
    params(("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this dispute: a retry with it answers the first answer")),
    request_body = DisputeIn,
    responses((status = 201, description = "Opened", body = DisputeOut)),
    security(("bearer" = []))
)]
pub async fn open_dispute(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DisputeIn>,
) -> Result<(StatusCode, Json<DisputeOut>), ApiError> {
    let d = state
        .engine
        .open_dispute(&OpenDispute {
            program_id: body.program_id.0,
            conversion_id: body.conversion_id.0,
            entry_id: body.entry_id.map(|e| e.0),
            opened_by: caller.key_id,
            scope: caller.scope,
            reason: body.reason.0,
            idempotency_key: idempotency_key(&headers)?.map(|k| k.0),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

/// List disputes, newest first: every one for an admin; for a partner, those that concern
/// its own entries.
#[utoipa::path(
    get, path = "/v1/disputes", tag = "ledger", operation_id = "list_disputes",
    params(DisputeQuery),
    responses((status = 200, description = "Disputes", body = Items<DisputeOut>)),
    security(("bearer" = []))
)]
pub async fn disputes(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DisputeQuery>,
) -> Result<Json<Items<DisputeOut>>, ApiError> {
    let items = state
        .engine
        .disputes(&caller.scope, q.program_id.as_ref().map(|p| p.0.as_str()))
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(Items { items }))
}

/// A dispute's id in a path.
#[derive(Debug, Deserialize)]
pub struct DisputePath {
    id: Text<100>,
}

/// Resolve a dispute: upheld reverses its entries, rejected releases them. Admin only.
///
/// Idempotent with an `Idempotency-Key`: the same key and request answer the first
/// resolution again (a second resolution without it is 409 `conflict`); another request
/// with the key is 409 `idempotency-conflict`.
#[utoipa::path(
    post, path = "/v1/disputes/{id}/resolve", tag = "ledger", operation_id = "resolve_dispute",
    params(
        ("id" = Text<100>, Path, description = "The dispute's id"),
        ("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this resolution: a retry with it answers the first answer"),
    ),
    request_body = ResolveIn,
    responses((status = 200, description = "Resolved", body = DisputeOut)),
    security(("bearer" = []))
)]
pub async fn resolve_dispute(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(path): ApiPath<DisputePath>,
    ApiJson(body): ApiJson<ResolveIn>,
) -> Result<Json<DisputeOut>, ApiError> {
    caller.require_admin()?;
    let key = idempotency_key(&headers)?;
    let d = state
        .engine
        .resolve_dispute(
            &path.id.0,
            body.outcome.into(),
            &caller.key_id,
            &body.note.0,
            key.as_ref().map(|k| k.0.as_str()),
        )
        .await?;
    Ok(Json(d.into()))
}
