//! Statistics over conversions, for the rules that depend on a partner's volume.

use crate::domain::program::VolumeStats;
use crate::store::{Result, Store, dec};

impl Store {
    /// A partner's credited conversions and attributed revenue in `[from_ms, to_ms)`.
    pub async fn volume_stats(
        &self,
        partner_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<VolumeStats> {
        let rows = sqlx::query(&format!(
            "SELECT attributed_amount{} AS attributed_amount FROM revenue_attributions
             WHERE partner_id = $1 AND occurred_at_ms >= $2 AND occurred_at_ms < $3",
            self.dialect().text()
        ))
        .bind(partner_id)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut stats = VolumeStats::default();
        for r in rows {
            stats.conversions += 1;
            stats.revenue += dec(&r, "attributed_amount")?;
        }
        Ok(stats)
    }
}
