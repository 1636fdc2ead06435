//! The OpenAPI 3.1 document served at `/openapi.json`. A test checks that it lists exactly
//! the routes the router serves.

use serde_json::{Value, json};

/// (method, path, summary, request schema, success status, response schema, scopes).
type Operation = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    u16,
    &'static str,
    &'static str,
);

const OPERATIONS: &[Operation] = &[
    ("get", "/healthz", "Liveness", None, 200, "Status", "none"),
    (
        "get",
        "/readyz",
        "Readiness: the database answers",
        None,
        200,
        "Status",
        "none",
    ),
    (
        "get",
        "/metrics",
        "Prometheus metrics (text)",
        None,
        200,
        "Text",
        "none",
    ),
    (
        "get",
        "/openapi.json",
        "This document",
        None,
        200,
        "Object",
        "none",
    ),
    (
        "post",
        "/v1/programs",
        "Create a program",
        Some("ProgramIn"),
        201,
        "Program",
        "admin",
    ),
    (
        "get",
        "/v1/programs",
        "List programs",
        None,
        200,
        "ProgramList",
        "admin",
    ),
    (
        "get",
        "/v1/programs/{id}",
        "Show a program",
        None,
        200,
        "Program",
        "admin, plugin_author (own)",
    ),
    (
        "patch",
        "/v1/programs/{id}",
        "Change a program; new rates are a new version",
        Some("ProgramPatch"),
        200,
        "Program",
        "admin, plugin_author (bindings only)",
    ),
    (
        "post",
        "/v1/programs/{id}/periods/close",
        "Close a period: the bonus plug-in decides each partner's bonus, once",
        Some("CloseIn"),
        200,
        "Object",
        "admin",
    ),
    (
        "post",
        "/v1/partners",
        "Create a partner (client-chosen id)",
        Some("PartnerIn"),
        201,
        "Partner",
        "admin",
    ),
    (
        "get",
        "/v1/partners",
        "List partners",
        None,
        200,
        "PartnerList",
        "admin",
    ),
    (
        "get",
        "/v1/partners/{id}",
        "Show a partner",
        None,
        200,
        "Partner",
        "admin, partner (own)",
    ),
    (
        "patch",
        "/v1/partners/{id}",
        "Change a partner; a tier change is effective-dated",
        Some("PartnerPatch"),
        200,
        "Partner",
        "admin",
    ),
    (
        "get",
        "/v1/partners/{id}/balance",
        "A partner's balances by payout currency",
        None,
        200,
        "Balance",
        "admin, partner (own)",
    ),
    (
        "put",
        "/v1/fx-rates",
        "Record an effective-dated FX rate",
        Some("FxRate"),
        200,
        "FxRate",
        "admin",
    ),
    (
        "get",
        "/v1/fx-rates",
        "List FX rates",
        None,
        200,
        "FxRateList",
        "admin, partner",
    ),
    (
        "post",
        "/v1/plugins",
        "Upload a plug-in component (application/wasm)",
        Some("Wasm"),
        201,
        "Plugin",
        "admin, plugin_author",
    ),
    (
        "get",
        "/v1/plugins",
        "List plug-ins",
        None,
        200,
        "PluginList",
        "admin, plugin_author",
    ),
    (
        "get",
        "/v1/plugins/{digest}",
        "Show a plug-in",
        None,
        200,
        "Plugin",
        "admin, plugin_author",
    ),
    (
        "post",
        "/v1/conversions",
        "Post a conversion (Idempotency-Key header or body id)",
        Some("ConversionIn"),
        201,
        "ConversionResult",
        "admin",
    ),
    (
        "post",
        "/v1/conversions/batch",
        "Post up to 1,000 conversions",
        Some("BatchIn"),
        200,
        "BatchResult",
        "admin",
    ),
    (
        "post",
        "/v1/quotes",
        "What a conversion would earn; nothing stored",
        Some("ConversionIn"),
        200,
        "ConversionResult",
        "admin",
    ),
    (
        "post",
        "/v1/conversions/{id}/refunds",
        "Refund a conversion fully or partly",
        Some("RefundIn"),
        201,
        "RefundResult",
        "admin",
    ),
    (
        "get",
        "/v1/conversions/{id}/replay",
        "Re-price a stored conversion from its provenance and compare bit for bit",
        None,
        200,
        "Object",
        "admin",
    ),
    (
        "get",
        "/v1/commissions",
        "Ledger entries, filtered, cursor-paginated",
        None,
        200,
        "EntryList",
        "admin, partner (own)",
    ),
    (
        "post",
        "/v1/adjustments",
        "Re-price a date range retroactively",
        Some("AdjustmentIn"),
        200,
        "AdjustmentReport",
        "admin",
    ),
    (
        "post",
        "/v1/disputes",
        "Open a dispute: freezes the entries",
        Some("DisputeIn"),
        201,
        "Dispute",
        "admin, partner (own)",
    ),
    (
        "get",
        "/v1/disputes",
        "List disputes",
        None,
        200,
        "DisputeList",
        "admin",
    ),
    (
        "post",
        "/v1/disputes/{id}/resolve",
        "Resolve a dispute: upheld reverses, rejected releases",
        Some("ResolveIn"),
        200,
        "Dispute",
        "admin",
    ),
    (
        "post",
        "/v1/api-keys",
        "Create an API key (the secret is shown once)",
        Some("ApiKeyIn"),
        201,
        "ApiKey",
        "admin",
    ),
    (
        "get",
        "/v1/api-keys",
        "List API keys",
        None,
        200,
        "ApiKeyList",
        "admin",
    ),
    (
        "delete",
        "/v1/api-keys/{id}",
        "Revoke an API key",
        None,
        204,
        "Empty",
        "admin",
    ),
];

