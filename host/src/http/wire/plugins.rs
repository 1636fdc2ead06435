//! Plug-ins: uploads and their records.

use super::{Id, Text, format_time};
use crate::store::PluginRecord;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// Query of `POST /v1/plugins`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Its name (default "unnamed").
    #[param(value_type = Option<Text<100>>, min_length = 1)]
    pub name: Option<Text<100>>,
    /// Its version label (default "0.0.0").
    #[param(value_type = Option<Text<50>>, min_length = 1)]
    pub version: Option<Text<50>>,
    /// The program it is for (admins; a plug-in author's uploads are its program's).
    #[param(value_type = Option<Id>)]
    pub program_id: Option<Id>,
}

/// The body of an upload: the component's bytes.
pub struct WasmComponent;

impl PartialSchema for WasmComponent {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .content_media_type("application/wasm")
            .description(Some("A WebAssembly component exporting one Accrue hook."))
            .into()
    }
}

impl ToSchema for WasmComponent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("WasmComponent")
    }
}

/// A plug-in, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginOut {
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// Name.
    pub name: String,
    /// Version label.
    pub version: String,
    /// The hook: attribution, bonus or geo-rate.
    pub world: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// The program it belongs to (`null`: the platform's).
    pub program_id: Option<String>,
    /// Shipped with the service.
    pub builtin: bool,
    /// Stored at (RFC 3339).
    pub created_at: String,
    /// The `accrue:rules` version of its export, once compiled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit_version: Option<String>,
    /// Whether it carries the SDK's version section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_section_present: Option<bool>,
    /// The SDK version the section records (`null` without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_wit_version: Option<Option<String>>,
    /// ready, compiling, failed or unknown (on this replica).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why it failed to compile, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
}

impl From<PluginRecord> for PluginOut {
    fn from(p: PluginRecord) -> Self {
        Self {
            digest: p.digest,
            name: p.name,
            version: p.version,
            world: p.world.as_str().to_owned(),
            size_bytes: p.size_bytes,
            program_id: p.owner_program_id,
            builtin: p.builtin,
            created_at: format_time(p.created_at_ms),
            wit_version: None,
            sdk_section_present: None,
            sdk_wit_version: None,
            status: None,
            status_detail: None,
        }
    }
}
