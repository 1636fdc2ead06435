//! Payouts: schedules, runs, items, files, bank feedback, statements, tax data, notices.

use crate::engine::{ItemOutcome, RunRequest};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, idempotency_key};
use crate::http::wire::ledger::Limit;
use crate::http::wire::payouts::{
    CancelIn, FeedbackFormatText, FeedbackIn, FeedbackOut, FileOut, ItemOut, LimitQuery, NoticeOut,
    NoticeQuery, OutcomeIn, PageQuery, RunIn, RunOut, RunQuery, ScheduleIn, ScheduleOut,
    TaxReportQuery,
};
use crate::http::wire::{Id, Items, Key, Page, format_time};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A program's id in a path.
#[derive(Debug, Deserialize)]
pub struct ProgramPath {
    id: Id,
}

/// A run's id in a path.
#[derive(Debug, Deserialize)]
pub struct RunPath {
    id: Key,
}

/// A run's file in a path.
#[derive(Debug, Deserialize)]
pub struct FilePath {
    id: Key,
    name: Key,
}

/// A run's item in a path.
#[derive(Debug, Deserialize)]
pub struct ItemPath {
    id: Key,
    item_id: Key,
}

/// An item in a path.
#[derive(Debug, Deserialize)]
pub struct PayoutItemPath {
    id: Key,
}

/// A program and a year in a path.
#[derive(Debug, Deserialize)]
pub struct TaxPath {
    id: Id,
    year: Key,
}

/// Set a program's payout schedule: when it pays, the minimum payout and fee per
/// currency, the methods allowed, the total above which a second admin approves, and who
/// pays. Admin only.
///
/// Rules the document cannot express: the weekday is 1 to 7, the day of month 1 to 28; a
/// fee is below its currency's minimum; amounts have at most their currency's decimals;
/// the payer's IBAN, BIC and routing numbers are valid (422 `payout-schedule-invalid`).
#[utoipa::path(
    put, path = "/v1/programs/{id}/payout-schedule", tag = "payouts",
    operation_id = "put_payout_schedule",
    params(("id" = Id, Path, description = "The program's id")),
    request_body = ScheduleIn,
    responses((status = 200, description = "The schedule", body = ScheduleOut)),
    security(("bearer" = []))
)]
pub async fn put_schedule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ProgramPath>,
    ApiJson(body): ApiJson<ScheduleIn>,
) -> Result<Json<ScheduleOut>, ApiError> {
    caller.require_admin()?;
    let (frequency, settings) = body.into_parts();
    let s = state
        .engine
        .set_payout_schedule(&path.id.0, frequency, settings)
        .await?;
    Ok(Json(s.into()))
}

/// A program's payout schedule. Admin only.
#[utoipa::path(
    get, path = "/v1/programs/{id}/payout-schedule", tag = "payouts",
    operation_id = "get_payout_schedule",
    params(("id" = Id, Path, description = "The program's id")),
    responses((status = 200, description = "The schedule", body = ScheduleOut)),
    security(("bearer" = []))
)]
pub async fn get_schedule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ProgramPath>,
) -> Result<Json<ScheduleOut>, ApiError> {
    caller.require_admin()?;
    let s = state
        .engine
        .payout_schedule(&path.id.0)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("payout schedule of {:?}", path.id.0)))?;
    Ok(Json(s.into()))
}

/// Start a payout run for a program, or preview one with `"dry_run": true` (nothing is
/// written; the answer lists the items). The run gathers every approved, unfrozen, unpaid
/// entry approved by the cut-off, nets each partner's balance per currency, applies the
/// minimum, withholding and fee, and holds partners without a tax form or payout method.
/// Admin only.
///
/// Idempotent: the same `Idempotency-Key` (or, without one, the same cut-off) finds the
/// same run (200); a new run is 201.
#[utoipa::path(
    post, path = "/v1/payout-runs", tag = "payouts", operation_id = "create_payout_run",
    params(("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this run: a retry with it answers the same run")),
    request_body = RunIn,
    responses(
        (status = 201, description = "The run, created", body = RunOut),
        (status = 200, description = "The run that existed, or a dry run's preview", body = RunOut),
    ),
    security(("bearer" = []))
)]
pub async fn create_run(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RunIn>,
) -> Result<(StatusCode, Json<RunOut>), ApiError> {
    caller.require_admin()?;
    let started = state
        .engine
        .start_payout_run(&RunRequest {
            program_id: body.program_id.0,
            cutoff_ms: body.cutoff.map(|c| c.0),
            dry_run: body.dry_run,
            idempotency_key: idempotency_key(&headers)?.map(|k| k.0),
            actor: caller.key_id.clone(),
        })
        .await?;
    let created = !started.existed && !body.dry_run;
    let mut out = RunOut::from(started.run);
    if body.dry_run {
        out.items = Some(started.preview_items.into_iter().map(Into::into).collect());
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(out)))
}

