//! `/v1/partners` and `/v1/fx-rates`.

use crate::domain::Currency;
use crate::domain::fx::FxRate;
use crate::engine::EngineError;
use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::wire::{
    FxIn, FxOut, PartnerIn, PartnerOut, PartnerPatch, format_time, parse_time,
};
use crate::store::{PartnerRecord, now_ms};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

/// Create a partner (admin).
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<PartnerIn>,
) -> Result<(StatusCode, Json<PartnerOut>), ApiError> {
    caller.require_admin()?;
    let program = state.engine.program(&body.program_id).await?;
    let now = now_ms();
    let record = PartnerRecord {
        id: body.id,
        program_id: body.program_id,
        name: body.name,
        country: body.country,
        payout_currency: body
            .payout_currency
            .unwrap_or_else(|| program.program.currency.code().to_owned()),
        // The first tier applies to all of the partner's history (it is used for any
        // conversion before its effective date too).
        tiers: vec![(0, body.tier.unwrap_or_else(|| "starter".into()))],
        created_at_ms: now,
    };
    state.engine.create_partner(&record).await?;
    Ok((StatusCode::CREATED, Json(PartnerOut::from(&record))))
}

/// Query of `GET /v1/partners`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerQuery {
    program_id: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// List partners (admin), by id, paginated.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PartnerQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let partners = state
        .engine
        .store()
        .partners(q.program_id.as_deref(), q.cursor.as_deref(), limit)
        .await?;
    let next = if partners.len() as i64 == limit {
        partners.last().map(|p| p.id.clone())
    } else {
        None
    };
    let items: Vec<PartnerOut> = partners.iter().map(PartnerOut::from).collect();
    Ok(Json(
        serde_json::json!({ "items": items, "next_cursor": next }),
    ))
}

/// One partner (admin, or the partner itself).
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PartnerOut>, ApiError> {
    caller.require_partner(&id)?;
    let p = state.engine.partner(&id).await?;
    Ok(Json(PartnerOut::from(&p)))
}

/// Change a partner (admin). A tier change is effective from `tier_effective_from` (now
/// by default); earlier conversions keep the tier they were priced with.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<PartnerPatch>,
) -> Result<Json<PartnerOut>, ApiError> {
    caller.require_admin()?;
    let mut p = state.engine.partner(&id).await?;
    if let Some(name) = patch.name {
        p.name = Some(name);
    }
    if let Some(country) = patch.country {
        p.country = Some(country);
    }
    if let Some(currency) = patch.payout_currency {
        p.payout_currency = currency;
    }
    let from = match patch.tier_effective_from.as_deref() {
        Some(t) => parse_time("tier_effective_from", t)?,
        None => now_ms(),
    };
    state
        .engine
        .update_partner(&p, patch.tier.as_deref().map(|t| (from, t)))
        .await?;
    Ok(Json(PartnerOut::from(&state.engine.partner(&id).await?)))
}

/// Record an FX rate (admin). Idempotent for the same rate; another rate for the same
/// instant is a conflict.
pub async fn put_fx(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<FxIn>,
) -> Result<Json<FxOut>, ApiError> {
    caller.require_admin()?;
    let rate = FxRate {
        base: Currency::parse(&body.base)
            .map_err(|e| ApiError::from(EngineError::from(e)).with_field("base"))?,
        quote: Currency::parse(&body.quote)
            .map_err(|e| ApiError::from(EngineError::from(e)).with_field("quote"))?,
        rate: body.rate,
        effective_from_ms: parse_time("effective_from", &body.effective_from)?,
    };
    state.engine.put_fx_rate(&rate).await?;
    Ok(Json(FxOut {
        base: body.base,
        quote: body.quote,
        rate: body.rate,
        effective_from: format_time(rate.effective_from_ms),
    }))
}

/// Every FX rate (any key).
pub async fn list_fx(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Scope::PluginAuthor(_) = caller.scope {
        return Err(ApiError::forbidden(
            "a plug-in author key cannot read FX rates",
        ));
    }
    let items: Vec<FxOut> = state
        .engine
        .store()
        .fx_rates()
        .await?
        .into_iter()
        .map(|r| FxOut {
            base: r.base.code().into(),
            quote: r.quote.code().into(),
            rate: r.rate,
            effective_from: format_time(r.effective_from_ms),
        })
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}