fn decimal() -> Value {
    json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "An exact decimal as a string, e.g. \"129.90\"; never a JSON number." })
}

fn schemas() -> Value {
    let plugin_ref = json!({ "type": "object", "required": ["plugin"], "additionalProperties": false, "properties": {
        "plugin": { "type": "string", "description": "A built-in name (first-touch, last-touch, linear, position-based, time-decay, tier-bonus, geo-rates) or sha256:<hex>" },
        "config": { "type": "object" } } });
    let tier = json!({ "type": "object", "additionalProperties": false, "required": ["base", "bonus"], "properties": { "base": decimal(), "bonus": decimal() } });
    let volume = json!({ "type": "object", "additionalProperties": false, "required": ["metric", "threshold", "add_rate"], "properties": {
        "metric": { "enum": ["conversions", "revenue"] }, "threshold": decimal(), "add_rate": decimal() } });
    let touchpoint = json!({ "type": "object", "additionalProperties": false, "required": ["partner_id", "channel", "occurred_at"], "properties": {
        "partner_id": { "type": "string" }, "channel": { "type": "string" }, "occurred_at": { "type": "string", "format": "date-time" }, "campaign": { "type": "string" } } });
    json!({
        "Problem": { "type": "object", "description": "RFC 9457 problem details", "properties": {
            "type": { "type": "string", "description": "urn:accrue:problem:<kind>, stable" }, "title": { "type": "string" },
            "status": { "type": "integer" }, "detail": { "type": "string" }, "field": { "type": "string" }, "request_id": { "type": "string" } } },
        "PluginRef": plugin_ref,
        "TierRate": tier,
        "VolumeTier": volume,
        "ProgramIn": { "type": "object", "additionalProperties": false, "required": ["id", "name", "currency", "attribution"], "properties": {
            "id": { "type": "string" }, "name": { "type": "string" }, "currency": { "type": "string" },
            "attribution": { "$ref": "#/components/schemas/PluginRef" }, "geo_rate": { "$ref": "#/components/schemas/PluginRef" },
            "bonus": { "$ref": "#/components/schemas/PluginRef" }, "lookback_days": { "type": "integer" }, "hold_days": { "type": "integer" },
            "max_bonus_share": decimal(),
            "tiers": { "type": "object", "additionalProperties": { "$ref": "#/components/schemas/TierRate" } },
            "volume_tiers": { "type": "array", "items": { "$ref": "#/components/schemas/VolumeTier" } } } },
        "ConversionIn": { "type": "object", "additionalProperties": false, "required": ["program_id", "amount", "currency", "occurred_at"], "properties": {
            "program_id": { "type": "string" }, "id": { "type": "string" }, "amount": decimal(), "currency": { "type": "string" },
            "occurred_at": { "type": "string", "format": "date-time" }, "customer_id": { "type": "string" }, "country": { "type": "string" },
            "region": { "type": "string" }, "new_customer": { "type": "boolean" }, "attributes": { "type": "object" },
            "touchpoints": { "type": "array", "items": touchpoint } } },
        "ConversionResult": { "type": "object", "properties": {
            "program_id": { "type": "string" }, "conversion_id": { "type": "string" }, "amount": decimal(), "currency": { "type": "string" },
            "commissions": { "type": "array", "items": { "type": "object", "properties": {
                "partner_id": { "type": "string" }, "share": decimal(), "attributed_amount": decimal(), "rate": decimal(), "amount": decimal(),
                "currency": { "type": "string" }, "payout_amount": decimal(), "payout_currency": { "type": "string" }, "fx_rate": decimal(),
                "status": { "type": "string" } } } } } },
        "Object": { "type": "object" },
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, request, status, response, scopes) in OPERATIONS {
        let mut op = json!({
            "summary": summary,
            "description": format!("Keys: {scopes}."),
            "responses": {
                status.to_string(): { "description": "Success", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{}", if schemas().get(*response).is_some() { response } else { &"Object" }) } } } },
                "4XX": { "description": "The request was wrong", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } },
                "5XX": { "description": "The server failed (the body carries a request id)", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } },
            },
        });
        if *scopes != "none" {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if let Some(req) = request {
            let content = if *req == "Wasm" {
                json!({ "application/wasm": { "schema": { "type": "string", "format": "binary" } } })
            } else if schemas().get(*req).is_some() {
                json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{req}") } } })
            } else {
                json!({ "application/json": { "schema": { "type": "object" } } })
            };
            op["requestBody"] = json!({ "required": true, "content": content });
        }
        paths.entry(path.to_string()).or_insert_with(|| json!({}))[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Accrue", "version": env!("CARGO_PKG_VERSION"), "description": "Commission engine with sandboxed WebAssembly rule plug-ins. Amounts are decimal strings; errors are application/problem+json." },
        "paths": paths,
        "components": { "schemas": schemas(), "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ROUTES;

    #[test]
    fn documents_exactly_the_served_routes() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (path, ops) in paths {
            for method in ops.as_object().expect("ops").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }
}
