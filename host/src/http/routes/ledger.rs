//! Commissions, balances, adjustments and disputes.

use crate::domain::ledger::Status;
use crate::domain::program::{RateTable, TierRate, VolumeTier};
use crate::engine::{AdjustmentRequest, DisputeOutcome, OpenDispute};
use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::wire::{EntryOut, PluginRefIn, format_time, parse_time};
use crate::plugins::World;
use crate::store::{DisputeRecord, EntryFilter};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Query of `GET /v1/commissions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommissionQuery {
    partner_id: Option<String>,
    program_id: Option<String>,
    conversion_id: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// Ledger entries, filtered, oldest first, paginated by an opaque cursor. A partner key
/// sees only its own entries.
pub async fn commissions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<CommissionQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let partner_id = match (&caller.scope, q.partner_id) {
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
    let status = q
        .status
        .as_deref()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                ApiError::invalid("status", "one of pending, approved, paid, frozen")
            })
        })
        .transpose()?;
    let after_id = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::invalid("cursor", "not a cursor from this API"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 1000"));
    }
    let filter = EntryFilter {
        program_id: q.program_id,
        partner_id,
        conversion_id: q.conversion_id,
        status,
        from_ms: q
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?,
        to_ms: q.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
        after_id,
        limit,
    };
    let entries = state.engine.store().entries(&filter).await?;
    let next = if entries.len() as i64 == limit {
        entries.last().map(|e| e.id.to_string())
    } else {
        None
    };
    let items: Vec<EntryOut> = entries.into_iter().map(EntryOut::from).collect();
    Ok(Json(
        serde_json::json!({ "items": items, "next_cursor": next }),
    ))
}

/// A partner's balances by payout currency (admin, or the partner itself).
pub async fn balance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_partner(&id)?;
    state.engine.partner(&id).await?;
    let balances = state.engine.balance(&id).await?;
    Ok(Json(
        serde_json::json!({ "partner_id": id, "balances": balances }),
    ))
}

/// `POST /v1/adjustments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentIn {
    program_id: String,
    from: String,
    to: String,
    tiers: Option<BTreeMap<String, TierRate>>,
    volume_tiers: Option<Vec<VolumeTier>>,
    attribution: Option<PluginRefIn>,
    reason: String,
    /// Report only, write nothing (a shadow evaluation).
    #[serde(default)]
    dry_run: bool,
}

/// Re-price a date range retroactively (admin) and report what changed.
pub async fn adjust(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<AdjustmentIn>,
) -> Result<Json<crate::engine::AdjustmentReport>, ApiError> {
    caller.require_admin()?;
    if body.tiers.is_none() && body.volume_tiers.is_none() && body.attribution.is_none() {
        return Err(ApiError::invalid(
            "tiers",
            "give new tiers, volume_tiers or an attribution plug-in to re-price with",
        ));
    }
    let program = state.engine.program(&body.program_id).await?;
    let current = program
        .rate_tables
        .last()
        .cloned()
        .ok_or_else(|| ApiError::internal("program without rates"))?;
    let rate_table = (body.tiers.is_some() || body.volume_tiers.is_some()).then(|| RateTable {
        version: current.version,
        effective_from_ms: current.effective_from_ms,
        tiers: body.tiers.clone().unwrap_or(current.tiers.clone()),
        volume_tiers: body
            .volume_tiers
            .clone()
            .unwrap_or(current.volume_tiers.clone()),
    });
    let attribution = match &body.attribution {
        Some(r) => Some(
            state
                .engine
                .resolve_plugin(
                    &r.to_ref(),
                    World::Attribution,
                    &body.program_id,
                    "attribution",
                )
                .await?,
        ),
        None => None,
    };
    let req = AdjustmentRequest {
        program_id: body.program_id,
        from_ms: parse_time("from", &body.from)?,
        to_ms: parse_time("to", &body.to)?,
        rate_table,
        attribution,
        reason: body.reason,
        dry_run: body.dry_run,
    };
    Ok(Json(state.engine.adjust(&req).await?))
}

/// `POST /v1/disputes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeIn {
    program_id: String,
    conversion_id: String,
    entry_id: Option<i64>,
    reason: String,
}

fn dispute_out(d: DisputeRecord) -> serde_json::Value {
    serde_json::json!({
        "id": d.id, "program_id": d.program_id, "conversion_id": d.conversion_id, "entry_id": d.entry_id,
        "opened_by": d.opened_by, "reason": d.reason, "opened_at": format_time(d.opened_at_ms),
        "status": d.status, "resolution": d.resolution, "resolved_at": d.resolved_at_ms.map(format_time),
    })
}

/// Open a dispute (admin, or a partner on a conversion it earned on): freezes the entries.
pub async fn open_dispute(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<DisputeIn>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    match &caller.scope {
        Scope::Admin => {}
        Scope::Partner(own) => {
            let filter = EntryFilter {
                program_id: Some(body.program_id.clone()),
                conversion_id: Some(body.conversion_id.clone()),
                partner_id: Some(own.clone()),
                limit: 1,
                ..EntryFilter::default()
            };
            if state.engine.store().entries(&filter).await?.is_empty() {
                return Err(ApiError::not_found(format!(
                    "conversion {:?}",
                    body.conversion_id
                )));
            }
        }
        Scope::PluginAuthor(_) => {
            return Err(ApiError::forbidden(
                "a plug-in author key cannot open disputes",
            ));
        }
    }
    if body.reason.trim().is_empty() {
        return Err(ApiError::invalid("reason", "say why"));
    }
    let d = state
        .engine
        .open_dispute(&OpenDispute {
            program_id: body.program_id,
            conversion_id: body.conversion_id,
            entry_id: body.entry_id,
            opened_by: caller.key_id,
            reason: body.reason,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(dispute_out(d))))
}

/// Query of `GET /v1/disputes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeQuery {
    program_id: Option<String>,
}

/// List disputes (admin).
pub async fn disputes(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<DisputeQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    let items: Vec<_> = state
        .engine
        .store()
        .disputes(q.program_id.as_deref(), None)
        .await?
        .into_iter()
        .map(dispute_out)
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// `POST /v1/disputes/{id}/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    outcome: DisputeOutcome,
    note: String,
}

/// Resolve a dispute (admin): upheld reverses the entries, rejected releases them.
pub async fn resolve_dispute(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResolveIn>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    let d = state
        .engine
        .resolve_dispute(&id, body.outcome, &caller.key_id, &body.note)
        .await?;
    Ok(Json(dispute_out(d)))
}
