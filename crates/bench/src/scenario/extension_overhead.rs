//! The warm-invoke cost of one external extension registered for INVOKE: the echo function with
//! and without the `events-ext` extension (crates/test-extensions, built on the real
//! `lambda-extension` crate) in a layer, timed in alternating blocks over keep-alive connections.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use crate::control::ControlPlane;
use crate::loadgen::{Connection, Invocation};
use crate::report::{self, Section, micros, thousands};
use crate::server::Endpoint;
use crate::stats::Summary;

/// Target of issue 6 for this 2-core machine: the p50 an INVOKE extension adds.
const TARGET_P50_EXTRA: Duration = Duration::from_micros(150);

/// Invokes timed per function before switching to the other, so both see the same drift.
const BLOCK: usize = 100;

/// The latencies with and without the extension.
#[derive(Debug, Clone)]
pub(crate) struct ExtensionOverhead {
    pub(crate) warmup: usize,
    pub(crate) without: Summary,
    pub(crate) with: Summary,
}

/// Zips the `events-ext` binary as `extensions/events-ext` (mode 0755), a layer Lambda starts
/// as an external extension.
pub(crate) fn package(events_ext: &Path) -> anyhow::Result<Vec<u8>> {
    if !events_ext.is_file() {
        anyhow::bail!(
            "extension {} not found: build it with `cargo build --release -p test-extensions`, \
             pass --events-ext, or skip this scenario with --extension-requests 0",
            events_ext.display()
        );
    }
    let dir = tempfile::tempdir().context("create a directory to package the extension")?;
    let extensions = dir.path().join("extensions");
    fs::create_dir(&extensions).context("create extensions/ for the layer")?;
    let program = extensions.join("events-ext");
    fs::copy(events_ext, &program)
        .with_context(|| format!("copy {} to {}", events_ext.display(), program.display()))?;
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("make {} executable", program.display()))?;
    package::zip_dir(dir.path()).context("zip the extension layer")
}

/// Publishes the extension layer, deploys the echo function twice (without and with it), warms
/// both, times `requests` invokes of each, and deletes what it made.
pub(crate) async fn run(
    control: &ControlPlane,
    endpoint: &Endpoint,
    base_name: &str,
    echo_zip: &[u8],
    layer_zip: &[u8],
    warmup: usize,
    requests: usize,
) -> anyhow::Result<ExtensionOverhead> {
    let layer = format!("{base_name}-events-ext");
    let (arn, version) = control
        .publish_layer(&layer, layer_zip)
        .await
        .context("publish the extension layer")?;
    let plain = format!("{base_name}-plain");
    let extended = format!("{base_name}-ext");
    let outcome = async {
        control
            .create_function(&plain, echo_zip)
            .await
            .context("deploy the echo function without extension")?;
        control
            .create_function_with_layers(&extended, echo_zip, std::slice::from_ref(&arn))
            .await
            .context("deploy the echo function with the extension")?;
        measure(endpoint, &plain, &extended, warmup, requests).await
    }
    .await;
    for function in [&plain, &extended] {
        if let Err(error) = control.delete_function(function).await {
            eprintln!("warning: could not delete {function}: {error:#}");
        }
    }
    if let Err(error) = control.delete_layer_version(&layer, version).await {
        eprintln!("warning: could not delete layer {layer}: {error:#}");
    }
    outcome
}

async fn measure(
    endpoint: &Endpoint,
    plain: &str,
    extended: &str,
    warmup: usize,
    requests: usize,
) -> anyhow::Result<ExtensionOverhead> {
    let mut without = Timed::connect(endpoint, plain).await?;
    let mut with = Timed::connect(endpoint, extended).await?;
    for _ in 0..warmup {
        without.invoke().await?;
        with.invoke().await?;
    }
    without.latencies.clear();
    with.latencies.clear();
    while with.latencies.len() < requests {
        let block = BLOCK.min(requests - with.latencies.len());
        for _ in 0..block {
            without.invoke().await?;
        }
        for _ in 0..block {
            with.invoke().await?;
        }
    }
    Ok(ExtensionOverhead {
        warmup,
        without: Summary::of(&mut without.latencies).context("no invokes were timed")?,
        with: Summary::of(&mut with.latencies).context("no invokes were timed")?,
    })
}

