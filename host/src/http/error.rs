//! `ApiError`: every failure as an RFC 9457 problem document with a stable `type`.
//! 4xx bodies say what was wrong; 5xx bodies say nothing internal and carry the request
//! id, which is logged with the detail.

use crate::engine::EngineError;
use crate::plugins::{Failure, ValidationError};
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

tokio::task_local! {
    /// The id of the request being handled (set by the request-id middleware).
    pub static REQUEST_ID: String;
}

/// Prefix of every problem `type`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:accrue:problem:";

/// An error answered as a problem document.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable slug, the part of `type` after the prefix.
    pub kind: &'static str,
    /// Short summary.
    pub title: &'static str,
    /// What exactly was wrong (4xx only; never shown for 5xx).
    pub detail: String,
    /// The request field at fault, for validation errors.
    pub field: Option<String>,
    /// Seconds after which a retry may succeed (a `Retry-After` header), for 503s.
    pub retry_after_s: Option<u64>,
}

/// A problem document (RFC 9457), the body of every error answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:accrue:problem:<kind>`: stable, one per kind of problem.
    #[serde(rename = "type")]
    #[schema(pattern = r"^urn:accrue:problem:[a-z0-9-]+$")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What exactly was wrong (for a 500: only that the server failed; the request id
    /// finds the detail in the logs).
    pub detail: String,
    /// The request field at fault, for validation errors (a JSON path such as
    /// `touchpoints[0].occurred_at`, or a parameter's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request's id, also in the `x-request-id` header and in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    /// A 4xx problem.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            field: None,
            retry_after_s: None,
        }
    }

    /// Ask the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    /// Name the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 for a request that cannot be read.
    pub fn bad_request(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, "Bad request", detail)
    }

    /// 422 for a well-formed request with invalid content.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "Invalid input",
            detail,
        )
        .with_field(field)
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{} not found", what.into()),
        )
    }

    /// The problem document (without the request id), its detail hidden for a 500.
    pub fn problem(&self) -> Problem {
        let detail = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            "The server failed to handle this request. Quote the request_id when reporting it."
                .to_owned()
        } else {
            self.detail.clone()
        };
        Problem {
            kind: format!("{PROBLEM_TYPE_PREFIX}{}", self.kind),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail,
            field: self.field.clone(),
            request_id: None,
        }
    }

    /// 500: the detail is logged, never sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail.to_string(),
        )
    }
}

