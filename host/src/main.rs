//! The `accrue` binary: a thin shell over the library.

use accrue::cli::{Cli, Command, PluginCommand};
use clap::Parser;

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_tracing(args.log_format == "json");
            accrue::server::serve(args).await
        }
        Command::Migrate(db) => {
            init_tracing(false);
            let store = accrue::store::Store::connect(&db.database_url, 2).await?;
            store.migrate().await?;
            println!(
                "migrations applied to {}",
                db.database_url.split('@').next_back().unwrap_or_default()
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Validate { file }) => {
            init_tracing(false);
            let bytes = std::fs::read(&file)?;
            let runtime = accrue::plugins::Runtime::new(accrue::plugins::Limits::default(), None)?;
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
