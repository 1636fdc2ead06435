//! The reporting queries: revenue, the funnel, customers, ROI (partner and admin),
//! ranking, forecast and churn (admin). Every answer reads the rollups only, never the
//! raw tables, and hot ones are cached (see [`Engine::cached`]).
//!
//! Who sees what: an admin asks about any program (and any partner of it); a partner's
//! key is answered about itself only (another partner, or another program, is 404 as if
//! it did not exist); a plug-in author's key is refused (403).

use super::super::{Engine, EngineError, ProgramState, Result, Scope};
use crate::domain::DomainError;
use crate::domain::analytics::buckets::{
    DAY_MS, Interval, LocalBucket, Span, cover, local_buckets, local_date, local_midnight,
    month_label, month_start,
};
use crate::domain::analytics::churn::{self, ChurnScore, Evaluation};
use crate::domain::analytics::clv::{self, Clv, ClvInput, CohortRow};
use crate::domain::analytics::forecast::{self, DailySeries, Forecast};
use crate::domain::analytics::rollup::{FunnelDelta, SalesDelta};
use crate::store::rollups::RollupGroup;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The longest range one answer covers, in days.
pub const MAX_RANGE_DAYS: i64 = 3 * 366;

/// What an analytics request asks, as parsed at the edge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnalyticsAsk {
    /// The program (an admin's key must name it; a partner's is its own).
    pub program_id: Option<String>,
    /// One partner's figures (a partner's key: itself).
    pub partner_id: Option<String>,
    /// First local day (default: 29 days before `last`).
    pub first: Option<NaiveDate>,
    /// Last local day, included (default: today in `time_zone`).
    pub last: Option<NaiveDate>,
    /// IANA time zone of the days (default `UTC`).
    pub time_zone: Option<String>,
    /// `day`, `week` or `month` (default `day`).
    pub interval: Option<String>,
    /// A breakdown: `partner` (admin), `channel`, `campaign`, `currency`.
    pub group_by: Option<String>,
}

/// Who and when an answer is about, resolved from an [`AnalyticsAsk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Program.
    pub program_id: String,
    /// Its currency.
    pub program_currency: String,
    /// The partner, when the figures are one partner's.
    pub partner_id: Option<String>,
    /// First day.
    pub first: NaiveDate,
    /// Last day (included).
    pub last: NaiveDate,
    /// The time zone.
    pub time_zone: String,
    /// The series' buckets.
    pub interval: Interval,
    /// The breakdown asked for.
    pub group_by: Option<String>,
}

/// One bucket of a series: its first and last local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub first: NaiveDate,
    /// Last day (included).
    pub last: NaiveDate,
}

/// Sales figures in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InCurrency {
    /// Currency.
    pub currency: String,
    /// Figures, minor units.
    pub figures: SalesDelta,
}

/// One bucket of the revenue series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenuePoint {
    /// Its days.
    pub period: Period,
    /// In each sale currency.
    pub by_currency: Vec<InCurrency>,
    /// Everything converted to the program currency.
    pub program_currency: SalesDelta,
}

/// One partner's revenue totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRevenue {
    /// Partner.
    pub partner_id: String,
    /// In each sale currency.
    pub by_currency: Vec<InCurrency>,
    /// Converted to the program currency.
    pub program_currency: SalesDelta,
}

/// `GET /affiliate/analytics/revenue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueReport {
    /// About whom and when.
    pub subject: Subject,
    /// The series.
    pub series: Vec<RevenuePoint>,
    /// Totals in each currency.
    pub totals: Vec<InCurrency>,
    /// Totals converted to the program currency.
    pub program_totals: SalesDelta,
    /// Facts that could not be converted (no rate recorded).
    pub unconverted: i64,
    /// Per partner (`group_by=partner`, admin).
    pub partners: Option<Vec<PartnerRevenue>>,
}

/// `GET /affiliate/analytics/conversions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelReport {
    /// About whom and when.
    pub subject: Subject,
    /// The series.
    pub series: Vec<(Period, FunnelDelta)>,
    /// Totals.
    pub totals: FunnelDelta,
    /// The breakdown (`partner`, `channel`, `campaign`), largest first.
    pub groups: Option<Vec<(String, FunnelDelta)>>,
}

/// One partner's customers and their value.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerCustomers {
    /// Partner.
    pub partner_id: String,
    /// Customers it acquired.
    pub customers: i64,
    /// Their lifetime value.
    pub clv: Clv,
}

