//! `/v1/programs`: programs, their plug-in bindings and versioned rate tables, and period
//! closes.

use crate::domain::program::{DEFAULT_MAX_BONUS_SHARE, Program, RateTable, default_tiers};
use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, idempotency_key};
use crate::http::wire::programs::{
    CloseIn, PeriodCloseOut, ProgramIn, ProgramOut, ProgramPatch, tiers_in, volume_tiers_in,
};
use crate::http::wire::{Id, Items, Key, format_time};
use crate::plugins::World;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

/// Default lookback window, days.
const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// Default hold period, days.
const DEFAULT_HOLD_DAYS: u32 = 30;

/// A program's id in a path.
#[derive(Debug, serde::Deserialize)]
pub struct ProgramPath {
    id: Id,
}

async fn out(state: &AppState, id: &str) -> Result<Json<ProgramOut>, ApiError> {
    let p = state
        .engine
        .program(id)
        .await
        .map_err(|_| ApiError::not_found(format!("program {id:?}")))?;
    Ok(Json(ProgramOut::new(&p.program, &p.rate_tables)))
}

/// Create a program.
///
/// Binds its attribution plug-in (and optionally a geographic rate and a bonus plug-in),
/// with the product's default tiers unless `tiers` is given. Admin only.
///
/// Rules the document cannot express: each plug-in named must exist and implement its hook
/// (a built-in name, or a digest the program may bind), and its config must be an object
/// (422).
#[utoipa::path(
    post, path = "/v1/programs", tag = "programs", operation_id = "create_program",
    request_body = ProgramIn,
    responses((status = 201, description = "Created", body = ProgramOut)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ProgramIn>,
) -> Result<(StatusCode, Json<ProgramOut>), ApiError> {
    caller.require_admin()?;
    let e = &state.engine;
    let id = body.id.0.clone();
    let attribution = e
        .resolve_plugin(
            &body.attribution.to_ref(),
            World::Attribution,
            &id,
            "attribution",
        )
        .await?;
    let geo_rate = match &body.geo_rate {
        Some(r) => Some(
            e.resolve_plugin(&r.to_ref(), World::GeoRate, &id, "geo_rate")
                .await?,
        ),
        None => None,
    };
    let bonus = match &body.bonus {
        Some(r) => Some(
            e.resolve_plugin(&r.to_ref(), World::Bonus, &id, "bonus")
                .await?,
        ),
        None => None,
    };
    let program = Program {
        id: id.clone(),
        name: body.name.0,
        currency: body.currency.0,
        attribution,
        geo_rate,
        bonus,
        lookback_days: body.lookback_days.map_or(DEFAULT_LOOKBACK_DAYS, |d| d.0),
        hold_days: body.hold_days.map_or(DEFAULT_HOLD_DAYS, |d| d.0),
        max_bonus_share: body
            .max_bonus_share
            .map_or(DEFAULT_MAX_BONUS_SHARE, |r| r.0),
    };
    let rates = RateTable {
        version: 1,
        effective_from_ms: 0,
        tiers: body.tiers.as_ref().map_or_else(default_tiers, tiers_in),
        volume_tiers: body
            .volume_tiers
            .as_deref()
            .map(volume_tiers_in)
            .unwrap_or_default(),
    };
    e.create_program(&program, rates).await?;
    Ok((StatusCode::CREATED, out(&state, &id).await?))
}

/// List programs. Admin only.
#[utoipa::path(
    get, path = "/v1/programs", tag = "programs", operation_id = "list_programs",
    responses((status = 200, description = "Every program", body = Items<ProgramOut>)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Items<ProgramOut>>, ApiError> {
    caller.require_admin()?;
    let mut items = Vec::new();
    for p in state.engine.store().programs().await? {
        let tables = state.engine.store().rate_tables(&p.id).await?;
        items.push(ProgramOut::new(&p, &tables));
    }
    Ok(Json(Items { items }))
}

/// Show a program (admin, or its plug-in author).
#[utoipa::path(
    get, path = "/v1/programs/{id}", tag = "programs", operation_id = "show_program",
    params(("id" = Id, Path, description = "The program's id")),
    responses((status = 200, description = "The program", body = ProgramOut)),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ProgramPath>,
) -> Result<Json<ProgramOut>, ApiError> {
    let id = path.id.0;
    match &caller.scope {
        Scope::Admin => {}
        Scope::PluginAuthor(own) if *own == id => {}
        _ => return Err(ApiError::not_found(format!("program {id:?}"))),
    }
    out(&state, &id).await
}

