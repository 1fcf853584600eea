//! Asynchronous invocations: how fast flint accepts `Event` invokes, each answered 202 only once
//! the event is durable in the queue, and how many queued events per second it runs.
//!
//! Two phases against the echo function: sequential invokes over one connection (the accept
//! latency a single caller sees), then a backlog sent by several connections at once, timed from
//! the first accept until flint's metrics say every event ran.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::echo;
use crate::report::{self, Section, micros, thousands};
use crate::server::Endpoint;
use crate::stats::Summary;

/// Target of the asynchronous invocation issue for this 2-core machine.
const TARGET_ACCEPT_P99: Duration = Duration::from_millis(5);
/// Connections that send the backlog.
const BACKLOG_CONNECTIONS: usize = 8;
/// An accept slower than this fails the benchmark instead of hanging it.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the queue may take to run what was accepted.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// The counter of events that ran successfully, on `/_flint/metrics`.
const SUCCEEDED: &str = "flint_async_events_succeeded_total";
/// The counter of events that ended in failure.
const FAILED: &str = "flint_async_events_failed_total";

/// The results of both phases.
#[derive(Debug, Clone)]
pub(crate) struct AsyncEvents {
    /// Accept latency of sequential invokes over one connection.
    pub(crate) sequential: Summary,
    /// From the first sequential invoke to the answer of the last.
    pub(crate) sequential_elapsed: Duration,
    /// Accept latency of the backlog's invokes.
    pub(crate) backlog: Summary,
    /// From the first accept of the backlog to the last.
    pub(crate) backlog_accepted_in: Duration,
    /// From the first accept of the backlog until every event of it ran.
    pub(crate) backlog_ran_in: Duration,
    /// Events that ended in failure during the run (the echo function never fails).
    pub(crate) failed: u64,
}

