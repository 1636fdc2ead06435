//! The analytics paths' JSON: the query every one of them takes, and their answers.
//! Money is a decimal string with its currency's decimals; ratios and scores are decimal
//! strings to four places; counts are integers.

use super::{DecimalAnswer, Id, Text, reject};
use crate::domain::analytics::rollup::{FunnelDelta, SalesDelta, TTC_LABELS};
use crate::engine::{self, AnalyticsAsk};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// A calendar day, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 10)
            .map(Self)
            .ok_or_else(|| {
                reject(
                    "invalid-input",
                    format!("{text:?} is not a date (YYYY-MM-DD)"),
                )
            })
    }
}

impl PartialSchema for Date {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .description(Some("A calendar day, YYYY-MM-DD."))
            .examples(["2026-11-20"])
            .into()
    }
}

impl ToSchema for Date {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Date")
    }
}

/// How a series is bucketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntervalText {
    /// Local days.
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
}

impl IntervalText {
    fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// A breakdown of the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By partner (admin).
    Partner,
    /// By currency (revenue).
    Currency,
    /// By channel (conversions).
    Channel,
    /// By campaign (conversions).
    Campaign,
}

impl GroupBy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::Currency => "currency",
            Self::Channel => "channel",
            Self::Campaign => "campaign",
        }
    }
}

/// The query of every `/affiliate/analytics/...` path.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// The program (required with an admin's key; a partner key's is its own).
    #[param(value_type = Option<Id>)]
    pub program_id: Option<Id>,
    /// One partner's figures (a partner key: only itself).
    #[param(value_type = Option<Id>)]
    pub partner_id: Option<Id>,
    /// First day, in `time_zone` (default: 29 days before `to`).
    #[param(value_type = Option<Date>)]
    pub from: Option<Date>,
    /// Last day, included (default: today in `time_zone`).
    #[param(value_type = Option<Date>)]
    pub to: Option<Date>,
    /// IANA time zone the days are in (default `UTC`).
    #[param(value_type = Option<String>, max_length = 64)]
    pub time_zone: Option<Text<64>>,
    /// Buckets of the series (default `day`).
    #[param(value_type = Option<IntervalText>)]
    pub interval: Option<IntervalText>,
    /// A breakdown: `partner` (admin; revenue, conversions, customers), `currency`
    /// (revenue), `channel` or `campaign` (conversions).
    #[param(value_type = Option<GroupBy>)]
    pub group_by: Option<GroupBy>,
}

impl From<AnalyticsQuery> for AnalyticsAsk {
    fn from(q: AnalyticsQuery) -> Self {
        Self {
            program_id: q.program_id.map(|i| i.0),
            partner_id: q.partner_id.map(|i| i.0),
            first: q.from.map(|d| d.0),
            last: q.to.map(|d| d.0),
            time_zone: q.time_zone.map(|t| t.0),
            interval: q.interval.map(|i| i.as_str().to_owned()),
            group_by: q.group_by.map(|g| g.as_str().to_owned()),
        }
    }
}

/// `minor` units of `currency` as a decimal string with its decimals.
pub fn money(minor: i64, currency: &str) -> String {
    let units = crate::domain::Currency::parse(currency).map_or(2, |c| c.minor_units());
    Decimal::new(minor, units).to_string()
}

/// A ratio to four places, or `null` without a denominator.
fn ratio(num: i64, den: i64) -> Option<String> {
    (den != 0).then(|| {
        let mut r = (Decimal::from(num) / Decimal::from(den)).round_dp(4);
        r.rescale(4);
        r.to_string()
    })
}

/// A float estimate as a decimal string to four places.
pub fn estimate(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "0.0000".into()
    }
}

/// Who and when an answer is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectOut {
    /// Program.
    pub program_id: String,
    /// The partner, for one partner's figures.
    pub partner_id: Option<String>,
    /// First day.
    #[schema(value_type = Date)]
    pub from: String,
    /// Last day (included).
    #[schema(value_type = Date)]
    pub to: String,
    /// Time zone.
    pub time_zone: String,
    /// Buckets.
    pub interval: IntervalText,
    /// The program's currency.
    pub program_currency: String,
}