/// Sequential invokes of one function over one connection, with their latencies.
struct Timed {
    function: String,
    connection: Connection,
    latencies: Vec<Duration>,
}

impl Timed {
    async fn connect(endpoint: &Endpoint, function: &str) -> anyhow::Result<Self> {
        let invocation = Invocation::new(endpoint, function, crate::echo::payload())?;
        Ok(Timed {
            function: function.to_owned(),
            connection: invocation.connect().await?,
            latencies: Vec::new(),
        })
    }

    async fn invoke(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        let result = self.connection.invoke(false).await;
        let elapsed = start.elapsed();
        result.map_err(|failure| anyhow!("invoke of {}: {failure}", self.function))?;
        self.latencies.push(elapsed);
        Ok(())
    }
}

impl ExtensionOverhead {
    /// How much the extension adds at p50 and p99 (zero if it measured faster).
    fn extra(&self) -> (Duration, Duration) {
        (
            self.with.p50.saturating_sub(self.without.p50),
            self.with.p99.saturating_sub(self.without.p99),
        )
    }

    pub(crate) fn section(&self) -> Section {
        let row = |what: &str, summary: &Summary| {
            vec![
                what.to_owned(),
                thousands(summary.count as u64),
                micros(summary.p50),
                micros(summary.p90),
                micros(summary.p99),
                micros(summary.max),
            ]
        };
        let (p50_extra, p99_extra) = self.extra();
        Section {
            title: "Warm invoke latency with one INVOKE extension".to_owned(),
            measured: format!(
                "The echo function twice: without extensions, and with the events-ext \
                 extension (built on the lambda-extension crate, registered for INVOKE and \
                 SHUTDOWN, published as a layer in extensions/) which prints each INVOKE event \
                 and asks for the next one at once. {} sequential invokes of each over one \
                 keep-alive connection per function, in alternating blocks of {BLOCK}, after \
                 {} untimed warm-up invokes of each. The caller gets the response as soon as \
                 the runtime answers; the environment takes its next invocation once the \
                 extension has asked for its next event.",
                thousands(self.with.count as u64),
                thousands(self.warmup as u64),
            ),
            header: [
                "Function",
                "Invokes",
                "p50 (µs)",
                "p90 (µs)",
                "p99 (µs)",
                "max (µs)",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: vec![
                row("echo, no extension", &self.without),
                row("echo + events-ext", &self.with),
            ],
            notes: vec![
                format!(
                    "The extension adds {} µs at p50 and {} µs at p99.",
                    micros(p50_extra),
                    micros(p99_extra)
                ),
                format!(
                    "Target: ≤ {} µs added at p50: {}.",
                    micros(TARGET_P50_EXTRA),
                    report::verdict(p50_extra <= TARGET_P50_EXTRA)
                ),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;

    fn summary(p50_us: u64, p99_us: u64) -> Summary {
        Summary {
            count: 10,
            p50: Duration::from_micros(p50_us),
            p90: Duration::from_micros(p50_us),
            p99: Duration::from_micros(p99_us),
            p999: Duration::from_micros(p99_us),
            max: Duration::from_micros(p99_us),
        }
    }

    #[test]
    fn the_layer_holds_an_executable_extension() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("events-ext");
        fs::write(&binary, b"\x7fELF fake").unwrap();
        let zip = package(&binary).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        let mut entry = archive.by_name("extensions/events-ext").unwrap();
        assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, b"\x7fELF fake");
    }

    #[test]
    fn a_missing_extension_names_how_to_build_or_skip_it() {
        let error = package(Path::new("/nonexistent/events-ext")).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("-p test-extensions"), "{text}");
        assert!(text.contains("--extension-requests 0"), "{text}");
    }

    #[test]
    fn the_section_states_the_extra_cost_against_the_target() {
        let within = ExtensionOverhead {
            warmup: 5,
            without: summary(200, 400),
            with: summary(320, 700),
        };
        let section = within.section();
        assert_eq!(section.rows.len(), 2);
        assert!(
            section.notes[0].contains("adds 120 µs at p50 and 300 µs at p99"),
            "{:?}",
            section.notes
        );
        assert!(section.notes[1].ends_with(": met."), "{:?}", section.notes);

        let beyond = ExtensionOverhead {
            with: summary(400, 700),
            ..within
        };
        assert!(beyond.section().notes[1].ends_with(": NOT met."));
    }
}
