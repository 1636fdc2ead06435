//! The API document: its header (info, security, tags), and the parts every operation
//! shares, added once here rather than on each handler: the problem answers.

use super::cursor::CursorText;
use super::error::Problem;
use super::wire::ledger::StatusText;
use super::wire::{Id, Instant, Key, Text};
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, ResponseBuilder, path::Operation,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Accrue",
        description = "A commission engine for affiliate and partner revenue sharing. Amounts \
            and rates are decimal strings, never JSON numbers; instants are RFC 3339. Every \
            error is an RFC 9457 problem document (`application/problem+json`) with a stable \
            `type`. Keys go in `Authorization: Bearer <key>`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/", description = "This service")),
    tags(
        (name = "programs", description = "Programs, their plug-ins, tiers and rate tables"),
        (name = "partners", description = "Partners and their balances"),
        (name = "fx", description = "FX rates"),
        (name = "plugins", description = "Rule plug-ins (WebAssembly components)"),
        (name = "conversions", description = "Conversions, quotes, refunds, replays"),
        (name = "ledger", description = "Commissions, adjustments, disputes"),
        (name = "keys", description = "API keys"),
        (name = "payouts", description = "Payouts: partners' methods and tax profiles, withholding rules, schedules, runs, payment files, bank feedback, statements and tax data"),
        (name = "events", description = "Click and lead events for the funnel"),
        (name = "analytics", description = "The reporting paths: revenue, the funnel, customers, ROI, ranking, forecast, churn"),
        (name = "fraud", description = "Fraud alerts and their resolution"),
        (name = "reports", description = "Asynchronous reports as CSV and XLSX"),
        (name = "operations", description = "Health, metrics, this document, the dashboard"),
    ),
    modifiers(&Bearer),
    // Types that only parameters use, so that their references resolve.
    components(schemas(
        Problem, Id, Key, Instant, Text<50>, Text<100>, Text<200>, CursorText, StatusText,
        crate::http::wire::analytics::Date, crate::http::wire::analytics::IntervalText,
        crate::http::wire::analytics::GroupBy, crate::http::wire::analytics::RankBy,
        crate::http::wire::fraud::AlertStatus
    ))
)]
struct Header;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("acc_<64 hex digits>".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The document's header, before the routes add their operations.
pub fn base() -> Document {
    let mut doc = Header::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The problem answers an operation may give, with what they mean.
const PROBLEMS: &[(&str, &str)] = &[
    (
        "400",
        "The request cannot be read: malformed JSON, a value of the wrong type, an unknown or missing field, bad path encoding",
    ),
    ("401", "No key, or an unknown or revoked one"),
    ("403", "The key's scope does not allow this"),
    ("404", "No such resource (or not one this key may see)"),
    ("405", "The route exists, not with this method"),
    (
        "409",
        "Conflicts with the current state (already exists, already resolved, an idempotency key reused with another payload)",
    ),
    ("413", "The body is too large"),
    ("414", "The request target is too long"),
    ("415", "The body is not of the expected media type"),
    ("422", "A value breaks a rule; `field` names it"),
    (
        "500",
        "The server failed; the detail is logged under `request_id`",
    ),
];

/// Add the shared problem answers to every operation (each only where the operation does
/// not describe that status itself), and a 503 with `Retry-After` (not ready, a plug-in
/// still compiling, capacity exhausted).
pub fn finish(mut doc: Document) -> Document {
    super::wire::payout_profiles::close_method_variants(&mut doc);
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_problems(op);
        }
    }
    doc
}

fn problem_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

