//! `flint-bench`: measures flint's warm invoke latency, throughput under concurrency, cold starts
//! and the cost of an INVOKE extension with a `lambda_runtime` echo function, and prints a
//! report.
//!
//! Run it as `cargo run --release -p bench -- [options]` after
//! `cargo build --release -p flint -p test-functions -p test-extensions`.

mod control;
mod cpu;
mod echo;
mod loadgen;
mod machine;
mod options;
mod report;
mod scenario;
mod server;
mod stats;

use std::fs;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;

use crate::control::ControlPlane;
use crate::loadgen::Invocation;
use crate::machine::Machine;
use crate::options::{Cli, ServerSource, Settings};
use crate::report::Report;
use crate::server::{Endpoint, LocalServer};

fn main() -> ExitCode {
    let settings = match Cli::parse().settings() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let outcome = generator_runtime(settings.generator_threads)
        .context("start the load generator's runtime")
        .and_then(|runtime| runtime.block_on(run(&settings)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime the whole benchmark, load generator included, runs on.
///
/// The machine has 2 cores and the generator competes with flint for them, so by default it
/// gets one thread: a current-thread runtime. Measured on the 2-core machine, one thread drives
/// 40,000 to 50,000 invokes/s against an in-process stub server (far above what flint needs
/// from it), and against flint a multi-thread runtime with 2 workers gave no more throughput at
/// concurrency 1, 8 or 32 while spending more system time on cross-thread wake-ups, which is
/// CPU taken from flint. `--generator-threads` keeps the comparison repeatable.
fn generator_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

async fn run(settings: &Settings) -> anyhow::Result<()> {
    // Packaged first, so that a missing binary fails before a server is started.
    let zip = echo::package(&settings.echo)?;
    let layer = (settings.extension_requests > 0)
        .then(|| scenario::extension_overhead::package(&settings.events_ext))
        .transpose()?;
    let packages = Packages {
        echo: &zip,
        extension_layer: layer.as_deref(),
    };
    let (report, problems) = match &settings.server {
        ServerSource::Start(flint) => {
            progress(&format!("starting {} serve", flint.display()));
            let server = LocalServer::start(flint).await?;
            let origin = format!(
                "{}, started by flint-bench on {} with a temporary data directory",
                flint_version(flint),
                server.endpoint().url
            );
            let outcome = benchmark(settings, server.endpoint(), origin, &packages).await;
            if outcome.is_err() {
                eprintln!("flint's log ends:\n{}", server.log_tail());
            }
            match server.stop() {
                Ok(status) if !status.success() => {
                    eprintln!("warning: flint exited with {status} after SIGTERM");
                }
                Ok(_) => {}
                Err(error) => eprintln!("warning: {error:#}"),
            }
            outcome?
        }
        ServerSource::Endpoint(url) => {
            let endpoint = Endpoint::resolve(url).await?;
            let origin = format!("already running at {url}");
            benchmark(settings, &endpoint, origin, &packages).await?
        }
    };
    println!("{}", report.to_terminal());
    if let Some(path) = &settings.markdown {
        fs::write(path, report.to_markdown())
            .with_context(|| format!("write the Markdown report to {}", path.display()))?;
        progress(&format!("wrote the Markdown report to {}", path.display()));
    }
    if !problems.is_empty() {
        bail!("the benchmark saw failures: {}", problems.join("; "));
    }
    Ok(())
}

/// The deployment packages the scenarios use.
struct Packages<'a> {
    echo: &'a [u8],
    /// The `events-ext` layer, when the extension scenario runs.
    extension_layer: Option<&'a [u8]>,
}

/// Deploys the echo function, runs the scenarios, and deletes the function again.
async fn benchmark(
    settings: &Settings,
    endpoint: &Endpoint,
    origin: String,
    packages: &Packages<'_>,
) -> anyhow::Result<(Report, Vec<String>)> {
    let control = ControlPlane::new(endpoint);
    let function = echo::function_name();
    progress(&format!("deploying the echo function as {function}"));
    control
        .create_function(&function, packages.echo)
        .await
        .context("deploy the echo function")?;
    let outcome = scenarios(settings, endpoint, &control, &function, origin, packages).await;
    if let Err(error) = control.delete_function(&function).await {
        eprintln!("warning: could not delete {function}: {error:#}");
    }
    outcome
}

async fn scenarios(
    settings: &Settings,
    endpoint: &Endpoint,
    control: &ControlPlane,
    function: &str,
    origin: String,
    packages: &Packages<'_>,
) -> anyhow::Result<(Report, Vec<String>)> {
    let invocation = Invocation::new(endpoint, function, echo::payload())?;
    let machine = Machine::detect();
    let mut report = Report {
        title: format!("flint benchmark, {}", machine.date),
        facts: facts(settings, &machine, origin),
        sections: Vec::new(),
    };
    let mut problems = Vec::new();

    if settings.warm_requests > 0 {
        progress(&format!(
            "warm latency: {} + {} sequential invokes",
            settings.warmup_requests, settings.warm_requests
        ));
        let warm = scenario::warm_latency::run(
            &invocation,
            settings.warmup_requests,
            settings.warm_requests,
        )
        .await
        .context("warm latency")?;
        report.sections.push(warm.section());
    }
    if !settings.concurrency.is_empty() {
        let throughput = scenario::throughput::run(
            &invocation,
            &settings.concurrency,
            settings.throughput_warmup,
            settings.duration,
            |concurrency| {
                progress(&format!(
                    "throughput at concurrency {concurrency}: {:.1} s + {:.1} s",
                    settings.throughput_warmup.as_secs_f64(),
                    settings.duration.as_secs_f64()
                ));
            },
        )
        .await
        .context("throughput")?;
        problems.extend(throughput.problem());
        report.sections.push(throughput.section());
    }
    if settings.cold_starts > 0 {
        progress(&format!("cold starts: {}", settings.cold_starts));
        let cold = scenario::cold_start::run(control, &invocation, function, settings.cold_starts)
            .await
            .context("cold start")?;
        problems.extend(cold.problem());
        report.sections.push(cold.section());
    }
    if settings.burst > 0 {
        progress(&format!(
            "burst: {} simultaneous invokes without warm environments",
            settings.burst
        ));
        let burst = scenario::burst::run(control, &invocation, function, settings.burst)
            .await
            .context("burst")?;
        problems.extend(burst.problem());
        report.sections.push(burst.section());
    }
    if settings.async_requests > 0 {
        progress(&format!(
            "asynchronous invocations: {} sequential Event invokes, then a backlog of {}",
            settings.async_requests, settings.async_events
        ));
        let events = scenario::async_events::run(
            endpoint,
            function,
            settings.async_requests,
            settings.async_events,
        )
        .await
        .context("asynchronous invocations")?;
        problems.extend(events.problem());
        report.sections.push(events.section());
    }
    if let Some(layer) = packages.extension_layer {
        progress(&format!(
            "extension overhead: {} + {} invokes with and without an INVOKE extension",
            settings.warmup_requests, settings.extension_requests
        ));
        let overhead = scenario::extension_overhead::run(
            control,
            endpoint,
            function,
            packages.echo,
            layer,
            settings.warmup_requests,
            settings.extension_requests,
        )
        .await
        .context("extension overhead")?;
        report.sections.push(overhead.section());
    }
    // Last: deleting the copies retires hundreds of environments, which must not land on
    // another scenario.
    if settings.density > 0 {
        progress(&format!(
            "density: {} copies of the echo, one idle environment each",
            settings.density
        ));
        let density =
            scenario::density::run(control, endpoint, function, packages.echo, settings.density)
                .await
                .context("density")?;
        report.sections.push(density.section());
    }
    Ok((report, problems))
}

fn facts(settings: &Settings, machine: &Machine, origin: String) -> Vec<(String, String)> {
    let generator = if settings.generator_threads == 1 {
        "current-thread tokio runtime".to_owned()
    } else {
        format!(
            "multi-thread tokio runtime with {} workers",
            settings.generator_threads
        )
    };
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let command = if arguments.is_empty() {
        "`cargo run --release -p bench`".to_owned()
    } else {
        format!("`cargo run --release -p bench -- {}`", arguments.join(" "))
    };
    vec![
        (
            "Machine".to_owned(),
            format!(
                "{}, {} cores, {}, load average {} at the start",
                machine.cpu, machine.cores, machine.kernel, machine.load
            ),
        ),
        ("flint".to_owned(), origin),
        (
            "Function".to_owned(),
            format!(
                "the lambda_runtime echo (test-functions, stripped), provided.al2023, {} MB (one vCPU)",
                crate::control::MEMORY_MB
            ),
        ),
        (
            "Load generator".to_owned(),
            format!(
                "flint-bench on the same machine: {generator}, its own minimal HTTP/1.1 client on \
                 keep-alive connections"
            ),
        ),
        ("Command".to_owned(), command),
    ]
}

/// `flint --version`, or the path when it cannot say.
fn flint_version(flint: &std::path::Path) -> String {
    std::process::Command::new(flint)
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|version| !version.is_empty())
        .unwrap_or_else(|| flint.display().to_string())
}

/// A progress line on stderr, so that stdout holds only the report.
fn progress(message: &str) {
    eprintln!("flint-bench: {message}");
}