/// `GET /affiliate/analytics/customers`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomersReport {
    /// About whom and when.
    pub subject: Subject,
    /// New and returning purchases per bucket.
    pub series: Vec<(Period, i64, i64)>,
    /// New and returning purchases in all.
    pub totals: (i64, i64),
    /// Cohorts by first-purchase month (UTC), from the month of `first`: size, then per
    /// month since, the customers active, their orders and revenue (program currency).
    pub cohorts: Vec<Cohort>,
    /// Average retention by month since the first purchase.
    pub retention: Vec<Option<f64>>,
    /// Lifetime value of the customers acquired (all cohorts).
    pub clv: Clv,
    /// Customers acquired in all.
    pub customers: i64,
    /// Per acquiring partner (admin, `group_by=partner`).
    pub partners: Option<Vec<PartnerCustomers>>,
}

/// One cohort row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    /// `YYYY-MM`.
    pub month: String,
    /// Customers whose first purchase was that month.
    pub size: i64,
    /// Per month since (0 = the first): customers active.
    pub active: Vec<i64>,
    /// Per month since: orders.
    pub orders: Vec<i64>,
    /// Per month since: revenue, program currency, minor units.
    pub revenue: Vec<i64>,
}

/// ROI figures, in the program currency (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roi {
    /// Attributed revenue net of refunds.
    pub revenue: i64,
    /// What it cost: commissions (net of reversals and adjustments), bonuses and payout
    /// fees.
    pub cost: i64,
    /// (revenue − cost) / cost, to 4 places; `None` without cost.
    pub roi: Option<Decimal>,
}

impl Roi {
    /// From program-currency figures.
    pub fn of(d: &SalesDelta) -> Self {
        let revenue = d.revenue - d.refunded;
        let cost = d.commissions + d.reversals + d.adjustments + d.bonuses + d.fees.abs();
        let roi =
            (cost > 0).then(|| (Decimal::from(revenue - cost) / Decimal::from(cost)).round_dp(4));
        Self { revenue, cost, roi }
    }
}

/// `GET /affiliate/analytics/roi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoiReport {
    /// About whom and when.
    pub subject: Subject,
    /// The program's (or the partner's, for a partner key).
    pub total: Roi,
    /// Per partner (admin), best first.
    pub partners: Vec<(String, Roi)>,
}

/// One partner in a ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    /// Partner.
    pub partner_id: String,
    /// Place (1 = first).
    pub rank: usize,
    /// Revenue net of refunds, program currency, minor units.
    pub revenue: i64,
    /// Conversions.
    pub conversions: i64,
    /// ROI.
    pub roi: Option<Decimal>,
    /// Revenue growth over the previous period of the same length, as a ratio (0.25 =
    /// +25 %); `None` without revenue then.
    pub growth: Option<Decimal>,
    /// Revenue in the previous period.
    pub previous_revenue: i64,
}

/// `GET /affiliate/analytics/ranking`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    /// About whom and when.
    pub subject: Subject,
    /// `revenue`, `conversions`, `roi` or `growth`.
    pub by: String,
    /// Partners, best first.
    pub partners: Vec<Ranked>,
}

/// `GET /affiliate/analytics/forecast`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastReport {
    /// The program.
    pub program_id: String,
    /// Its currency (the forecast's).
    pub currency: String,
    /// Days of history the model saw (UTC days, up to yesterday).
    pub history_days: usize,
    /// The history: its first day and daily revenue (minor units).
    pub history: DailySeries,
    /// The next 30 days.
    pub next_30: Forecast,
    /// The next 90 days.
    pub next_90: Forecast,
}

/// One partner's churn risk.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerChurn {
    /// Partner.
    pub partner_id: String,
    /// Its score.
    pub score: ChurnScore,
}

/// `GET /affiliate/analytics/churn`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnReport {
    /// The program.
    pub program_id: String,
    /// As of (the last whole UTC day).
    pub as_of: NaiveDate,
    /// Partners, riskiest first.
    pub partners: Vec<PartnerChurn>,
    /// The score's check on held-out history (the last 30 days hidden).
    pub evaluation: Evaluation,
}

fn invalid(field: &'static str, detail: String) -> EngineError {
    DomainError::invalid(field, detail).into()
}

/// Spans of every bucket, tagged with the bucket's index.
fn spans_of(buckets: &[LocalBucket]) -> Vec<(usize, Span)> {
    buckets
        .iter()
        .enumerate()
        .flat_map(|(i, b)| cover(b.start_ms, b.end_ms).into_iter().map(move |s| (i, s)))
        .collect()
}

fn period(b: &LocalBucket, next: Option<&LocalBucket>, last: NaiveDate) -> Period {
    Period {
        first: b.start_date,
        last: next.and_then(|n| n.start_date.pred_opt()).unwrap_or(last),
    }
}

fn periods(buckets: &[LocalBucket], last: NaiveDate) -> Vec<Period> {
    buckets
        .iter()
        .enumerate()
        .map(|(i, b)| period(b, buckets.get(i + 1), last))
        .collect()
}

