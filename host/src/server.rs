//! `accrue serve`: connect, migrate, load plug-ins, make sure an admin key exists, serve
//! HTTP until SIGTERM/SIGINT, then finish in-flight requests and close the pool.

use crate::cli::ServeArgs;
use crate::engine::{Engine, SECRETS_KEY_VAR, Sealer};
use crate::http::{self, AppState};
use crate::plugins::{CompileMode, Runtime};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Build the engine from the arguments (used by `serve` and by tests).
pub async fn engine(args: &ServeArgs) -> anyhow::Result<Engine> {
    let store = Store::connect(&args.db.database_url, args.db.db_max_connections)
        .await?
        .with_batch_checks(args.db.pg_batch_checks);
    store.migrate().await?;
    // Compilations run in a child process of this same executable, where their memory is
    // capped and they can be stopped (`plugins::compile`).
    let exe = std::env::current_exe()?;
    let runtime = Arc::new(Runtime::with_compiler(
        args.limits(),
        args.artifact_dir(),
        CompileMode::Subprocess(exe),
    )?);
    let engine = with_secrets(Engine::new(store, runtime), args).await?;
    let report = engine.load_plugins().await?;
    tracing::info!(
        ready = report.ready,
        compiling = report.compiling,
        refused = report.refused,
        "plug-ins registered; those not ready compile in the background"
    );
    Ok(engine)
}

/// The engine with the secrets key of `ACCRUE_SECRETS_KEY`, checked against what is
/// stored: an invalid key, or none while payout methods are stored sealed, or another key
/// than the one they were sealed with, stops the start with an error naming the variable
/// (never the key: only its public id).
pub async fn with_secrets(engine: Engine, args: &ServeArgs) -> anyhow::Result<Engine> {
    let text = args
        .secrets_key
        .as_ref()
        .map(|t| t.0.as_str())
        .filter(|t| !t.trim().is_empty());
    let sealer = text
        .map(Sealer::from_key_text)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sealed = engine.store().payout_method_key_ids().await?;
    let stored: i64 = sealed.iter().map(|(_, n)| n).sum();
    let Some(sealer) = sealer else {
        if stored > 0 {
            anyhow::bail!(
                "{stored} payout methods are stored sealed; set {SECRETS_KEY_VAR} to the key \
                 they were sealed with"
            );
        }
        tracing::warn!(
            "{SECRETS_KEY_VAR} is not set: payout methods and tax identification numbers \
             cannot be stored (503 secrets-key-missing)"
        );
        return Ok(engine);
    };
    let other: Vec<String> = sealed
        .iter()
        .filter(|(id, _)| id != sealer.key_id())
        .map(|(id, n)| format!("{n} under key {id}"))
        .collect();
    if !other.is_empty() {
        anyhow::bail!(
            "{SECRETS_KEY_VAR} is the key {}, but payout methods are stored sealed with \
             another key ({}); set {SECRETS_KEY_VAR} to the key they were sealed with",
            sealer.key_id(),
            other.join(", ")
        );
    }
    tracing::info!(key_id = sealer.key_id(), "secrets key loaded");
    Ok(engine.with_secrets(sealer))
}

/// Make sure an admin key exists: the configured one, or a new one printed once when the
/// database has no key at all.
pub async fn ensure_admin_key(engine: &Engine, configured: Option<&str>) -> anyhow::Result<()> {
    let created = engine
        .ensure_admin_key(configured)
        .await
        .map_err(|e| anyhow::anyhow!("could not store the admin key: {e}"))?;
    if let Some(secret) = created {
        // Printed once, on purpose: the secret is stored only as a hash.
        println!("Created an admin API key (shown only now): {secret}");
    }
    Ok(())
}

/// Run the service.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let engine = engine(&args).await?;
    ensure_admin_key(&engine, args.admin_key.as_deref()).await?;
    let state = AppState::new(engine.clone()).await?;
    let app = http::router(state);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    println!("Accrue listening on http://{}", listener.local_addr()?);
    let approver = tokio::spawn(approve_loop(
        engine.clone(),
        Duration::from_secs(args.approve_every_s.max(1)),
    ));
    let payer = tokio::spawn(payout_loop(
        engine.clone(),
        Duration::from_secs(args.payout_every_s.max(1)),
    ));
    let reporter = tokio::spawn(report_loop(engine.clone(), Duration::from_secs(1)));
    let analyst = tokio::spawn(analytics_loop(
        engine.clone(),
        Duration::from_millis(args.analytics_every_ms.max(10)),
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    approver.abort();
    payer.abort();
    analyst.abort();
    reporter.abort();
    engine.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Approve what came due, every `every`. A run that overran its interval (a backlog, a
/// slow database) is followed by the next tick in due time, not by the missed ones back to
/// back: each run approves everything due anyway. Replicas share the work through the
/// store's claim (`Store::approve_due`).
async fn approve_loop(engine: Engine, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        match engine.approve_due(crate::store::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(approved = n, "entries approved after their hold period"),
            Err(e) => tracing::warn!("approval run failed: {e}"),
        }
    }
}

/// Start the payout runs whose pay day has come, every `every`. Any replica may run it:
/// a run is created once per (program, pay day) by its unique key, and a replica finding
/// the schedule claimed by another skips it (`Engine::run_due_payouts`).
async fn payout_loop(engine: Engine, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        match engine.run_due_payouts(crate::store::now_ms()).await {
            Ok(runs) if runs.is_empty() => {}
            Ok(runs) => tracing::info!(runs = runs.len(), "scheduled payout runs created"),
            Err(e) => tracing::warn!("scheduled payouts failed: {e}"),
        }
    }
}

/// Take new facts into the analytics rollups, every `every` (see
/// `Engine::run_analytics`: each step claims its own queue rows, so replicas share the
/// work and never take a fact twice).
async fn analytics_loop(engine: Engine, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        match engine.run_analytics().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(facts = n, "analytics rollups updated"),
            Err(e) => tracing::warn!("analytics job failed: {e}"),
        }
    }
}

/// Build the report jobs that are due, every `every` (any replica: each job is claimed
/// once, and a job whose replica died is taken over when its lease runs out).
async fn report_loop(engine: Engine, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        match engine.run_report_jobs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reports = n, "reports built"),
            Err(e) => tracing::warn!("report job failed: {e}"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
