//! Report jobs on the wire.

use super::analytics::{Date, GroupBy, IntervalText, RankBy};
use super::{Id, Text, format_time};
use crate::store::reports::ReportJob;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// `/affiliate/analytics/revenue` as rows.
    Revenue,
    /// `/affiliate/analytics/conversions`.
    Conversions,
    /// The cohorts of `/affiliate/analytics/customers`.
    Customers,
    /// `/affiliate/analytics/roi`.
    Roi,
    /// `/affiliate/analytics/ranking` (admin).
    Ranking,
    /// The ledger entries written in the range.
    Ledger,
    /// The payout items created in the range.
    Payouts,
}

impl ReportKind {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revenue => "revenue",
            Self::Conversions => "conversions",
            Self::Customers => "customers",
            Self::Roi => "roi",
            Self::Ranking => "ranking",
            Self::Ledger => "ledger",
            Self::Payouts => "payouts",
        }
    }
}

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// RFC 4180 CSV, UTF-8.
    Csv,
    /// An Excel workbook.
    Xlsx,
}

/// `POST /affiliate/reports/generate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportIn {
    /// Which report.
    pub report: ReportKind,
    /// CSV or XLSX (default CSV).
    #[serde(default)]
    pub format: Option<ReportFormat>,
    /// The program (admin: required).
    #[serde(default)]
    pub program_id: Option<Id>,
    /// One partner's figures (a partner key: itself).
    #[serde(default)]
    pub partner_id: Option<Id>,
    /// First day (default: 29 days before `to`).
    #[serde(default)]
    pub from: Option<Date>,
    /// Last day (default today).
    #[serde(default)]
    pub to: Option<Date>,
    /// IANA time zone (default UTC).
    #[serde(default)]
    pub time_zone: Option<Text<64>>,
    /// Series buckets.
    #[serde(default)]
    pub interval: Option<IntervalText>,
    /// A breakdown.
    #[serde(default)]
    pub group_by: Option<GroupBy>,
    /// The ranking's order.
    #[serde(default)]
    pub by: Option<RankBy>,
}

/// A report job.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportOut {
    /// Id.
    pub id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// Which report.
    pub report: String,
    /// `csv` or `xlsx`.
    pub format: String,
    /// Program.
    pub program_id: Option<String>,
    /// Partner.
    pub partner_id: Option<String>,
    /// Asked at.
    pub created_at: String,
    /// Done or failed at.
    pub finished_at: Option<String>,
    /// Rows in the file (done).
    pub rows: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where to download the file (done).
    pub file: Option<String>,
    /// Its name.
    pub file_name: Option<String>,
}

impl From<ReportJob> for ReportOut {
    fn from(j: ReportJob) -> Self {
        let done = j.status == "done";
        Self {
            file: done.then(|| format!("/affiliate/reports/{}/file", j.id)),
            id: j.id,
            status: j.status,
            report: j.kind,
            format: j.format,
            program_id: j.program_id,
            partner_id: j.partner_id,
            created_at: format_time(j.created_at_ms),
            finished_at: j.finished_at_ms.map(format_time),
            rows: j.rows,
            error: j.error,
            file_name: j.file_name,
        }
    }
}
