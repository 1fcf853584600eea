//! The command line and the settings it resolves to.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure};

/// Measures flint: warm invoke latency, throughput under concurrency, and cold starts.
#[derive(Debug, clap::Parser)]
#[command(name = "flint-bench", version)]
pub(crate) struct Cli {
    /// The flint binary to start with `flint serve` (not used with --endpoint).
    #[arg(long, default_value = "target/release/flint", value_name = "PATH")]
    flint: PathBuf,
    /// Benchmark an already running flint at this URL instead of starting one.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The echo function (a `lambda_runtime` binary), deployed as its `bootstrap`.
    #[arg(long, default_value = "target/release/echo", value_name = "PATH")]
    echo: PathBuf,
    /// Timed sequential invokes for warm latency; 0 skips it [default: 10000, --quick: 1000].
    #[arg(long, value_name = "N")]
    requests: Option<usize>,
    /// Untimed invokes before the timed ones [default: 1000, --quick: 200].
    #[arg(long, value_name = "N")]
    warmup: Option<usize>,
    /// How long each concurrency level runs, e.g. `5`, `2.5s` or `500ms` [default: 5s, --quick: 1s].
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Concurrency levels for throughput, comma-separated; 0 alone skips it.
    #[arg(
        long,
        value_name = "C,...",
        value_delimiter = ',',
        default_value = "1,8,32"
    )]
    concurrency: Vec<usize>,
    /// Cold starts to time; 0 skips them [default: 200, --quick: 20].
    #[arg(long, value_name = "M")]
    cold: Option<usize>,
    /// Simultaneous invokes of a function without warm environments; 0 skips the burst
    /// [default: 200, --quick: 50].
    #[arg(long, value_name = "N")]
    burst: Option<usize>,
    /// Idle warm environments to keep for the density measurement (one per copy of the echo);
    /// 0 skips it [default: 400, --quick: 20].
    #[arg(long, value_name = "N")]
    density: Option<usize>,
    /// The `events-ext` extension (a `lambda-extension` binary), published as a layer to measure
    /// what one INVOKE extension adds to a warm invoke.
    #[arg(long, default_value = "target/release/events-ext", value_name = "PATH")]
    events_ext: PathBuf,
    /// Timed invokes of each function for the extension overhead; 0 skips it [default: 5000,
    /// --quick: 500].
    #[arg(long, value_name = "N")]
    extension_requests: Option<usize>,
    /// Sequential `Event` invokes timed for the accept latency; 0 skips the asynchronous
    /// scenario [default: 5000, --quick: 500].
    #[arg(long, value_name = "N")]
    async_requests: Option<usize>,
    /// `Event` invokes of the backlog whose run rate is measured [default: 20000, --quick: 2000].
    #[arg(long, value_name = "N")]
    async_events: Option<usize>,
    /// A reduced run for smoke tests: fewer requests, shorter levels, fewer cold starts.
    #[arg(long)]
    quick: bool,
    /// Also write the results as a Markdown section to FILE (for BENCHMARKS.md).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Worker threads of the load generator; 1 runs it on a current-thread runtime.
    #[arg(long, value_name = "N", default_value_t = 1)]
    generator_threads: usize,
}

/// Where the flint under test comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerSource {
    /// Start this binary with `flint serve` and stop it at the end.
    Start(PathBuf),
    /// Use the flint already listening at this URL.
    Endpoint(String),
}

/// What to run, with every default resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) server: ServerSource,
    pub(crate) echo: PathBuf,
    pub(crate) warm_requests: usize,
    pub(crate) warmup_requests: usize,
    pub(crate) concurrency: Vec<usize>,
    pub(crate) duration: Duration,
    pub(crate) throughput_warmup: Duration,
    pub(crate) cold_starts: usize,
    pub(crate) burst: usize,
    pub(crate) density: usize,
    pub(crate) events_ext: PathBuf,
    pub(crate) extension_requests: usize,
    pub(crate) async_requests: usize,
    pub(crate) async_events: usize,
    pub(crate) markdown: Option<PathBuf>,
    pub(crate) generator_threads: usize,
}

