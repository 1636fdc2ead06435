//! `/v1/partners/{id}/payout-method`, `/v1/partners/{id}/tax-profile` and
//! `/v1/programs/{id}/withholding-rules`. Who may do what is the engine's rule
//! (`engine::payout_profiles`): an admin any partner, a partner key its own only (another
//! partner's is 404), a plug-in author key nothing.

use crate::engine::{NewPayoutMethod, NewTaxProfile, NewWithholdingRule};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::wire::payout_profiles::{
    PayoutMethodIn, PayoutMethodOut, TaxProfileIn, TaxProfileOut, WithholdingRuleIn,
    WithholdingRuleOut,
};
use crate::http::wire::{Id, Items};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

/// A partner's or program's id in a path.
#[derive(Debug, Deserialize)]
pub struct IdPath {
    id: Id,
}

/// Set a partner's payout method (admin, or the partner itself), replacing any.
///
/// The destination is checked on entry, each failure with its own problem type:
/// `iban-invalid`, `iban-checksum`, `iban-country-length`, `iban-country-unknown`,
/// `iban-country-not-sepa`, `bic-invalid`, `bic-country-unknown`, `bic-country-mismatch`,
/// `aba-routing-invalid`, `aba-routing-checksum`, `account-number-invalid`,
/// `email-invalid`, `wise-recipient-invalid`, `country-invalid`, `currency-invalid`,
/// `currency-not-supported-by-method` (SEPA pays EUR, ACH USD, a wire its account's
/// currency: the partner's payout currency must be one the method pays in),
/// `holder-name-invalid`, `party-kind-invalid`. The details are stored sealed under
/// `ACCRUE_SECRETS_KEY` (503 `secrets-key-missing` without one) and answered masked.
///
/// Rules the document cannot express: the checks above, and a Wise destination names
/// exactly one of `email` and `recipient_id` (422).
#[utoipa::path(
    put, path = "/v1/partners/{id}/payout-method", tag = "payouts",
    operation_id = "put_payout_method",
    params(("id" = Id, Path, description = "The partner's id")),
    request_body = PayoutMethodIn,
    responses((status = 200, description = "The method, masked", body = PayoutMethodOut)),
    security(("bearer" = []))
)]
pub async fn put_method(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
    ApiJson(body): ApiJson<PayoutMethodIn>,
) -> Result<Json<PayoutMethodOut>, ApiError> {
    let (method, holder) = body
        .into_parts()
        .map_err(|(field, detail)| ApiError::invalid(field, detail))?;
    let view = state
        .engine
        .set_payout_method(
            &caller.scope,
            &NewPayoutMethod {
                partner_id: path.id.0,
                method,
                holder_name: holder.holder_name,
                party_kind: holder.party_kind,
            },
        )
        .await?;
    Ok(Json(PayoutMethodOut::from(&view)))
}

/// A partner's payout method, masked (admin, or the partner itself).
#[utoipa::path(
    get, path = "/v1/partners/{id}/payout-method", tag = "payouts",
    operation_id = "show_payout_method",
    params(("id" = Id, Path, description = "The partner's id")),
    responses((status = 200, description = "The method, masked", body = PayoutMethodOut)),
    security(("bearer" = []))
)]
pub async fn show_method(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<Json<PayoutMethodOut>, ApiError> {
    let view = state
        .engine
        .payout_method(&caller.scope, &path.id.0)
        .await?;
    Ok(Json(PayoutMethodOut::from(&view)))
}

/// Remove a partner's payout method (admin, or the partner itself).
#[utoipa::path(
    delete, path = "/v1/partners/{id}/payout-method", tag = "payouts",
    operation_id = "delete_payout_method",
    params(("id" = Id, Path, description = "The partner's id")),
    responses((status = 204, description = "Removed")),
    security(("bearer" = []))
)]
pub async fn delete_method(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .delete_payout_method(&caller.scope, &path.id.0)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a partner's tax profile (admin, or the partner itself), replacing any.
///
/// Each refusal has its own problem type: `tax-form-invalid`, `legal-name-invalid`,
/// `tin-invalid` (a W-9 TIN is 9 digits, dashes allowed), `tax-country-invalid` (ISO
/// 3166-1 alpha-2; US on a W-9, not US on a W-8), `treaty-rate-invalid` (0..=1, W-8
/// only). The TIN is stored sealed (503 `secrets-key-missing` without a key) and
/// answered masked.
///
/// Rules the document cannot express: the checks above that join two fields (422).
#[utoipa::path(
    put, path = "/v1/partners/{id}/tax-profile", tag = "payouts",
    operation_id = "put_tax_profile",
    params(("id" = Id, Path, description = "The partner's id")),
    request_body = TaxProfileIn,
    responses((status = 200, description = "The profile, the TIN masked", body = TaxProfileOut)),
    security(("bearer" = []))
)]
pub async fn put_tax(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
    ApiJson(body): ApiJson<TaxProfileIn>,
) -> Result<Json<TaxProfileOut>, ApiError> {
    let view = state
        .engine
        .set_tax_profile(
            &caller.scope,
            &NewTaxProfile {
                partner_id: path.id.0,
                form: body.form.0,
                legal_name: body.legal_name.0,
                tin: body.tin.map(|t| t.0),
                country: body.country.0,
                treaty_rate: body.treaty_rate.map(|r| r.0),
            },
        )
        .await?;
    Ok(Json(TaxProfileOut::from(&view)))
}