impl From<&engine::Subject> for SubjectOut {
    fn from(s: &engine::Subject) -> Self {
        use crate::domain::analytics::buckets::Interval;
        Self {
            program_id: s.program_id.clone(),
            partner_id: s.partner_id.clone(),
            from: s.first.to_string(),
            to: s.last.to_string(),
            time_zone: s.time_zone.clone(),
            interval: match s.interval {
                Interval::Day => IntervalText::Day,
                Interval::Week => IntervalText::Week,
                Interval::Month => IntervalText::Month,
            },
            program_currency: s.program_currency.clone(),
        }
    }
}

/// Sales and money figures in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiguresOut {
    /// Currency.
    pub currency: String,
    /// Conversions credited.
    pub conversions: i64,
    /// Of those, customers' first purchases.
    pub new_customers: i64,
    /// Of those, known customers' later purchases.
    pub returning_customers: i64,
    /// Attributed revenue.
    #[schema(value_type = DecimalAnswer)]
    pub revenue: String,
    /// Revenue refunded.
    #[schema(value_type = DecimalAnswer)]
    pub refunded: String,
    /// Revenue net of refunds.
    #[schema(value_type = DecimalAnswer)]
    pub net_revenue: String,
    /// Commissions.
    #[schema(value_type = DecimalAnswer)]
    pub commissions: String,
    /// Reversals (refunds, upheld disputes), negative.
    #[schema(value_type = DecimalAnswer)]
    pub reversals: String,
    /// Retroactive adjustments.
    #[schema(value_type = DecimalAnswer)]
    pub adjustments: String,
    /// Bonuses.
    #[schema(value_type = DecimalAnswer)]
    pub bonuses: String,
    /// What partners earned: commissions, reversals, adjustments and bonuses.
    #[schema(value_type = DecimalAnswer)]
    pub earnings: String,
    /// Payout fees, negative.
    #[schema(value_type = DecimalAnswer)]
    pub fees: String,
    /// Tax withheld, negative.
    #[schema(value_type = DecimalAnswer)]
    pub withholding: String,
}

impl FiguresOut {
    /// Figures `d` in `currency`.
    pub fn of(d: &SalesDelta, currency: &str) -> Self {
        let m = |v: i64| money(v, currency);
        Self {
            currency: currency.to_owned(),
            conversions: d.conversions,
            new_customers: d.new_customers,
            returning_customers: d.returning_customers,
            revenue: m(d.revenue),
            refunded: m(d.refunded),
            net_revenue: m(d.revenue - d.refunded),
            commissions: m(d.commissions),
            reversals: m(d.reversals),
            adjustments: m(d.adjustments),
            bonuses: m(d.bonuses),
            earnings: m(d.commissions + d.reversals + d.adjustments + d.bonuses),
            fees: m(d.fees),
            withholding: m(d.withholding),
        }
    }
}

fn in_currency(v: &[engine::InCurrency]) -> Vec<FiguresOut> {
    v.iter()
        .map(|i| FiguresOut::of(&i.figures, &i.currency))
        .collect()
}

/// One bucket of the revenue series.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenuePointOut {
    /// First day.
    #[schema(value_type = Date)]
    pub from: String,
    /// Last day (included).
    #[schema(value_type = Date)]
    pub to: String,
    /// In each sale currency.
    pub by_currency: Vec<FiguresOut>,
    /// Converted to the program currency.
    pub program_currency: FiguresOut,
}

/// One partner's revenue.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerRevenueOut {
    /// Partner.
    pub partner_id: String,
    /// In each sale currency.
    pub by_currency: Vec<FiguresOut>,
    /// Converted to the program currency.
    pub program_currency: FiguresOut,
}

