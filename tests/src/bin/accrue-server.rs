//! The `accrue` binary, built again inside this package so that Cargo builds it before the
//! end-to-end tests and hands them its path (`CARGO_BIN_EXE_accrue-server`). It is the
//! same program: `accrue::cli::run`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    accrue::cli::run(accrue::cli::Cli::parse()).await
}