fn add_problems(op: &mut Operation) {
    let responses = &mut op.responses.responses;
    for (status, description) in PROBLEMS {
        responses.entry((*status).to_owned()).or_insert_with(|| {
            ResponseBuilder::new()
                .description(*description)
                .content("application/problem+json", problem_content())
                .into()
        });
    }
    responses.entry("503".to_owned()).or_insert_with(|| {
        ResponseBuilder::new()
            .description(
                "Not ready, or a plug-in the request needs is still compiling, or capacity is \
                 exhausted: retry after the given seconds; or the service has no secrets key \
                 to seal payout details with (`secrets-key-missing`, no Retry-After)",
            )
            .content("application/problem+json", problem_content())
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::schema::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::Integer)
                            .minimum(Some(0))
                            .build(),
                    ))
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            )
            .into()
    });
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn document() -> Value {
        serde_json::to_value(crate::http::document()).expect("serialises")
    }

    /// Every `$ref` in `v`.
    fn refs(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        if let Some(r) = v.as_str() {
                            out.insert(r.to_owned());
                        }
                    } else {
                        refs(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// The document is complete: every operation named, summarised, secured or marked
    /// public, its path parameters declared, its body typed, its success and problem
    /// answers typed; every reference resolves.
    #[test]
    fn every_operation_is_fully_described() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let schemas = &doc["components"]["schemas"];
        let mut all_refs = BTreeSet::new();
        refs(&doc, &mut all_refs);
        for r in &all_refs {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(schemas.get(name).is_some(), "dangling reference {r}");
        }
        let paths = doc["paths"].as_object().expect("paths");
        let mut operations = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("item") {
                operations += 1;
                let what = format!("{} {path}", method.to_uppercase());
                assert!(op["operationId"].is_string(), "{what}: operationId");
                assert!(op["summary"].is_string(), "{what}: summary");
                assert!(op["security"].is_array(), "{what}: security declared");
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                for segment in path.split('/').filter(|s| s.starts_with('{')) {
                    let name = segment.trim_matches(|c| c == '{' || c == '}');
                    assert!(
                        params
                            .iter()
                            .any(|p| p["name"] == name && p["in"] == "path"),
                        "{what}: path parameter {name}"
                    );
                }
                for p in &params {
                    assert!(
                        p["schema"].is_object(),
                        "{what}: {} has a schema",
                        p["name"]
                    );
                }
                // A step of a payout run (approve, export) is an action on the resource
                // the path names: it takes no body.
                let action = path.ends_with("/approve") || path.ends_with("/export");
                if action {
                    assert!(op["requestBody"].is_null(), "{what}: no body");
                } else if ["post", "put", "patch"].contains(&method.as_str()) {
                    assert_eq!(op["requestBody"]["required"], true, "{what}: a body");
                    let content = op["requestBody"]["content"].as_object().expect("content");
                    for (media, c) in content {
                        assert!(c["schema"].is_object(), "{what}: {media} body schema");
                    }
                }
                let responses = op["responses"].as_object().expect("responses");
                let success: Vec<_> = responses
                    .iter()
                    .filter(|(code, _)| code.starts_with('2'))
                    .collect();
                assert!(!success.is_empty(), "{what}: a success answer");
                for (code, r) in success {
                    if code == "204" {
                        continue;
                    }
                    let content = r["content"].as_object().expect("answer content");
                    assert!(
                        content.values().all(|c| c["schema"].is_object()),
                        "{what}: {code} typed"
                    );
                }
                for code in ["400", "401", "403", "404", "415", "422", "500", "503"] {
                    assert_eq!(
                        responses[code]["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{what}: {code} is a problem document"
                    );
                }
                assert!(
                    responses["503"]["headers"]["Retry-After"].is_object(),
                    "{what}: 503 says when to retry"
                );
            }
        }
        assert!(operations >= 33, "{operations} operations");
        let metrics = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
        assert!(
            metrics["text/plain"].is_object(),
            "/metrics is text: {metrics}"
        );
    }

    /// Every decimal a request carries is a string with its grammar's pattern, never a
    /// JSON number.
    #[test]
    fn amounts_are_strings_with_their_pattern() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for (name, pattern) in [
            ("Amount", crate::http::wire::decimal::AMOUNT_PATTERN),
            ("Rate", crate::http::wire::decimal::RATE_PATTERN),
            ("FxRate", crate::http::wire::decimal::FX_RATE_PATTERN),
            ("Decimal", crate::http::wire::decimal::ANSWER_PATTERN),
        ] {
            assert_eq!(schemas[name]["type"], "string", "{name}");
            assert_eq!(schemas[name]["pattern"], pattern, "{name}");
        }
        assert_eq!(
            schemas["ConversionIn"]["properties"]["amount"]["$ref"],
            "#/components/schemas/Amount"
        );
        assert_eq!(
            schemas["CommissionLineOut"]["properties"]["amount"]["$ref"],
            "#/components/schemas/Decimal"
        );
    }
}
