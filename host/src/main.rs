//! The `accrue` binary: a thin shell over the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    accrue::cli::run(accrue::cli::Cli::parse()).await
}
