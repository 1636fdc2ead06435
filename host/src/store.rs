//! Persistence: one store interface over PostgreSQL (production) and SQLite (the embedded
//! default, a file).
//!
//! Both backends run the same queries through sqlx's `Any` driver, except PostgreSQL's
//! ingest statements, which bind arrays and so use a native pool beside it
//! (`conversions::pg`). Where the two dialects differ, queries say so through
//! `dialect::Dialect` (the casts PostgreSQL needs to move exact decimals as text, the
//! claim's lock clause, placeholders of built statements). Each backend has its own migrations
//! (`host/migrations/<backend>/`): NUMERIC columns in PostgreSQL, TEXT columns holding
//! exact decimals in SQLite (never REAL). The conformance suite (`engine/tests.rs`) runs
//! every case against both.

mod approvals;
mod bonuses;
mod commands;
mod conversions;
mod dialect;
pub mod fraud;
mod keys;
mod ledger;
mod payout_profiles;
pub mod payouts;
mod programs;
pub mod reports;
pub mod rollups;
mod secrets;

#[cfg(test)]
mod tests;

pub use bonuses::{BonusRecord, PeriodAttribution};
pub use commands::CommandRecord;
pub use conversions::{ConversionRecord, NewAttribution, NewConversion};
pub use keys::ApiKeyRecord;
pub use ledger::{DisputeRecord, EntryFilter, EntryRecord, LedgerWrite, NewEntry, NewEvent};
pub use payout_profiles::{PayoutMethodRow, StoredPayoutMethod, TaxProfileRecord};
pub use programs::{PartnerRecord, PluginRecord};

use rust_decimal::Decimal;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (or a compatible engine).
    Postgres,
    /// Embedded SQLite.
    Sqlite,
}

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists (idempotency key, id, resolution...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row this write refers to does not exist.
    #[error("a referenced row does not exist: {0}")]
    MissingReference(String),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration {version} failed: {source}")]
    Migration {
        /// Which.
        version: i64,
        /// Why.
        source: sqlx::Error,
    },
}

/// Store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Map a database error: unique and foreign-key violations get their own kinds.
    pub(crate) fn from_db(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            if db.is_unique_violation() {
                return Self::Conflict(db.message().to_owned());
            }
            if db.is_foreign_key_violation() {
                return Self::MissingReference(db.message().to_owned());
            }
        }
        Self::Database(e)
    }
}

/// How a PostgreSQL batch write proves the references its rows make (ingest batches, and
/// the rows a payout run writes, whose references hold by construction: see
/// `Store::create_run`; every other write, and every other writer, is checked row by row
/// by the declared foreign keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchChecks {
    /// One set-based query per batch locks and counts the programs and partners the batch
    /// names (`FOR KEY SHARE`, as a foreign-key check does); the batch's own insert then
    /// runs with `session_replication_role = replica`, which skips the per-row
    /// foreign-key triggers for that transaction only. Used when the database role may
    /// set that parameter (a superuser, or `GRANT SET ON PARAMETER session_replication_role`
    /// on PostgreSQL 15+); otherwise, and for batches under
    /// [`Store::STATEMENT_CHECK_MIN_BATCH`] conversions, the row-checked path runs.
    #[default]
    Statement,
    /// Always let the foreign keys check each row.
    Row,
}

impl std::str::FromStr for BatchChecks {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "statement" => Ok(Self::Statement),
            "row" => Ok(Self::Row),
            other => Err(format!("{other:?}: expected `statement` or `row`")),
        }
    }
}

/// The store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// PostgreSQL only: a native pool beside the `Any` one, for the ingest statements that
    /// bind arrays (which the `Any` driver cannot), in PostgreSQL's binary format.
    pg: Option<sqlx::PgPool>,
    backend: Backend,
    batch_checks: BatchChecks,
    /// Whether this role may set `session_replication_role`: probed once, on the first
    /// batch that could use it.
    may_replicate: Arc<tokio::sync::OnceCell<bool>>,
    /// Conversion writes by how their references were checked: `[statement, row]`.
    checked: Arc<[AtomicU64; 2]>,
    /// The test fail point (see [`Store::fail_next_batch_midway`]).
    #[cfg(any(test, feature = "test-support"))]
    fail_mid_batch: Arc<std::sync::atomic::AtomicBool>,
}

