//! Extractors whose every refusal is a problem document: JSON bodies, path parameters and
//! query strings. Axum's own extractors answer `text/plain` (or nothing); these wrap them
//! and name the field at fault.
//!
//! Status by cause: a body that is not JSON at all is 400 `malformed-json`; JSON of the
//! wrong shape (a number for a string, an unknown or missing field, an array for an
//! object) is 400 `invalid-body`; a value of the right shape that breaks a rule of the API
//! (a control character, a malformed amount, an unknown currency, a bad date) is 422 with
//! the rule's own kind. Path and query values are all 422 `invalid-input`, with the
//! parameter named; bad percent-encoding or UTF-8 in a path is 400 `invalid-path`.

use super::error::ApiError;
use super::wire::{Key, clear_rejection, take_rejection};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// A JSON body deserialized with the path of any error.
pub struct ApiJson<T>(pub T);

/// The error of a value refused while being read: 422 with the rule's kind when a grammar
/// newtype refused it, otherwise `otherwise`.
fn refusal(message: &str, path: &str, otherwise: impl FnOnce(String) -> ApiError) -> ApiError {
    let detail = if path.is_empty() || path == "." {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    };
    let error = match take_rejection(message) {
        Some(kind) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            kind,
            "Invalid input",
            detail,
        ),
        None => otherwise(detail),
    };
    if path.is_empty() || path == "." {
        error
    } else {
        error.with_field(path)
    }
}

/// Parse a JSON object into `T`, naming the field at fault on error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Serde's derived structs also accept a JSON array of their fields in order; the API's
    // bodies are objects, so anything else is refused before it is read.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid-body",
                "the body must be a JSON object",
            ));
        }
        None => return Err(ApiError::bad_request("malformed-json", "the body is empty")),
    }
    clear_rejection();
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request("malformed-json", message);
        }
        refusal(&message, &path, |detail| {
            ApiError::bad_request("invalid-body", detail)
        })
    })
}

/// Parse a JSON object from a serde value (an item of a batch).
pub fn parse_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(ApiError::internal)?;
    parse_json(&bytes)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let v = v.trim_start().to_ascii_lowercase();
                v.starts_with("application/json") || v.contains("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_rejection(e.status(), e.body_text()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The problem for a body axum would not read (too large, or a broken stream).
pub fn body_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "body-too-large", "Body too large", text)
    } else {
        ApiError::bad_request("unreadable-body", text)
    }
}

/// Path parameters, deserialized into `T` (a tuple or a struct).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Axum's `Path` decodes the percent-encoding and refuses bad UTF-8; its own
        // deserializer cannot name the parameter for serde_path_to_error, so the
        // parameters are taken as strings and deserialized again here.
        let raw = axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid-path", e.body_text()))?;
        let object: serde_json::Map<String, serde_json::Value> = raw
            .0
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        clear_rejection();
        let value = serde_json::Value::Object(object);
        let result: Result<T, _> = serde_path_to_error::deserialize(&value);
        result.map(ApiPath).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            refusal(&message, &path, |detail| ApiError::invalid(&path, detail))
        })
    }
}

/// A query string, deserialized into `T`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        clear_rejection();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        let result: Result<T, _> = serde_path_to_error::deserialize(de);
        result.map(ApiQuery).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            let field = if path.is_empty() || path == "." {
                "query".to_owned()
            } else {
                path.clone()
            };
            refusal(&message, &path, |detail| ApiError::invalid(&field, detail)).with_field(field)
        })
    }
}

/// The `Idempotency-Key` header, if sent: a [`Key`].
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<Key>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII or UTF-8 text"))?;
    Key::parse(text)
        .map(Some)
        .map_err(|e| ApiError::invalid("Idempotency-Key", e))
}