fn add(a: &mut SalesDelta, b: &SalesDelta) {
    a.conversions += b.conversions;
    a.new_customers += b.new_customers;
    a.returning_customers += b.returning_customers;
    a.revenue += b.revenue;
    a.refunded += b.refunded;
    a.commissions += b.commissions;
    a.bonuses += b.bonuses;
    a.reversals += b.reversals;
    a.adjustments += b.adjustments;
    a.fees += b.fees;
    a.withholding += b.withholding;
    a.unconverted += b.unconverted;
}

fn add_funnel(a: &mut FunnelDelta, b: &FunnelDelta) {
    a.clicks += b.clicks;
    a.leads += b.leads;
    a.sales += b.sales;
    for (x, y) in a.ttc.iter_mut().zip(b.ttc) {
        *x += y;
    }
}

/// Native rows by currency, and the program-currency view (native rows in it plus the
/// converted ones).
fn split_currency(
    rows: impl Iterator<Item = (String, bool, SalesDelta)>,
    program_currency: &str,
) -> (Vec<InCurrency>, SalesDelta, i64) {
    let mut native: BTreeMap<String, SalesDelta> = BTreeMap::new();
    let mut pc = SalesDelta::default();
    let mut unconverted = 0;
    for (currency, converted, d) in rows {
        if !converted {
            add(native.entry(currency.clone()).or_default(), &d);
            unconverted += d.unconverted;
        }
        if currency == program_currency {
            // Counts once: the converted rows carry money only.
            add(&mut pc, &d);
        }
    }
    pc.unconverted = 0;
    (
        native
            .into_iter()
            .map(|(currency, figures)| InCurrency { currency, figures })
            .collect(),
        pc,
        unconverted,
    )
}

/// The program-currency figures of a breakdown's counts: counts from every native row,
/// money from the program currency's rows.
fn with_counts(mut pc: SalesDelta, native: &[InCurrency]) -> SalesDelta {
    let (mut c, mut n, mut r) = (0, 0, 0);
    for i in native {
        c += i.figures.conversions;
        n += i.figures.new_customers;
        r += i.figures.returning_customers;
    }
    pc.conversions = c;
    pc.new_customers = n;
    pc.returning_customers = r;
    pc
}

impl Engine {
    /// Resolve who and when `ask` is about for `scope`.
    pub(crate) async fn analytics_subject(
        &self,
        scope: &Scope,
        ask: &AnalyticsAsk,
    ) -> Result<(Subject, Arc<ProgramState>, Tz)> {
        let (program_id, partner_id) = match scope {
            Scope::Admin => {
                let program = ask.program_id.clone().ok_or_else(|| {
                    invalid("program_id", "an admin's key names the program".into())
                })?;
                (program, ask.partner_id.clone())
            }
            Scope::Partner(own) => {
                let partner = self.partner(own).await?;
                let foreign = ask.partner_id.as_ref().is_some_and(|p| p != own)
                    || ask
                        .program_id
                        .as_ref()
                        .is_some_and(|p| *p != partner.program_id);
                if foreign {
                    return Err(EngineError::NotFound("no such partner or program".into()));
                }
                (partner.program_id, Some(own.clone()))
            }
            Scope::PluginAuthor(_) => {
                return Err(EngineError::Forbidden(
                    "a plug-in author's key reads no analytics".into(),
                ));
            }
        };
        let state = match self.program(&program_id).await {
            Ok(s) => s,
            Err(EngineError::UnknownProgram(_)) => {
                return Err(EngineError::NotFound(format!("program {program_id:?}")));
            }
            Err(e) => return Err(e),
        };
        if let (Scope::Admin, Some(p)) = (scope, &partner_id) {
            match self.partner(p).await {
                Ok(rec) if rec.program_id == program_id => {}
                _ => {
                    return Err(EngineError::NotFound(format!(
                        "partner {p:?} of {program_id:?}"
                    )));
                }
            }
        }
        let zone = ask.time_zone.as_deref().unwrap_or("UTC");
        let tz: Tz = zone.parse().map_err(|_| {
            invalid(
                "time_zone",
                format!("{zone:?} is not an IANA time zone (e.g. Europe/Berlin)"),
            )
        })?;
        let interval = match ask.interval.as_deref() {
            None => Interval::Day,
            Some(i) => Interval::parse(i).ok_or_else(|| {
                invalid("interval", format!("{i:?}: expected day, week or month"))
            })?,
        };
        let last = ask
            .last
            .unwrap_or_else(|| local_date(tz, crate::store::now_ms()));
        let first = ask.first.unwrap_or(last - Duration::days(29));
        if first > last {
            return Err(invalid("from", "must not be after `to`".into()));
        }
        if (last - first).num_days() >= MAX_RANGE_DAYS {
            return Err(invalid(
                "from",
                format!("a range covers at most {MAX_RANGE_DAYS} days"),
            ));
        }
        let program_currency = state.program.currency.code().to_owned();
        Ok((
            Subject {
                program_id,
                program_currency,
                partner_id,
                first,
                last,
                time_zone: tz.name().to_owned(),
                interval,
                group_by: ask.group_by.clone(),
            },
            state,
            tz,
        ))
    }