/// Conversion writes (one per ingest call or batch) by how their references were checked,
/// for the metrics and for the tests that prove which path ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckCounts {
    /// Checked once per batch ([`BatchChecks::Statement`]).
    pub statement: u64,
    /// Checked row by row by the foreign keys.
    pub row: u64,
}

/// Settings for every PostgreSQL session of both pools. JIT compilation pays off for long
/// analytical queries, not for the short writes and look-ups here; a large batch
/// statement's estimate can cross `jit_above_cost` and spend milliseconds compiling.
const PG_SESSION_SETTINGS: [(&str, &str); 1] = [("jit", "off")];

const MIGRATIONS_POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../migrations/postgres/0002_partner_program_keys.sql"),
    ),
    (
        3,
        include_str!("../migrations/postgres/0003_max_bonus_share.sql"),
    ),
    (
        4,
        include_str!("../migrations/postgres/0004_instance_secrets.sql"),
    ),
    (
        5,
        include_str!("../migrations/postgres/0005_approved_once.sql"),
    ),
    (
        6,
        include_str!("../migrations/postgres/0006_approval_queue.sql"),
    ),
    (
        7,
        include_str!("../migrations/postgres/0007_dispute_scope_and_command_results.sql"),
    ),
    (
        8,
        include_str!("../migrations/postgres/0008_plugin_registrations.sql"),
    ),
    (9, include_str!("../migrations/postgres/0009_payouts.sql")),
    (
        10,
        include_str!("../migrations/postgres/0010_item_entry_lists.sql"),
    ),
    (
        11,
        include_str!("../migrations/postgres/0011_analytics.sql"),
    ),
];
const MIGRATIONS_SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_max_bonus_share.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_instance_secrets.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_approved_once.sql"),
    ),
    (
        5,
        include_str!("../migrations/sqlite/0005_approval_queue.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_dispute_scope_and_command_results.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_plugin_registrations.sql"),
    ),
    (8, include_str!("../migrations/sqlite/0008_payouts.sql")),
    (9, include_str!("../migrations/sqlite/0009_analytics.sql")),
];

/// The first line of a SQLite migration that rebuilds a referenced table: the runner turns
/// foreign keys off around its transaction (SQLite ignores the pragma inside one) and
/// checks every reference before committing, as SQLite's documented procedure for schema
/// changes ALTER TABLE cannot make asks.
const SQLITE_FOREIGN_KEYS_OFF: &str = "-- accrue: foreign-keys-off";

