//! The command line: `accrue serve | migrate | plugin validate`. Every option can also be
//! set from the environment (`ACCRUE_*`, `DATABASE_URL`).

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

impl ServeArgs {
    /// The plug-in limits these options set (the rest at their defaults).
    pub fn limits(&self) -> crate::plugins::Limits {
        crate::plugins::Limits {
            fuel: self.plugin_fuel,
            deadline_ms: self.plugin_deadline_ms,
            memory_bytes: self.plugin_memory_bytes,
            component_bytes: self.plugin_max_bytes,
            host_call_fuel: self.plugin_host_call_fuel,
            log_lines_per_second: self.plugin_log_lines_per_s,
            compile_timeout_ms: self.plugin_compile_timeout_ms,
            compile_memory_bytes: self.plugin_compile_memory_bytes,
            compile_concurrency: self.plugin_compile_concurrency,
            eval_threads: self.plugin_eval_threads,
            eval_per_program: self.plugin_eval_per_program,
            breaker_failures: self.plugin_breaker_failures,
            eval_nice: self.plugin_eval_nice,
            ..crate::plugins::Limits::default()
        }
    }

    /// Where precompiled plug-ins are kept: the option, the default directory, or none.
    pub fn artifact_dir(&self) -> Option<PathBuf> {
        match self.artifact_dir.as_deref() {
            Some("none") => None,
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
            _ => crate::plugins::default_artifact_dir(),
        }
    }
}

/// Accrue: a commission engine with sandboxed WebAssembly rule plug-ins.
#[derive(Debug, Parser)]
#[command(name = "accrue", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (migrations run first).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Work with plug-in components.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print the API's OpenAPI document (what `GET /openapi.json` serves).
    Openapi,
    /// Work with the analytics rollups.
    #[command(subcommand)]
    Analytics(AnalyticsCommand),
    /// Re-price a stored conversion from its provenance and compare with its entries;
    /// exits 1 if they differ.
    Replay {
        /// The database.
        #[command(flatten)]
        db: DbArgs,
        /// The conversion's program.
        #[arg(long)]
        program: String,
        /// The conversion id.
        #[arg(long)]
        conversion: String,
    },
}

/// Analytics commands.
#[derive(Debug, Subcommand)]
pub enum AnalyticsCommand {
    /// Rebuild every rollup (revenue, funnel, customers, cohorts) from the raw tables:
    /// after restoring a backup, changing how rollups are computed, or to prove they agree
    /// with the ledger. Safe while the service runs: its analytics job takes part.
    Backfill(DbArgs),
}

/// Plug-in commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Check that a component would be accepted: prints its digest and hook, or why not.
    Validate {
        /// The component file.
        file: PathBuf,
    },
    /// Internal: compile one component read from stdin under the limits given in the
    /// environment and write the artifact to stdout (the service runs this in a child
    /// process, so that a compilation is bounded in memory and can be stopped).
    #[command(hide = true)]
    CompileWorker,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// `postgres://user@host/db` for PostgreSQL, or `sqlite://path` for the embedded store.
    /// Default: `sqlite://accrue.db` in the working directory.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://accrue.db")]
    pub database_url: String,
    /// Database connections in the pool (PostgreSQL; SQLite uses one).
    #[arg(long, env = "ACCRUE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// How PostgreSQL ingest batches check the programs and partners they refer to:
    /// `statement` (once per batch, when the role may set `session_replication_role`;
    /// otherwise `row`) or `row` (the foreign keys check every row).
    #[arg(long, env = "ACCRUE_PG_BATCH_CHECKS", default_value = "statement")]
    pub pg_batch_checks: crate::store::BatchChecks,
}

