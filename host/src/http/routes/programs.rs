//! `/v1/programs`: programs, their plug-in bindings and versioned rate tables, and period
//! closes.

use crate::engine::{NewProgram, ProgramChange};
use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, idempotency_key};
use crate::http::wire::programs::{
    CloseIn, PeriodCloseOut, PluginRefIn, ProgramIn, ProgramOut, ProgramPatch, tiers_in,
    volume_tiers_in,
};
use crate::http::wire::{Id, Items, Key, format_time};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

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
    let p = state
        .engine
        .create_program_from(NewProgram {
            id: body.id.0,
            name: body.name.0,
            currency: body.currency.0,
            attribution: body.attribution.to_ref(),
            geo_rate: body.geo_rate.as_ref().map(PluginRefIn::to_ref),
            bonus: body.bonus.as_ref().map(PluginRefIn::to_ref),
            lookback_days: body.lookback_days.map(|d| d.0),
            hold_days: body.hold_days.map(|d| d.0),
            max_bonus_share: body.max_bonus_share.map(|r| r.0),
            tiers: body.tiers.as_ref().map(tiers_in),
            volume_tiers: body.volume_tiers.as_deref().map(volume_tiers_in),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProgramOut::new(&p.program, &p.rate_tables)),
    ))
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
    let items = state
        .engine
        .programs()
        .await?
        .iter()
        .map(|(p, tables)| ProgramOut::new(p, tables))
        .collect();
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
    let change = ProgramChange {
        name: patch.name.map(|n| n.0),
        attribution: patch.attribution.as_ref().map(PluginRefIn::to_ref),
        geo_rate: patch
            .geo_rate
            .as_ref()
            .map(|g| g.as_ref().map(PluginRefIn::to_ref)),
        bonus: patch
            .bonus
            .as_ref()
            .map(|b| b.as_ref().map(PluginRefIn::to_ref)),
        lookback_days: patch.lookback_days.map(|d| d.0),
        hold_days: patch.hold_days.map(|d| d.0),
        max_bonus_share: patch.max_bonus_share.map(|r| r.0),
        tiers: patch.tiers.as_ref().map(tiers_in),
        volume_tiers: patch.volume_tiers.as_deref().map(volume_tiers_in),
        rates_effective_from_ms: patch.rates_effective_from.map(|t| t.0),
    };
    let p = state
        .engine
        .change_program(&path.id.0, &caller.scope, change)
        .await?;
    Ok(Json(ProgramOut::new(&p.program, &p.rate_tables)))
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
