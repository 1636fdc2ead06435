//! Fraud alerts (`/v1/fraud-alerts`), a program's fraud rules and a partner's identity as
//! a customer. Admin only.

use crate::engine::AlertOutcome;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::wire::fraud::{
    AlertOut, AlertOutcomeText, AlertQuery, AlertStatus, FraudRulesIo, IdentityIn, IdentityOut,
    ResolveAlertIn,
};
use crate::http::wire::ledger::Limit;
use crate::http::wire::{Id, Key, Page};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

/// An alert's id in a path.
#[derive(Debug, Deserialize)]
pub struct AlertPath {
    id: Key,
}

/// A program's or partner's id in a path.
#[derive(Debug, Deserialize)]
pub struct IdPath {
    id: Id,
}

/// A program's fraud alerts, newest first: each with its rule, the partner and
/// conversion it is about and its evidence. Admin only.
///
/// Rules the document cannot express: `cursor` is the `next_cursor` of this listing (422
/// otherwise).
#[utoipa::path(
    get, path = "/v1/fraud-alerts", tag = "fraud", operation_id = "list_fraud_alerts",
    params(AlertQuery),
    responses((status = 200, description = "A page of alerts", body = Page<AlertOut>)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Json<Page<AlertOut>>, ApiError> {
    caller.require_admin()?;
    let limit = Limit::of(q.limit)?;
    let status = q.status.unwrap_or(AlertStatus::All).filter();
    let rule = q.rule.map(|r| r.0);
    let partner = q.partner_id.map(|p| p.0);
    let listing = format!(
        "fraud-alerts {} {status:?} {rule:?} {partner:?}",
        q.program_id.0
    );
    let before = q
        .cursor
        .map(|c| -> Result<(i64, String), ApiError> {
            let text = state.cursors.open(&c.0, &listing)?;
            let bad = || ApiError::invalid("cursor", "not a cursor of this listing");
            let (ms, id) = text.split_once(' ').ok_or_else(bad)?;
            Ok((ms.parse().map_err(|_| bad())?, id.to_owned()))
        })
        .transpose()?;
    let alerts = state
        .engine
        .fraud_alerts(
            &caller.scope,
            &q.program_id.0,
            status,
            rule.as_deref(),
            partner.as_deref(),
            before,
            limit.0,
        )
        .await?;
    let next = (alerts.len() as i64 == limit.0)
        .then(|| alerts.last())
        .flatten()
        .map(|a| {
            state
                .cursors
                .seal(&format!("{} {}", a.created_at_ms, a.id), &listing)
        });
    Ok(Json(Page {
        items: alerts.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// One alert. Admin only.
#[utoipa::path(
    get, path = "/v1/fraud-alerts/{id}", tag = "fraud", operation_id = "get_fraud_alert",
    params(("id" = Key, Path, description = "The alert's id")),
    responses((status = 200, description = "The alert", body = AlertOut)),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<AlertPath>,
) -> Result<Json<AlertOut>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .engine
            .fraud_alert(&caller.scope, &path.id.0)
            .await?
            .into(),
    ))
}

/// Resolve an alert: `confirmed` (fraud: a conversion frozen by it has its commissions
/// reversed) or `dismissed` (released). The same outcome again answers the alert as it
/// is. Admin only.
///
/// Rules the document cannot express: an alert is resolved once; another outcome later is
/// 409.
#[utoipa::path(
    post, path = "/v1/fraud-alerts/{id}/resolve", tag = "fraud", operation_id = "resolve_fraud_alert",
    params(("id" = Key, Path, description = "The alert's id")),
    request_body = ResolveAlertIn,
    responses((status = 200, description = "The alert, resolved", body = AlertOut)),
    security(("bearer" = []))
)]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<AlertPath>,
    ApiJson(body): ApiJson<ResolveAlertIn>,
) -> Result<Json<AlertOut>, ApiError> {
    caller.require_admin()?;
    let outcome = match body.outcome {
        AlertOutcomeText::Confirmed => AlertOutcome::Confirmed,
        AlertOutcomeText::Dismissed => AlertOutcome::Dismissed,
    };
    let note = body.note.map(|n| n.0).unwrap_or_default();
    Ok(Json(
        state
            .engine
            .resolve_fraud_alert(&caller.scope, &path.id.0, outcome, &caller.key_id, &note)
            .await?
            .into(),
    ))
}

/// A program's fraud rules and thresholds (defaults where it set none). Admin only.
#[utoipa::path(
    get, path = "/v1/programs/{id}/fraud-rules", tag = "fraud", operation_id = "get_fraud_rules",
    params(("id" = Id, Path, description = "The program's id")),
    responses((status = 200, description = "The rules", body = FraudRulesIo)),
    security(("bearer" = []))
)]
pub async fn get_rules(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<Json<FraudRulesIo>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .engine
            .fraud_rules(&caller.scope, &path.id.0)
            .await?
            .into(),
    ))
}

/// Set a program's fraud rules: each rule's `enabled` and thresholds, and `freeze`
/// (an alert about a conversion freezes its commissions through a dispute). Omitted fields
/// take their defaults. Admin only.
///
/// Rules the document cannot express: a `spike_factor` of at least 1 and a `max_rate`
/// within 0..=1 (422 naming the field).
#[utoipa::path(
    put, path = "/v1/programs/{id}/fraud-rules", tag = "fraud", operation_id = "put_fraud_rules",
    params(("id" = Id, Path, description = "The program's id")),
    request_body = FraudRulesIo,
    responses((status = 200, description = "The rules", body = FraudRulesIo)),
    security(("bearer" = []))
)]
pub async fn put_rules(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
    ApiJson(body): ApiJson<FraudRulesIo>,
) -> Result<Json<FraudRulesIo>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .engine
            .set_fraud_rules(&caller.scope, &path.id.0, &body.config())
            .await?
            .into(),
    ))
}

/// A partner's identity as a customer (for the self-referral rule). Admin only.
#[utoipa::path(
    get, path = "/v1/partners/{id}/identity", tag = "fraud", operation_id = "get_partner_identity",
    params(("id" = Id, Path, description = "The partner's id")),
    responses((status = 200, description = "Its identity", body = IdentityOut)),
    security(("bearer" = []))
)]
pub async fn get_identity(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<Json<IdentityOut>, ApiError> {
    caller.require_admin()?;
    let (customer_id, email_on_file) = state
        .engine
        .partner_identity(&caller.scope, &path.id.0)
        .await?;
    Ok(Json(IdentityOut {
        partner_id: path.id.0,
        customer_id,
        email_on_file,
    }))
}

/// Set a partner's identity as a customer: its customer id at the merchant and its
/// e-mail address (kept only as a keyed hash); a sale to either is a self-referral.
/// Admin only.
#[utoipa::path(
    put, path = "/v1/partners/{id}/identity", tag = "fraud", operation_id = "put_partner_identity",
    params(("id" = Id, Path, description = "The partner's id")),
    request_body = IdentityIn,
    responses((status = 200, description = "Its identity", body = IdentityOut)),
    security(("bearer" = []))
)]
pub async fn put_identity(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
    ApiJson(body): ApiJson<IdentityIn>,
) -> Result<Json<IdentityOut>, ApiError> {
    caller.require_admin()?;
    let (customer_id, email_on_file) = state
        .engine
        .set_partner_identity(
            &caller.scope,
            &path.id.0,
            body.customer_id.as_ref().map(|t| t.0.as_str()),
            body.email.as_ref().map(|t| t.0.as_str()),
        )
        .await?;
    Ok(Json(IdentityOut {
        partner_id: path.id.0,
        customer_id,
        email_on_file,
    }))
}
