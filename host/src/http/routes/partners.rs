//! `/v1/partners` (and their balances) and `/v1/fx-rates`.

use crate::domain::fx::FxRate;
use crate::engine::NewPartner;
use crate::http::AppState;
use crate::http::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::wire::ledger::Limit;
use crate::http::wire::partners::{BalancesOut, FxIn, FxOut, PartnerIn, PartnerOut, PartnerPatch};
use crate::http::wire::{Id, Items, Page};
use crate::store::now_ms;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

/// A partner's id in a path.
#[derive(Debug, Deserialize)]
pub struct PartnerPath {
    id: Id,
}

/// Create a partner in a program. Admin only.
///
/// Rules the document cannot express: the program must exist, the tier must be one of the
/// program's, and the id must be new across programs (422, 409).
#[utoipa::path(
    post, path = "/v1/partners", tag = "partners", operation_id = "create_partner",
    request_body = PartnerIn,
    responses((status = 201, description = "Created", body = PartnerOut)),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PartnerIn>,
) -> Result<(StatusCode, Json<PartnerOut>), ApiError> {
    caller.require_admin()?;
    let record = state
        .engine
        .create_partner_from(NewPartner {
            id: body.id.0,
            program_id: body.program_id.0,
            name: body.name.map(|n| n.0),
            country: body.country.map(|c| c.0),
            payout_currency: body.payout_currency.map(|c| c.0),
            tier: body.tier.map(|t| t.0),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(PartnerOut::from(&record))))
}

/// Query of `GET /v1/partners`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PartnerQuery {
    /// Only this program's partners.
    #[param(value_type = Option<Id>)]
    program_id: Option<Id>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<crate::http::cursor::CursorText>)]
    cursor: Option<crate::http::cursor::CursorText>,
    /// Page size, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// List partners by id, a page at a time. Admin only.
///
/// Rules the document cannot express: a cursor must be one this listing gave (422).
#[utoipa::path(
    get, path = "/v1/partners", tag = "partners", operation_id = "list_partners",
    params(PartnerQuery),
    responses((status = 200, description = "A page of partners", body = Page<PartnerOut>)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PartnerQuery>,
) -> Result<Json<Page<PartnerOut>>, ApiError> {
    caller.require_admin()?;
    let limit = Limit::of(q.limit)?;
    let listing = format!("partners {:?}", q.program_id);
    let after = q
        .cursor
        .map(|c| state.cursors.open(&c.0, &listing))
        .transpose()?;
    let partners = state
        .engine
        .partners(
            q.program_id.as_ref().map(|p| p.0.as_str()),
            after.as_deref(),
            limit.0,
        )
        .await?;
    let next = if partners.len() as i64 == limit.0 {
        partners.last().map(|p| state.cursors.seal(&p.id, &listing))
    } else {
        None
    };
    Ok(Json(Page {
        items: partners.iter().map(PartnerOut::from).collect(),
        next_cursor: next,
    }))
}

/// Show a partner (admin, or the partner itself).
#[utoipa::path(
    get, path = "/v1/partners/{id}", tag = "partners", operation_id = "show_partner",
    params(("id" = Id, Path, description = "The partner's id")),
    responses((status = 200, description = "The partner", body = PartnerOut)),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<PartnerPath>,
) -> Result<Json<PartnerOut>, ApiError> {
    caller.require_partner(&path.id.0)?;
    let p = state.engine.partner(&path.id.0).await?;
    Ok(Json(PartnerOut::from(&p)))
}

/// Change a partner. Admin only.
///
/// A tier change is effective from `tier_effective_from` (now by default); earlier
/// conversions keep the tier they were priced with.
///
/// Rules the document cannot express: a new tier must be one of the program's (422).
#[utoipa::path(
    patch, path = "/v1/partners/{id}", tag = "partners", operation_id = "change_partner",
    params(("id" = Id, Path, description = "The partner's id")),
    request_body = PartnerPatch,
    responses((status = 200, description = "The changed partner", body = PartnerOut)),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<PartnerPath>,
    ApiJson(patch): ApiJson<PartnerPatch>,
) -> Result<Json<PartnerOut>, ApiError> {
    caller.require_admin()?;
    let id = path.id.0;
    let mut p = state.engine.partner(&id).await?;
    if let Some(name) = patch.name {
        p.name = Some(name.0);
    }
    if let Some(country) = patch.country {
        p.country = Some(country.0);
    }
    if let Some(currency) = patch.payout_currency {
        p.payout_currency = currency.0;
    }
    let from = patch.tier_effective_from.map_or_else(now_ms, |t| t.0);
    state
        .engine
        .update_partner(&p, patch.tier.as_ref().map(|t| (from, t.0.as_str())))
        .await?;
    Ok(Json(PartnerOut::from(&state.engine.partner(&id).await?)))
}

/// A partner's balances by payout currency (admin, or the partner itself).
#[utoipa::path(
    get, path = "/v1/partners/{id}/balance", tag = "partners", operation_id = "partner_balance",
    params(("id" = Id, Path, description = "The partner's id")),
    responses((status = 200, description = "Balances", body = BalancesOut)),
    security(("bearer" = []))
)]
pub async fn balance(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<PartnerPath>,
) -> Result<Json<BalancesOut>, ApiError> {
    let id = path.id.0;
    caller.require_partner(&id)?;
    state.engine.partner(&id).await?;
    let balances = state.engine.balance(&id).await?;
    Ok(Json(BalancesOut {
        partner_id: id,
        balances: balances.into_iter().map(Into::into).collect(),
    }))
}

/// Record an FX rate. Admin only.
///
/// Idempotent for the same rate; another rate for the same pair and instant is a conflict.
///
/// Rules the document cannot express: `base` and `quote` must differ (422).
#[utoipa::path(
    put, path = "/v1/fx-rates", tag = "fx", operation_id = "put_fx_rate",
    request_body = FxIn,
    responses((status = 200, description = "Recorded", body = FxOut)),
    security(("bearer" = []))
)]
pub async fn put_fx(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<FxIn>,
) -> Result<Json<FxOut>, ApiError> {
    caller.require_admin()?;
    let rate = FxRate {
        base: body.base.0,
        quote: body.quote.0,
        rate: body.rate.0,
        effective_from_ms: body.effective_from.0,
    };
    state.engine.put_fx_rate(&rate).await?;
    Ok(Json(FxOut::from(&rate)))
}

/// Every FX rate (admin or partner keys).
#[utoipa::path(
    get, path = "/v1/fx-rates", tag = "fx", operation_id = "list_fx_rates",
    responses((status = 200, description = "Every recorded rate", body = Items<FxOut>)),
    security(("bearer" = []))
)]
pub async fn list_fx(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Items<FxOut>>, ApiError> {
    if let Scope::PluginAuthor(_) = caller.scope {
        return Err(ApiError::forbidden(
            "a plug-in author key cannot read FX rates",
        ));
    }
    let items = state
        .engine
        .fx_rates()
        .await?
        .iter()
        .map(FxOut::from)
        .collect();
    Ok(Json(Items { items }))
}