    /// An answer from the cache, or computed by `f` and kept. The key holds the program's
    /// rollup generation in this process, so a change made here is seen at once; the
    /// cache's time to live bounds how long another replica's change goes unseen.
    pub(crate) async fn cached<T, F>(&self, program_id: &str, key: String, f: F) -> Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: std::future::Future<Output = Result<T>>,
    {
        let key = format!(
            "{key}@{program_id}#{}",
            self.analytics_generation(program_id)
        );
        if let Some(hit) = self.analytics_cache.get(&key)
            && let Ok(v) = hit.downcast::<T>()
        {
            self.analytics_hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(v);
        }
        self.analytics_misses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let v = Arc::new(f.await?);
        self.analytics_cache.insert(key, v.clone());
        Ok(v)
    }

    /// Revenue, commissions, bonuses and refunds as a series and totals.
    pub async fn revenue_report(
        &self,
        scope: &Scope,
        ask: &AnalyticsAsk,
    ) -> Result<Arc<RevenueReport>> {
        let (subject, _, tz) = self.analytics_subject(scope, ask).await?;
        if let Some(g) = subject.group_by.as_deref()
            && g != "partner"
            && g != "currency"
        {
            return Err(invalid(
                "group_by",
                format!("{g:?}: expected partner or currency"),
            ));
        }
        if subject.group_by.as_deref() == Some("partner") && subject.partner_id.is_some() {
            return Err(invalid(
                "group_by",
                "a partner's figures have no breakdown by partner".into(),
            ));
        }
        let key = format!("revenue {subject:?}");
        let program = subject.program_id.clone();
        self.cached(&program, key, async move {
            let buckets = local_buckets(tz, subject.first, subject.last, subject.interval);
            let spans = spans_of(&buckets);
            let rows = self
                .store
                .sales_sums(
                    &subject.program_id,
                    subject.partner_id.as_deref(),
                    RollupGroup::None,
                    &spans,
                )
                .await?;
            let pc = subject.program_currency.clone();
            let mut series = Vec::with_capacity(buckets.len());
            let mut all = Vec::new();
            for (i, p) in periods(&buckets, subject.last).into_iter().enumerate() {
                let mine = rows
                    .iter()
                    .filter(|r| r.0 == i)
                    .map(|r| (r.2.clone(), r.3, r.4));
                let (by_currency, program_currency, _) = split_currency(mine, &pc);
                all.extend(
                    rows.iter()
                        .filter(|r| r.0 == i)
                        .map(|r| (r.2.clone(), r.3, r.4)),
                );
                let program_currency = with_counts(program_currency, &by_currency);
                series.push(RevenuePoint {
                    period: p,
                    by_currency,
                    program_currency,
                });
            }
            let (totals, program_totals, unconverted) = split_currency(all.into_iter(), &pc);
            let program_totals = with_counts(program_totals, &totals);
            let partners = if subject.group_by.as_deref() == Some("partner") {
                let whole: Vec<(usize, Span)> = spans.iter().map(|(_, s)| (0, *s)).collect();
                let rows = self
                    .store
                    .sales_sums(&subject.program_id, None, RollupGroup::Partner, &whole)
                    .await?;
                let mut by: BTreeMap<String, Vec<(String, bool, SalesDelta)>> = BTreeMap::new();
                for (_, partner, currency, converted, d) in rows {
                    by.entry(partner)
                        .or_default()
                        .push((currency, converted, d));
                }
                let mut out: Vec<PartnerRevenue> = by
                    .into_iter()
                    .map(|(partner_id, rows)| {
                        let (by_currency, program_currency, _) =
                            split_currency(rows.into_iter(), &pc);
                        let program_currency = with_counts(program_currency, &by_currency);
                        PartnerRevenue {
                            partner_id,
                            by_currency,
                            program_currency,
                        }
                    })
                    .collect();
                out.sort_by(|a, b| {
                    (b.program_currency.revenue - b.program_currency.refunded)
                        .cmp(&(a.program_currency.revenue - a.program_currency.refunded))
                        .then_with(|| a.partner_id.cmp(&b.partner_id))
                });
                Some(out)
            } else {
                None
            };
            Ok(RevenueReport {
                subject,
                series,
                totals,
                program_totals,
                unconverted,
                partners,
            })
        })
        .await
    }