/// More connections than this would measure the load generator's scheduling, not flint.
const MAX_CONCURRENCY: usize = 1024;

impl Cli {
    /// Resolves the defaults (which depend on `--quick`) and checks the values.
    pub(crate) fn settings(self) -> anyhow::Result<Settings> {
        let quick = self.quick;
        let duration =
            self.duration
                .unwrap_or(pick(quick, Duration::from_secs(5), Duration::from_secs(1)));
        ensure!(!duration.is_zero(), "--duration must be longer than zero");
        let concurrency = if self.concurrency == [0] {
            Vec::new()
        } else {
            self.concurrency
        };
        for &level in &concurrency {
            ensure!(
                (1..=MAX_CONCURRENCY).contains(&level),
                "--concurrency levels must be between 1 and {MAX_CONCURRENCY}, got {level}"
            );
        }
        ensure!(
            self.generator_threads >= 1,
            "--generator-threads must be at least 1"
        );
        let server = match self.endpoint {
            Some(url) => {
                if !url.starts_with("http://") {
                    bail!("--endpoint must be an http:// URL, got {url:?}");
                }
                ServerSource::Endpoint(url.trim_end_matches('/').to_owned())
            }
            None => ServerSource::Start(self.flint),
        };
        Ok(Settings {
            server,
            echo: self.echo,
            warm_requests: self.requests.unwrap_or(pick(quick, 10_000, 1_000)),
            warmup_requests: self.warmup.unwrap_or(pick(quick, 1_000, 200)),
            concurrency,
            duration,
            // Long enough for flint to start the environments a level needs, short next to
            // the timed part.
            throughput_warmup: (duration / 5)
                .clamp(Duration::from_millis(200), Duration::from_secs(1)),
            cold_starts: self.cold.unwrap_or(pick(quick, 200, 20)),
            burst: self.burst.unwrap_or(pick(quick, 200, 50)),
            density: self.density.unwrap_or(pick(quick, 400, 20)),
            events_ext: self.events_ext,
            extension_requests: self.extension_requests.unwrap_or(pick(quick, 5_000, 500)),
            async_requests: self.async_requests.unwrap_or(pick(quick, 5_000, 500)),
            async_events: self.async_events.unwrap_or(pick(quick, 20_000, 2_000)),
            markdown: self.markdown,
            generator_threads: self.generator_threads,
        })
    }
}

/// The default for a full run, or the one for `--quick`.
fn pick<T>(quick: bool, full: T, reduced: T) -> T {
    if quick { reduced } else { full }
}

