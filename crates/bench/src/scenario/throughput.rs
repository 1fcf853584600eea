//! Throughput under concurrency: C client tasks, each with its own keep-alive connection,
//! invoking back to back for a fixed time.

use std::time::Duration;

use crate::loadgen::{self, Failures, Invocation};
use crate::report::{self, Section, micros, thousands};
use crate::stats::Summary;

/// Target of issue 2 for this 2-core machine, load generator included.
const TARGET_CONCURRENCY: usize = 32;
const TARGET_INVOKES_PER_SECOND: f64 = 15_000.0;

/// The results of every concurrency level.
#[derive(Debug, Clone)]
pub(crate) struct Throughput {
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) levels: Vec<Level>,
}

/// The results of one concurrency level.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    pub(crate) concurrency: usize,
    /// Successful invokes in the timed window.
    pub(crate) invokes: usize,
    pub(crate) elapsed: Duration,
    pub(crate) latency: Option<Summary>,
    pub(crate) failures: Failures,
    /// CPU time by role over the timed window.
    pub(crate) cpu: crate::cpu::Split,
}

impl Level {
    pub(crate) fn invokes_per_second(&self) -> f64 {
        self.invokes as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs each concurrency level in turn. Failed invokes are counted, not fatal, so that the
/// report shows how many there were; [`Throughput::problem`] then fails the run.
pub(crate) async fn run(
    invocation: &Invocation,
    levels: &[usize],
    warmup: Duration,
    duration: Duration,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Throughput> {
    let mut results = Vec::with_capacity(levels.len());
    for &concurrency in levels {
        progress(concurrency);
        let mut run = loadgen::closed_loop(invocation, concurrency, warmup, duration).await?;
        results.push(Level {
            concurrency,
            invokes: run.latencies.len(),
            elapsed: run.elapsed,
            latency: Summary::of(&mut run.latencies),
            failures: run.failures,
            cpu: run.cpu,
        });
    }
    Ok(Throughput {
        warmup,
        duration,
        levels: results,
    })
}

impl Throughput {
    /// Why the run must fail: any invoke that did not succeed.
    pub(crate) fn problem(&self) -> Option<String> {
        let failed: Vec<String> = self
            .levels
            .iter()
            .filter(|level| level.failures.total() > 0)
            .map(|level| {
                format!(
                    "{} failed invokes at concurrency {} (first: {})",
                    level.failures.total(),
                    level.concurrency,
                    level.failures.first.as_deref().unwrap_or("unknown")
                )
            })
            .collect();
        (!failed.is_empty()).then(|| failed.join("; "))
    }

    pub(crate) fn section(&self) -> Section {
        let rows = self
            .levels
            .iter()
            .map(|level| {
                let latency = |pick: fn(&Summary) -> Duration| {
                    level
                        .latency
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |summary| micros(pick(summary)))
                };
                vec![
                    level.concurrency.to_string(),
                    thousands(level.invokes_per_second().round() as u64),
                    latency(|summary| summary.p50),
                    latency(|summary| summary.p99),
                    thousands(level.invokes as u64),
                    thousands(level.failures.non_200),
                    thousands(level.failures.bad_answers + level.failures.errors),
                    level.cpu.per_invoke(level.invokes),
                ]
            })
            .collect();
        let mut notes = Vec::new();
        if let Some(level) = self
            .levels
            .iter()
            .find(|level| level.concurrency == TARGET_CONCURRENCY)
        {
            notes.push(format!(
                "Target: ≥ {} invokes/s at concurrency {TARGET_CONCURRENCY}: {}.",
                thousands(TARGET_INVOKES_PER_SECOND as u64),
                report::verdict(level.invokes_per_second() >= TARGET_INVOKES_PER_SECOND)
            ));
        }
        if let Some(problem) = self.problem() {
            notes.push(format!("Failures: {problem}."));
        }
        Section {
            title: "Throughput".to_owned(),
            measured: format!(
                "C client tasks, each with its own keep-alive HTTP/1.1 connection, invoke the \
                 echo function back to back for {:.1} s per level, after {:.1} s of untimed \
                 load that lets flint start the warm environments the level needs. Errors are \
                 function errors, wrong answers, broken connections and timeouts; non-200 and \
                 errors must both be 0. CPU per invoke: the CPU time (user and system, from \
                 /proc) that flint, the function's processes and the load generator spent in \
                 the timed window, divided by its invokes.",
                self.duration.as_secs_f64(),
                self.warmup.as_secs_f64(),
            ),
            header: [
                "Concurrency",
                "Invokes/s",
                "p50 (µs)",
                "p99 (µs)",
                "Invokes",
                "Non-200",
                "Errors",
                "CPU per invoke, flint / function / generator (µs)",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows,
            notes,
        }
    }
}