    /// The funnel: clicks, leads and sales as a series and totals, with their breakdown.
    pub async fn funnel_report(
        &self,
        scope: &Scope,
        ask: &AnalyticsAsk,
    ) -> Result<Arc<FunnelReport>> {
        let (subject, _, tz) = self.analytics_subject(scope, ask).await?;
        let group = match subject.group_by.as_deref() {
            None => RollupGroup::None,
            Some("partner") if subject.partner_id.is_none() => RollupGroup::Partner,
            Some("channel") => RollupGroup::Channel,
            Some("campaign") => RollupGroup::Campaign,
            Some(g) => {
                return Err(invalid(
                    "group_by",
                    format!("{g:?}: expected channel, campaign or (an admin's) partner"),
                ));
            }
        };
        let key = format!("funnel {subject:?}");
        let program = subject.program_id.clone();
        self.cached(&program, key, async move {
            let buckets = local_buckets(tz, subject.first, subject.last, subject.interval);
            let spans = spans_of(&buckets);
            let rows = self
                .store
                .funnel_sums(
                    &subject.program_id,
                    subject.partner_id.as_deref(),
                    RollupGroup::None,
                    &spans,
                )
                .await?;
            let mut series: Vec<(Period, FunnelDelta)> = periods(&buckets, subject.last)
                .into_iter()
                .map(|p| (p, FunnelDelta::default()))
                .collect();
            let mut totals = FunnelDelta::default();
            for (i, _, d) in &rows {
                if let Some(slot) = series.get_mut(*i) {
                    add_funnel(&mut slot.1, d);
                }
                add_funnel(&mut totals, d);
            }
            let groups = if group == RollupGroup::None {
                None
            } else {
                let whole: Vec<(usize, Span)> = spans.iter().map(|(_, s)| (0, *s)).collect();
                let rows = self
                    .store
                    .funnel_sums(
                        &subject.program_id,
                        subject.partner_id.as_deref(),
                        group,
                        &whole,
                    )
                    .await?;
                let mut by: BTreeMap<String, FunnelDelta> = BTreeMap::new();
                for (_, g, d) in rows {
                    add_funnel(by.entry(g).or_default(), &d);
                }
                let mut v: Vec<(String, FunnelDelta)> = by.into_iter().collect();
                v.sort_by(|a, b| {
                    (b.1.sales, b.1.clicks)
                        .cmp(&(a.1.sales, a.1.clicks))
                        .then_with(|| a.0.cmp(&b.0))
                });
                Some(v)
            };
            Ok(FunnelReport {
                subject,
                series,
                totals,
                groups,
            })
        })
        .await
    }

    /// New against returning purchases, cohorts by first-purchase month, lifetime value.
    pub async fn customers_report(
        &self,
        scope: &Scope,
        ask: &AnalyticsAsk,
    ) -> Result<Arc<CustomersReport>> {
        let (subject, _, tz) = self.analytics_subject(scope, ask).await?;
        if let Some(g) = subject.group_by.as_deref()
            && (g != "partner" || subject.partner_id.is_some())
        {
            return Err(invalid(
                "group_by",
                format!("{g:?}: expected (an admin's) partner"),
            ));
        }
        let key = format!("customers {subject:?}");
        let program = subject.program_id.clone();
        self.cached(&program, key, async move {
            let buckets = local_buckets(tz, subject.first, subject.last, subject.interval);
            let spans = spans_of(&buckets);
            let rows = self
                .store
                .sales_sums(
                    &subject.program_id,
                    subject.partner_id.as_deref(),
                    RollupGroup::None,
                    &spans,
                )
                .await?;
            let mut series: Vec<(Period, i64, i64)> = periods(&buckets, subject.last)
                .into_iter()
                .map(|p| (p, 0, 0))
                .collect();
            let mut totals = (0, 0);
            for (i, _, _, converted, d) in &rows {
                if *converted {
                    continue;
                }
                if let Some(s) = series.get_mut(*i) {
                    s.1 += d.new_customers;
                    s.2 += d.returning_customers;
                }
                totals.0 += d.new_customers;
                totals.1 += d.returning_customers;
            }
            let acquirer = subject.partner_id.clone().unwrap_or_default();
            let now = crate::store::now_ms();
            let from = month_start(local_midnight(tz, subject.first));
            let to = month_start(local_midnight(tz, subject.last)) + 32 * DAY_MS;
            let cells = self
                .store
                .cohort_cells(&subject.program_id, &acquirer, from, month_start(to))
                .await?;
            let cohorts = cohorts_of(&cells);
            let rows: Vec<CohortRow> = cohorts
                .iter()
                .map(|c| CohortRow {
                    cohort_month: c.month.clone(),
                    size: u64::try_from(c.size).unwrap_or(0),
                    active: c
                        .active
                        .iter()
                        .map(|a| u64::try_from(*a).unwrap_or(0))
                        .collect(),
                })
                .collect();
            let retention = clv::retention(&rows);
            let monthly = clv::monthly_retention(&retention);
            let totals_by = self
                .store
                .acquisition_totals(&subject.program_id, now)
                .await?;
            let value = |c: i64, o: i64, r: i64, m: i64| {
                clv::clv(
                    &ClvInput {
                        customers: u64::try_from(c).unwrap_or(0),
                        orders: u64::try_from(o).unwrap_or(0),
                        revenue_minor: r,
                        months_observed: months_observed(c, m),
                        monthly_retention: monthly,
                    },
                    CLV_HORIZON_MONTHS,
                )
            };
            let (customers, clv) = totals_by
                .iter()
                .find(|t| t.0 == acquirer)
                .map_or((0, value(0, 0, 0, 0)), |t| (t.1, value(t.1, t.2, t.3, t.4)));
            let partners = (subject.group_by.as_deref() == Some("partner")).then(|| {
                let mut v: Vec<PartnerCustomers> = totals_by
                    .iter()
                    .filter(|t| !t.0.is_empty())
                    .map(|t| PartnerCustomers {
                        partner_id: t.0.clone(),
                        customers: t.1,
                        clv: value(t.1, t.2, t.3, t.4),
                    })
                    .collect();
                v.sort_by(|a, b| {
                    b.customers
                        .cmp(&a.customers)
                        .then_with(|| a.partner_id.cmp(&b.partner_id))
                });
                v
            });
            Ok(CustomersReport {
                subject,
                series,
                totals,
                cohorts,
                retention,
                clv,
                customers,
                partners,
            })
        })
        .await
    }