impl From<EngineError> for ApiError {
    /// Status, title and field per error; the `type` is always [`EngineError::kind`], so a
    /// kind is written in one place.
    fn from(e: EngineError) -> Self {
        use StatusCode as S;
        let detail = e.to_string();
        let kind = e.kind();
        let (status, title, field, retry_after_s) = match &e {
            EngineError::Domain(d) => {
                use crate::domain::DomainError as D;
                let field = match d {
                    D::Invalid { field, .. }
                    | D::BadRate { field, .. }
                    | D::WithdrawnCurrency { field, .. } => Some(field.clone()),
                    D::NegativeAmount { field, .. } | D::AmountTooLarge { field, .. } => {
                        Some((*field).to_owned())
                    }
                    D::UnknownCurrency(_) => Some("currency".into()),
                    D::TooPrecise { .. } => Some("amount".into()),
                    _ => None,
                };
                (S::UNPROCESSABLE_ENTITY, "Invalid input", field, None)
            }
            EngineError::UnknownProgram(_) => (
                S::UNPROCESSABLE_ENTITY,
                "Unknown program",
                Some("program_id".into()),
                None,
            ),
            EngineError::UnknownPartner(_) => (
                S::UNPROCESSABLE_ENTITY,
                "Unknown partner",
                Some("touchpoints".into()),
                None,
            ),
            EngineError::PartnerOutsideProgram { .. } => (
                S::UNPROCESSABLE_ENTITY,
                "Partner outside program",
                Some("touchpoints".into()),
                None,
            ),
            EngineError::IdempotencyConflict(_) => {
                (S::CONFLICT, "Idempotency key reused", None, None)
            }
            EngineError::Conflict(_) | EngineError::Store(StoreError::Conflict(_)) => {
                (S::CONFLICT, "Conflict", None, None)
            }
            EngineError::Forbidden(_) => (S::FORBIDDEN, "Forbidden", None, None),
            EngineError::Invalid { .. } => (S::UNPROCESSABLE_ENTITY, "Invalid request", None, None),
            EngineError::Profile(p) => (
                S::UNPROCESSABLE_ENTITY,
                "Invalid input",
                Some(p.field.to_owned()),
                None,
            ),
            // An operator must configure the key; retrying will not help before that.
            EngineError::SecretsKeyMissing => {
                (S::SERVICE_UNAVAILABLE, "Secrets key missing", None, None)
            }
            EngineError::Rejected(v) => return Self::from(v.clone()),
            EngineError::NotFound(what) => return Self::not_found(what.clone()),
            EngineError::Plugin(p) => match &p.failure {
                // Not the client's fault, and over soon: the plug-in is still compiling
                // (after an upload or a restart), or every instance slot is busy.
                Failure::NotReady => (S::SERVICE_UNAVAILABLE, "Plug-in not ready", None, Some(2)),
                Failure::Instantiate(_) => (
                    S::SERVICE_UNAVAILABLE,
                    "Plug-in capacity exhausted",
                    None,
                    Some(1),
                ),
                Failure::Suspended { retry_after_s } => (
                    S::SERVICE_UNAVAILABLE,
                    "Plug-in suspended",
                    None,
                    Some(*retry_after_s),
                ),
                // This host cannot compile a stored plug-in: an operator must act.
                Failure::Unavailable(_) => {
                    (S::SERVICE_UNAVAILABLE, "Plug-in unavailable", None, None)
                }
                _ => (S::UNPROCESSABLE_ENTITY, "A plug-in failed", None, None),
            },
            EngineError::Store(StoreError::MissingReference(_)) => {
                (S::UNPROCESSABLE_ENTITY, "Missing reference", None, None)
            }
            EngineError::Store(_) | EngineError::Internal(_) => {
                return Self::internal(detail);
            }
        };
        Self {
            status,
            kind,
            title,
            detail,
            field,
            retry_after_s,
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let status = match e {
            ValidationError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        // The same kind as `EngineError::Rejected(e).kind()`.
        Self::new(status, e.kind(), "Plug-in rejected", e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        EngineError::Store(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = REQUEST_ID.try_with(Clone::clone).ok();
        // A 500 is a fault of ours: its detail may say anything, so it is logged, not sent.
        // Other 5xx (503: not ready, busy) are conditions whose detail helps the client.
        let server_error = self.status == StatusCode::INTERNAL_SERVER_ERROR;
        if server_error {
            tracing::error!(
                request_id = request_id.as_deref().unwrap_or("-"),
                kind = self.kind,
                "{}",
                self.detail
            );
        }
        let body = Problem {
            request_id,
            ..self.problem()
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.kind == "plugin-suspended" {
            response.extensions_mut().insert(PauseBeforeAnswering);
        }
        response
    }
}

/// Marks an answer the service sends only after a pause of a second: the refusal of a
/// suspended plug-in's evaluation. A client retrying it at once in a loop, as a broken
/// integration or an attacker does, would otherwise turn the cheap refusal into a flood of
/// requests that costs the neighbours as much as the evaluations did. The pause is taken
/// once per request (by the request layer), whatever the number of refused evaluations in
/// it, and costs the service a timer, not a thread.
#[derive(Debug, Clone, Copy)]
pub struct PauseBeforeAnswering;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body_of(e: ApiError) -> (StatusCode, String, serde_json::Value) {
        let response = REQUEST_ID
            .scope("req-123".to_owned(), async { e.into_response() })
            .await;
        let status = response.status();
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, ct, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn server_errors_hide_their_detail_and_carry_the_request_id() {
        let (status, ct, body) =
            body_of(ApiError::internal("password=hunter2 at db.internal:5432")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ct, "application/problem+json");
        assert_eq!(body["type"], "urn:accrue:problem:internal");
        assert_eq!(body["request_id"], "req-123");
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }

    #[tokio::test]
    async fn client_errors_say_what_was_wrong() {
        let (status, _, body) = body_of(ApiError::invalid("amount", "must be positive")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["detail"], "must be positive");
        assert_eq!(body["field"], "amount");
    }
    #[tokio::test]
    async fn internal_faults_are_500s_that_leak_nothing() {
        // What used to travel as 409 `conflict`: the engine's internal faults.
        for fault in [
            "stored plug-in digest \"sha256:zz\" does not parse",
            "unreadable provenance: expected value at line 1 column 1",
            "bonus vanished",
        ] {
            let (status, _, body) =
                body_of(ApiError::from(EngineError::Internal(fault.to_owned()))).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{fault}");
            assert_eq!(body["type"], "urn:accrue:problem:internal");
            assert!(!body.to_string().contains(fault), "{body}");
        }
        let (status, _, body) = body_of(ApiError::from(EngineError::Conflict(
            "refund too large".into(),
        )))
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["detail"], "refund too large");
    }

    #[tokio::test]
    async fn a_full_instance_pool_is_503_with_retry_after() {
        let e = EngineError::Plugin(crate::plugins::EvalError {
            digest: crate::plugins::Digest::of(b"x"),
            label: String::new(),
            failure: Failure::Instantiate("maximum concurrent instance limit reached".into()),
        });
        assert_eq!(e.kind(), "plugin-busy");
        let response = ApiError::from(e).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn the_problem_type_is_the_engine_errors_kind() {
        let cases = [
            EngineError::NotFound("x".into()),
            EngineError::Forbidden("x".into()),
            EngineError::IdempotencyConflict("idempotency key \"k\"".into()),
            EngineError::Conflict("x".into()),
            EngineError::Internal("x".into()),
            EngineError::UnknownProgram("p".into()),
            EngineError::Store(StoreError::MissingReference("x".into())),
            EngineError::SecretsKeyMissing,
            EngineError::Profile(crate::engine::ProfileError::new("tin-invalid", "tin", "x")),
        ];
        for e in cases {
            let kind = e.kind();
            assert_eq!(ApiError::from(e).kind, kind);
        }
    }
}
