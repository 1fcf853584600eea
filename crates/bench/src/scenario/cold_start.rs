//! Cold starts: retire the warm environment with a configuration change, then time the next
//! invoke, which has to start a new one.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use base64::Engine;

use crate::control::ControlPlane;
use crate::loadgen::Invocation;
use crate::report::{self, Section, millis, thousands};
use crate::stats::Summary;

/// Target of issue 2 for this 2-core machine, load generator included.
const TARGET_P50: Duration = Duration::from_millis(5);

/// How long the timed invoke waits after the configuration change: flint tears the retired
/// environment down in the background, and a cold start of a new function, or of one idle for a
/// while, does not share the two cores with such a teardown.
const TEARDOWN_PAUSE: Duration = Duration::from_millis(50);

/// The variable whose new value forces each cold start.
const GENERATION_VARIABLE: &str = "FLINT_BENCH_GENERATION";

/// The latencies of the timed cold invokes and what flint's REPORT lines said about them.
#[derive(Debug, Clone)]
pub(crate) struct ColdStarts {
    pub(crate) round_trip: Summary,
    /// `Init Duration` from the REPORT lines of the invokes that had one.
    pub(crate) init_duration: Option<Summary>,
    /// Invokes whose log tail has a REPORT line without `Init Duration`: served warm.
    pub(crate) served_warm: usize,
    /// Invokes that came back without a log tail, so they could not be checked.
    pub(crate) unchecked: usize,
}

/// `count` times: UpdateFunctionConfiguration with a new environment variable (untimed), then
/// one timed invoke with `X-Amz-Log-Type: Tail`, after one untimed round.
pub(crate) async fn run(
    control: &ControlPlane,
    invocation: &Invocation,
    function: &str,
    count: usize,
) -> anyhow::Result<ColdStarts> {
    let mut connection = invocation.connect().await?;
    let mut round_trips = Vec::with_capacity(count);
    let mut init_durations = Vec::with_capacity(count);
    let mut served_warm = 0;
    let mut unchecked = 0;
    // Round 0 is not timed: it retires every environment the earlier scenarios left warm, which
    // flint stops all at once, and that work should not land on a timed cold start.
    for round in 0..=count {
        control
            .set_environment(function, &[(GENERATION_VARIABLE, round.to_string())])
            .await
            .with_context(|| format!("force cold start {round} of {count}"))?;
        tokio::time::sleep(TEARDOWN_PAUSE).await;
        let start = Instant::now();
        let result = connection.invoke(true).await;
        let elapsed = start.elapsed();
        let answer =
            result.map_err(|failure| anyhow!("cold invoke {round} of {count}: {failure}"))?;
        if round == 0 {
            continue;
        }
        round_trips.push(elapsed);
        match answer.log_result.as_deref().map(log_init_duration) {
            None => unchecked += 1,
            Some(Some(init)) => init_durations.push(init),
            Some(None) => served_warm += 1,
        }
    }
    Ok(ColdStarts {
        round_trip: Summary::of(&mut round_trips).context("no cold starts were timed")?,
        init_duration: Summary::of(&mut init_durations),
        served_warm,
        unchecked,
    })
}

/// The `Init Duration` in a base64 `X-Amz-Log-Result`, if its REPORT line has one.
pub(crate) fn log_init_duration(log_result: &[u8]) -> Option<Duration> {
    let log = base64::engine::general_purpose::STANDARD
        .decode(log_result)
        .ok()?;
    init_duration(&String::from_utf8_lossy(&log))
}

/// The `Init Duration: N ms` of the last REPORT line in a log.
fn init_duration(log: &str) -> Option<Duration> {
    let report = log.lines().rev().find(|line| line.starts_with("REPORT "))?;
    let (_, rest) = report.split_once("Init Duration: ")?;
    let (value, _) = rest.split_once(" ms")?;
    let millis: f64 = value.trim().parse().ok()?;
    Duration::try_from_secs_f64(millis / 1e3).ok()
}

impl ColdStarts {
    /// Why the run must fail: cold starts that were not cold, so the numbers would be wrong.
    pub(crate) fn problem(&self) -> Option<String> {
        (self.served_warm > 0).then(|| {
            format!(
                "{} of {} invokes after a configuration change were served by a warm \
                 environment (their REPORT line has no Init Duration)",
                self.served_warm, self.round_trip.count
            )
        })
    }

    pub(crate) fn section(&self) -> Section {
        let row = |what: &str, summary: &Summary| {
            vec![
                what.to_owned(),
                thousands(summary.count as u64),
                millis(summary.p50),
                millis(summary.p99),
                millis(summary.max),
            ]
        };
        let mut rows = vec![row("Invoke round trip (client)", &self.round_trip)];
        if let Some(init) = &self.init_duration {
            rows.push(row("Init Duration (flint's REPORT line)", init));
        }
        let mut notes = vec![format!(
            "Target: p50 ≤ {} ms: {}.",
            millis(TARGET_P50),
            report::verdict(self.round_trip.p50 <= TARGET_P50)
        )];
        if self.unchecked > 0 {
            notes.push(format!(
                "{} invokes came back without a log tail, so flint's REPORT line could not \
                 confirm that they were cold.",
                self.unchecked
            ));
        }
        if let Some(problem) = self.problem() {
            notes.push(format!("Failure: {problem}."));
        }
        Section {
            title: "Cold start".to_owned(),
            measured: format!(
                "{} times: UpdateFunctionConfiguration sets a new environment variable, which \
                 retires the warm environment (not timed; flint tears it down in the background \
                 and the invoke waits 50 ms for that), then one invoke is timed from request \
                 to response: flint starts a new environment (the echo process, lambda_runtime's \
                 start-up, its first /next) and runs the invoke in it. The invoke asks for the \
                 log tail, whose REPORT line confirms the cold start (Init Duration). One untimed \
                 round first retires the environments the earlier scenarios left warm.",
                thousands(self.round_trip.count as u64)
            ),
            header: ["Latency", "Invokes", "p50 (ms)", "p99 (ms)", "max (ms)"]
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

    #[test]
    fn init_duration_comes_from_the_report_line() {
        let check = |log: &str, expect: Option<Duration>| {
            assert_eq!(init_duration(log), expect, "{log:?}");
        };
        let start = "START RequestId: 1 Version: $LATEST\nEND RequestId: 1\n";
        check(
            &format!(
                "{start}REPORT RequestId: 1\tDuration: 0.41 ms\tBilled Duration: 1 ms\t\
                 Memory Size: 128 MB\tMax Memory Used: 9 MB\tInit Duration: 2.50 ms\t\n"
            ),
            Some(Duration::from_micros(2_500)),
        );
        check(
            &format!(
                "{start}REPORT RequestId: 1\tDuration: 0.41 ms\tBilled Duration: 1 ms\t\
                 Memory Size: 128 MB\tMax Memory Used: 9 MB\t\n"
            ),
            None,
        );
        check(start, None);
        check("REPORT RequestId: 1\tInit Duration: soon ms\n", None);
    }

    #[test]
    fn the_log_tail_is_base64() {
        let log = "REPORT RequestId: 1\tInit Duration: 1.25 ms\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(log);
        assert_eq!(
            log_init_duration(encoded.as_bytes()),
            Some(Duration::from_micros(1_250))
        );
        assert_eq!(log_init_duration(b"not base64!"), None);
    }
}
