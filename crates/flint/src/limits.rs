//! The concurrency options of `flint serve`: the account's concurrency limit and Lambda's scaling
//! rate.

use std::time::Duration;

/// Lambda keeps this much of the account's concurrency free of reservations.
const UNRESERVED_MINIMUM: u32 = 100;

/// Options of `flint serve` that limit how much functions run at once and how fast they scale.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConcurrencyArgs {
    /// Invocations the whole account may run at once; reservations must leave 100 of them.
    #[arg(
        long,
        env = "FLINT_ACCOUNT_CONCURRENCY",
        default_value_t = model::limits::ACCOUNT_CONCURRENCY_DEFAULT,
        value_name = "N"
    )]
    pub(crate) account_concurrency: u32,
    /// New execution environments a function may start per scaling window.
    #[arg(
        long,
        env = "FLINT_SCALING_BURST",
        default_value_t = 1_000,
        value_name = "N"
    )]
    pub(crate) scaling_burst: u32,
    /// Seconds over which the scaling burst refills, continuously.
    #[arg(
        long,
        env = "FLINT_SCALING_WINDOW",
        default_value_t = 10.0,
        value_name = "SECS",
        value_parser = parse_window
    )]
    pub(crate) scaling_window: f64,
}

fn parse_window(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Ok(seconds),
        _ => Err(format!(
            "a scaling window is a positive number of seconds, not {text:?}"
        )),
    }
}

impl ConcurrencyArgs {
    pub(crate) fn limits(&self) -> control::ConcurrencyLimits {
        control::ConcurrencyLimits {
            concurrency: self.account_concurrency,
            unreserved_minimum: UNRESERVED_MINIMUM,
        }
    }

    pub(crate) fn scaling_rate(&self) -> control::ScalingRate {
        control::ScalingRate {
            burst: self.scaling_burst,
            window: Duration::from_secs_f64(self.scaling_window),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        concurrency: ConcurrencyArgs,
    }

    #[test]
    fn defaults_are_lambdas() {
        let cli = Cli::try_parse_from(["flint"]).unwrap();
        assert_eq!(cli.concurrency.limits().concurrency, 1_000);
        assert_eq!(cli.concurrency.limits().unreserved_minimum, 100);
        let rate = cli.concurrency.scaling_rate();
        assert_eq!((rate.burst, rate.window), (1_000, Duration::from_secs(10)));
    }

    #[test]
    fn options_set_the_limits() {
        let cli = Cli::try_parse_from([
            "flint",
            "--account-concurrency",
            "50",
            "--scaling-burst",
            "5",
            "--scaling-window",
            "0.5",
        ])
        .unwrap();
        assert_eq!(cli.concurrency.limits().concurrency, 50);
        let rate = cli.concurrency.scaling_rate();
        assert_eq!((rate.burst, rate.window), (5, Duration::from_millis(500)));
        assert!(Cli::try_parse_from(["flint", "--scaling-window", "0"]).is_err());
    }
}
