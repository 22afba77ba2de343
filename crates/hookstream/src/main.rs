//! The `hookstream` binary: parses the command line and calls into the component crates.

#[cfg(test)]
mod compose_tests;
mod config;
mod replay;
mod run;
mod sink;
mod startup;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

/// Many small allocations per delivery (requests, headers, records) from many threads:
/// mimalloc serves them with less contention than the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// IGDB-style webhooks on Apache Kafka.
#[derive(Debug, Parser)]
#[command(name = "hookstream", version, about)]
struct Cli {
    /// TOML configuration file. Settings may also come from HOOKSTREAM_<SECTION>__<KEY>.
    #[arg(long, short, global = true, env = "HOOKSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Log format (overrides log.format).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The public webhook API.
    Api,
    /// Change capture: the HTTP ingest endpoint.
    Capture,
    /// A dispatcher: delivers changes to webhooks. Run as many as you like.
    Dispatch,
    /// api, capture and dispatch in one process, for a laptop.
    Dev,
    /// Sends history from a category topic to webhooks again (marked X-Hookstream-Replay).
    Replay(replay::ReplayArgs),
    /// A local receiver that prints every delivery it gets.
    Sink(sink::SinkArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Prints the keys-file entry for a user-key (only its SHA-256 is stored).
    Hash {
        /// The user-key to hash.
        key: String,
        /// Account the key belongs to.
        #[arg(long, default_value = "my-account")]
        account: String,
        /// Plan of the account: free, basic, pro, ultra or enterprise.
        #[arg(long, default_value = "pro")]
        plan: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validates the configuration and prints it as TOML, secrets masked.
    Check,
    /// Prints every key with its default value and what it does (a starting file).
    Default,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Config(ConfigCommand::Default) = cli.command {
        print!("{}", config::DEFAULT_TOML);
        return Ok(());
    }
    match cli.command {
        Command::Sink(args) => {
            init_logging(cli.log_format.unwrap_or(LogFormat::Text), "info");
            runtime()?.block_on(sink::run(args))
        }
        Command::Keys(KeysCommand::Hash { key, account, plan }) => {
            println!(
                "[[key]]\naccount = {account:?}\nplan = {plan:?}\nsha256 = \"{}\"",
                hookstream_api::keys::hash_key_hex(&key)
            );
            Ok(())
        }
        command => {
            let config = Config::load(cli.config.as_deref()).map_err(anyhow::Error::msg)?;
            if let Command::Config(ConfigCommand::Check) = command {
                print!("{}", run::masked_toml(&config)?);
                return Ok(());
            }
            if let Command::Replay(args) = command {
                // The summary and the progress bar are the output; logs only for problems.
                init_logging(cli.log_format.unwrap_or(config.log.format), "warn");
                return runtime()?.block_on(replay::run(args, config.kafka));
            }
            init_logging(
                cli.log_format.unwrap_or(config.log.format),
                &config.log.level,
            );
            let service = match command {
                Command::Api => run::Service::Api,
                Command::Capture => run::Service::Capture,
                Command::Dispatch => run::Service::Dispatch,
                _ => run::Service::Dev,
            };
            runtime()?.block_on(run::run(service, config))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logging(format: LogFormat, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