    /// ROI of the program and each partner (a partner key: its own), over the range, in
    /// the program currency.
    pub async fn roi_report(&self, scope: &Scope, ask: &AnalyticsAsk) -> Result<Arc<RoiReport>> {
        let (subject, _, tz) = self.analytics_subject(scope, ask).await?;
        let key = format!("roi {subject:?}");
        let program = subject.program_id.clone();
        self.cached(&program, key, async move {
            let spans = whole_range(tz, &subject);
            let pc = subject.program_currency.clone();
            let own = self
                .store
                .sales_sums(
                    &subject.program_id,
                    subject.partner_id.as_deref(),
                    RollupGroup::None,
                    &spans,
                )
                .await?;
            let (_, total, _) = split_currency(own.into_iter().map(|r| (r.2, r.3, r.4)), &pc);
            let partners = if subject.partner_id.is_none() {
                self.partner_program_figures(&subject.program_id, &pc, &spans)
                    .await?
                    .into_iter()
                    .map(|(p, d)| (p, Roi::of(&d)))
                    .collect::<Vec<_>>()
            } else {
                Vec::new()
            };
            let mut partners = partners;
            partners.sort_by(|a, b| b.1.roi.cmp(&a.1.roi).then_with(|| a.0.cmp(&b.0)));
            Ok(RoiReport {
                subject,
                total: Roi::of(&total),
                partners,
            })
        })
        .await
    }

    /// Each partner's figures over `spans` in the program currency (counts from every
    /// currency).
    async fn partner_program_figures(
        &self,
        program_id: &str,
        program_currency: &str,
        spans: &[(usize, Span)],
    ) -> Result<BTreeMap<String, SalesDelta>> {
        let rows = self
            .store
            .sales_sums(program_id, None, RollupGroup::Partner, spans)
            .await?;
        let mut by: BTreeMap<String, Vec<(String, bool, SalesDelta)>> = BTreeMap::new();
        for (_, partner, currency, converted, d) in rows {
            by.entry(partner)
                .or_default()
                .push((currency, converted, d));
        }
        Ok(by
            .into_iter()
            .map(|(p, rows)| {
                let (native, pc, _) = split_currency(rows.into_iter(), program_currency);
                (p, with_counts(pc, &native))
            })
            .collect())
    }

