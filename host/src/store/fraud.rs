//! Fraud alerts' persistence: what the rules read about a step's new conversions and
//! refunds (inside the analytics step's transaction, so an alert exists exactly when the
//! facts that raised it were taken in), the alerts, their resolution and freezes.

use super::rollups::AnalyticsFacts;
use super::{Result, Store, StoreError, now_ms};
use crate::domain::fraud::{self, ConversionSignals, FraudConfig, NewAlert, PartnerIdentity};
use rust_decimal::Decimal;
use sqlx::{Any, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// Id.
    pub id: String,
    /// Program.
    pub program_id: String,
    /// Partner.
    pub partner_id: Option<String>,
    /// Rule.
    pub rule: String,
    /// What it is about.
    pub subject: String,
    /// Conversion.
    pub conversion_id: Option<String>,
    /// `medium` / `high`.
    pub severity: String,
    /// Evidence (JSON).
    pub evidence: String,
    /// The dispute that froze its conversion's commissions.
    pub dispute_id: Option<String>,
    /// Raised (ms).
    pub created_at_ms: i64,
    /// Its resolution: `(confirmed | dismissed, actor, note, at ms)`.
    pub resolution: Option<(String, String, String, i64)>,
}

/// A program's fraud rules, stored or default.
pub(super) async fn config_of(
    tx: &mut sqlx::Transaction<'_, Any>,
    program_id: &str,
) -> Result<FraudConfig> {
    let row = sqlx::query("SELECT fraud_config FROM programs WHERE id = $1")
        .bind(program_id)
        .fetch_optional(&mut **tx)
        .await?;
    let text: Option<String> = match row {
        Some(r) => r.try_get("fraud_config")?,
        None => None,
    };
    match text {
        Some(t) => serde_json::from_str(&t)
            .map_err(|e| StoreError::Corrupt(format!("fraud_config of {program_id}: {e}"))),
        None => Ok(FraudConfig::default()),
    }
}

async fn count(tx: &mut sqlx::Transaction<'_, Any>, sql: &str, binds: &[&dyn Bind]) -> Result<i64> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = b.bind(q);
    }
    Ok(q.fetch_one(&mut **tx).await?.try_get("n")?)
}

/// A value bound into a statement.
trait Bind: Sync {
    fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;
}

impl Bind for &str {
    fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        q.bind(*self)
    }
}

impl Bind for i64 {
    fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        q.bind(*self)
    }
}

