//! API keys.

use super::{Id, Text, format_time};
use crate::store::ApiKeyRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeText {
    /// Everything.
    Admin,
    /// One partner's own data (needs `partner_id`).
    Partner,
    /// One program's plug-ins (needs `program_id`).
    PluginAuthor,
}

/// `POST /v1/api-keys`. A partner key needs `partner_id`; a plug-in author key needs
/// `program_id`; the other id is ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    /// admin, partner or plugin_author.
    pub scope: ScopeText,
    /// For a partner key: the partner.
    #[serde(default)]
    pub partner_id: Option<Id>,
    /// For a plug-in author key: the program.
    #[serde(default)]
    pub program_id: Option<Id>,
    /// A note.
    #[serde(default)]
    pub label: Option<Text<200>>,
}

/// An API key, as answered (never its secret, except once when created).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    /// The key's public id.
    pub id: String,
    /// admin, partner or plugin_author.
    pub scope: String,
    /// Its partner, for a partner key.
    pub partner_id: Option<String>,
    /// Its program, for a plug-in author key.
    pub program_id: Option<String>,
    /// The note.
    pub label: String,
    /// Created at (RFC 3339).
    pub created_at: String,
    /// Revoked at (RFC 3339), if revoked.
    pub revoked_at: Option<String>,
    /// The secret: only in the answer that created the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<&ApiKeyRecord> for KeyOut {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            scope: k.scope.name().to_owned(),
            partner_id: k.scope.partner_id().map(str::to_owned),
            program_id: k.scope.program_id().map(str::to_owned),
            label: k.label.clone(),
            created_at: format_time(k.created_at_ms),
            revoked_at: k.revoked_at_ms.map(format_time),
            key: None,
        }
    }
}

/// `GET /v1/me`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MeOut {
    /// The key's public id.
    pub key_id: String,
    /// `admin`, `partner` or `plugin_author`.
    pub scope: String,
    /// A partner key's partner.
    pub partner_id: Option<String>,
    /// The program a partner or plug-in author key belongs to.
    pub program_id: Option<String>,
}
