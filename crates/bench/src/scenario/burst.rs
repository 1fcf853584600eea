//! A burst: many simultaneous invokes of a function that has no warm environment, timed from
//! the moment they are sent to the last answer. Each invoke that finds no idle environment
//! starts one; while it waits for its sandbox (the ones made ahead run out), an environment
//! that finished meanwhile serves it instead. So this measures how fast flint serves a burst
//! against a cold function, and shows that admission and the scaling rate (1,000 new
//! environments per 10 s by default) let a burst of this size through.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use tokio::task::JoinSet;

use crate::control::ControlPlane;
use crate::loadgen::{Failure, Invocation};
use crate::report::{Section, millis, thousands};
use crate::scenario::cold_start::log_init_duration;
use crate::stats::Summary;

/// The variable whose new value retires the warm environments before the burst.
const BURST_VARIABLE: &str = "FLINT_BENCH_BURST";

/// What a burst measured.
#[derive(Debug, Clone)]
pub(crate) struct Burst {
    pub(crate) count: usize,
    /// From sending the first invoke to the last answer.
    pub(crate) until_all_served: Duration,
    /// The latency of each invoke that succeeded.
    pub(crate) latency: Option<Summary>,
    /// Invokes whose REPORT line had an `Init Duration`: each started an environment.
    pub(crate) cold: usize,
    /// Invokes answered 429 (throttled).
    pub(crate) throttled: usize,
    /// Invokes that failed otherwise.
    pub(crate) failed: usize,
    /// The first failure, to show what went wrong.
    pub(crate) first_failure: Option<String>,
}

/// Retires the function's environments, opens `count` connections, then sends one invoke on
/// each at once and waits for every answer.
pub(crate) async fn run(
    control: &ControlPlane,
    invocation: &Invocation,
    function: &str,
    count: usize,
) -> anyhow::Result<Burst> {
    let generation = jiff::Timestamp::now().as_nanosecond().to_string();
    control
        .set_environment(function, &[(BURST_VARIABLE, generation)])
        .await
        .context("retire the warm environments before the burst")?;
    // Connections first, so the burst times invokes rather than TCP handshakes.
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections.push(invocation.connect().await?);
    }
    let started = Instant::now();
    let mut invokes = JoinSet::new();
    for mut connection in connections {
        invokes.spawn(async move {
            let sent = Instant::now();
            let result = connection.invoke(true).await;
            (sent.elapsed(), result)
        });
    }
    let mut latencies = Vec::with_capacity(count);
    let mut burst = Burst {
        count,
        until_all_served: Duration::ZERO,
        latency: None,
        cold: 0,
        throttled: 0,
        failed: 0,
        first_failure: None,
    };
    while let Some(joined) = invokes.join_next().await {
        let (latency, result) =
            joined.map_err(|error| anyhow!("an invoke task failed: {error}"))?;
        match result {
            Ok(answer) => {
                latencies.push(latency);
                let cold = answer
                    .log_result
                    .as_deref()
                    .and_then(log_init_duration)
                    .is_some();
                burst.cold += usize::from(cold);
            }
            Err(failure) => {
                match &failure {
                    Failure::Status(status, _) if status.as_u16() == 429 => burst.throttled += 1,
                    _ => burst.failed += 1,
                }
                burst
                    .first_failure
                    .get_or_insert_with(|| failure.to_string());
            }
        }
    }
    burst.until_all_served = started.elapsed();
    burst.latency = Summary::of(&mut latencies);
    Ok(burst)
}

impl Burst {
    /// Why the run must fail: invokes of the burst that were not served.
    pub(crate) fn problem(&self) -> Option<String> {
        let unserved = self.throttled + self.failed;
        (unserved > 0).then(|| {
            format!(
                "{unserved} of {} burst invokes were not served ({} throttled); first: {}",
                self.count,
                self.throttled,
                self.first_failure.as_deref().unwrap_or("-")
            )
        })
    }

    pub(crate) fn section(&self) -> Section {
        let mut rows = vec![vec![
            format!("All {} served", thousands(self.count as u64)),
            millis(self.until_all_served),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
        ]];
        if let Some(latency) = &self.latency {
            rows.push(vec![
                "Each invoke (client)".to_owned(),
                "-".to_owned(),
                millis(latency.p50),
                millis(latency.p99),
                millis(latency.max),
            ]);
        }
        let mut notes = vec![format!(
            "{} of the served invokes started an environment (their REPORT line has an Init Duration); {} were throttled, {} failed otherwise.",
            thousands(self.cold as u64),
            thousands(self.throttled as u64),
            thousands(self.failed as u64)
        )];
        if let Some(problem) = self.problem() {
            notes.push(format!("Failure: {problem}."));
        }
        Section {
            title: "Burst".to_owned(),
            measured: format!(
                "UpdateFunctionConfiguration retires every warm environment (not timed), {} \
                 connections are opened, then one invoke is sent on each at once: the time from \
                 sending them to the last answer, and each invoke's own latency. Every invoke \
                 passes admission; those that find no idle environment start one, under the \
                 scaling rate, unless an environment finishes while they wait for a sandbox \
                 (when the ones made ahead ran out): that one serves them instead.",
                thousands(self.count as u64)
            ),
            header: [
                "Burst",
                "Wall clock (ms)",
                "p50 (ms)",
                "p99 (ms)",
                "max (ms)",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst(throttled: usize, failed: usize) -> Burst {
        Burst {
            count: 200,
            until_all_served: Duration::from_millis(1_500),
            latency: Summary::of(&mut [Duration::from_millis(20), Duration::from_millis(900)]),
            cold: 180,
            throttled,
            failed,
            first_failure: (throttled + failed > 0).then(|| "flint answered 429".to_owned()),
        }
    }

    #[test]
    fn unserved_invokes_fail_the_run() {
        assert_eq!(burst(0, 0).problem(), None);
        let problem = burst(3, 1).problem().unwrap();
        assert!(problem.starts_with("4 of 200 burst invokes"), "{problem}");
    }

    #[test]
    fn the_section_names_the_wall_clock_and_the_cold_starts() {
        let section = burst(0, 0).section();
        assert_eq!(section.rows[0][0], "All 200 served");
        assert_eq!(section.rows[0][1], millis(Duration::from_millis(1_500)));
        assert_eq!(section.rows.len(), 2);
        assert!(
            section.notes[0].starts_with("180 of the served"),
            "{:?}",
            section.notes
        );
    }
}