impl Store {
    /// Connect to `url`: `postgres://...` or `sqlite://path` (created if missing).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported database URL {url:?}: use postgres://... or sqlite://...")
                    .into(),
            )));
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let pg = match backend {
            Backend::Postgres => {
                let connect =
                    sqlx::postgres::PgConnectOptions::from_str(url)?.options(PG_SESSION_SETTINGS);
                Some(
                    sqlx::postgres::PgPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(30))
                        .max_connections(max_connections)
                        .connect_with(connect)
                        .await?,
                )
            }
            Backend::Sqlite => None,
        };
        let pool = match backend {
            Backend::Postgres => {
                options
                    .max_connections(max_connections)
                    // The `Any` driver cannot pass startup options: set them per session.
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            for (name, value) in PG_SESSION_SETTINGS {
                                conn.execute(format!("SET {name} = {value}").as_str())
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                // One connection: SQLite has one writer at a time, and a single connection
                // avoids SQLITE_BUSY upgrades between deferred transactions.
                options
                    .max_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            // FULL, not NORMAL: in WAL mode NORMAL syncs only at
                            // checkpoints, so the last commits acknowledged before a power
                            // cut or OS crash can vanish. A ledger acknowledges only what
                            // is on disk (issue 10, item 8); the cost per commit is in
                            // docs/PERFORMANCE.md ("SQLite synchronous=FULL").
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
        };
        Ok(Self {
            pool,
            pg,
            backend,
            batch_checks: BatchChecks::default(),
            may_replicate: Arc::new(tokio::sync::OnceCell::new()),
            checked: Arc::default(),
            #[cfg(any(test, feature = "test-support"))]
            fail_mid_batch: Arc::default(),
        })
    }

    /// The smallest ingest batch that takes the [`BatchChecks::Statement`] path: below it,
    /// the extra round trips (a transaction, the setting, the check) cost more than the
    /// per-row checks they save.
    pub const STATEMENT_CHECK_MIN_BATCH: usize = 8;

    /// Choose how PostgreSQL batch writes check their references (default
    /// [`BatchChecks::Statement`]).
    pub fn with_batch_checks(mut self, checks: BatchChecks) -> Self {
        self.batch_checks = checks;
        self
    }

    /// Whether batch writes may check references once per statement: configured so, on
    /// PostgreSQL, and the role may set `session_replication_role`. The answer is probed
    /// once; a failure to reach the database is not cached.
    pub(crate) async fn statement_checks(&self) -> bool {
        let Some(pg) = &self.pg else {
            return false;
        };
        if self.batch_checks != BatchChecks::Statement {
            return false;
        }
        let probe = self
            .may_replicate
            .get_or_try_init(|| async {
                let mut tx = pg.begin().await?;
                let allowed = sqlx::query("SET LOCAL session_replication_role = replica")
                    .execute(&mut *tx)
                    .await
                    .is_ok();
                let _ = tx.rollback().await;
                if !allowed {
                    tracing::info!(
                        "the database role may not set session_replication_role: ingest \
                         batches keep row-by-row foreign-key checks (GRANT SET ON PARAMETER \
                         session_replication_role to enable the set-based check)"
                    );
                }
                Ok::<_, sqlx::Error>(allowed)
            })
            .await;
        matches!(probe, Ok(true))
    }

    /// How many conversion writes were checked which way, since start.
    pub fn check_counts(&self) -> CheckCounts {
        CheckCounts {
            statement: self.checked[0].load(Ordering::Relaxed),
            row: self.checked[1].load(Ordering::Relaxed),
        }
    }

    /// Count one conversion write.
    pub(crate) fn count_checks(&self, once_per_statement: bool) {
        self.checked[usize::from(!once_per_statement)].fetch_add(1, Ordering::Relaxed);
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Close the pools (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
    }

    /// Is the database reachable?
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Apply pending migrations, each in its own transaction. Safe to run from several
    /// processes at once on PostgreSQL (an advisory lock serialises them).
    pub async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_lock(7262021)")
                .execute(&mut *conn)
                .await?;
        }
        let result = self.migrate_locked(&mut conn).await;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock(7262021)")
                .execute(&mut *conn)
                .await?;
        }
        result
    }

    async fn migrate_locked(&self, conn: &mut sqlx::AnyConnection) -> Result<()> {
        // PostgreSQL checks the right to create in the schema before it looks whether the
        // table exists, so `CREATE TABLE IF NOT EXISTS` alone would stop a service whose
        // role may use the tables but not create them (a schema owned by a migration role),
        // even with nothing to apply.
        let exists = match self.backend {
            Backend::Postgres => {
                sqlx::query("SELECT to_regclass('schema_migrations')::text IS NOT NULL AS present")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get::<bool, _>("present")?
            }
            Backend::Sqlite => false,
        };
        if !exists {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)",
            )
            .execute(&mut *conn)
            .await?;
        }
        let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()?;
        let migrations = match self.backend {
            Backend::Postgres => MIGRATIONS_POSTGRES,
            Backend::Sqlite => MIGRATIONS_SQLITE,
        };
        for (version, sql) in migrations {
            if applied.contains(version) {
                continue;
            }
            let rebuilds =
                self.backend == Backend::Sqlite && sql.starts_with(SQLITE_FOREIGN_KEYS_OFF);
            if rebuilds {
                sqlx::query("PRAGMA foreign_keys = OFF")
                    .execute(&mut *conn)
                    .await?;
            }
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(|source| StoreError::Migration {
                    version: *version,
                    source,
                })?;
            if rebuilds {
                let broken = sqlx::query("PRAGMA foreign_key_check")
                    .fetch_all(&mut *tx)
                    .await?;
                if !broken.is_empty() {
                    return Err(StoreError::Corrupt(format!(
                        "migration {version} leaves {} rows whose references do not hold",
                        broken.len()
                    )));
                }
            }
            sqlx::query("INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)")
                .bind(*version)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if rebuilds {
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(&mut *conn)
                    .await?;
            }
            tracing::info!(version, "applied migration");
        }
        Ok(())
    }

    /// This backend's SQL dialect.
    pub(crate) fn dialect(&self) -> dialect::Dialect {
        dialect::Dialect(self.backend)
    }

    /// The pool, for the store's modules.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The native PostgreSQL pool, on PostgreSQL.
    pub(crate) fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        self.pg.as_ref()
    }

    /// Bench hook: set this SQLite store's `synchronous` level (`FULL`, `NORMAL`...) on its
    /// one connection, to measure what durability costs. Returns the level the connection
    /// reads back (2 for FULL, 1 for NORMAL). The product never lowers it (see
    /// [`Store::connect`]); a reconnect restores FULL.
    #[cfg(feature = "test-support")]
    pub async fn set_sqlite_synchronous(&self, level: &str) -> Result<i64> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "synchronous is an SQLite setting".into(),
            )));
        }
        if !level.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("not a synchronous level: {level:?}").into(),
            )));
        }
        sqlx::query(&format!("PRAGMA synchronous = {level}"))
            .execute(&self.pool)
            .await?;
        self.sqlite_synchronous().await
    }

    /// Bench and test hook: the `synchronous` level of this SQLite store's connection.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn sqlite_synchronous(&self) -> Result<i64> {
        Ok(sqlx::query("PRAGMA synchronous")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// Test hook: make the next batch write lose its connection in the middle of its
    /// transaction (PostgreSQL terminates its own backend; SQLite aborts the transaction).
    #[cfg(any(test, feature = "test-support"))]
    pub fn fail_next_batch_midway(&self) {
        self.fail_mid_batch.store(true, Ordering::SeqCst);
    }

    /// Whether this write must fail midway (and clear the request). Always false in the
    /// service, which is built without `test-support`.
    pub(crate) fn take_fail_point(&self) -> bool {
        #[cfg(any(test, feature = "test-support"))]
        return self.fail_mid_batch.swap(false, Ordering::SeqCst);
        #[cfg(not(any(test, feature = "test-support")))]
        false
    }
}

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Read a decimal stored as NUMERIC (selected `::text`) or TEXT.
pub(crate) fn dec(row: &AnyRow, column: &str) -> Result<Decimal> {
    let text: String = row.try_get(column)?;
    Decimal::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}={text:?}: {e}")))
}