/// Change a program.
///
/// Admins may change anything; a plug-in author only its program's plug-in bindings. New
/// tiers or volume tiers are a new rate table version, effective now (or at
/// `rates_effective_from`): new conversions use it, history is untouched.
///
/// Rules the document cannot express: each plug-in named must exist and implement its hook
/// (422).
#[utoipa::path(
    patch, path = "/v1/programs/{id}", tag = "programs", operation_id = "change_program",
    params(("id" = Id, Path, description = "The program's id")),
    request_body = ProgramPatch,
    responses((status = 200, description = "The changed program", body = ProgramOut)),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ProgramPath>,
    ApiJson(patch): ApiJson<ProgramPatch>,
) -> Result<Json<ProgramOut>, ApiError> {
    let id = path.id.0;
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
        program.name = name.0;
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
        program.lookback_days = d.0;
    }
    if let Some(d) = patch.hold_days {
        program.hold_days = d.0;
    }
    if let Some(share) = patch.max_bonus_share {
        program.max_bonus_share = share.0;
    }
    if patch.tiers.is_some() || patch.volume_tiers.is_some() {
        let last = current
            .rate_tables
            .last()
            .cloned()
            .ok_or_else(|| ApiError::internal("program without rates"))?;
        let table = RateTable {
            version: 0,
            effective_from_ms: 0,
            tiers: patch.tiers.as_ref().map_or(last.tiers, tiers_in),
            volume_tiers: patch
                .volume_tiers
                .as_deref()
                .map_or(last.volume_tiers, volume_tiers_in),
        };
        e.add_rate_table(&id, table, patch.rates_effective_from.map(|t| t.0))
            .await?;
    }
    e.update_program(&program).await?;
    out(&state, &id).await
}

/// Close a period.
///
/// The bonus plug-in decides each credited partner's bonus; bonus entries are written once
/// per partner and period, however often this is called. One partner's refused bonus
/// fails alone (its `status` is `failed`). Admin only.
///
/// Idempotent with an `Idempotency-Key`: the same key and period answer the first close's
/// outcomes again (without a key, a repeat answers each partner's recorded bonus with
/// `new: false`); the same key with another period is 409 `idempotency-conflict`.
///
/// Rules the document cannot express: `to` must be after `from`, and the program must have
/// a bonus plug-in (422, 409).
#[utoipa::path(
    post, path = "/v1/programs/{id}/periods/close", tag = "programs",
    operation_id = "close_period",
    params(
        ("id" = Id, Path, description = "The program's id"),
        ("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this close: a retry with it answers the first answer"),
    ),
    request_body = CloseIn,
    responses((status = 200, description = "Each partner's bonus", body = PeriodCloseOut)),
    security(("bearer" = []))
)]
pub async fn close_period(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(path): ApiPath<ProgramPath>,
    ApiJson(body): ApiJson<CloseIn>,
) -> Result<Json<PeriodCloseOut>, ApiError> {
    caller.require_admin()?;
    let id = path.id.0;
    let key = idempotency_key(&headers)?;
    let bonuses = state
        .engine
        .close_period(
            &id,
            body.from.0,
            body.to.0,
            key.as_ref().map(|k| k.0.as_str()),
        )
        .await?;
    Ok(Json(PeriodCloseOut {
        program_id: id,
        from: format_time(body.from.0),
        to: format_time(body.to.0),
        bonuses: bonuses.into_iter().map(Into::into).collect(),
    }))
}
