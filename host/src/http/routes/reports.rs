//! `/affiliate/reports`: asynchronous reports as CSV or XLSX.

use crate::engine::ReportParams;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, idempotency_key};
use crate::http::wire::Key;
use crate::http::wire::reports::{ReportFormat, ReportIn, ReportOut};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A report's id in a path.
#[derive(Debug, Deserialize)]
pub struct ReportPath {
    id: Key,
}

/// Ask for a report: any analytics answer, the ledger or the payouts over a range, as CSV
/// or XLSX. Answers 202 with the job at once; `GET` it for its state and, when done, the
/// file. Text cells that begin with `=`, `+`, `-`, `@`, a tab or a carriage return are
/// prefixed with `'` so no spreadsheet reads them as formulas. An admin asks about any
/// program; a partner key about its own figures. With an `Idempotency-Key`, asking again
/// answers the same job.
///
/// Rules the document cannot express: as for the analytics paths; the ranking is for
/// admins (403).
#[utoipa::path(
    post, path = "/affiliate/reports/generate", tag = "reports", operation_id = "generate_report",
    params(("Idempotency-Key" = Option<Key>, Header, description = "The client's key: asking again with it answers the same job")),
    request_body = ReportIn,
    responses((status = 202, description = "The job, queued", body = ReportOut)),
    security(("bearer" = []))
)]
pub async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReportIn>,
) -> Result<(StatusCode, Json<ReportOut>), ApiError> {
    let key = idempotency_key(&headers)?;
    let params = ReportParams {
        program_id: body.program_id.map(|i| i.0),
        partner_id: body.partner_id.map(|i| i.0),
        from: body.from.map(|d| d.0),
        to: body.to.map(|d| d.0),
        time_zone: body.time_zone.map(|t| t.0),
        interval: body
            .interval
            .map(|i| {
                serde_json::to_value(i)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            })
            .unwrap_or_default(),
        group_by: body.group_by.map(|g| {
            match g {
                crate::http::wire::analytics::GroupBy::Partner => "partner",
                crate::http::wire::analytics::GroupBy::Currency => "currency",
                crate::http::wire::analytics::GroupBy::Channel => "channel",
                crate::http::wire::analytics::GroupBy::Campaign => "campaign",
            }
            .to_owned()
        }),
        by: body.by.map(|b| b.as_str().to_owned()),
    };
    let format = match body.format.unwrap_or(ReportFormat::Csv) {
        ReportFormat::Csv => "csv",
        ReportFormat::Xlsx => "xlsx",
    };
    let job = state
        .engine
        .request_report(
            &caller.scope,
            body.report.as_str(),
            format,
            &params,
            &caller.key_id,
            key.as_ref().map(|k| k.0.as_str()),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(job.into())))
}

/// A report job: its state and, when done, where its file is.
#[utoipa::path(
    get, path = "/affiliate/reports/{id}", tag = "reports", operation_id = "get_report",
    params(("id" = Key, Path, description = "The job's id")),
    responses((status = 200, description = "The job", body = ReportOut)),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ReportPath>,
) -> Result<Json<ReportOut>, ApiError> {
    Ok(Json(
        state
            .engine
            .report_job(&caller.scope, &path.id.0)
            .await?
            .into(),
    ))
}

/// A done report's file, with its media type.
///
/// Rules the document cannot express: the job is done (409 before).
#[utoipa::path(
    get, path = "/affiliate/reports/{id}/file", tag = "reports", operation_id = "download_report",
    params(("id" = Key, Path, description = "The job's id")),
    responses((status = 200, description = "The file", content(
        (String = "text/csv"),
        (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    ))),
    security(("bearer" = []))
)]
pub async fn file(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<ReportPath>,
) -> Result<Response, ApiError> {
    let (media_type, name, bytes) = state.engine.report_file(&caller.scope, &path.id.0).await?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