/// Read an amount of money stored as NUMERIC or TEXT, shown with the decimals of the
/// currency in `currency_column` (`0.00` USD, `0` JPY, `0.000` KWD): a NUMERIC keeps the
/// scale it was written with, and older rows hold `0` for a zero written in binary.
pub(crate) fn money(row: &AnyRow, column: &str, currency_column: &str) -> Result<Decimal> {
    let currency: String = row.try_get(currency_column)?;
    Ok(crate::domain::scaled_to(dec(row, column)?, &currency))
}

/// Read a currency code (any known one: data stored before a code was withdrawn stays
/// readable); an unknown code is a corrupt row.
pub(crate) fn currency(row: &AnyRow, column: &str) -> Result<crate::domain::Currency> {
    let code: String = row.try_get(column)?;
    crate::domain::Currency::parse(&code)
        .map_err(|_| StoreError::Corrupt(format!("{column}={code:?}: not a currency")))
}

/// Read an optional decimal.
pub(crate) fn opt_dec(row: &AnyRow, column: &str) -> Result<Option<Decimal>> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        Decimal::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{column}={t:?}: {e}")))
    })
    .transpose()
}

/// Read a boolean (PostgreSQL BOOLEAN or SQLite INTEGER).
pub(crate) fn boolean(row: &AnyRow, column: &str) -> Result<bool> {
    if let Ok(b) = row.try_get::<bool, _>(column) {
        return Ok(b);
    }
    Ok(row.try_get::<i64, _>(column)? != 0)
}
