//! The `kiln` binary: `kiln server` runs the database; the other
//! subcommands are tools that work on a data directory or a running server.

mod cli;

/// mimalloc instead of glibc malloc: ingest allocates many small, short-lived
/// objects on many threads (decode, normalise, block encoding), where glibc
/// spent ~40% of the server's CPU and fragmented memory (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Kiln: a Pyroscope-compatible continuous-profiling database.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Kiln (every role in one process by default) on port 4040.
    Server(cli::server::ServerArgs),
    /// Inspect and create blocks in a data directory.
    #[command(subcommand)]
    Block(cli::block::BlockCommand),
    /// Benchmarks: `kiln bench ingest`, `kiln bench query`, `kiln bench scale-out`.
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
    /// SQL against a running server: `kiln sql "SELECT …"`, or a shell.
    Sql(cli::sql::SqlArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => cli::server::run(args).await,
            Command::Block(command) => cli::block::run(command).await,
            Command::Bench(command) => cli::bench::run(command).await,
            Command::Sql(args) => cli::sql::run(args).await,
        }
    })
}