/// Payout runs, newest first. Admin only.
#[utoipa::path(
    get, path = "/v1/payout-runs", tag = "payouts", operation_id = "list_payout_runs",
    params(RunQuery),
    responses((status = 200, description = "A page of runs", body = Page<RunOut>)),
    security(("bearer" = []))
)]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> Result<Json<Page<RunOut>>, ApiError> {
    caller.require_admin()?;
    let limit = Limit::of(q.limit)?;
    let program = q.program_id.map(|p| p.0);
    let listing = format!("payout-runs {program:?}");
    let before = q
        .cursor
        .map(|c| -> Result<(i64, String), ApiError> {
            let text = state.cursors.open(&c.0, &listing)?;
            let (ms, id) = text
                .split_once(' ')
                .ok_or_else(|| ApiError::invalid("cursor", "not a cursor of this listing"))?;
            Ok((
                ms.parse()
                    .map_err(|_| ApiError::invalid("cursor", "not a cursor of this listing"))?,
                id.to_owned(),
            ))
        })
        .transpose()?;
    let runs = state
        .engine
        .payout_runs(program.as_deref(), limit.0, before)
        .await?;
    let next = if runs.len() as i64 == limit.0 {
        runs.last().map(|r| {
            state
                .cursors
                .seal(&format!("{} {}", r.created_at_ms, r.id), &listing)
        })
    } else {
        None
    };
    Ok(Json(Page {
        items: runs.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// One payout run: status, totals per currency, approvals and every step. Admin only.
#[utoipa::path(
    get, path = "/v1/payout-runs/{id}", tag = "payouts", operation_id = "get_payout_run",
    params(("id" = Key, Path, description = "The run's id")),
    responses((status = 200, description = "The run", body = RunOut)),
    security(("bearer" = []))
)]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<RunPath>,
) -> Result<Json<RunOut>, ApiError> {
    caller.require_admin()?;
    Ok(Json(
        state
            .engine
            .payout_run(&caller.scope, &path.id.0)
            .await?
            .into(),
    ))
}

/// A run's items, by id. Admin only.
#[utoipa::path(
    get, path = "/v1/payout-runs/{id}/items", tag = "payouts", operation_id = "list_payout_items",
    params(("id" = Key, Path, description = "The run's id"), PageQuery),
    responses((status = 200, description = "A page of items", body = Page<ItemOut>)),
    security(("bearer" = []))
)]
pub async fn list_items(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<RunPath>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<ItemOut>>, ApiError> {
    caller.require_admin()?;
    let limit = Limit::of(q.limit)?;
    let listing = format!("payout-items {}", path.id.0);
    let after = q
        .cursor
        .map(|c| state.cursors.open(&c.0, &listing))
        .transpose()?;
    let items = state
        .engine
        .payout_run_items(&path.id.0, after.as_deref(), limit.0)
        .await?;
    let next = if items.len() as i64 == limit.0 {
        items.last().map(|i| state.cursors.seal(&i.id, &listing))
    } else {
        None
    };
    Ok(Json(Page {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// Approve a run. One admin suffices unless its total in some currency is above the
/// program's second-approval amount: then a second, different admin must approve too.
/// Admin only.
///
/// Rules the document cannot express: the run is a draft, and the same admin approves at
/// most once (409).
#[utoipa::path(
    post, path = "/v1/payout-runs/{id}/approve", tag = "payouts", operation_id = "approve_payout_run",
    params(("id" = Key, Path, description = "The run's id"), ("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this step: a retry with it answers the first answer")),
    responses((status = 200, description = "The run", body = RunOut)),
    security(("bearer" = []))
)]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(path): ApiPath<RunPath>,
) -> Result<Json<RunOut>, ApiError> {
    caller.require_admin()?;
    let key = idempotency_key(&headers)?;
    Ok(Json(
        state
            .engine
            .approve_payout_run(
                &path.id.0,
                &caller.key_id,
                key.as_ref().map(|k| k.0.as_str()),
            )
            .await?
            .into(),
    ))
}

/// Cancel a run before export: its items fail, their entries are payable again, their
/// withholding and fees are undone. Admin only.
#[utoipa::path(
    post, path = "/v1/payout-runs/{id}/cancel", tag = "payouts", operation_id = "cancel_payout_run",
    params(("id" = Key, Path, description = "The run's id"), ("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this step: a retry with it answers the first answer")),
    request_body = CancelIn,
    responses((status = 200, description = "The run", body = RunOut)),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(path): ApiPath<RunPath>,
    ApiJson(body): ApiJson<CancelIn>,
) -> Result<Json<RunOut>, ApiError> {
    caller.require_admin()?;
    let key = idempotency_key(&headers)?;
    Ok(Json(
        state
            .engine
            .cancel_payout_run(
                &path.id.0,
                &caller.key_id,
                &body.note.0,
                key.as_ref().map(|k| k.0.as_str()),
            )
            .await?
            .into(),
    ))
}

/// Export an approved run: write its payment files (SEPA and wire `pain.001.001.09`,
/// NACHA, PayPal and Wise CSV), the same bytes for the same run. Items holding an entry
/// disputed since the draft fail instead of being paid. Admin only.
///
/// Rules the document cannot express: the run is approved and not exported (409); the
/// schedule names a payer for SEPA, wire and NACHA files (422 `payout-payer-missing`).
#[utoipa::path(
    post, path = "/v1/payout-runs/{id}/export", tag = "payouts", operation_id = "export_payout_run",
    params(("id" = Key, Path, description = "The run's id"), ("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this step: a retry with it answers the first answer")),
    responses((status = 200, description = "The files", body = Items<FileOut>)),
    security(("bearer" = []))
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(path): ApiPath<RunPath>,
) -> Result<Json<Items<FileOut>>, ApiError> {
    caller.require_admin()?;
    let key = idempotency_key(&headers)?;
    let files = state
        .engine
        .export_payout_run(
            &path.id.0,
            &caller.key_id,
            key.as_ref().map(|k| k.0.as_str()),
        )
        .await?;
    Ok(Json(Items {
        items: files.into_iter().map(Into::into).collect(),
    }))
}