/// `GET /affiliate/analytics/revenue`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueOut {
    /// About whom and when.
    #[serde(flatten)]
    pub subject: SubjectOut,
    /// The series, one point per bucket.
    pub series: Vec<RevenuePointOut>,
    /// Totals in each sale currency.
    pub totals: Vec<FiguresOut>,
    /// Totals converted to the program currency at the rates recorded for each fact's
    /// instant.
    pub program_currency_totals: FiguresOut,
    /// Facts in another currency with no rate recorded, left out of the converted figures.
    pub unconverted: i64,
    /// Per partner, with `group_by=partner`.
    pub partners: Option<Vec<PartnerRevenueOut>>,
}

impl From<&engine::RevenueReport> for RevenueOut {
    fn from(r: &engine::RevenueReport) -> Self {
        let pc = &r.subject.program_currency;
        Self {
            subject: (&r.subject).into(),
            series: r
                .series
                .iter()
                .map(|p| RevenuePointOut {
                    from: p.period.first.to_string(),
                    to: p.period.last.to_string(),
                    by_currency: in_currency(&p.by_currency),
                    program_currency: FiguresOut::of(&p.program_currency, pc),
                })
                .collect(),
            totals: in_currency(&r.totals),
            program_currency_totals: FiguresOut::of(&r.program_totals, pc),
            unconverted: r.unconverted,
            partners: r.partners.as_ref().map(|v| {
                v.iter()
                    .map(|p| PartnerRevenueOut {
                        partner_id: p.partner_id.clone(),
                        by_currency: in_currency(&p.by_currency),
                        program_currency: FiguresOut::of(&p.program_currency, pc),
                    })
                    .collect()
            }),
        }
    }
}

/// A funnel's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelOut {
    /// Clicks.
    pub clicks: i64,
    /// Leads (sign-ups).
    pub leads: i64,
    /// Sales.
    pub sales: i64,
    /// leads / clicks, or `null`.
    pub click_to_lead: Option<String>,
    /// sales / leads, or `null`.
    pub lead_to_sale: Option<String>,
    /// sales / clicks, or `null`.
    pub click_to_sale: Option<String>,
}

impl From<&FunnelDelta> for FunnelOut {
    fn from(d: &FunnelDelta) -> Self {
        Self {
            clicks: d.clicks,
            leads: d.leads,
            sales: d.sales,
            click_to_lead: ratio(d.leads, d.clicks),
            lead_to_sale: ratio(d.sales, d.leads),
            click_to_sale: ratio(d.sales, d.clicks),
        }
    }
}

/// One bucket of the funnel series.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelPointOut {
    /// First day.
    #[schema(value_type = Date)]
    pub from: String,
    /// Last day (included).
    #[schema(value_type = Date)]
    pub to: String,
    /// Its figures.
    #[serde(flatten)]
    pub funnel: FunnelOut,
}

/// One bar of the click-to-conversion time distribution.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeBucketOut {
    /// E.g. `1–10 min`.
    pub bucket: String,
    /// Sales whose click came that long before.
    pub sales: i64,
}

/// One group of a breakdown.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelGroupOut {
    /// The partner, channel or campaign (`""`: none recorded).
    pub key: String,
    /// Its figures.
    #[serde(flatten)]
    pub funnel: FunnelOut,
}

/// `GET /affiliate/analytics/conversions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionsOut {
    /// About whom and when.
    #[serde(flatten)]
    pub subject: SubjectOut,
    /// The series.
    pub series: Vec<FunnelPointOut>,
    /// Totals.
    pub totals: FunnelOut,
    /// Click-to-conversion times of the sales that named their click.
    pub time_to_convert: Vec<TimeBucketOut>,
    /// The breakdown (`group_by`), most sales first.
    pub groups: Option<Vec<FunnelGroupOut>>,
}

impl From<&engine::FunnelReport> for ConversionsOut {
    fn from(r: &engine::FunnelReport) -> Self {
        Self {
            subject: (&r.subject).into(),
            series: r
                .series
                .iter()
                .map(|(p, d)| FunnelPointOut {
                    from: p.first.to_string(),
                    to: p.last.to_string(),
                    funnel: d.into(),
                })
                .collect(),
            totals: (&r.totals).into(),
            time_to_convert: TTC_LABELS
                .iter()
                .zip(r.totals.ttc)
                .map(|(l, n)| TimeBucketOut {
                    bucket: (*l).to_owned(),
                    sales: n,
                })
                .collect(),
            groups: r.groups.as_ref().map(|g| {
                g.iter()
                    .map(|(k, d)| FunnelGroupOut {
                        key: k.clone(),
                        funnel: d.into(),
                    })
                    .collect()
            }),
        }
    }
}

