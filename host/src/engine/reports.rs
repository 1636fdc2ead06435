//! Asynchronous reports: any analytics answer, the ledger or the payouts, as CSV or XLSX.
//! Asking answers at once with a job; a replica's report loop claims the job (once across
//! replicas, under a lease a crashed replica's job outlives), builds the table from the
//! same queries the API answers with, renders it and stores the file. A partner's key asks
//! for, and reads, only its own figures and its own jobs.

use super::{AnalyticsAsk, Engine, EngineError, Result, Scope};
use crate::domain::DomainError;
use crate::domain::analytics::rollup::SalesDelta;
use crate::domain::analytics::table::{self, Cell, Table};
use crate::store::EntryFilter;
use crate::store::reports::{NewReportJob, ReportJob};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How long a claimed job is its replica's before another may take it over, ms.
pub const REPORT_LEASE_MS: i64 = 10 * 60 * 1000;

/// Tries before a job fails for good.
const REPORT_ATTEMPTS: i64 = 3;

/// The most ledger entries or payout items one report holds.
const MAX_REPORT_ROWS: i64 = 1_000_000;

/// The reports there are.
pub const REPORT_KINDS: [&str; 7] = [
    "revenue",
    "conversions",
    "customers",
    "roi",
    "ranking",
    "ledger",
    "payouts",
];

/// What a report job was asked with (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Program.
    pub program_id: Option<String>,
    /// Partner.
    pub partner_id: Option<String>,
    /// First day.
    pub from: Option<chrono::NaiveDate>,
    /// Last day.
    pub to: Option<chrono::NaiveDate>,
    /// Time zone.
    pub time_zone: Option<String>,
    /// Interval.
    pub interval: Option<String>,
    /// Breakdown.
    pub group_by: Option<String>,
    /// Ranking order.
    pub by: Option<String>,
}

impl ReportParams {
    fn ask(&self) -> AnalyticsAsk {
        AnalyticsAsk {
            program_id: self.program_id.clone(),
            partner_id: self.partner_id.clone(),
            first: self.from,
            last: self.to,
            time_zone: self.time_zone.clone(),
            interval: self.interval.clone(),
            group_by: self.group_by.clone(),
        }
    }
}

fn scope_text(scope: &Scope) -> String {
    match scope {
        Scope::Admin => "admin".into(),
        Scope::Partner(p) => format!("partner:{p}"),
        Scope::PluginAuthor(p) => format!("author:{p}"),
    }
}

fn scope_of(text: &str) -> Scope {
    match text.split_once(':') {
        Some(("partner", p)) => Scope::Partner(p.to_owned()),
        Some(("author", p)) => Scope::PluginAuthor(p.to_owned()),
        _ => Scope::Admin,
    }
}

fn money(minor: i64, currency: &str) -> Cell {
    let units = crate::domain::Currency::parse(currency).map_or(2, |c| c.minor_units());
    Cell::Money {
        amount: Decimal::new(minor, units),
        currency: currency.to_owned(),
    }
}

fn figures(d: &SalesDelta, currency: &str) -> Vec<Cell> {
    let m = |v| money(v, currency);
    vec![
        Cell::Integer(d.conversions),
        m(d.revenue),
        m(d.refunded),
        m(d.revenue - d.refunded),
        m(d.commissions),
        m(d.reversals),
        m(d.adjustments),
        m(d.bonuses),
        m(d.commissions + d.reversals + d.adjustments + d.bonuses),
        m(d.fees),
    ]
}

const FIGURE_COLUMNS: [&str; 10] = [
    "conversions",
    "revenue",
    "refunded",
    "net_revenue",
    "commissions",
    "reversals",
    "adjustments",
    "bonuses",
    "earnings",
    "fees",
];

fn ratio(x: Option<Decimal>) -> Cell {
    x.map_or(Cell::Empty, Cell::Decimal)
}

