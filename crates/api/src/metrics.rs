//! `GET /_flint/metrics`: flint's counters in the Prometheus text format (version 0.0.4), for a
//! scraper or a curious `curl`. Counters count since the server started; gauges read the durable
//! queue now.
//!
//! The format is simple enough to write by hand: a `# HELP` and a `# TYPE` line per metric, then
//! `name value` lines.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use control::{AsyncEventStatus, AsyncMetricsSnapshot};

use crate::AppState;
use crate::error::ApiError;

/// Where the metrics are served.
pub(crate) const METRICS_PATH: &str = "/_flint/metrics";

/// The content type of the Prometheus text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /_flint/metrics`
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let totals = state.control.async_totals().await?;
    let text = render(&state.control.async_metrics(), &totals);
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// The metrics as text.
fn render(counters: &AsyncMetricsSnapshot, queue: &AsyncEventStatus) -> String {
    let mut out = Exposition::default();
    let count = |n: u64| n as f64;
    out.metric(
        "flint_async_events_received_total",
        Kind::Counter,
        "Asynchronous invocations accepted into the queue (Invoke with InvocationType Event, InvokeAsync, destination deliveries).",
        count(counters.received),
    );
    out.metric(
        "flint_async_attempts_total",
        Kind::Counter,
        "Attempts the dispatcher started, throttled ones included.",
        count(counters.attempts),
    );
    out.metric(
        "flint_async_events_retried_total",
        Kind::Counter,
        "Times an event was scheduled for another attempt (function error, throttle, system error).",
        count(counters.retried),
    );
    out.metric(
        "flint_async_events_succeeded_total",
        Kind::Counter,
        "Events that ended in success.",
        count(counters.succeeded),
    );
    out.metric(
        "flint_async_events_failed_total",
        Kind::Counter,
        "Events that ended in failure: retries exhausted, too old, or reserved concurrency 0.",
        count(counters.failed),
    );
    out.metric(
        "flint_async_events_dropped_total",
        Kind::Counter,
        "Failed events without an OnFailure destination: their record went nowhere.",
        count(counters.dropped),
    );
    out.metric(
        "flint_async_events_discarded_total",
        Kind::Counter,
        "Events whose function, version or alias was deleted before they ran.",
        count(counters.discarded),
    );
    out.metric(
        "flint_async_destination_deliveries_total",
        Kind::Counter,
        "Invocation records handed to an OnSuccess or OnFailure destination.",
        count(counters.delivered),
    );
    out.metric(
        "flint_async_destination_failures_total",
        Kind::Counter,
        "Invocation records a destination did not take.",
        count(counters.delivery_failures),
    );
    out.summary(
        "flint_async_event_age_seconds",
        "Age of events when they left the queue, from acceptance to their last decision.",
        counters.finished_age_ms_sum as f64 / 1000.0,
        counters.finished(),
    );
    out.metric(
        "flint_async_event_age_seconds_max",
        Kind::Gauge,
        "Largest age of an event when it left the queue.",
        counters.finished_age_ms_max as f64 / 1000.0,
    );
    out.metric(
        "flint_async_events_queued",
        Kind::Gauge,
        "Events waiting in the queue for their next attempt.",
        count(queue.queued),
    );
    out.metric(
        "flint_async_events_in_flight",
        Kind::Gauge,
        "Events with an attempt running.",
        count(queue.in_flight),
    );
    out.metric(
        "flint_async_oldest_event_age_seconds",
        Kind::Gauge,
        "Age of the oldest event in the queue (0 when it is empty).",
        queue.oldest_age.unwrap_or_default().as_secs_f64(),
    );
    out.text
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// The text being written.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn metric(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        self.header(name, kind, help);
        self.sample(name, value);
    }

    /// A summary without quantiles: its `_sum` and `_count`.
    fn summary(&mut self, name: &str, help: &str, sum: f64, count: u64) {
        self.header(name, "summary", help);
        self.sample(&format!("{name}_sum"), sum);
        self.sample(&format!("{name}_count"), count as f64);
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, value: f64) {
        let _ = writeln!(self.text, "{name} {value}");
    }
}

/// `# HELP` text escapes backslashes and line breaks.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn value_of(text: &str, name: &str) -> Option<String> {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .map(str::to_owned)
    }

    #[test]
    fn every_metric_has_help_type_and_a_value() {
        let counters = AsyncMetricsSnapshot {
            received: 7,
            attempts: 9,
            retried: 3,
            succeeded: 4,
            failed: 2,
            dropped: 1,
            discarded: 1,
            delivered: 1,
            delivery_failures: 0,
            finished_age_ms_sum: 12_500,
            finished_age_ms_max: 10_250,
        };
        let queue = AsyncEventStatus {
            queued: 5,
            in_flight: 2,
            failed: 2,
            oldest_age: Some(Duration::from_millis(1_500)),
        };
        let text = render(&counters, &queue);
        let check = |name: &str, expect: &str| {
            assert_eq!(
                value_of(&text, name).as_deref(),
                Some(expect),
                "{name}\n{text}"
            );
        };
        check("flint_async_events_received_total", "7");
        check("flint_async_attempts_total", "9");
        check("flint_async_events_retried_total", "3");
        check("flint_async_events_succeeded_total", "4");
        check("flint_async_events_failed_total", "2");
        check("flint_async_events_dropped_total", "1");
        check("flint_async_events_discarded_total", "1");
        check("flint_async_destination_deliveries_total", "1");
        check("flint_async_destination_failures_total", "0");
        check("flint_async_event_age_seconds_sum", "12.5");
        check("flint_async_event_age_seconds_count", "7");
        check("flint_async_event_age_seconds_max", "10.25");
        check("flint_async_events_queued", "5");
        check("flint_async_events_in_flight", "2");
        check("flint_async_oldest_event_age_seconds", "1.5");
        assert!(text.contains("# TYPE flint_async_event_age_seconds summary\n"));
        assert!(text.contains("# TYPE flint_async_events_queued gauge\n"));

        // Every sample line follows its metric's HELP and TYPE lines.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(' ').next().unwrap();
                assert!(
                    declared.iter().any(|d| name.starts_with(d.as_str())),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn an_empty_queue_has_age_zero() {
        let text = render(
            &AsyncMetricsSnapshot::default(),
            &AsyncEventStatus::default(),
        );
        assert_eq!(
            value_of(&text, "flint_async_oldest_event_age_seconds").as_deref(),
            Some("0")
        );
        assert_eq!(
            value_of(&text, "flint_async_event_age_seconds_count").as_deref(),
            Some("0")
        );
    }

    #[test]
    fn help_text_is_escaped() {
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }
}