/// Lifetime value.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClvOut {
    /// Currency (the program's).
    pub currency: String,
    /// Revenue per customer so far.
    #[schema(value_type = DecimalAnswer)]
    pub historical: String,
    /// Expected revenue per customer over `horizon_months`, or `null`.
    pub projected: Option<String>,
    /// The projection's horizon.
    pub horizon_months: u32,
    /// How it was projected.
    pub method: String,
    /// Revenue per order.
    #[schema(value_type = DecimalAnswer)]
    pub average_order: String,
    /// Orders per active customer per month.
    pub orders_per_customer_month: String,
    /// Month-to-month retention used.
    pub monthly_retention: Option<String>,
}

impl ClvOut {
    fn of(c: &crate::domain::analytics::clv::Clv, currency: &str) -> Self {
        Self {
            currency: currency.to_owned(),
            historical: money(c.historical_minor, currency),
            projected: c.projected_minor.map(|p| money(p, currency)),
            horizon_months: c.horizon_months,
            method: c.method.clone(),
            average_order: money(c.average_order_minor, currency),
            orders_per_customer_month: estimate(c.orders_per_customer_month),
            monthly_retention: c.monthly_retention.map(estimate),
        }
    }
}

/// One cohort.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohortOut {
    /// First-purchase month, `YYYY-MM` (UTC).
    pub month: String,
    /// Customers.
    pub size: i64,
    /// Per month since the first (0 = it): customers who bought.
    pub active: Vec<i64>,
    /// Per month since: `active / size`.
    pub retention: Vec<String>,
    /// Per month since: orders.
    pub orders: Vec<i64>,
    /// Per month since: revenue, program currency.
    pub revenue: Vec<String>,
}

/// One bucket of new against returning purchases.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomersPointOut {
    /// First day.
    #[schema(value_type = Date)]
    pub from: String,
    /// Last day (included).
    #[schema(value_type = Date)]
    pub to: String,
    /// First purchases.
    pub new: i64,
    /// Later purchases of known customers.
    pub returning: i64,
}

/// One acquiring partner's customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerCustomersOut {
    /// Partner.
    pub partner_id: String,
    /// Customers it acquired.
    pub customers: i64,
    /// Their value.
    pub clv: ClvOut,
}

/// `GET /affiliate/analytics/customers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomersOut {
    /// About whom and when.
    #[serde(flatten)]
    pub subject: SubjectOut,
    /// New against returning purchases.
    pub series: Vec<CustomersPointOut>,
    /// In all: first purchases.
    pub new: i64,
    /// In all: later purchases.
    pub returning: i64,
    /// Customers acquired (every cohort).
    pub customers: i64,
    /// Cohorts from `from`'s month to `to`'s.
    pub cohorts: Vec<CohortOut>,
    /// Average retention by month since the first purchase.
    pub retention: Vec<Option<String>>,
    /// Lifetime value of the customers acquired.
    pub clv: ClvOut,
    /// Per acquiring partner, with `group_by=partner`.
    pub partners: Option<Vec<PartnerCustomersOut>>,
}