/// Parses `5`, `2.5`, `2.5s` or `500ms`; a bare number is in seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit_seconds) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1e-3)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 5, 2.5s or 500ms"))?;
    Duration::try_from_secs_f64(value * unit_seconds)
        .map_err(|_| format!("{text:?} is not a duration of zero or more"))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    fn settings(args: &[&str]) -> anyhow::Result<Settings> {
        let argv = std::iter::once("flint-bench").chain(args.iter().copied());
        Cli::try_parse_from(argv)?.settings()
    }

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_full_benchmark() {
        assert_eq!(
            settings(&[]).unwrap(),
            Settings {
                server: ServerSource::Start(PathBuf::from("target/release/flint")),
                echo: PathBuf::from("target/release/echo"),
                warm_requests: 10_000,
                warmup_requests: 1_000,
                concurrency: vec![1, 8, 32],
                duration: Duration::from_secs(5),
                throughput_warmup: Duration::from_secs(1),
                cold_starts: 200,
                burst: 200,
                density: 400,
                events_ext: PathBuf::from("target/release/events-ext"),
                extension_requests: 5_000,
                async_requests: 5_000,
                async_events: 20_000,
                markdown: None,
                generator_threads: 1,
            }
        );
    }

    #[test]
    fn quick_reduces_the_defaults_and_explicit_values_win() {
        let quick = settings(&["--quick"]).unwrap();
        assert_eq!(quick.warm_requests, 1_000);
        assert_eq!(quick.warmup_requests, 200);
        assert_eq!(quick.duration, Duration::from_secs(1));
        assert_eq!(quick.throughput_warmup, Duration::from_millis(200));
        assert_eq!(quick.cold_starts, 20);
        assert_eq!(quick.burst, 50);
        assert_eq!(quick.density, 20);
        assert_eq!(quick.extension_requests, 500);
        assert_eq!((quick.async_requests, quick.async_events), (500, 2_000));

        let mixed = settings(&["--quick", "--requests", "50", "--cold", "0"]).unwrap();
        assert_eq!(mixed.warm_requests, 50);
        assert_eq!(mixed.cold_starts, 0);
        assert_eq!(mixed.duration, Duration::from_secs(1));
    }

    #[test]
    fn every_option_is_read() {
        let parsed = settings(&[
            "--endpoint",
            "http://127.0.0.1:9000/",
            "--echo",
            "/tmp/echo",
            "--warmup",
            "10",
            "--duration",
            "250ms",
            "--concurrency",
            "2,4",
            "--markdown",
            "out.md",
            "--generator-threads",
            "2",
            "--density",
            "7",
        ])
        .unwrap();
        assert_eq!(
            parsed.server,
            ServerSource::Endpoint("http://127.0.0.1:9000".to_owned())
        );
        assert_eq!(parsed.echo, PathBuf::from("/tmp/echo"));
        assert_eq!(parsed.warmup_requests, 10);
        assert_eq!(parsed.duration, Duration::from_millis(250));
        assert_eq!(parsed.throughput_warmup, Duration::from_millis(200));
        assert_eq!(parsed.concurrency, [2, 4]);
        assert_eq!(parsed.markdown, Some(PathBuf::from("out.md")));
        assert_eq!(parsed.generator_threads, 2);
        assert_eq!(parsed.density, 7);

        let flint = settings(&["--flint", "/opt/flint"]).unwrap();
        assert_eq!(
            flint.server,
            ServerSource::Start(PathBuf::from("/opt/flint"))
        );
        assert!(
            settings(&["--concurrency", "0"])
                .unwrap()
                .concurrency
                .is_empty()
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_option_named() {
        let check = |args: &[&str], expect: &str| {
            let error = format!("{:#}", settings(args).unwrap_err());
            assert!(error.contains(expect), "{args:?}: {error}");
        };
        check(&["--duration", "0"], "--duration must be longer than zero");
        check(&["--duration", "soon"], "is not a duration like 5");
        check(&["--duration=-1"], "is not a duration of zero or more");
        check(&["--concurrency", "8,0"], "between 1 and 1024, got 0");
        check(&["--concurrency", "5000"], "got 5000");
        check(
            &["--generator-threads", "0"],
            "--generator-threads must be at least 1",
        );
        check(
            &["--endpoint", "https://x"],
            "--endpoint must be an http:// URL",
        );
        check(&["--requests", "many"], "invalid value 'many'");
    }

    #[test]
    fn durations_take_seconds_or_milliseconds() {
        let check = |text: &str, expect: Duration| {
            assert_eq!(parse_duration(text), Ok(expect), "{text}");
        };
        check("5", Duration::from_secs(5));
        check("2.5", Duration::from_millis(2_500));
        check("3s", Duration::from_secs(3));
        check("500ms", Duration::from_millis(500));
        check("0.5s", Duration::from_millis(500));
    }

    #[test]
    fn extension_options_are_read() {
        let parsed = settings(&[
            "--events-ext",
            "/tmp/events-ext",
            "--extension-requests",
            "0",
        ])
        .unwrap();
        assert_eq!(parsed.events_ext, PathBuf::from("/tmp/events-ext"));
        assert_eq!(parsed.extension_requests, 0);
    }
}