    /// Partners ranked by revenue, conversions, ROI or growth over the range (admin).
    pub async fn ranking(
        &self,
        scope: &Scope,
        ask: &AnalyticsAsk,
        by: &str,
        limit: usize,
    ) -> Result<Arc<Ranking>> {
        if *scope != Scope::Admin {
            return Err(EngineError::Forbidden("the ranking is for admins".into()));
        }
        if !["revenue", "conversions", "roi", "growth"].contains(&by) {
            return Err(invalid(
                "by",
                format!("{by:?}: expected revenue, conversions, roi or growth"),
            ));
        }
        let (subject, _, tz) = self.analytics_subject(scope, ask).await?;
        let key = format!("ranking {by} {limit} {subject:?}");
        let program = subject.program_id.clone();
        let by = by.to_owned();
        self.cached(&program, key, async move {
            let pc = subject.program_currency.clone();
            let now = self
                .partner_program_figures(&subject.program_id, &pc, &whole_range(tz, &subject))
                .await?;
            let days = (subject.last - subject.first).num_days() + 1;
            let before = Subject {
                first: subject.first - Duration::days(days),
                last: subject.first - Duration::days(1),
                ..subject.clone()
            };
            let then = self
                .partner_program_figures(&subject.program_id, &pc, &whole_range(tz, &before))
                .await?;
            let mut ranked: Vec<Ranked> = now
                .iter()
                .map(|(p, d)| {
                    let revenue = d.revenue - d.refunded;
                    let previous_revenue = then.get(p).map_or(0, |t| t.revenue - t.refunded);
                    Ranked {
                        partner_id: p.clone(),
                        rank: 0,
                        revenue,
                        conversions: d.conversions,
                        roi: Roi::of(d).roi,
                        growth: (previous_revenue > 0).then(|| {
                            (Decimal::from(revenue - previous_revenue)
                                / Decimal::from(previous_revenue))
                            .round_dp(4)
                        }),
                        previous_revenue,
                    }
                })
                .collect();
            ranked.sort_by(|a, b| {
                let key = |r: &Ranked| match by.as_str() {
                    "conversions" => (Decimal::from(r.conversions), Decimal::from(r.revenue)),
                    "roi" => (r.roi.unwrap_or(Decimal::MIN), Decimal::from(r.revenue)),
                    "growth" => (r.growth.unwrap_or(Decimal::MIN), Decimal::from(r.revenue)),
                    _ => (Decimal::from(r.revenue), Decimal::from(r.conversions)),
                };
                key(b)
                    .cmp(&key(a))
                    .then_with(|| a.partner_id.cmp(&b.partner_id))
            });
            ranked.truncate(limit);
            for (i, r) in ranked.iter_mut().enumerate() {
                r.rank = i + 1;
            }
            Ok(Ranking {
                subject,
                by,
                partners: ranked,
            })
        })
        .await
    }

    /// The program's revenue (program currency, net of refunds) forecast for the next 30
    /// and 90 days from its daily history (up to a year, to yesterday, UTC), with the
    /// method's backtest (admin).
    pub async fn revenue_forecast(
        &self,
        scope: &Scope,
        program_id: &str,
    ) -> Result<Arc<ForecastReport>> {
        if *scope != Scope::Admin {
            return Err(EngineError::Forbidden("forecasts are for admins".into()));
        }
        let state = self.program(program_id).await.map_err(|e| match e {
            EngineError::UnknownProgram(p) => EngineError::NotFound(format!("program {p:?}")),
            e => e,
        })?;
        let today = local_date(Tz::UTC, crate::store::now_ms());
        let key = format!("forecast {today}");
        self.cached(program_id, key, async move {
            let pc = state.program.currency.code().to_owned();
            let (history, series) = self.daily_history(program_id, &pc, today, 365).await?;
            let next = |h| {
                forecast::forecast(&series, h, 0.8)
                    .map_err(|e| EngineError::Conflict(format!("no forecast: {e}")))
            };
            Ok(ForecastReport {
                program_id: program_id.to_owned(),
                currency: pc,
                history_days: history,
                next_30: next(30)?,
                next_90: next(90)?,
                history: series,
            })
        })
        .await
    }

    /// Up to `days` UTC days of the program's net revenue in its currency, ending
    /// yesterday, from its first day with any revenue.
    async fn daily_history(
        &self,
        program_id: &str,
        pc: &str,
        today: NaiveDate,
        days: i64,
    ) -> Result<(usize, DailySeries)> {
        let first = today - Duration::days(days);
        let buckets = local_buckets(Tz::UTC, first, today - Duration::days(1), Interval::Day);
        let spans = spans_of(&buckets);
        let rows = self
            .store
            .sales_sums(program_id, None, RollupGroup::None, &spans)
            .await?;
        let mut values = vec![0i64; buckets.len()];
        for (i, _, currency, _, d) in rows {
            if currency == pc
                && let Some(v) = values.get_mut(i)
            {
                *v += d.revenue - d.refunded;
            }
        }
        let start = values.iter().position(|v| *v != 0).unwrap_or(values.len());
        let kept = values.split_off(start);
        Ok((
            kept.len(),
            DailySeries {
                start_day: first + Duration::days(start as i64),
                values_minor: kept,
            },
        ))
    }