/// Judge the step's new conversions and refunds by their programs' rules and raise the
/// alerts they trip (each once). Returns the ids of the alerts raised now.
pub(super) async fn judge(
    tx: &mut sqlx::Transaction<'_, Any>,
    facts: &AnalyticsFacts,
) -> Result<Vec<String>> {
    let programs: BTreeSet<&str> = facts
        .conversions
        .iter()
        .filter(|c| !c.rebuilt)
        .map(|c| c.program_id.as_str())
        .chain(
            facts
                .refunds
                .iter()
                .filter(|r| !r.rebuilt)
                .map(|r| r.program_id.as_str()),
        )
        .collect();
    if programs.is_empty() {
        return Ok(Vec::new());
    }
    let mut configs = HashMap::new();
    for p in &programs {
        configs.insert(*p, config_of(tx, p).await?);
    }
    let mut alerts: Vec<NewAlert> = Vec::new();
    // Partners' own identities, for the self-referral rule.
    let credited: BTreeSet<&str> = facts
        .conversions
        .iter()
        .filter(|c| !c.rebuilt)
        .flat_map(|c| c.attributions.iter().map(|a| a.0.as_str()))
        .collect();
    let mut identities: HashMap<String, PartnerIdentity> = HashMap::new();
    for p in &credited {
        if let Some(r) =
            sqlx::query("SELECT own_customer_id, email_hash FROM partners WHERE id = $1")
                .bind(*p)
                .fetch_optional(&mut **tx)
                .await?
        {
            let id = PartnerIdentity {
                customer_id: r.try_get("own_customer_id")?,
                email_hash: r.try_get("email_hash")?,
            };
            if id.customer_id.is_some() || id.email_hash.is_some() {
                identities.insert((*p).to_owned(), id);
            }
        }
    }
    // Per partner, the latest new conversion of the step: the velocity rule's instant.
    let mut latest: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for c in facts.conversions.iter().filter(|c| !c.rebuilt) {
        let Some(cfg) = configs.get(c.program_id.as_str()) else {
            continue;
        };
        let partners: Vec<String> = c
            .attributions
            .iter()
            .filter(|a| a.1 > Decimal::ZERO)
            .map(|a| a.0.clone())
            .collect();
        for p in &c.attributions {
            let slot = latest
                .entry((c.program_id.as_str(), p.0.as_str()))
                .or_insert(c.occurred_at_ms);
            *slot = (*slot).max(c.occurred_at_ms);
        }
        let mut s = ConversionSignals {
            program_id: c.program_id.clone(),
            conversion_id: c.id.clone(),
            at_ms: c.occurred_at_ms,
            partners,
            customer_id: c.customer_id.clone(),
            email_hash: c.email_hash.clone(),
            since_click: c
                .click
                .as_ref()
                .map(|k| (c.occurred_at_ms - k.occurred_at_ms, k.partner_id.clone())),
            ..Default::default()
        };
        if cfg.visitor_many_conversions.enabled
            && let Some(v) = &c.visitor_hash
        {
            let from =
                c.occurred_at_ms - i64::from(cfg.visitor_many_conversions.window_hours) * HOUR_MS;
            let n = count(
                tx,
                "SELECT COUNT(*) AS n FROM conversions WHERE program_id = $1 AND visitor_hash = $2
                 AND occurred_at_ms > $3 AND occurred_at_ms <= $4",
                &[
                    &c.program_id.as_str(),
                    &v.as_str(),
                    &from,
                    &c.occurred_at_ms,
                ],
            )
            .await?;
            s.visitor = Some((v.clone(), n));
        }
        if cfg.customer_many_partners.enabled
            && let Some(customer) = &c.customer_id
        {
            let from =
                c.occurred_at_ms - i64::from(cfg.customer_many_partners.window_hours) * HOUR_MS;
            let rows = sqlx::query(
                "SELECT DISTINCT a.partner_id FROM conversions c
                 JOIN revenue_attributions a ON a.program_id = c.program_id AND a.conversion_id = c.id
                 WHERE c.program_id = $1 AND c.customer_id = $2 AND c.occurred_at_ms > $3
                   AND c.occurred_at_ms <= $4 AND a.weight > 0 ORDER BY a.partner_id",
            )
            .bind(&c.program_id)
            .bind(customer)
            .bind(from)
            .bind(c.occurred_at_ms)
            .fetch_all(&mut **tx)
            .await?;
            s.customer_partners = Some(
                rows.iter()
                    .map(|r| r.try_get("partner_id"))
                    .collect::<std::result::Result<_, _>>()?,
            );
        }
        alerts.extend(fraud::conversion_alerts(cfg, &s, |p| {
            identities.get(p).cloned()
        }));
    }
    for ((program, partner), at) in latest {
        let Some(cfg) = configs.get(program) else {
            continue;
        };
        let v = cfg.conversion_velocity_spike;
        if !v.enabled {
            continue;
        }
        let window = i64::from(v.window_minutes) * 60_000;
        let sql = "SELECT COUNT(*) AS n FROM revenue_attributions WHERE partner_id = $1 AND program_id = $2
                   AND weight > 0 AND occurred_at_ms > $3 AND occurred_at_ms <= $4";
        let recent = count(tx, sql, &[&partner, &program, &(at - window), &at]).await?;
        if recent < i64::from(v.min_conversions) {
            continue;
        }
        let before = count(
            tx,
            sql,
            &[
                &partner,
                &program,
                &(at - window - 7 * DAY_MS),
                &(at - window),
            ],
        )
        .await?;
        alerts.extend(fraud::velocity_alert(
            cfg, program, partner, at, recent, before,
        ));
    }
    for r in facts.refunds.iter().filter(|r| !r.rebuilt) {
        let Some(cfg) = configs.get(r.program_id.as_str()) else {
            continue;
        };
        let rr = cfg.refund_rate_high;
        if !rr.enabled {
            continue;
        }
        let from = crate::domain::analytics::buckets::Grain::Day
            .floor(r.at_ms - i64::from(rr.window_days) * DAY_MS);
        for a in r.attributions.iter().filter(|a| a.1 > Decimal::ZERO) {
            let row = sqlx::query(
                "SELECT CAST(COALESCE(SUM(conversions), 0) AS BIGINT) AS conversions,
                        CAST(COALESCE(SUM(revenue), 0) AS BIGINT) AS revenue,
                        CAST(COALESCE(SUM(refunded), 0) AS BIGINT) AS refunded
                 FROM rollup_sales WHERE program_id = $1 AND grain = 'd' AND partner_id = $2
                   AND bucket_ms >= $3 AND bucket_ms <= $4 AND currency = $5 AND converted = 0",
            )
            .bind(&r.program_id)
            .bind(&a.0)
            .bind(from)
            .bind(r.at_ms)
            .bind(&r.currency)
            .fetch_one(&mut **tx)
            .await?;
            alerts.extend(fraud::refund_rate_alert(
                cfg,
                &r.program_id,
                &a.0,
                r.at_ms,
                &r.currency,
                row.try_get("conversions")?,
                row.try_get("revenue")?,
                row.try_get("refunded")?,
            ));
        }
    }
    let mut raised = Vec::new();
    let now = now_ms();
    for a in alerts {
        let id = format!("FA{}", crate::ids::random_token(8).to_uppercase());
        let row = sqlx::query(
            "INSERT INTO fraud_alerts (id, program_id, partner_id, rule, subject, conversion_id, severity, evidence, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (program_id, rule, subject) DO NOTHING RETURNING id",
        )
        .bind(&id)
        .bind(&a.program_id)
        .bind(a.partner_id.as_deref())
        .bind(a.rule)
        .bind(&a.subject)
        .bind(a.conversion_id.as_deref())
        .bind(a.severity)
        .bind(a.evidence.to_string())
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from_db)?;
        if row.is_some() {
            raised.push(id);
        }
    }
    Ok(raised)
}