impl From<&engine::CustomersReport> for CustomersOut {
    fn from(r: &engine::CustomersReport) -> Self {
        let pc = &r.subject.program_currency;
        Self {
            subject: (&r.subject).into(),
            series: r
                .series
                .iter()
                .map(|(p, n, ret)| CustomersPointOut {
                    from: p.first.to_string(),
                    to: p.last.to_string(),
                    new: *n,
                    returning: *ret,
                })
                .collect(),
            new: r.totals.0,
            returning: r.totals.1,
            customers: r.customers,
            cohorts: r
                .cohorts
                .iter()
                .map(|c| CohortOut {
                    month: c.month.clone(),
                    size: c.size,
                    retention: c
                        .active
                        .iter()
                        .map(|a| ratio(*a, c.size).unwrap_or_default())
                        .collect(),
                    active: c.active.clone(),
                    orders: c.orders.clone(),
                    revenue: c.revenue.iter().map(|v| money(*v, pc)).collect(),
                })
                .collect(),
            retention: r.retention.iter().map(|x| x.map(estimate)).collect(),
            clv: ClvOut::of(&r.clv, pc),
            partners: r.partners.as_ref().map(|v| {
                v.iter()
                    .map(|p| PartnerCustomersOut {
                        partner_id: p.partner_id.clone(),
                        customers: p.customers,
                        clv: ClvOut::of(&p.clv, pc),
                    })
                    .collect()
            }),
        }
    }
}

/// ROI figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoiOut {
    /// The partner (absent for the total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// Attributed revenue net of refunds, program currency.
    #[schema(value_type = DecimalAnswer)]
    pub revenue: String,
    /// Commissions (net of reversals and adjustments), bonuses and payout fees.
    #[schema(value_type = DecimalAnswer)]
    pub cost: String,
    /// (revenue − cost) / cost, or `null` without cost.
    pub roi: Option<String>,
}

impl RoiOut {
    fn of(partner_id: Option<String>, r: &engine::Roi, currency: &str) -> Self {
        Self {
            partner_id,
            revenue: money(r.revenue, currency),
            cost: money(r.cost, currency),
            roi: r.roi.map(|d| d.to_string()),
        }
    }
}

/// `GET /affiliate/analytics/roi`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoiReportOut {
    /// About whom and when.
    #[serde(flatten)]
    pub subject: SubjectOut,
    /// The program's (a partner key: its own).
    pub total: RoiOut,
    /// Per partner (admin), best ROI first.
    pub partners: Vec<RoiOut>,
}

impl From<&engine::RoiReport> for RoiReportOut {
    fn from(r: &engine::RoiReport) -> Self {
        let pc = &r.subject.program_currency;
        Self {
            subject: (&r.subject).into(),
            total: RoiOut::of(None, &r.total, pc),
            partners: r
                .partners
                .iter()
                .map(|(p, roi)| RoiOut::of(Some(p.clone()), roi, pc))
                .collect(),
        }
    }
}

/// What a ranking orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Revenue net of refunds.
    Revenue,
    /// Conversions.
    Conversions,
    /// ROI.
    Roi,
    /// Revenue growth over the previous period of the same length.
    Growth,
}

impl RankBy {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revenue => "revenue",
            Self::Conversions => "conversions",
            Self::Roi => "roi",
            Self::Growth => "growth",
        }
    }
}

/// The query of `GET /affiliate/analytics/ranking`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// The program.
    #[param(value_type = Id)]
    pub program_id: Id,
    /// First day (default: 29 days before `to`).
    #[param(value_type = Option<Date>)]
    pub from: Option<Date>,
    /// Last day (default: today).
    #[param(value_type = Option<Date>)]
    pub to: Option<Date>,
    /// IANA time zone (default `UTC`).
    #[param(value_type = Option<String>, max_length = 64)]
    pub time_zone: Option<Text<64>>,
    /// Order (default `revenue`).
    #[param(value_type = Option<RankBy>)]
    pub by: Option<RankBy>,
    /// How many, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One ranked partner.
#[derive(Debug, Serialize, ToSchema)]
pub struct RankedOut {
    /// Place.
    pub rank: usize,
    /// Partner.
    pub partner_id: String,
    /// Revenue net of refunds, program currency.
    #[schema(value_type = DecimalAnswer)]
    pub revenue: String,
    /// Conversions.
    pub conversions: i64,
    /// ROI, or `null`.
    pub roi: Option<String>,
    /// Revenue growth over the previous period (0.25 = +25 %), or `null`.
    pub growth: Option<String>,
    /// Revenue in the previous period.
    #[schema(value_type = DecimalAnswer)]
    pub previous_revenue: String,
}