/// `accrue serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "ACCRUE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// An admin API key to accept (created at start if new). Without one, the first start
    /// on an empty database creates a key and prints it once.
    #[arg(long, env = "ACCRUE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Keep precompiled plug-ins here across restarts, so a restart does not compile them
    /// again. Default: `$XDG_CACHE_HOME/accrue/artifacts` (or `~/.cache/accrue/artifacts`);
    /// `none` keeps none.
    #[arg(long, env = "ACCRUE_ARTIFACT_DIR")]
    pub artifact_dir: Option<String>,
    /// Instruction budget (fuel) per plug-in evaluation.
    #[arg(long, env = "ACCRUE_PLUGIN_FUEL", default_value_t = 11_000_000)]
    pub plugin_fuel: u64,
    /// Wall-clock backstop per plug-in evaluation, milliseconds.
    #[arg(long, env = "ACCRUE_PLUGIN_DEADLINE_MS", default_value_t = 100)]
    pub plugin_deadline_ms: u64,
    /// Linear memory per plug-in instance, bytes.
    #[arg(long, env = "ACCRUE_PLUGIN_MEMORY_BYTES", default_value_t = 10 << 20)]
    pub plugin_memory_bytes: usize,
    /// Largest accepted plug-in component, bytes.
    #[arg(long, env = "ACCRUE_PLUGIN_MAX_BYTES", default_value_t = 4 << 20)]
    pub plugin_max_bytes: usize,
    /// Fuel each host call of a plug-in costs (plus one per byte it passes).
    #[arg(long, env = "ACCRUE_PLUGIN_HOST_CALL_FUEL", default_value_t = 10_000)]
    pub plugin_host_call_fuel: u64,
    /// Plug-in log lines per second (per plug-in) that reach the service's log.
    #[arg(long, env = "ACCRUE_PLUGIN_LOG_LINES_PER_S", default_value_t = 20)]
    pub plugin_log_lines_per_s: u32,
    /// Wall-clock time one plug-in compilation may take, milliseconds.
    #[arg(
        long,
        env = "ACCRUE_PLUGIN_COMPILE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub plugin_compile_timeout_ms: u64,
    /// Memory one plug-in compilation may use, bytes.
    #[arg(long, env = "ACCRUE_PLUGIN_COMPILE_MEMORY_BYTES", default_value_t = 512 << 20)]
    pub plugin_compile_memory_bytes: u64,
    /// Plug-in compilations that may run at once.
    #[arg(long, env = "ACCRUE_PLUGIN_COMPILE_CONCURRENCY", default_value_t = 1)]
    pub plugin_compile_concurrency: usize,
    /// Plug-in evaluations that may run at once, on threads of their own (0: one per CPU).
    #[arg(long, env = "ACCRUE_PLUGIN_EVAL_THREADS", default_value_t = 0)]
    pub plugin_eval_threads: usize,
    /// Plug-in evaluations one program may run at once (0: half the evaluation threads,
    /// at least one).
    #[arg(long, env = "ACCRUE_PLUGIN_EVAL_PER_PROGRAM", default_value_t = 0)]
    pub plugin_eval_per_program: usize,
    /// Suspend a plug-in's evaluations for a program after this many resource-limit
    /// failures in a row (0: never).
    #[arg(long, env = "ACCRUE_PLUGIN_BREAKER_FAILURES", default_value_t = 5)]
    pub plugin_breaker_failures: u32,
    /// How much lower the evaluation threads' scheduling priority is (nice, 0 to 19).
    #[arg(long, env = "ACCRUE_PLUGIN_EVAL_NICE", default_value_t = 0,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub plugin_eval_nice: i32,
    /// How often to approve entries whose hold period is over, seconds.
    #[arg(long, env = "ACCRUE_APPROVE_EVERY_S", default_value_t = 60)]
    pub approve_every_s: u64,
    /// Seconds between looks for scheduled payout runs whose pay day has come.
    #[arg(long, env = "ACCRUE_PAYOUT_EVERY_S", default_value_t = 60)]
    pub payout_every_s: u64,
    /// Milliseconds between runs of the analytics job, which takes new conversions,
    /// entries and refunds into the rollups (any replica; each fact once). This bounds
    /// how far analytics lag behind the ledger.
    #[arg(long, env = "ACCRUE_ANALYTICS_EVERY_MS", default_value_t = 1000)]
    pub analytics_every_ms: u64,
    /// Log format: `text` or `json`.
    #[arg(long, env = "ACCRUE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// The key that seals partners' bank details and TINs at rest: 32 bytes as 64 hex
    /// digits or standard base64 (`openssl rand -hex 32`). Required once any payout method
    /// is stored; keep it with the database's backups.
    #[arg(long, env = "ACCRUE_SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<SecretText>,
}

/// A secret given on the command line or in the environment: never shown by `Debug`, so
/// that printing the arguments cannot log it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

impl std::str::FromStr for SecretText {
    type Err = std::convert::Infallible;
    // Any text: it is checked where it is used, with an error that does not repeat it
    // (clap's own error would print the value).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

fn init_tracing(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ACCRUE_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// An engine on a migrated database, for the one-shot commands (not `serve`).
async fn open_engine(
    db: &DbArgs,
    artifacts: Option<PathBuf>,
) -> anyhow::Result<crate::engine::Engine> {
    let store = crate::store::Store::connect(&db.database_url, 2).await?;
    store.migrate().await?;
    let runtime = std::sync::Arc::new(crate::plugins::Runtime::new(
        crate::plugins::Limits::default(),
        artifacts,
    )?);
    Ok(crate::engine::Engine::new(store, runtime))
}

/// Run a parsed command line (the whole of the `accrue` binary).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            init_tracing(args.log_format == "json");
            crate::server::serve(args).await
        }
        Command::Migrate(db) => {
            init_tracing(false);
            let store = crate::store::Store::connect(&db.database_url, 2).await?;
            store.migrate().await?;
            println!(
                "migrations applied to {}",
                db.database_url.split('@').next_back().unwrap_or_default()
            );
            Ok(())
        }
        Command::Replay {
            db,
            program,
            conversion,
        } => {
            init_tracing(false);
            let engine = open_engine(&db, crate::plugins::default_artifact_dir()).await?;
            engine.load_plugins().await?;
            engine
                .wait_for_plugins(std::time::Duration::from_secs(600))
                .await;
            let report = engine.replay(&program, &conversion).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.matches {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Analytics(AnalyticsCommand::Backfill(db)) => {
            init_tracing(false);
            // The rebuild runs no plug-in: no artifacts to keep.
            let engine = open_engine(&db, None).await?;
            let started = std::time::Instant::now();
            let (events, facts) = engine.rebuild_analytics().await?;
            println!(
                "analytics rebuilt: {events} events, {facts} facts in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::http::document().to_pretty_json()?);
            Ok(())
        }
        Command::Plugin(PluginCommand::CompileWorker) => {
            std::process::exit(crate::plugins::compile_worker())
        }
        Command::Plugin(PluginCommand::Validate { file }) => {
            init_tracing(false);
            let bytes = std::fs::read(&file)?;
            let runtime = crate::plugins::Runtime::new(crate::plugins::Limits::default(), None)?;
            match runtime.validate(&bytes) {
                Ok(info) => {
                    println!("{}", serde_json::to_string_pretty(&info)?);
                    Ok(())
                }
                Err(e) => {
                    eprintln!("rejected ({}): {e}", e.kind());
                    std::process::exit(1);
                }
            }
        }
    }
}
