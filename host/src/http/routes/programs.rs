//! `/v1/programs`: programs, their plug-in bindings and versioned rate tables.

use crate::domain::Currency;
use crate::domain::program::{DEFAULT_MAX_BONUS_SHARE, Program, RateTable, default_tiers};
use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::wire::{ProgramIn, ProgramOut, ProgramPatch, parse_time};
use crate::plugins::World;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// Default lookback window, days.
const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// Default hold period, days.
const DEFAULT_HOLD_DAYS: u32 = 30;

async fn out(state: &AppState, id: &str) -> Result<Json<ProgramOut>, ApiError> {
    let p = state
        .engine
        .program(id)
        .await
        .map_err(|_| ApiError::not_found(format!("program {id:?}")))?;
    Ok(Json(ProgramOut::new(&p.program, &p.rate_tables)))
}

/// Create a program (admin).
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ProgramIn>,
) -> Result<(StatusCode, Json<ProgramOut>), ApiError> {
    caller.require_admin()?;
    let e = &state.engine;
    // A new program is something new: a withdrawn currency is refused.
    let currency = Currency::parse_current(&body.currency)
        .map_err(|err| ApiError::from(crate::engine::EngineError::from(err)))?;
    let attribution = e
        .resolve_plugin(
            &body.attribution.to_ref(),
            World::Attribution,
            &body.id,
            "attribution",
        )
        .await?;
    let geo_rate = match &body.geo_rate {
        Some(r) => Some(
            e.resolve_plugin(&r.to_ref(), World::GeoRate, &body.id, "geo_rate")
                .await?,
        ),
        None => None,
    };
    let bonus = match &body.bonus {
        Some(r) => Some(
            e.resolve_plugin(&r.to_ref(), World::Bonus, &body.id, "bonus")
                .await?,
        ),
        None => None,
    };
    let program = Program {
        id: body.id.clone(),
        name: body.name,
        currency,
        attribution,
        geo_rate,
        bonus,
        lookback_days: body.lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS),
        hold_days: body.hold_days.unwrap_or(DEFAULT_HOLD_DAYS),
        max_bonus_share: body.max_bonus_share.unwrap_or(DEFAULT_MAX_BONUS_SHARE),
    };
    let rates = RateTable {
        version: 1,
        effective_from_ms: 0,
        tiers: body.tiers.unwrap_or_else(default_tiers),
        volume_tiers: body.volume_tiers.unwrap_or_default(),
    };
    e.create_program(&program, rates).await?;
    Ok((StatusCode::CREATED, out(&state, &body.id).await?))
}

/// List programs (admin).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    let mut items = Vec::new();
    for p in state.engine.store().programs().await? {
        let tables = state.engine.store().rate_tables(&p.id).await?;
        items.push(ProgramOut::new(&p, &tables));
    }
    Ok(Json(serde_json::json!({ "items": items })))
}

/// One program (admin, or its plug-in author).
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProgramOut>, ApiError> {
    match &caller.scope {
        Scope::Admin => {}
        Scope::PluginAuthor(own) if *own == id => {}
        _ => return Err(ApiError::not_found(format!("program {id:?}"))),
    }
    out(&state, &id).await
}

/// Change a program. Admins may change anything; a plug-in author only its program's
/// plug-in bindings. New tiers or volume tiers are a new rate table version, effective
/// now (or at `rates_effective_from`): new conversions use it, history is untouched.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ProgramPatch>,
) -> Result<Json<ProgramOut>, ApiError> {
    caller.require_program_author(&id)?;
    let only_bindings = patch.name.is_none()
        && patch.lookback_days.is_none()
        && patch.hold_days.is_none()
        && patch.max_bonus_share.is_none()
        && patch.tiers.is_none()
        && patch.volume_tiers.is_none();
    if caller.scope != Scope::Admin && !only_bindings {
        return Err(ApiError::forbidden(
            "a plug-in author key may change only the program's plug-in bindings",
        ));
    }
    let e = &state.engine;
    let current = e
        .program(&id)
        .await
        .map_err(|_| ApiError::not_found(format!("program {id:?}")))?;
    let mut program = current.program.clone();
    if let Some(name) = patch.name {
        program.name = name;
    }
    if let Some(r) = &patch.attribution {
        program.attribution = e
            .resolve_plugin(&r.to_ref(), World::Attribution, &id, "attribution")
            .await?;
    }
    if let Some(geo) = &patch.geo_rate {
        program.geo_rate = match geo {
            Some(r) => Some(
                e.resolve_plugin(&r.to_ref(), World::GeoRate, &id, "geo_rate")
                    .await?,
            ),
            None => None,
        };
    }
    if let Some(bonus) = &patch.bonus {
        program.bonus = match bonus {
            Some(r) => Some(
                e.resolve_plugin(&r.to_ref(), World::Bonus, &id, "bonus")
                    .await?,
            ),
            None => None,
        };
    }
    if let Some(d) = patch.lookback_days {
        program.lookback_days = d;
    }
    if let Some(d) = patch.hold_days {
        program.hold_days = d;
    }
    if let Some(share) = patch.max_bonus_share {
        program.max_bonus_share = share;
    }
    // Checked before any new rate table is written, so a refused patch changes nothing.
    program
        .validate()
        .map_err(|err| ApiError::from(crate::engine::EngineError::from(err)))?;
    if patch.tiers.is_some() || patch.volume_tiers.is_some() {
        let last = current
            .rate_tables
            .last()
            .cloned()
            .ok_or_else(|| ApiError::internal("program without rates"))?;
        let table = RateTable {
            version: 0,
            effective_from_ms: 0,
            tiers: patch.tiers.unwrap_or(last.tiers),
            volume_tiers: patch.volume_tiers.unwrap_or(last.volume_tiers),
        };
        let from = patch
            .rates_effective_from
            .as_deref()
            .map(|t| parse_time("rates_effective_from", t))
            .transpose()?;
        e.add_rate_table(&id, table, from).await?;
    }
    e.update_program(&program).await?;
    out(&state, &id).await
}

/// `POST /v1/programs/{id}/periods/close`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseIn {
    /// Period start (RFC 3339, inclusive).
    from: String,
    /// Period end (RFC 3339, exclusive).
    to: String,
}

/// Close a period (admin): the bonus plug-in decides each credited partner's bonus; bonus
/// entries are written once per partner and period, however often this is called.
pub async fn close_period(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CloseIn>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    let from = parse_time("from", &body.from)?;
    let to = parse_time("to", &body.to)?;
    let bonuses = state.engine.close_period(&id, from, to).await?;
    Ok(Json(
        serde_json::json!({ "program_id": id, "from": body.from, "to": body.to, "bonuses": bonuses }),
    ))
}
