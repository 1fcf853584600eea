//! The asynchronous side of `flint serve`: its option and the dispatcher that runs queued
//! `Event` invocations through the control plane.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

/// How long the dispatcher waits for attempts in flight when the server stops; attempts still
/// running then are made due again and run after the next start.
pub(crate) const DISPATCHER_GRACE: Duration = Duration::from_secs(2);

/// Options of `flint serve` for asynchronous invocations.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AsyncArgs {
    /// Multiplies every delay between attempts of asynchronous invocations (about 1 and 2 minutes
    /// after function errors, 1 s to 5 min back-off after throttles) by this factor, above 0 and
    /// at most 1; 0.01 makes them 0.6 s and 1.2 s, for tests and demonstrations.
    #[arg(
        long,
        env = "FLINT_ASYNC_RETRY_SCALE",
        default_value_t = 1.0,
        value_name = "FACTOR",
        value_parser = parse_scale
    )]
    pub(crate) async_retry_scale: f64,
}

fn parse_scale(text: &str) -> Result<f64, String> {
    let factor: f64 = text
        .parse()
        .map_err(|_| format!("a retry scale is a number, not {text:?}"))?;
    dispatch::RetrySchedule::scaled(factor)
        .map(|_| factor)
        .map_err(|error| error.to_string())
}

/// Everything the dispatcher is started with.
#[derive(Debug)]
pub(crate) struct DispatcherInputs {
    pub(crate) queue: dispatch::AsyncQueue,
    pub(crate) configs: Arc<dyn store::EventInvokeConfigStore>,
    pub(crate) control: control::ControlPlane,
    pub(crate) clock: Arc<dyn model::Clock>,
    pub(crate) account_id: String,
}

/// Starts the dispatcher on the current runtime.
pub(crate) fn start(
    args: &AsyncArgs,
    inputs: DispatcherInputs,
) -> anyhow::Result<dispatch::Dispatcher> {
    let schedule = dispatch::RetrySchedule::scaled(args.async_retry_scale)
        .context("invalid --async-retry-scale")?;
    if args.async_retry_scale < 1.0 {
        tracing::info!(
            scale = args.async_retry_scale,
            ?schedule,
            "async retry delays are scaled"
        );
    }
    Ok(dispatch::Dispatcher::start(dispatch::DispatcherParts {
        queue: inputs.queue,
        configs: inputs.configs,
        invoker: Arc::new(inputs.control.clone()),
        destinations: Arc::new(inputs.control),
        clock: inputs.clock,
        settings: dispatch::DispatcherSettings {
            schedule,
            ..dispatch::DispatcherSettings::new(inputs.account_id)
        },
    }))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        async_events: AsyncArgs,
    }

    #[test]
    fn the_retry_scale_is_a_factor_up_to_one() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("flint").chain(args.iter().copied()))
                .map(|cli| cli.async_events.async_retry_scale)
        };
        assert_eq!(parse(&[]).unwrap(), 1.0);
        assert_eq!(parse(&["--async-retry-scale", "0.01"]).unwrap(), 0.01);
        for bad in ["0", "1.5", "-1", "fast", "NaN"] {
            assert!(parse(&["--async-retry-scale", bad]).is_err(), "{bad}");
        }
    }
}