/// `GET /affiliate/analytics/ranking`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RankingOut {
    /// About whom and when.
    #[serde(flatten)]
    pub subject: SubjectOut,
    /// The order.
    pub by: String,
    /// Partners, best first.
    pub partners: Vec<RankedOut>,
}

impl From<&engine::Ranking> for RankingOut {
    fn from(r: &engine::Ranking) -> Self {
        let pc = &r.subject.program_currency;
        Self {
            subject: (&r.subject).into(),
            by: r.by.clone(),
            partners: r
                .partners
                .iter()
                .map(|p| RankedOut {
                    rank: p.rank,
                    partner_id: p.partner_id.clone(),
                    revenue: money(p.revenue, pc),
                    conversions: p.conversions,
                    roi: p.roi.map(|d| d.to_string()),
                    growth: p.growth.map(|d| d.to_string()),
                    previous_revenue: money(p.previous_revenue, pc),
                })
                .collect(),
        }
    }
}

/// The query of the program-wide admin paths (forecast, churn).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProgramQuery {
    /// The program.
    #[param(value_type = Id)]
    pub program_id: Id,
}

/// One forecast day.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastPointOut {
    /// The day (UTC).
    #[schema(value_type = Date)]
    pub day: String,
    /// Expected revenue.
    #[schema(value_type = DecimalAnswer)]
    pub mean: String,
    /// Interval's lower bound.
    #[schema(value_type = DecimalAnswer)]
    pub lower: String,
    /// Interval's upper bound.
    #[schema(value_type = DecimalAnswer)]
    pub upper: String,
}

/// The method's errors on the held-out last days of the history.
#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestOut {
    /// Days held out.
    pub holdout_days: usize,
    /// Mean absolute percentage error (days with revenue), or `null`.
    pub mape: Option<String>,
    /// Symmetric MAPE.
    pub smape: String,
    /// Mean absolute error.
    #[schema(value_type = DecimalAnswer)]
    pub mae: String,
    /// Error scaled by the seasonal-naive forecast's, or `null`.
    pub mase: Option<String>,
    /// Share of held-out days inside the interval.
    pub coverage: String,
}

/// A forecast over one horizon.
#[derive(Debug, Serialize, ToSchema)]
pub struct HorizonOut {
    /// Days ahead.
    pub horizon_days: usize,
    /// The model.
    pub method: String,
    /// The intervals' level (e.g. `0.8000`).
    pub level: String,
    /// Expected revenue over the horizon.
    #[schema(value_type = DecimalAnswer)]
    pub total: String,
    /// Its interval's lower bound.
    #[schema(value_type = DecimalAnswer)]
    pub total_lower: String,
    /// Its interval's upper bound.
    #[schema(value_type = DecimalAnswer)]
    pub total_upper: String,
    /// Per day.
    pub points: Vec<ForecastPointOut>,
    /// The backtest, or `null` when the history is too short.
    pub backtest: Option<BacktestOut>,
}

impl HorizonOut {
    fn of(f: &crate::domain::analytics::forecast::Forecast, currency: &str) -> Self {
        let m = |v: i64| money(v, currency);
        Self {
            horizon_days: f.horizon_days,
            method: f.method.clone(),
            level: estimate(f.level),
            total: m(f.total_minor),
            total_lower: m(f.total_lower_minor),
            total_upper: m(f.total_upper_minor),
            points: f
                .points
                .iter()
                .map(|p| ForecastPointOut {
                    day: p.day.to_string(),
                    mean: m(p.mean_minor),
                    lower: m(p.lower_minor),
                    upper: m(p.upper_minor),
                })
                .collect(),
            backtest: f.backtest.as_ref().map(|b| BacktestOut {
                holdout_days: b.holdout_days,
                mape: b.mape.map(estimate),
                smape: estimate(b.smape),
                mae: m(b.mae_minor),
                mase: b.mase.map(estimate),
                coverage: estimate(b.coverage),
            }),
        }
    }
}

