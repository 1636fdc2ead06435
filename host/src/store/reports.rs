//! Report jobs: asked, claimed by one replica under a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), done with their file or failed with the reason.

use super::{Result, Store, StoreError, now_ms};
use sqlx::Row;

/// A stored report job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportJob {
    /// Id.
    pub id: String,
    /// Whose: `admin`, or `partner:<id>`.
    pub scope: String,
    /// Program.
    pub program_id: Option<String>,
    /// Partner the figures are about.
    pub partner_id: Option<String>,
    /// Which report.
    pub kind: String,
    /// `csv` or `xlsx`.
    pub format: String,
    /// The request's parameters (JSON).
    pub params: String,
    /// `queued`, `running`, `done`, `failed`.
    pub status: String,
    /// Tries so far.
    pub attempts: i64,
    /// The file's media type (done).
    pub media_type: Option<String>,
    /// The file's name (done).
    pub file_name: Option<String>,
    /// Rows in it (done).
    pub rows: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Asked by (key id).
    pub created_by: String,
    /// Asked (ms).
    pub created_at_ms: i64,
    /// Done or failed (ms).
    pub finished_at_ms: Option<i64>,
}

/// A job to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReportJob {
    /// Id.
    pub id: String,
    /// Whose.
    pub scope: String,
    /// Program.
    pub program_id: Option<String>,
    /// Partner.
    pub partner_id: Option<String>,
    /// Which report.
    pub kind: String,
    /// Format.
    pub format: String,
    /// Parameters (JSON).
    pub params: String,
    /// The client's key, unique per scope.
    pub idempotency_key: Option<String>,
    /// Who.
    pub created_by: String,
}

const COLUMNS: &str =
    "id, scope, program_id, partner_id, kind, format, params, status, attempts, media_type,
    file_name, rows, error, created_by, created_at_ms, finished_at_ms";

fn job(r: &sqlx::any::AnyRow) -> Result<ReportJob> {
    Ok(ReportJob {
        id: r.try_get("id")?,
        scope: r.try_get("scope")?,
        program_id: r.try_get("program_id")?,
        partner_id: r.try_get("partner_id")?,
        kind: r.try_get("kind")?,
        format: r.try_get("format")?,
        params: r.try_get("params")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        media_type: r.try_get("media_type")?,
        file_name: r.try_get("file_name")?,
        rows: r.try_get("rows")?,
        error: r.try_get("error")?,
        created_by: r.try_get("created_by")?,
        created_at_ms: r.try_get("created_at_ms")?,
        finished_at_ms: r.try_get("finished_at_ms")?,
    })
}

impl Store {
    /// Ask for a job; with an idempotency key used before in the same scope, the job asked
    /// then (`Ok(None)` when its parameters differ: the caller answers a conflict).
    pub async fn insert_report_job(
        &self,
        j: &NewReportJob,
    ) -> Result<Result<ReportJob, ReportJob>> {
        if let Some(key) = &j.idempotency_key
            && let Some(r) = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM report_jobs WHERE scope = $1 AND idempotency_key = $2"
            ))
            .bind(&j.scope)
            .bind(key)
            .fetch_optional(self.pool())
            .await?
        {
            let existing = job(&r)?;
            let same = existing.kind == j.kind
                && existing.format == j.format
                && existing.params == j.params;
            return Ok(if same { Ok(existing) } else { Err(existing) });
        }
        let inserted = sqlx::query(
            "INSERT INTO report_jobs (id, scope, program_id, partner_id, kind, format, params, idempotency_key,
                 status, created_by, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10)",
        )
        .bind(&j.id)
        .bind(&j.scope)
        .bind(j.program_id.as_deref())
        .bind(j.partner_id.as_deref())
        .bind(&j.kind)
        .bind(&j.format)
        .bind(&j.params)
        .bind(j.idempotency_key.as_deref())
        .bind(&j.created_by)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(StoreError::from_db);
        match inserted {
            Ok(_) => Ok(Ok(self.report_job(&j.id).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("report job {} vanished", j.id))
            })?)),
            // The same key, asked at the same moment by a retry: answer that job.
            Err(StoreError::Conflict(_)) if j.idempotency_key.is_some() => {
                Box::pin(self.insert_report_job(j)).await
            }
            Err(e) => Err(e),
        }
    }

    /// One job.
    pub async fn report_job(&self, id: &str) -> Result<Option<ReportJob>> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM report_jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        r.as_ref().map(job).transpose()
    }

    /// A done job's file `(media type, name, bytes)`.
    pub async fn report_file(&self, id: &str) -> Result<Option<(String, String, Vec<u8>)>> {
        let r = sqlx::query(
            "SELECT media_type, file_name, content FROM report_jobs WHERE id = $1 AND status = 'done'",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.map(|r| {
            Ok((
                r.try_get("media_type")?,
                r.try_get("file_name")?,
                r.try_get("content")?,
            ))
        })
        .transpose()
    }

    /// Claim the oldest job that is queued, or running under a lease that ran out (its
    /// replica died): it is this replica's until `lease_ms` from now. `None`: nothing due.
    pub async fn claim_report_job(&self, lease_ms: i64) -> Result<Option<ReportJob>> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let Some(r) = sqlx::query(&format!(
            "SELECT id FROM report_jobs WHERE status = 'queued' OR (status = 'running' AND lease_until_ms < $1)
             ORDER BY created_at_ms, id LIMIT 1{}",
            self.dialect().claim()
        ))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let id: String = r.try_get("id")?;
        sqlx::query(
            "UPDATE report_jobs SET status = 'running', attempts = attempts + 1, lease_until_ms = $2 WHERE id = $1",
        )
        .bind(&id)
        .bind(now + lease_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(StoreError::from_db)?;
        self.report_job(&id).await
    }

    /// Store a claimed job's file, if this replica still holds it (attempt `attempt`).
    pub async fn finish_report_job(
        &self,
        id: &str,
        attempt: i64,
        media_type: &str,
        file_name: &str,
        rows: i64,
        content: &[u8],
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE report_jobs SET status = 'done', media_type = $3, file_name = $4, rows = $5, content = $6,
                 finished_at_ms = $7, lease_until_ms = NULL
             WHERE id = $1 AND status = 'running' AND attempts = $2",
        )
        .bind(id)
        .bind(attempt)
        .bind(media_type)
        .bind(file_name)
        .bind(rows)
        .bind(content)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Fail a claimed job for good, with the reason.
    pub async fn fail_report_job(&self, id: &str, attempt: i64, error: &str) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE report_jobs SET status = 'failed', error = $3, finished_at_ms = $4, lease_until_ms = NULL
             WHERE id = $1 AND status = 'running' AND attempts = $2",
        )
        .bind(id)
        .bind(attempt)
        .bind(error)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Jobs waiting or running (the report job's backlog).
    pub async fn report_backlog(&self) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM report_jobs WHERE status IN ('queued', 'running')",
        )
        .fetch_one(self.pool())
        .await?
        .try_get("n")?)
    }
}
