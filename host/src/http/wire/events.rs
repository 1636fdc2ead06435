//! Click and lead events on the wire.

use super::{Id, Instant, Key, Text};
use crate::engine::{EventInput, EventKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKindText {
    /// A click on a partner's link.
    Click,
    /// A lead: a sign-up.
    Lead,
}

/// The class of user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserAgentClass {
    /// A desktop browser.
    Desktop,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A crawler or other robot.
    Bot,
    /// Anything else.
    Other,
}

impl UserAgentClass {
    fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::Bot => "bot",
            Self::Other => "other",
        }
    }
}

/// `POST /v1/events`, and an item of `POST /v1/events/batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// The client's id for the event: posting it again stores nothing new.
    pub id: Key,
    /// The program.
    pub program_id: Id,
    /// Click or lead.
    pub kind: EventKindText,
    /// The partner whose link it came through.
    pub partner_id: Id,
    /// When it happened.
    pub occurred_at: Instant,
    /// The visitor (a cookie or device id); stored only as a keyed hash.
    #[serde(default)]
    pub visitor_id: Option<Text<200>>,
    /// Campaign.
    #[serde(default)]
    pub campaign: Option<Text<200>>,
    /// Channel (`email`, `social`, `search`...).
    #[serde(default)]
    pub channel: Option<Text<100>>,
    /// The page the visitor landed on.
    #[serde(default)]
    pub landing_page: Option<Text<2000>>,
    /// The visitor's country (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub country: Option<Text<2>>,
    /// The class of the visitor's user agent.
    #[serde(default)]
    pub user_agent_class: Option<UserAgentClass>,
    /// For a lead, the id of the click it came from.
    #[serde(default)]
    pub click_id: Option<Key>,
}

impl From<EventIn> for EventInput {
    fn from(e: EventIn) -> Self {
        Self {
            program_id: e.program_id.0,
            id: e.id.0,
            kind: match e.kind {
                EventKindText::Click => EventKind::Click,
                EventKindText::Lead => EventKind::Lead,
            },
            partner_id: e.partner_id.0,
            occurred_at_ms: e.occurred_at.0,
            visitor_id: e.visitor_id.map(|t| t.0),
            campaign: e.campaign.map(|t| t.0),
            channel: e.channel.map(|t| t.0),
            landing_page: e.landing_page.map(|t| t.0),
            country: e.country.map(|t| t.0),
            user_agent_class: e.user_agent_class.map(|u| u.as_str().to_owned()),
            click_id: e.click_id.map(|k| k.0),
        }
    }
}

/// `POST /v1/events/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatchIn {
    /// Up to 10,000 events, each checked on its own.
    #[schema(value_type = Vec<EventIn>, max_items = 10000)]
    pub events: Vec<serde_json::Value>,
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored now.
    Created,
    /// Its id was stored before: nothing changed.
    Duplicate,
    /// Refused: see `error`.
    Error,
}

/// One event's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    /// The event's id.
    pub id: String,
    /// What happened.
    pub status: EventStatus,
}

/// One item's outcome in a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventItemOut {
    /// Its position in the request.
    pub index: usize,
    /// What happened.
    pub status: EventStatus,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::http::error::Problem>,
}

/// `POST /v1/events/batch`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBatchOut {
    /// Events stored now.
    pub created: usize,
    /// Events stored before.
    pub duplicates: usize,
    /// Events refused.
    pub errors: usize,
    /// Every item, in request order.
    pub results: Vec<EventItemOut>,
}