impl Engine {
    /// Ask for a report (answers at once with its job). With `key`, asking again with the
    /// same parameters answers the same job; with others, a conflict.
    pub async fn request_report(
        &self,
        scope: &Scope,
        kind: &str,
        format: &str,
        params: &ReportParams,
        actor: &str,
        key: Option<&str>,
    ) -> Result<ReportJob> {
        if !REPORT_KINDS.contains(&kind) {
            return Err(DomainError::invalid(
                "report",
                format!("{kind:?}: expected one of {REPORT_KINDS:?}"),
            )
            .into());
        }
        if !["csv", "xlsx"].contains(&format) {
            return Err(DomainError::invalid(
                "format",
                format!("{format:?}: expected csv or xlsx"),
            )
            .into());
        }
        // Checked now, so a bad request is refused now, not by a failed job later.
        let (subject, _, _) = self.analytics_subject(scope, &params.ask()).await?;
        if kind == "ranking" && *scope != Scope::Admin {
            return Err(EngineError::Forbidden("the ranking is for admins".into()));
        }
        let params = ReportParams {
            program_id: Some(subject.program_id.clone()),
            partner_id: subject.partner_id.clone(),
            ..params.clone()
        };
        let text =
            serde_json::to_string(&params).map_err(|e| EngineError::Internal(e.to_string()))?;
        let job = NewReportJob {
            id: format!("RJ{}", crate::ids::random_token(8).to_uppercase()),
            scope: scope_text(scope),
            program_id: params.program_id.clone(),
            partner_id: params.partner_id.clone(),
            kind: kind.to_owned(),
            format: format.to_owned(),
            params: text,
            idempotency_key: key.map(str::to_owned),
            created_by: actor.to_owned(),
        };
        match self.store.insert_report_job(&job).await? {
            Ok(j) => Ok(j),
            Err(_) => Err(EngineError::IdempotencyConflict(format!(
                "idempotency key {:?}",
                key.unwrap_or_default()
            ))),
        }
    }

    /// A job, if `scope` may see it (an admin any; a partner its own; otherwise 404).
    pub async fn report_job(&self, scope: &Scope, id: &str) -> Result<ReportJob> {
        let missing = || EngineError::NotFound(format!("report {id:?}"));
        let job = self.store.report_job(id).await?.ok_or_else(missing)?;
        if *scope != Scope::Admin && job.scope != scope_text(scope) {
            return Err(missing());
        }
        Ok(job)
    }