fn alert_row(r: &sqlx::any::AnyRow) -> Result<AlertRecord> {
    let event: Option<String> = r.try_get("event")?;
    Ok(AlertRecord {
        id: r.try_get("id")?,
        program_id: r.try_get("program_id")?,
        partner_id: r.try_get("partner_id")?,
        rule: r.try_get("rule")?,
        subject: r.try_get("subject")?,
        conversion_id: r.try_get("conversion_id")?,
        severity: r.try_get("severity")?,
        evidence: r.try_get("evidence")?,
        dispute_id: r.try_get("dispute_id")?,
        created_at_ms: r.try_get("created_at_ms")?,
        resolution: match event {
            Some(e) => Some((
                e,
                r.try_get("actor")?,
                r.try_get("note")?,
                r.try_get("at_ms")?,
            )),
            None => None,
        },
    })
}

const ALERT_COLUMNS: &str =
    "a.id, a.program_id, a.partner_id, a.rule, a.subject, a.conversion_id, a.severity,
    a.evidence, a.dispute_id, a.created_at_ms, x.event, x.actor, x.note, x.at_ms";

impl Store {
    /// A program's alerts, newest first: `open` (not resolved), `resolved` or all; of one
    /// rule or partner if given; at most `limit`, before `(created ms, id)` when paging.
    pub async fn fraud_alerts(
        &self,
        program_id: &str,
        status: Option<&str>,
        rule: Option<&str>,
        partner_id: Option<&str>,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<AlertRecord>> {
        let status_filter = match status {
            Some("open") => " AND x.event IS NULL",
            Some("resolved") => " AND x.event IS NOT NULL",
            _ => "",
        };
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM fraud_alerts a LEFT JOIN fraud_alert_events x ON x.alert_id = a.id
             WHERE a.program_id = $1 AND ($2 IS NULL OR a.rule = $2) AND ($3 IS NULL OR a.partner_id = $3)
               AND (a.created_at_ms < $4 OR (a.created_at_ms = $4 AND a.id < $5)){status_filter}
             ORDER BY a.created_at_ms DESC, a.id DESC LIMIT $6"
        ))
        .bind(program_id)
        .bind(rule)
        .bind(partner_id)
        .bind(before_ms)
        .bind(if before_ms == i64::MAX { "\u{10FFFF}".to_owned() } else { before_id })
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(alert_row).collect()
    }

    /// One alert.
    pub async fn fraud_alert(&self, id: &str) -> Result<Option<AlertRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM fraud_alerts a LEFT JOIN fraud_alert_events x ON x.alert_id = a.id
             WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(alert_row).transpose()
    }

    /// Alerts about a conversion of a program that freezes, not yet frozen nor resolved:
    /// what the freeze sweep has to do. (A program's rules are JSON written by
    /// `set_fraud_config` in serde's compact form, so `"freeze":true` is how it reads.)
    pub async fn alerts_to_freeze(&self, limit: i64) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM fraud_alerts a LEFT JOIN fraud_alert_events x ON x.alert_id = a.id
             JOIN programs p ON p.id = a.program_id
             WHERE a.conversion_id IS NOT NULL AND a.dispute_id IS NULL AND x.event IS NULL
               AND p.fraud_config LIKE '%\"freeze\":true%'
             ORDER BY a.created_at_ms, a.id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(alert_row).collect()
    }

    /// Whether any alert waits to be frozen (a cheap look, for the job's idle ticks).
    pub async fn has_alerts_to_freeze(&self) -> Result<bool> {
        Ok(!self.alerts_to_freeze(1).await?.is_empty())
    }

    /// Link the dispute that froze an alert's conversion (once: a link already there
    /// stays).
    pub async fn link_alert_dispute(&self, alert_id: &str, dispute_id: &str) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE fraud_alerts SET dispute_id = $2 WHERE id = $1 AND dispute_id IS NULL",
        )
        .bind(alert_id)
        .bind(dispute_id)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Record an alert's resolution (once: a second one is [`StoreError::Conflict`]).
    pub async fn resolve_alert(
        &self,
        alert_id: &str,
        outcome: &str,
        actor: &str,
        note: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO fraud_alert_events (alert_id, event, actor, note, at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(alert_id)
        .bind(outcome)
        .bind(actor)
        .bind(note)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db)?;
        Ok(())
    }

    /// Set a program's fraud rules.
    pub async fn set_fraud_config(&self, program_id: &str, config: &FraudConfig) -> Result<bool> {
        let text = serde_json::to_string(config)
            .map_err(|e| StoreError::Corrupt(format!("fraud config: {e}")))?;
        Ok(
            sqlx::query("UPDATE programs SET fraud_config = $2 WHERE id = $1")
                .bind(program_id)
                .bind(text)
                .execute(self.pool())
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// A program's fraud rules (stored or default).
    pub async fn fraud_config(&self, program_id: &str) -> Result<FraudConfig> {
        let mut tx = self.pool().begin().await?;
        let c = config_of(&mut tx, program_id).await?;
        tx.rollback().await?;
        Ok(c)
    }

    /// Set a partner's own identity as a customer (its customer id, its e-mail hash).
    pub async fn set_partner_identity(
        &self,
        partner_id: &str,
        customer_id: Option<&str>,
        email_hash: Option<&str>,
    ) -> Result<bool> {
        Ok(
            sqlx::query("UPDATE partners SET own_customer_id = $2, email_hash = $3 WHERE id = $1")
                .bind(partner_id)
                .bind(customer_id)
                .bind(email_hash)
                .execute(self.pool())
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// A partner's own identity `(customer id, whether an e-mail hash is on file)`.
    pub async fn partner_identity(
        &self,
        partner_id: &str,
    ) -> Result<Option<(Option<String>, bool)>> {
        let row = sqlx::query("SELECT own_customer_id, email_hash FROM partners WHERE id = $1")
            .bind(partner_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok((
                r.try_get("own_customer_id")?,
                r.try_get::<Option<String>, _>("email_hash")?.is_some(),
            ))
        })
        .transpose()
    }

    /// The visitor hashes of stored clicks of a program, by click id.
    pub async fn click_visitors(
        &self,
        program_id: &str,
        click_ids: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in click_ids.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Any>::new(
                "SELECT id, visitor_hash FROM analytics_events WHERE kind = 'click' AND visitor_hash IS NOT NULL AND program_id = ",
            );
            qb.push_bind(program_id).push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            qb.push(")");
            let (sql, args) = self.dialect().statement(&mut qb)?;
            for r in sqlx::query_with(&sql, args).fetch_all(self.pool()).await? {
                out.insert(r.try_get("id")?, r.try_get("visitor_hash")?);
            }
        }
        Ok(out)
    }
}
