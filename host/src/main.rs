//! The `accrue` binary: a thin shell over the library.

use clap::Parser;

/// mimalloc instead of the system allocator: a batch of 500 conversions makes tens of
/// thousands of short-lived strings, and in a profile of the ingest bench glibc's
/// malloc and free took about a third of the engine's CPU (see docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    accrue::cli::run(accrue::cli::Cli::parse()).await
}