    /// A done job's file `(media type, file name, bytes)`.
    pub async fn report_file(&self, scope: &Scope, id: &str) -> Result<(String, String, Vec<u8>)> {
        let job = self.report_job(scope, id).await?;
        if job.status != "done" {
            return Err(EngineError::Conflict(format!(
                "report {id} is {}",
                job.status
            )));
        }
        self.store
            .report_file(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("report {id:?}")))
    }

    /// Build the reports that are due, one at a time, until none is (any replica: each
    /// job is claimed once). Returns how many were built.
    pub async fn run_report_jobs(&self) -> Result<usize> {
        let mut done = 0;
        while let Some(job) = self.store.claim_report_job(REPORT_LEASE_MS).await? {
            match self.build_report(&job).await {
                Ok((media_type, name, rows, bytes)) => {
                    if self
                        .store
                        .finish_report_job(&job.id, job.attempts, media_type, &name, rows, &bytes)
                        .await?
                    {
                        done += 1;
                    }
                }
                Err(e) if job.attempts < REPORT_ATTEMPTS && matches!(e, EngineError::Store(_)) => {
                    // The database failed: the lease runs out and a replica tries again.
                    tracing::warn!(job = %job.id, "report failed, to be tried again: {e}");
                    break;
                }
                Err(e) => {
                    tracing::info!(job = %job.id, "report failed: {e}");
                    let reason = match &e {
                        EngineError::Internal(_) | EngineError::Store(_) => {
                            "an internal error".to_owned()
                        }
                        other => other.to_string(),
                    };
                    self.store
                        .fail_report_job(&job.id, job.attempts, &reason)
                        .await?;
                }
            }
        }
        Ok(done)
    }

    async fn build_report(&self, job: &ReportJob) -> Result<(&'static str, String, i64, Vec<u8>)> {
        let scope = scope_of(&job.scope);
        let params: ReportParams = serde_json::from_str(&job.params)
            .map_err(|e| EngineError::Internal(format!("report params: {e}")))?;
        let table = self.report_table(&scope, &job.kind, &params).await?;
        let rows = i64::try_from(table.rows.len()).unwrap_or(i64::MAX);
        let name = format!(
            "{}-{}-{}.{}",
            job.kind,
            params.program_id.as_deref().unwrap_or("all"),
            job.id,
            job.format
        );
        if job.format == "xlsx" {
            let bytes = table::to_xlsx(&table).map_err(|e| EngineError::Conflict(e.to_string()))?;
            Ok((table::XLSX_MEDIA_TYPE, name, rows, bytes))
        } else {
            Ok((table::CSV_MEDIA_TYPE, name, rows, table::to_csv(&table)))
        }
    }

    /// The table of a report, from the same queries the API answers with.
    pub async fn report_table(
        &self,
        scope: &Scope,
        kind: &str,
        params: &ReportParams,
    ) -> Result<Table> {
        let ask = params.ask();
        match kind {
            "revenue" => {
                let r = self.revenue_report(scope, &ask).await?;
                let mut cols = vec!["from", "to", "basis", "currency"];
                cols.extend(FIGURE_COLUMNS);
                let mut t = Table::new(format!("Revenue {}", r.subject.program_id), cols);
                let pc = &r.subject.program_currency;
                for p in &r.series {
                    for c in &p.by_currency {
                        let mut row = vec![
                            Cell::Date(p.period.first),
                            Cell::Date(p.period.last),
                            Cell::text("sale currency"),
                            Cell::text(&c.currency),
                        ];
                        row.extend(figures(&c.figures, &c.currency));
                        t.push(row);
                    }
                    let mut row = vec![
                        Cell::Date(p.period.first),
                        Cell::Date(p.period.last),
                        Cell::text("program currency"),
                        Cell::text(pc),
                    ];
                    row.extend(figures(&p.program_currency, pc));
                    t.push(row);
                }
                Ok(t)
            }
            "conversions" => {
                let r = self.funnel_report(scope, &ask).await?;
                let mut t = Table::new(
                    format!("Conversions {}", r.subject.program_id),
                    [
                        "from",
                        "to",
                        "clicks",
                        "leads",
                        "sales",
                        "click_to_lead",
                        "lead_to_sale",
                        "click_to_sale",
                    ],
                );
                let rate = |a: i64, b: i64| {
                    ratio((b != 0).then(|| (Decimal::from(a) / Decimal::from(b)).round_dp(4)))
                };
                // With a breakdown, one row per group (partner, channel or campaign).
                if let Some(groups) = &r.groups {
                    let by = r.subject.group_by.clone().unwrap_or_default();
                    let mut g = Table::new(
                        format!("Conversions by {by} {}", r.subject.program_id),
                        [
                            by.as_str(),
                            "clicks",
                            "leads",
                            "sales",
                            "click_to_lead",
                            "lead_to_sale",
                            "click_to_sale",
                        ],
                    );
                    for (key, d) in groups {
                        g.push(vec![
                            Cell::text(key),
                            Cell::Integer(d.clicks),
                            Cell::Integer(d.leads),
                            Cell::Integer(d.sales),
                            rate(d.leads, d.clicks),
                            rate(d.sales, d.leads),
                            rate(d.sales, d.clicks),
                        ]);
                    }
                    return Ok(g);
                }
                for (p, d) in &r.series {
                    t.push(vec![
                        Cell::Date(p.first),
                        Cell::Date(p.last),
                        Cell::Integer(d.clicks),
                        Cell::Integer(d.leads),
                        Cell::Integer(d.sales),
                        rate(d.leads, d.clicks),
                        rate(d.sales, d.leads),
                        rate(d.sales, d.clicks),
                    ]);
                }
                Ok(t)
            }
            "customers" => {
                let r = self.customers_report(scope, &ask).await?;
                let pc = &r.subject.program_currency;
                let mut t = Table::new(
                    format!("Cohorts {}", r.subject.program_id),
                    [
                        "cohort",
                        "size",
                        "months_since",
                        "active",
                        "retention",
                        "orders",
                        "revenue",
                    ],
                );
                for c in &r.cohorts {
                    for (k, active) in c.active.iter().enumerate() {
                        t.push(vec![
                            Cell::text(&c.month),
                            Cell::Integer(c.size),
                            Cell::Integer(k as i64),
                            Cell::Integer(*active),
                            ratio((c.size != 0).then(|| {
                                (Decimal::from(*active) / Decimal::from(c.size)).round_dp(4)
                            })),
                            Cell::Integer(c.orders.get(k).copied().unwrap_or(0)),
                            money(c.revenue.get(k).copied().unwrap_or(0), pc),
                        ]);
                    }
                }
                Ok(t)
            }
            "roi" => {
                let r = self.roi_report(scope, &ask).await?;
                let pc = &r.subject.program_currency;
                let mut t = Table::new(
                    format!("ROI {}", r.subject.program_id),
                    ["partner", "revenue", "cost", "roi"],
                );
                let label = r
                    .subject
                    .partner_id
                    .clone()
                    .unwrap_or_else(|| "(program)".into());
                t.push(vec![
                    Cell::text(label),
                    money(r.total.revenue, pc),
                    money(r.total.cost, pc),
                    ratio(r.total.roi),
                ]);
                for (p, roi) in &r.partners {
                    t.push(vec![
                        Cell::text(p),
                        money(roi.revenue, pc),
                        money(roi.cost, pc),
                        ratio(roi.roi),
                    ]);
                }
                Ok(t)
            }
            "ranking" => {
                let by = params.by.clone().unwrap_or_else(|| "revenue".into());
                let r = self.ranking(scope, &ask, &by, 1000).await?;
                let pc = &r.subject.program_currency;
                let mut t = Table::new(
                    format!("Ranking {}", r.subject.program_id),
                    [
                        "rank",
                        "partner",
                        "revenue",
                        "conversions",
                        "roi",
                        "growth",
                        "previous_revenue",
                    ],
                );
                for p in &r.partners {
                    t.push(vec![
                        Cell::Integer(p.rank as i64),
                        Cell::text(&p.partner_id),
                        money(p.revenue, pc),
                        Cell::Integer(p.conversions),
                        ratio(p.roi),
                        ratio(p.growth),
                        money(p.previous_revenue, pc),
                    ]);
                }
                Ok(t)
            }
            "ledger" => self.ledger_table(scope, &ask).await,
            "payouts" => self.payouts_table(scope, &ask).await,
            other => {
                Err(DomainError::invalid("report", format!("{other:?} is not a report")).into())
            }
        }
    }

    async fn ledger_table(&self, scope: &Scope, ask: &AnalyticsAsk) -> Result<Table> {
        let (subject, _, tz) = self.analytics_subject(scope, ask).await?;
        let from = crate::domain::analytics::buckets::local_midnight(tz, subject.first);
        let to = subject.last.succ_opt().map_or(from, |d| {
            crate::domain::analytics::buckets::local_midnight(tz, d)
        });
        let mut t = Table::new(
            format!("Ledger {}", subject.program_id),
            [
                "entry",
                "created_at",
                "partner",
                "conversion",
                "kind",
                "amount",
                "currency",
                "payout_amount",
                "payout_currency",
                "status",
            ],
        );
        let mut after = None;
        loop {
            let page = self
                .store
                .entries(&EntryFilter {
                    program_id: Some(subject.program_id.clone()),
                    partner_id: subject.partner_id.clone(),
                    from_ms: Some(from),
                    to_ms: Some(to),
                    after_id: after,
                    limit: 5_000,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for e in &page {
                t.push(vec![
                    Cell::Integer(e.id),
                    Cell::Instant(e.created_at_ms),
                    Cell::text(&e.partner_id),
                    e.conversion_id.clone().map_or(Cell::Empty, Cell::Text),
                    Cell::text(e.kind.as_str()),
                    Cell::Money {
                        amount: e.amount,
                        currency: e.currency.code().to_owned(),
                    },
                    Cell::text(e.currency.code()),
                    Cell::Money {
                        amount: e.payout_amount,
                        currency: e.payout_currency.code().to_owned(),
                    },
                    Cell::text(e.payout_currency.code()),
                    Cell::text(format!("{:?}", e.status).to_lowercase()),
                ]);
            }
            if t.rows.len() as i64 >= MAX_REPORT_ROWS {
                return Err(EngineError::Conflict(format!(
                    "more than {MAX_REPORT_ROWS} entries: ask for a shorter range"
                )));
            }
        }
        Ok(t)
    }

    async fn payouts_table(&self, scope: &Scope, ask: &AnalyticsAsk) -> Result<Table> {
        let (subject, _, tz) = self.analytics_subject(scope, ask).await?;
        let from = crate::domain::analytics::buckets::local_midnight(tz, subject.first);
        let to = subject.last.succ_opt().map_or(from, |d| {
            crate::domain::analytics::buckets::local_midnight(tz, d)
        });
        let mut t = Table::new(
            format!("Payouts {}", subject.program_id),
            [
                "item",
                "run",
                "created_at",
                "partner",
                "currency",
                "gross",
                "withholding",
                "fee",
                "net",
                "method",
                "status",
            ],
        );
        let items: Vec<crate::store::payouts::ItemRecord> = match &subject.partner_id {
            Some(p) => self.store.payout_items(None, Some(p), None, 10_000).await?,
            None => {
                let mut all = Vec::new();
                for run in self
                    .store
                    .payout_runs(Some(&subject.program_id), None, 1_000, None)
                    .await?
                {
                    let mut after: Option<String> = None;
                    loop {
                        let page = self
                            .store
                            .payout_items(Some(&run.id), None, after.as_deref(), 5_000)
                            .await?;
                        let Some(last) = page.last() else { break };
                        after = Some(last.id.clone());
                        all.extend(page);
                    }
                }
                all
            }
        };
        for i in items
            .iter()
            .filter(|i| i.created_at_ms >= from && i.created_at_ms < to)
        {
            let m = |d: Decimal| Cell::Money {
                amount: d,
                currency: i.currency.clone(),
            };
            t.push(vec![
                Cell::text(&i.id),
                Cell::text(&i.run_id),
                Cell::Instant(i.created_at_ms),
                Cell::text(&i.partner_id),
                Cell::text(&i.currency),
                m(i.gross),
                m(i.withholding),
                m(i.fee),
                m(i.net),
                i.method.clone().map_or(Cell::Empty, Cell::Text),
                Cell::text(format!("{:?}", super::ItemStatus::of(i)).to_lowercase()),
            ]);
        }
        Ok(t)
    }
}