/// A run's payment files. Admin only.
#[utoipa::path(
    get, path = "/v1/payout-runs/{id}/files", tag = "payouts", operation_id = "list_payout_files",
    params(("id" = Key, Path, description = "The run's id")),
    responses((status = 200, description = "The files", body = Items<FileOut>)),
    security(("bearer" = []))
)]
pub async fn files(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<RunPath>,
) -> Result<Json<Items<FileOut>>, ApiError> {
    caller.require_admin()?;
    let files = state.engine.payout_run_files(&path.id.0).await?;
    Ok(Json(Items {
        items: files.into_iter().map(Into::into).collect(),
    }))
}

/// Download one payment file, with its media type. Admin only.
#[utoipa::path(
    get, path = "/v1/payout-runs/{id}/files/{name}", tag = "payouts", operation_id = "download_payout_file",
    params(("id" = Key, Path, description = "The run's id"), ("name" = Key, Path, description = "The file's name")),
    responses((status = 200, description = "The file's bytes", content(
        (String = "application/xml"), (String = "text/csv"), (String = "text/plain")
    ))),
    security(("bearer" = []))
)]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<FilePath>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let f = state
        .engine
        .payout_run_file(&path.id.0, &path.name.0)
        .await?;
    Ok(attachment(&f.media_type, &f.name, f.content))
}

fn attachment(media_type: &str, name: &str, content: Vec<u8>) -> Response {
    let mut response = content.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{media_type}; charset=utf-8")) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Apply a bank's answer to a run's files: a `pain.002` status report (accepted items
/// become paid, rejected ones failed) or a NACHA return list (paid items become returned,
/// unpaid ones failed). Failed and returned items put their entries back to payable.
/// Admin only.
#[utoipa::path(
    post, path = "/v1/payout-runs/{id}/feedback", tag = "payouts", operation_id = "apply_payout_feedback",
    params(("id" = Key, Path, description = "The run's id"), ("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this step: a retry with it answers the first answer")),
    request_body = FeedbackIn,
    responses((status = 200, description = "What was applied", body = FeedbackOut)),
    security(("bearer" = []))
)]
pub async fn feedback(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(path): ApiPath<RunPath>,
    ApiJson(body): ApiJson<FeedbackIn>,
) -> Result<Json<FeedbackOut>, ApiError> {
    caller.require_admin()?;
    let key = idempotency_key(&headers)?;
    let format = match body.format {
        FeedbackFormatText::Pain002 => crate::engine::FeedbackFormat::Pain002,
        FeedbackFormatText::NachaReturns => crate::engine::FeedbackFormat::NachaReturns,
    };
    let report = state
        .engine
        .apply_bank_feedback(
            &path.id.0,
            format,
            &body.content.0,
            &caller.key_id,
            key.as_ref().map(|k| k.0.as_str()),
        )
        .await?;
    Ok(Json(report.into()))
}