/// Runs `requests` sequential `Event` invokes, waits until they ran, then sends a backlog of
/// `events` over several connections and times how long flint takes to run it.
pub(crate) async fn run(
    endpoint: &Endpoint,
    function: &str,
    requests: usize,
    events: usize,
) -> anyhow::Result<AsyncEvents> {
    let metrics = Metrics::new(endpoint);
    let failed_before = metrics.read(FAILED).await?;
    let ran_before = metrics.read(SUCCEEDED).await?;

    let mut sender = EventSender::connect(endpoint, function).await?;
    let mut latencies = Vec::with_capacity(requests);
    let sequential_started = Instant::now();
    for index in 0..requests {
        let latency = sender
            .send()
            .await
            .with_context(|| format!("event {} of {requests}", index + 1))?;
        latencies.push(latency);
    }
    let sequential_elapsed = sequential_started.elapsed();
    let sequential = Summary::of(&mut latencies).context("no events were sent")?;
    let ran_before = metrics
        .wait_for(SUCCEEDED, ran_before + requests as u64)
        .await?;

    let started = Instant::now();
    let mut senders = JoinSet::new();
    for share in shares(events, BACKLOG_CONNECTIONS) {
        let mut sender = EventSender::connect(endpoint, function).await?;
        senders.spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for _ in 0..share {
                latencies.push(sender.send().await?);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(events);
    while let Some(joined) = senders.join_next().await {
        latencies.extend(joined.context("a sender task panicked")??);
    }
    let backlog_accepted_in = started.elapsed();
    metrics
        .wait_for(SUCCEEDED, ran_before + events as u64)
        .await?;
    let backlog_ran_in = started.elapsed();
    let backlog = Summary::of(&mut latencies).context("no backlog was sent")?;
    Ok(AsyncEvents {
        sequential,
        sequential_elapsed,
        backlog,
        backlog_accepted_in,
        backlog_ran_in,
        failed: metrics.read(FAILED).await? - failed_before,
    })
}

/// `total` split into `parts` shares that differ by at most one.
fn shares(total: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .filter(|&share| share > 0)
        .collect()
}

impl AsyncEvents {
    /// Why the run must fail: events that did not run successfully.
    pub(crate) fn problem(&self) -> Option<String> {
        (self.failed > 0).then(|| format!("{} asynchronous events failed", self.failed))
    }

    pub(crate) fn section(&self) -> Section {
        let per_second = |count: usize, elapsed: Duration| {
            thousands((count as f64 / elapsed.as_secs_f64()).round() as u64)
        };
        let latency_row = |label: String, summary: &Summary, rate: String| {
            vec![
                label,
                thousands(summary.count as u64),
                micros(summary.p50),
                micros(summary.p99),
                micros(summary.max),
                rate,
            ]
        };
        let rows = vec![
            latency_row(
                "Accept, 1 connection".to_owned(),
                &self.sequential,
                per_second(self.sequential.count, self.sequential_elapsed),
            ),
            latency_row(
                format!("Accept, {BACKLOG_CONNECTIONS} connections"),
                &self.backlog,
                per_second(self.backlog.count, self.backlog_accepted_in),
            ),
            vec![
                "Run the backlog".to_owned(),
                thousands(self.backlog.count as u64),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                per_second(self.backlog.count, self.backlog_ran_in),
            ],
        ];
        let met = self.sequential.p99 <= TARGET_ACCEPT_P99;
        let mut notes = vec![format!(
            "Target: accept p99 ≤ {} µs with one connection: {}.",
            micros(TARGET_ACCEPT_P99),
            report::verdict(met)
        )];
        if let Some(problem) = self.problem() {
            notes.push(format!("Failures: {problem}."));
        }
        Section {
            title: "Asynchronous invocations".to_owned(),
            measured: format!(
                "Invoke with X-Amz-Invocation-Type: Event on the echo function with a {}-byte \
                 payload; flint answers 202 once the event is committed to its SQLite queue \
                 (synchronous WAL commit). First {} sequential invokes over one keep-alive \
                 connection, all run before the next phase; then a backlog of {} \
                 sent by {BACKLOG_CONNECTIONS} connections at once, while flint already runs \
                 it: its accept rate, and the rate at which every event of it ran, from its \
                 first accept until flint's metrics counted the last one.",
                echo::PAYLOAD.len(),
                thousands(self.sequential.count as u64),
                thousands(self.backlog.count as u64),
            ),
            header: [
                "Phase",
                "Events",
                "p50 (µs)",
                "p99 (µs)",
                "max (µs)",
                "Events/s",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows,
            notes,
        }
    }
}

/// One keep-alive connection that sends `Event` invokes of one function.
struct EventSender {
    sender: SendRequest<Full<Bytes>>,
    path: Uri,
    host: HeaderValue,
}

impl EventSender {
    async fn connect(endpoint: &Endpoint, function: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(endpoint.addr)
            .await
            .with_context(|| format!("connect to flint at {}", endpoint.addr))?;
        stream.set_nodelay(true).context("set TCP_NODELAY")?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .context("start HTTP/1.1 with flint")?;
        // The connection ends when `sender` is dropped; its errors reach the request in flight.
        tokio::spawn(connection);
        let path = format!("/2015-03-31/functions/{function}/invocations");
        Ok(EventSender {
            sender,
            path: path
                .parse()
                .with_context(|| format!("{path:?} is not a valid request path"))?,
            host: HeaderValue::from_str(&endpoint.authority)
                .with_context(|| format!("{:?} is not a valid Host", endpoint.authority))?,
        })
    }

    /// Sends one event and returns how long flint took to accept it.
    async fn send(&mut self) -> anyhow::Result<Duration> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.path.clone())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("x-amz-invocation-type", HeaderValue::from_static("Event"))
            .body(Full::new(echo::payload()))
            .context("build the invoke request")?;
        let start = Instant::now();
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, hyper::Error>((parts.status, body))
        };
        let (status, body) = tokio::time::timeout(ACCEPT_TIMEOUT, exchange)
            .await
            .with_context(|| format!("no answer within {}s", ACCEPT_TIMEOUT.as_secs()))?
            .context("the connection to flint failed")?;
        let latency = start.elapsed();
        if status != StatusCode::ACCEPTED {
            bail!(
                "flint answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(latency)
    }
}

/// flint's counters, read from `/_flint/metrics`.
struct Metrics {
    http: reqwest::Client,
    url: String,
}

impl Metrics {
    fn new(endpoint: &Endpoint) -> Self {
        Metrics {
            http: reqwest::Client::new(),
            url: format!("{}/_flint/metrics", endpoint.url),
        }
    }

    async fn read(&self, name: &str) -> anyhow::Result<u64> {
        let text = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("read {}", self.url))?
            .text()
            .await
            .with_context(|| format!("read {}", self.url))?;
        counter(&text, name).with_context(|| format!("{name} is not in {}", self.url))
    }

    /// Waits until the counter `name` reaches `target`, and returns its value then.
    async fn wait_for(&self, name: &str, target: u64) -> anyhow::Result<u64> {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            let value = self.read(name).await?;
            if value >= target {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} reached {value}, not {target}, within {}s",
                    DRAIN_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The value of a counter in Prometheus text.
fn counter(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_exact_name() {
        let text = "# HELP flint_async_events_succeeded_total Events.\n\
                    # TYPE flint_async_events_succeeded_total counter\n\
                    flint_async_events_succeeded_total 1234\n\
                    flint_async_events_succeeded_total_extra 9\n\
                    flint_async_events_failed_total 0\n";
        assert_eq!(counter(text, SUCCEEDED), Some(1234));
        assert_eq!(counter(text, FAILED), Some(0));
        assert_eq!(counter(text, "flint_missing"), None);
    }

    #[test]
    fn the_backlog_is_shared_evenly() {
        assert_eq!(shares(10, 4), [3, 3, 2, 2]);
        assert_eq!(shares(8, 8), [1; 8]);
        assert_eq!(shares(3, 8), [1, 1, 1]);
        assert!(shares(0, 8).is_empty());
    }

    #[test]
    fn the_section_states_the_target_and_failures() {
        let summary = |p99_ms: u64| Summary {
            count: 100,
            p50: Duration::from_micros(300),
            p90: Duration::from_micros(500),
            p99: Duration::from_millis(p99_ms),
            p999: Duration::from_millis(p99_ms),
            max: Duration::from_millis(p99_ms),
        };
        let mut run = AsyncEvents {
            sequential: summary(2),
            sequential_elapsed: Duration::from_millis(40),
            backlog: summary(9),
            backlog_accepted_in: Duration::from_millis(50),
            backlog_ran_in: Duration::from_millis(100),
            failed: 0,
        };
        let section = run.section();
        assert_eq!(section.rows.len(), 3);
        assert_eq!(section.rows[2][5], "1,000");
        assert!(section.notes[0].contains("5,000 µs"), "{:?}", section.notes);
        assert!(run.problem().is_none());
        run.failed = 2;
        assert_eq!(run.problem().unwrap(), "2 asynchronous events failed");
    }
}
