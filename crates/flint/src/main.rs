//! The `flint` command line.

mod async_events;
mod client;
mod doctor;
mod event_loops;
mod isolation;
mod limits;
mod serve;

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "flint", version, about = "A self-hosted AWS Lambda")]
struct Cli {
    /// URL of the flint that client commands talk to.
    #[arg(
        long,
        global = true,
        env = "FLINT_ENDPOINT",
        default_value = client::DEFAULT_ENDPOINT,
        value_name = "URL"
    )]
    endpoint: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the platform.
    Serve(serve::ServeArgs),
    /// Report what isolation this host supports for functions, and why not where it does not.
    Doctor,
    /// Create a function, or update its code and configuration.
    Deploy(client::deploy::DeployArgs),
    /// Invoke a function and print its response.
    Invoke(client::invoke::InvokeArgs),
    /// List functions.
    #[command(visible_alias = "list")]
    Ls,
    /// Print a function's logs.
    Logs(client::logs::LogsArgs),
    /// Delete a function.
    #[command(visible_alias = "remove")]
    Rm(client::remove::RemoveArgs),
    /// Show a function's versions, aliases, environments, concurrency and throttles.
    Status(client::status::StatusArgs),
}

fn main() -> ExitCode {
    // The isolated launcher starts this program as each environment's jailer; that must happen
    // before any thread exists.
    if isolation::invoked_as_jail() {
        sandbox::jail_main();
    }
    command_line()
}

/// Prints a failure as one `error: ...` line (with its causes) and exits with status 1.
fn command_line() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let flint = || client::Flint::new(&cli.endpoint);
    match cli.command {
        // The server builds its own event loops.
        Command::Serve(args) => serve::main(args),
        Command::Doctor => doctor::run(),
        Command::Deploy(args) => {
            on_event_loop(async { client::deploy::run(&flint()?, args).await })
        }
        Command::Invoke(args) => {
            on_event_loop(async { client::invoke::run(&flint()?, args).await })
        }
        Command::Ls => on_event_loop(async { client::list::run(&flint()?).await }),
        Command::Logs(args) => on_event_loop(async { client::logs::run(&flint()?, args).await }),
        Command::Rm(args) => on_event_loop(async { client::remove::run(&flint()?, args).await }),
        Command::Status(args) => {
            on_event_loop(async { client::status::run(&flint()?, args).await })
        }
    }
}

/// Runs a client command on a single-threaded event loop.
fn on_event_loop(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    event_loops::event_loop()?.block_on(command)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn endpoint_goes_before_or_after_the_command() {
        let cli = Cli::try_parse_from(["flint", "ls", "--endpoint", "http://127.0.0.1:1"]).unwrap();
        assert_eq!(cli.endpoint, "http://127.0.0.1:1");
        let cli =
            Cli::try_parse_from(["flint", "--endpoint", "http://127.0.0.1:2", "rm", "f"]).unwrap();
        assert_eq!(cli.endpoint, "http://127.0.0.1:2");
    }
}