    /// Churn risk of every partner of the program, from its daily conversions over the
    /// last 120 days, with the score's check on history (admin).
    pub async fn churn_report(&self, scope: &Scope, program_id: &str) -> Result<Arc<ChurnReport>> {
        if *scope != Scope::Admin {
            return Err(EngineError::Forbidden("churn risks are for admins".into()));
        }
        self.program(program_id).await.map_err(|e| match e {
            EngineError::UnknownProgram(p) => EngineError::NotFound(format!("program {p:?}")),
            e => e,
        })?;
        let today = local_date(Tz::UTC, crate::store::now_ms());
        let key = format!("churn {today}");
        self.cached(program_id, key, async move {
            const WINDOW: i64 = 120;
            const HISTORY: i64 = WINDOW + 30;
            let as_of = today - Duration::days(1);
            let first = as_of - Duration::days(HISTORY - 1);
            let buckets = local_buckets(Tz::UTC, first, as_of, Interval::Day);
            let spans: Vec<(usize, Span)> = buckets
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    (
                        i,
                        Span {
                            grain: crate::domain::analytics::buckets::Grain::Day,
                            start_ms: b.start_ms,
                            end_ms: b.end_ms,
                        },
                    )
                })
                .collect();
            let rows = self
                .store
                .sales_sums(program_id, None, RollupGroup::Partner, &spans)
                .await?;
            let mut histories: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            for p in self.store.partner_ids(program_id).await? {
                histories.insert(p, vec![0; buckets.len()]);
            }
            for (i, partner, _, converted, d) in rows {
                if converted {
                    continue;
                }
                if let Some(v) = histories
                    .entry(partner)
                    .or_insert_with(|| vec![0; buckets.len()])
                    .get_mut(i)
                {
                    *v += u32::try_from(d.conversions).unwrap_or(0);
                }
            }
            let evaluation = churn::evaluate(&histories.values().cloned().collect::<Vec<_>>(), 30);
            let window_from = usize::try_from(HISTORY - WINDOW).unwrap_or(0);
            let mut partners: Vec<PartnerChurn> = histories
                .into_iter()
                .map(|(partner_id, h)| PartnerChurn {
                    score: churn::score(&h[window_from.min(h.len())..]),
                    partner_id,
                })
                .collect();
            partners.sort_by(|a, b| {
                b.score
                    .score
                    .total_cmp(&a.score.score)
                    .then_with(|| a.partner_id.cmp(&b.partner_id))
            });
            Ok(ChurnReport {
                program_id: program_id.to_owned(),
                as_of,
                partners,
                evaluation,
            })
        })
        .await
    }
}

/// The projection horizon of lifetime values, months.
pub const CLV_HORIZON_MONTHS: u32 = 24;

/// The whole range of a subject as one bucket's spans.
fn whole_range(tz: Tz, s: &Subject) -> Vec<(usize, Span)> {
    let from = local_midnight(tz, s.first);
    let to = s.last.succ_opt().map_or(from, |d| local_midnight(tz, d));
    cover(from, to).into_iter().map(|sp| (0, sp)).collect()
}

/// Cohort rows from the matrix's cells.
fn cohorts_of(cells: &[(i64, i64, i64, i64, i64)]) -> Vec<Cohort> {
    let mut by: BTreeMap<i64, Vec<(i64, i64, i64, i64)>> = BTreeMap::new();
    for (cohort, month, customers, orders, revenue) in cells {
        by.entry(*cohort)
            .or_default()
            .push((*month, *customers, *orders, *revenue));
    }
    by.into_iter()
        .filter_map(|(cohort, months)| {
            let span = months
                .iter()
                .map(|m| crate::domain::analytics::buckets::months_between(cohort, m.0))
                .max()
                .unwrap_or(0);
            let n = usize::try_from(span).ok()? + 1;
            let (mut active, mut orders, mut revenue) = (vec![0; n], vec![0; n], vec![0; n]);
            for (month, c, o, r) in months {
                let k = usize::try_from(crate::domain::analytics::buckets::months_between(
                    cohort, month,
                ))
                .ok()?;
                if k < n {
                    active[k] += c;
                    orders[k] += o;
                    revenue[k] += r;
                }
            }
            let size = active.first().copied().unwrap_or(0);
            (size > 0).then(|| Cohort {
                month: month_label(cohort),
                size,
                active,
                orders,
                revenue,
            })
        })
        .collect()
}

/// The average months a set of customers has been observed (an estimate's input, so a
/// float).
#[allow(clippy::float_arithmetic)]
fn months_observed(customers: i64, customer_months: i64) -> f64 {
    if customers > 0 {
        customer_months as f64 / customers as f64
    } else {
        1.0
    }
}