/// Record one item's outcome by hand: `sent`, `paid` or `failed` after export, `returned`
/// after paid. Asking again for an outcome the item has changes nothing. Admin only.
#[utoipa::path(
    post, path = "/v1/payout-runs/{id}/items/{item_id}/outcome", tag = "payouts",
    operation_id = "record_payout_outcome",
    params(("id" = Key, Path, description = "The run's id"), ("item_id" = Key, Path, description = "The item's id"), ("Idempotency-Key" = Option<Key>, Header, description = "The client's key for this step: a retry with it answers the first answer")),
    request_body = OutcomeIn,
    responses((status = 200, description = "What was applied", body = FeedbackOut)),
    security(("bearer" = []))
)]
pub async fn outcome(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(path): ApiPath<ItemPath>,
    ApiJson(body): ApiJson<OutcomeIn>,
) -> Result<Json<FeedbackOut>, ApiError> {
    caller.require_admin()?;
    let key = idempotency_key(&headers)?;
    let report = state
        .engine
        .record_payout_outcomes_keyed(
            &path.id.0,
            &caller.key_id,
            &[ItemOutcome {
                item_id: path.item_id.0.clone(),
                outcome: body.outcome.into(),
                reason: body.reason.map(|r| r.0).unwrap_or_default(),
            }],
            key.as_ref().map(|k| k.0.as_str()),
        )
        .await?;
    if let Some((_, reason)) = report.rejected.first() {
        return Err(ApiError::from(crate::engine::EngineError::Conflict(
            reason.clone(),
        )));
    }
    Ok(Json(report.into()))
}

/// A partner's payout items, newest first (admin, or the partner itself).
#[utoipa::path(
    get, path = "/v1/partners/{id}/payouts", tag = "payouts", operation_id = "partner_payouts",
    params(("id" = Id, Path, description = "The partner's id"), LimitQuery),
    responses((status = 200, description = "Its payout items", body = Items<ItemOut>)),
    security(("bearer" = []))
)]
pub async fn partner_payouts(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ProgramPath>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Items<ItemOut>>, ApiError> {
    let limit = Limit::of(q.limit)?;
    let items = state
        .engine
        .partner_payouts(&caller.scope, &path.id.0, limit.0)
        .await?;
    Ok(Json(Items {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// An item's remittance statement (CSV): the payment, then every entry it pays (admin,
/// or the partner paid).
#[utoipa::path(
    get, path = "/v1/payout-items/{id}/remittance", tag = "payouts", operation_id = "payout_remittance",
    params(("id" = Key, Path, description = "The item's id")),
    responses((status = 200, description = "The statement", content((String = "text/csv")))),
    security(("bearer" = []))
)]
pub async fn remittance(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<PayoutItemPath>,
) -> Result<Response, ApiError> {
    let csv = state
        .engine
        .remittance_csv(&caller.scope, &path.id.0)
        .await?;
    Ok(attachment(
        "text/csv",
        &format!("remittance-{}.csv", path.id.0),
        csv.into_bytes(),
    ))
}

/// Year-end tax data as CSV: `1099-nec` (US payees on a W-9 paid at least the year's
/// threshold: $2,000 from 2026) or `1042-s` (foreign payees with tax withheld). Admin only.
#[utoipa::path(
    get, path = "/v1/programs/{id}/tax-reports/{year}", tag = "payouts", operation_id = "tax_report",
    params(("id" = Id, Path, description = "The program's id"), ("year" = i32, Path, minimum = 1970, maximum = 9998, description = "The calendar year (UTC)"), TaxReportQuery),
    responses((status = 200, description = "The report", content((String = "text/csv")))),
    security(("bearer" = []))
)]
pub async fn tax_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<TaxPath>,
    ApiQuery(q): ApiQuery<TaxReportQuery>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let year = path
        .year
        .0
        .parse::<i32>()
        .ok()
        .filter(|y| (1970..=9998).contains(y))
        .ok_or_else(|| ApiError::invalid("year", "must be a year, 1970 to 9998"))?;
    let csv = state
        .engine
        .tax_year_report(&path.id.0, year, q.form.as_str())
        .await?;
    Ok(attachment(
        "text/csv",
        &format!("{}-{}-{year}.csv", path.id.0, q.form.as_str()),
        csv.into_bytes(),
    ))
}

/// Notices recorded for a program's partners (`tax_form.required`: a payout was held for
/// want of a tax form), newest first. Admin only.
#[utoipa::path(
    get, path = "/v1/programs/{id}/notices", tag = "payouts", operation_id = "list_notices",
    params(("id" = Id, Path, description = "The program's id"), NoticeQuery),
    responses((status = 200, description = "The notices", body = Items<NoticeOut>)),
    security(("bearer" = []))
)]
pub async fn notices(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ProgramPath>,
    ApiQuery(q): ApiQuery<NoticeQuery>,
) -> Result<Json<Items<NoticeOut>>, ApiError> {
    caller.require_admin()?;
    let notices = state
        .engine
        .notices(&path.id.0, q.partner_id.as_ref().map(|p| p.0.as_str()))
        .await?;
    Ok(Json(Items {
        items: notices
            .into_iter()
            .map(|(kind, partner_id, subject, detail, at)| NoticeOut {
                kind,
                partner_id,
                subject,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                created_at: format_time(at),
            })
            .collect(),
    }))
}