/// One day of history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPointOut {
    /// The day (UTC).
    #[schema(value_type = Date)]
    pub day: String,
    /// Revenue net of refunds.
    #[schema(value_type = DecimalAnswer)]
    pub revenue: String,
}

/// `GET /affiliate/analytics/forecast`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastOut {
    /// Program.
    pub program_id: String,
    /// Currency of every figure.
    pub currency: String,
    /// The daily history the model saw (up to a year, to yesterday).
    pub history: Vec<HistoryPointOut>,
    /// The next 30 days.
    pub next_30_days: HorizonOut,
    /// The next 90 days.
    pub next_90_days: HorizonOut,
}

impl From<&engine::ForecastReport> for ForecastOut {
    fn from(f: &engine::ForecastReport) -> Self {
        Self {
            program_id: f.program_id.clone(),
            currency: f.currency.clone(),
            history: f
                .history
                .values_minor
                .iter()
                .enumerate()
                .map(|(i, v)| HistoryPointOut {
                    day: (f.history.start_day + chrono::Duration::days(i as i64)).to_string(),
                    revenue: money(*v, &f.currency),
                })
                .collect(),
            next_30_days: HorizonOut::of(&f.next_30, &f.currency),
            next_90_days: HorizonOut::of(&f.next_90, &f.currency),
        }
    }
}

/// One partner's churn risk.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChurnRiskOut {
    /// Partner.
    pub partner_id: String,
    /// 0 to 1: higher, likelier to churn.
    pub score: String,
    /// `low`, `medium` or `high`.
    pub band: String,
    /// Days since its last conversion, or `null` if none in the window.
    pub days_since_last: Option<u32>,
    /// Conversions in the last 30 days.
    pub recent_30_days: u32,
    /// Monthly average of the 90 days before.
    pub prior_monthly: String,
    /// Weekly trend (share of an average week lost per week; positive: falling).
    pub trend: String,
    /// What drives the score.
    pub reasons: Vec<String>,
}

/// How well the score foresaw churn on held-out history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChurnEvaluationOut {
    /// Partners judged.
    pub partners: usize,
    /// Of those, churned in the held-out days.
    pub churned: usize,
    /// Area under the ROC curve, or `null`.
    pub auc: Option<String>,
    /// Share of the high band that churned, or `null`.
    pub precision_at_high: Option<String>,
    /// Share of the churned in the high band, or `null`.
    pub recall_at_high: Option<String>,
    /// Brier score, or `null`.
    pub brier: Option<String>,
    /// Days held out.
    pub horizon_days: usize,
}

/// `GET /affiliate/analytics/churn`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChurnOut {
    /// Program.
    pub program_id: String,
    /// The day scores are as of (UTC).
    #[schema(value_type = Date)]
    pub as_of: String,
    /// Partners, riskiest first.
    pub partners: Vec<ChurnRiskOut>,
    /// The score's check: scored as of 30 days ago, against what happened since.
    pub evaluation: ChurnEvaluationOut,
}

impl From<&engine::ChurnReport> for ChurnOut {
    fn from(c: &engine::ChurnReport) -> Self {
        let e = &c.evaluation;
        Self {
            program_id: c.program_id.clone(),
            as_of: c.as_of.to_string(),
            partners: c
                .partners
                .iter()
                .map(|p| ChurnRiskOut {
                    partner_id: p.partner_id.clone(),
                    score: estimate(p.score.score),
                    band: serde_json::to_value(p.score.band)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    days_since_last: p.score.days_since_last,
                    recent_30_days: p.score.recent_30,
                    prior_monthly: estimate(p.score.prior_90_monthly),
                    trend: estimate(p.score.trend),
                    reasons: p.score.reasons.clone(),
                })
                .collect(),
            evaluation: ChurnEvaluationOut {
                partners: e.partners,
                churned: e.churned,
                auc: e.auc.map(estimate),
                precision_at_high: e.precision_at_high.map(estimate),
                recall_at_high: e.recall_at_high.map(estimate),
                brier: e.brier.map(estimate),
                horizon_days: e.horizon_days,
            },
        }
    }
}
