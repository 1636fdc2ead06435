//! The dashboard: one page and its script and style, embedded in the binary (no CDN).
//! It signs in with an API key kept in the tab's session storage and reads the same API
//! every client does; what a key may see is decided there, not in the page.

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

/// The page's content security policy: everything from this origin, nothing inline but
/// the styles the charts set.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut r = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The dashboard for partners and admins: sign in with an API key; a partner sees its
/// revenue, funnel, customers, ROI, earnings, balance and payouts, an admin the ranking,
/// forecast, churn risks and fraud alerts of any program.
#[utoipa::path(
    get, path = "/dashboard", tag = "operations", operation_id = "dashboard",
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html")),
    security(())
)]
pub async fn page() -> Response {
    let mut r = Html(include_str!("../../../assets/dashboard/index.html")).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

/// The dashboard's script.
#[utoipa::path(
    get, path = "/dashboard/app.js", tag = "operations", operation_id = "dashboard_script",
    responses((status = 200, description = "JavaScript", body = String, content_type = "text/javascript")),
    security(())
)]
pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/dashboard/app.js"),
    )
}

/// The dashboard's style sheet.
#[utoipa::path(
    get, path = "/dashboard/style.css", tag = "operations", operation_id = "dashboard_style",
    responses((status = 200, description = "CSS", body = String, content_type = "text/css")),
    security(())
)]
pub async fn style() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_bytes!("../../../assets/dashboard/style.css"),
    )
}