/// A partner's tax profile, the TIN masked (admin, or the partner itself).
#[utoipa::path(
    get, path = "/v1/partners/{id}/tax-profile", tag = "payouts",
    operation_id = "show_tax_profile",
    params(("id" = Id, Path, description = "The partner's id")),
    responses((status = 200, description = "The profile, the TIN masked", body = TaxProfileOut)),
    security(("bearer" = []))
)]
pub async fn show_tax(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<Json<TaxProfileOut>, ApiError> {
    let view = state.engine.tax_profile(&caller.scope, &path.id.0).await?;
    Ok(Json(TaxProfileOut::from(&view)))
}

/// Remove a partner's tax profile (admin, or the partner itself): its payments are then
/// held until a form is on file.
#[utoipa::path(
    delete, path = "/v1/partners/{id}/tax-profile", tag = "payouts",
    operation_id = "delete_tax_profile",
    params(("id" = Id, Path, description = "The partner's id")),
    responses((status = 204, description = "Removed")),
    security(("bearer" = []))
)]
pub async fn delete_tax(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .delete_tax_profile(&caller.scope, &path.id.0)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a withholding rate to a program, effective from an instant. Admin only.
///
/// Without a rule the defaults apply: W-9 with a TIN 0 %, W-9 without 24 % (backup
/// withholding), W-8 0 %. A W-8 rule may name the payee country; the newest rule in force
/// at a payout applies, and a lower treaty rate claimed on the payee's W-8 wins. Rules are
/// history: the same situation, country and instant again with another rate is 409
/// `conflict`; the same rule again (a retry) answers 201 with the rule.
///
/// Rules the document cannot express: a country only on `w8` rules
/// (`withholding-country-invalid`, 422).
#[utoipa::path(
    post, path = "/v1/programs/{id}/withholding-rules", tag = "payouts",
    operation_id = "add_withholding_rule",
    params(("id" = Id, Path, description = "The program's id")),
    request_body = WithholdingRuleIn,
    responses((status = 201, description = "Added", body = WithholdingRuleOut)),
    security(("bearer" = []))
)]
pub async fn add_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
    ApiJson(body): ApiJson<WithholdingRuleIn>,
) -> Result<(StatusCode, Json<WithholdingRuleOut>), ApiError> {
    let program_id = path.id.0;
    let rule = state
        .engine
        .add_withholding_rule(
            &caller.scope,
            &NewWithholdingRule {
                program_id: program_id.clone(),
                situation: body.situation.0,
                country: body.country.map(|c| c.0).unwrap_or_default(),
                effective_from_ms: body.effective_from.0,
                rate: body.rate.0,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WithholdingRuleOut::of(&program_id, &rule)),
    ))
}

/// A program's withholding rules (admin, or a partner of the program).
#[utoipa::path(
    get, path = "/v1/programs/{id}/withholding-rules", tag = "payouts",
    operation_id = "list_withholding_rules",
    params(("id" = Id, Path, description = "The program's id")),
    responses((status = 200, description = "The rules, by situation, country and date", body = Items<WithholdingRuleOut>)),
    security(("bearer" = []))
)]
pub async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<Json<Items<WithholdingRuleOut>>, ApiError> {
    let rules = state
        .engine
        .withholding_rules(&caller.scope, &path.id.0)
        .await?;
    Ok(Json(Items {
        items: rules
            .iter()
            .map(|r| WithholdingRuleOut::of(&path.id.0, r))
            .collect(),
    }))
}
