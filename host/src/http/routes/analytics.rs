//! The reporting paths the product names (`/affiliate/analytics/...`): revenue, the
//! funnel, customers, ROI, and for admins the ranking, the forecast and churn risks.
//! Each reads rollups only; an admin asks about any program, a partner key about itself.

use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::wire::analytics::{
    AnalyticsQuery, ChurnOut, ConversionsOut, CustomersOut, ForecastOut, ProgramQuery, RankBy,
    RankingOut, RankingQuery, RevenueOut, RoiReportOut,
};
use crate::http::wire::ledger::Limit;
use axum::Json;
use axum::extract::State;

/// Revenue, commissions, bonuses and refunds, as a series (local days, weeks or months in
/// the caller's time zone) and totals, per sale currency and converted to the program
/// currency at the rates recorded for each fact's instant; with `group_by=partner` (admin)
/// per partner too.
///
/// Rules the document cannot express: an admin's key names `program_id`; a partner key
/// sees only its own figures (another partner or program is 404); `from` is not after
/// `to` and a range is at most 1,098 days; `time_zone` is an IANA zone (422 otherwise).
#[utoipa::path(
    get, path = "/affiliate/analytics/revenue", tag = "analytics", operation_id = "analytics_revenue",
    params(AnalyticsQuery),
    responses((status = 200, description = "Revenue figures", body = RevenueOut)),
    security(("bearer" = []))
)]
pub async fn revenue(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Json<RevenueOut>, ApiError> {
    let r = state
        .engine
        .revenue_report(&caller.scope, &q.into())
        .await?;
    Ok(Json((&*r).into()))
}

/// The funnel: clicks → leads → sales with the rate of each step, as a series and totals,
/// the click-to-conversion time distribution, and a breakdown by `channel`, `campaign`
/// or (admin) `partner`.
///
/// Rules the document cannot express: as for the revenue path.
#[utoipa::path(
    get, path = "/affiliate/analytics/conversions", tag = "analytics", operation_id = "analytics_conversions",
    params(AnalyticsQuery),
    responses((status = 200, description = "Funnel figures", body = ConversionsOut)),
    security(("bearer" = []))
)]
pub async fn conversions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Json<ConversionsOut>, ApiError> {
    let r = state.engine.funnel_report(&caller.scope, &q.into()).await?;
    Ok(Json((&*r).into()))
}

/// Customers: new against returning purchases, cohorts by first-purchase month with
/// their retention, and lifetime value (historical, and projected over 24 months from the
/// cohorts' retention); with `group_by=partner` (admin) per acquiring partner.
///
/// Rules the document cannot express: as for the revenue path.
#[utoipa::path(
    get, path = "/affiliate/analytics/customers", tag = "analytics", operation_id = "analytics_customers",
    params(AnalyticsQuery),
    responses((status = 200, description = "Customer figures", body = CustomersOut)),
    security(("bearer" = []))
)]
pub async fn customers(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Json<CustomersOut>, ApiError> {
    let r = state
        .engine
        .customers_report(&caller.scope, &q.into())
        .await?;
    Ok(Json((&*r).into()))
}

/// ROI over the range, in the program currency: attributed revenue net of refunds against
/// commissions (net of reversals and adjustments), bonuses and payout fees; the program's
/// and (admin) each partner's.
///
/// Rules the document cannot express: as for the revenue path.
#[utoipa::path(
    get, path = "/affiliate/analytics/roi", tag = "analytics", operation_id = "analytics_roi",
    params(AnalyticsQuery),
    responses((status = 200, description = "ROI", body = RoiReportOut)),
    security(("bearer" = []))
)]
pub async fn roi(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Json<RoiReportOut>, ApiError> {
    let r = state.engine.roi_report(&caller.scope, &q.into()).await?;
    Ok(Json((&*r).into()))
}

/// Partners ranked by revenue, conversions, ROI or growth over the range (admin).
#[utoipa::path(
    get, path = "/affiliate/analytics/ranking", tag = "analytics", operation_id = "analytics_ranking",
    params(RankingQuery),
    responses((status = 200, description = "The ranking", body = RankingOut)),
    security(("bearer" = []))
)]
pub async fn ranking(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RankingQuery>,
) -> Result<Json<RankingOut>, ApiError> {
    caller.require_admin()?;
    let limit = Limit::of(q.limit)?;
    let ask = crate::engine::AnalyticsAsk {
        program_id: Some(q.program_id.0),
        first: q.from.map(|d| d.0),
        last: q.to.map(|d| d.0),
        time_zone: q.time_zone.map(|t| t.0),
        ..Default::default()
    };
    let by = q.by.unwrap_or(RankBy::Revenue);
    let r = state
        .engine
        .ranking(
            &caller.scope,
            &ask,
            by.as_str(),
            usize::try_from(limit.0).unwrap_or(100),
        )
        .await?;
    Ok(Json((&*r).into()))
}

/// The program's revenue forecast for the next 30 and 90 days, with an 80 % interval,
/// from its daily revenue (program currency, net of refunds, up to a year to yesterday,
/// UTC) by MSTL with weekly seasonality and AutoETS (augurs), and the method's backtest on
/// the held-out last days (admin).
///
/// Rules the document cannot express: a forecast needs at least 3 days of revenue (409
/// `conflict` before that).
#[utoipa::path(
    get, path = "/affiliate/analytics/forecast", tag = "analytics", operation_id = "analytics_forecast",
    params(ProgramQuery),
    responses((status = 200, description = "The forecast", body = ForecastOut)),
    security(("bearer" = []))
)]
pub async fn forecast(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ProgramQuery>,
) -> Result<Json<ForecastOut>, ApiError> {
    caller.require_admin()?;
    let r = state
        .engine
        .revenue_forecast(&caller.scope, &q.program_id.0)
        .await?;
    Ok(Json((&*r).into()))
}

/// Every partner's churn risk (a documented score from its conversion trend over the last
/// 120 days), riskiest first, with the score's check on held-out history (admin).
#[utoipa::path(
    get, path = "/affiliate/analytics/churn", tag = "analytics", operation_id = "analytics_churn",
    params(ProgramQuery),
    responses((status = 200, description = "Churn risks", body = ChurnOut)),
    security(("bearer" = []))
)]
pub async fn churn(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ProgramQuery>,
) -> Result<Json<ChurnOut>, ApiError> {
    caller.require_admin()?;
    let r = state
        .engine
        .churn_report(&caller.scope, &q.program_id.0)
        .await?;
    Ok(Json((&*r).into()))
}
