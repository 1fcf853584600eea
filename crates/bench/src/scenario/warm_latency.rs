//! Warm invoke latency at concurrency 1: sequential invokes over one keep-alive connection.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use crate::loadgen::Invocation;
use crate::report::{self, Section, micros, thousands};
use crate::stats::Summary;

/// Targets of issue 2 for this 2-core machine, load generator included.
const TARGET_P50: Duration = Duration::from_micros(250);
const TARGET_P99: Duration = Duration::from_millis(1);

/// The latency distribution of the timed invokes.
#[derive(Debug, Clone)]
pub(crate) struct WarmLatency {
    pub(crate) warmup: usize,
    pub(crate) payload_bytes: usize,
    pub(crate) summary: Summary,
}

/// Sends `warmup` untimed invokes, then times `requests` more, one at a time. Any failed
/// invoke ends the scenario with an error.
pub(crate) async fn run(
    invocation: &Invocation,
    warmup: usize,
    requests: usize,
) -> anyhow::Result<WarmLatency> {
    let mut connection = invocation.connect().await?;
    for index in 0..warmup {
        connection
            .invoke(false)
            .await
            .map_err(|failure| anyhow!("warm-up invoke {} of {warmup}: {failure}", index + 1))?;
    }
    let mut latencies = Vec::with_capacity(requests);
    for index in 0..requests {
        let start = Instant::now();
        let result = connection.invoke(false).await;
        let elapsed = start.elapsed();
        result.map_err(|failure| anyhow!("invoke {} of {requests}: {failure}", index + 1))?;
        latencies.push(elapsed);
    }
    let summary = Summary::of(&mut latencies).context("no invokes were timed")?;
    Ok(WarmLatency {
        warmup,
        payload_bytes: invocation.payload().len(),
        summary,
    })
}

impl WarmLatency {
    pub(crate) fn section(&self) -> Section {
        let summary = &self.summary;
        let met = summary.p50 <= TARGET_P50 && summary.p99 <= TARGET_P99;
        Section {
            title: "Warm invoke latency, concurrency 1".to_owned(),
            measured: format!(
                "{} sequential invokes of the echo function with a {}-byte JSON payload over one \
                 keep-alive HTTP/1.1 connection (TCP_NODELAY), after {} untimed warm-up invokes; \
                 each latency is the client's full round trip. The echo handler does nothing, so \
                 this is flint's per-invoke overhead plus the bare mechanism (HTTP to flint, the \
                 Runtime API hand-off to the function and back).",
                thousands(summary.count as u64),
                self.payload_bytes,
                thousands(self.warmup as u64),
            ),
            header: [
                "Invokes",
                "p50 (µs)",
                "p90 (µs)",
                "p99 (µs)",
                "p99.9 (µs)",
                "max (µs)",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: vec![vec![
                thousands(summary.count as u64),
                micros(summary.p50),
                micros(summary.p90),
                micros(summary.p99),
                micros(summary.p999),
                micros(summary.max),
            ]],
            notes: vec![format!(
                "Target: p50 ≤ {} µs and p99 ≤ {} µs: {}.",
                micros(TARGET_P50),
                micros(TARGET_P99),
                report::verdict(met)
            )],
        }
    }
}
