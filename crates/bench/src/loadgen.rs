//! The load generator: invokes sent over raw keep-alive HTTP/1.1 connections.
//!
//! Each [`Connection`] is one TCP connection (TCP_NODELAY) driven by hyper's client connection
//! directly, with no pool in between, so a timed invoke is one request and one response on a
//! socket that is already open.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::server::Endpoint;

/// An invoke that takes longer than this fails the benchmark instead of hanging it.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How to invoke one function: where, and with which payload. The echo function must answer
/// with the payload itself.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    endpoint: Endpoint,
    path: Uri,
    host: HeaderValue,
    payload: Bytes,
}

impl Invocation {
    pub(crate) fn new(endpoint: &Endpoint, function: &str, payload: Bytes) -> anyhow::Result<Self> {
        let path = format!("/2015-03-31/functions/{function}/invocations");
        Ok(Self {
            endpoint: endpoint.clone(),
            path: path
                .parse()
                .with_context(|| format!("{path:?} is not a valid request path"))?,
            host: HeaderValue::from_str(&endpoint.authority)
                .with_context(|| format!("{:?} is not a valid Host", endpoint.authority))?,
            payload,
        })
    }

    /// Opens a keep-alive connection to flint for invokes.
    pub(crate) async fn connect(&self) -> anyhow::Result<Connection> {
        let addr = self.endpoint.addr;
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to flint at {addr}"))?;
        stream.set_nodelay(true).context("set TCP_NODELAY")?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("start HTTP/1.1 with flint at {addr}"))?;
        // The connection ends when `sender` is dropped; its error, if any, also reaches the
        // request in flight, which is where it is reported.
        tokio::spawn(connection);
        Ok(Connection {
            sender,
            invocation: self.clone(),
        })
    }

    /// The payload the echo function gets and must give back.
    pub(crate) fn payload(&self) -> &Bytes {
        &self.payload
    }
}

/// One keep-alive connection to flint.
#[derive(Debug)]
pub(crate) struct Connection {
    sender: SendRequest<Full<Bytes>>,
    invocation: Invocation,
}

impl Connection {
    /// Invokes the function once and checks the answer: 200, no `X-Amz-Function-Error`, and the
    /// payload echoed back. `log_tail` asks for `X-Amz-Log-Type: Tail`.
    pub(crate) async fn invoke(&mut self, log_tail: bool) -> Result<HeaderMap, Failure> {
        match tokio::time::timeout(INVOKE_TIMEOUT, self.exchange(log_tail)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::TimedOut),
        }
    }

    async fn exchange(&mut self, log_tail: bool) -> Result<HeaderMap, Failure> {
        let invocation = &self.invocation;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(invocation.path.clone())
            .header(HOST, invocation.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if log_tail {
            request = request.header("x-amz-log-type", HeaderValue::from_static("Tail"));
        }
        let request = request
            .body(Full::new(invocation.payload.clone()))
            .map_err(|error| Failure::Request(error.to_string()))?;
        self.sender.ready().await.map_err(Failure::Transport)?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(Failure::Transport)?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(Failure::Transport)?.to_bytes();
        if parts.status != StatusCode::OK {
            return Err(Failure::Status(parts.status, body));
        }
        if let Some(kind) = parts.headers.get("x-amz-function-error") {
            let kind = String::from_utf8_lossy(kind.as_bytes()).into_owned();
            return Err(Failure::FunctionError(kind, body));
        }
        if body != invocation.payload {
            return Err(Failure::WrongBody(body));
        }
        Ok(parts.headers)
    }
}

/// Why an invoke did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The request could not be built.
    Request(String),
    /// The connection failed.
    Transport(hyper::Error),
    /// No answer within [`INVOKE_TIMEOUT`].
    TimedOut,
    /// An answer other than 200.
    Status(StatusCode, Bytes),
    /// 200 with `X-Amz-Function-Error`.
    FunctionError(String, Bytes),
    /// 200 with a body that is not the payload.
    WrongBody(Bytes),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |body: &Bytes| String::from_utf8_lossy(body).into_owned();
        match self {
            Self::Request(error) => write!(f, "could not build the invoke request: {error}"),
            Self::Transport(error) => write!(f, "the connection to flint failed: {error}"),
            Self::TimedOut => write!(f, "no answer within {}s", INVOKE_TIMEOUT.as_secs()),
            Self::Status(status, body) => write!(f, "flint answered {status}: {}", text(body)),
            Self::FunctionError(kind, body) => {
                write!(f, "X-Amz-Function-Error: {kind}: {}", text(body))
            }
            Self::WrongBody(body) => write!(f, "the function answered {:?}", text(body)),
        }
    }
}

/// Invokes that did not succeed during a load run, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Failures {
    /// Answers other than 200.
    pub(crate) non_200: u64,
    /// 200 with `X-Amz-Function-Error`, or a body that is not the echoed payload.
    pub(crate) bad_answers: u64,
    /// Broken connections and timeouts; each ends its client task.
    pub(crate) errors: u64,
    /// The first failure, to show what went wrong.
    pub(crate) first: Option<String>,
}

impl Failures {
    pub(crate) fn total(&self) -> u64 {
        self.non_200 + self.bad_answers + self.errors
    }

    fn record(&mut self, failure: &Failure) {
        match failure {
            Failure::Status(..) => self.non_200 += 1,
            Failure::FunctionError(..) | Failure::WrongBody(_) => self.bad_answers += 1,
            Failure::Request(_) | Failure::Transport(_) | Failure::TimedOut => self.errors += 1,
        }
        self.first.get_or_insert_with(|| failure.to_string());
    }

    fn merge(&mut self, other: Self) {
        self.non_200 += other.non_200;
        self.bad_answers += other.bad_answers;
        self.errors += other.errors;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

/// What a closed-loop run measured.
#[derive(Debug)]
pub(crate) struct LoadRun {
    /// The latency of every invoke that started inside the timed window and succeeded.
    pub(crate) latencies: Vec<Duration>,
    /// From the start of the timed window to the end of its last invoke.
    pub(crate) elapsed: Duration,
    pub(crate) failures: Failures,
    /// The CPU time flint, the function and the load generator spent in the timed window.
    pub(crate) cpu: crate::cpu::Split,
}

/// Runs `concurrency` client tasks, each with its own connection, that invoke back to back:
/// untimed for `warmup`, then timed for `duration`.
pub(crate) async fn closed_loop(
    invocation: &Invocation,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<LoadRun> {
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        connections.push(invocation.connect().await?);
    }
    let measure_from = Instant::now() + warmup;
    let measure_until = measure_from + duration;
    let mut tasks = JoinSet::new();
    for connection in connections {
        tasks.spawn(client_task(connection, measure_from, measure_until));
    }
    let cpu = tokio::spawn(cpu_during(measure_from, measure_until));
    let mut run = LoadRun {
        latencies: Vec::new(),
        elapsed: duration,
        failures: Failures::default(),
        cpu: crate::cpu::Split::default(),
    };
    let mut last_end = measure_from;
    while let Some(result) = tasks.join_next().await {
        let task = result.context("a load generator task panicked")?;
        run.latencies.extend(task.latencies);
        run.failures.merge(task.failures);
        last_end = last_end.max(task.last_end);
    }
    run.elapsed = last_end.duration_since(measure_from).max(duration);
    run.cpu = cpu.await.unwrap_or_default();
    Ok(run)
}

/// The CPU time spent from `from` until `until`, read on a blocking thread at both ends (a
/// read of `/proc` takes milliseconds the clients must not wait for).
async fn cpu_during(from: Instant, until: Instant) -> crate::cpu::Split {
    let snapshot = || async {
        tokio::task::spawn_blocking(crate::cpu::Snapshot::take)
            .await
            .unwrap_or_default()
    };
    tokio::time::sleep_until(from.into()).await;
    let before = snapshot().await;
    tokio::time::sleep_until(until.into()).await;
    before.until(&snapshot().await)
}

struct TaskRun {
    latencies: Vec<Duration>,
    failures: Failures,
    last_end: Instant,
}

async fn client_task(
    mut connection: Connection,
    measure_from: Instant,
    measure_until: Instant,
) -> TaskRun {
    let mut run = TaskRun {
        latencies: Vec::with_capacity(16 * 1024),
        failures: Failures::default(),
        last_end: measure_from,
    };
    loop {
        let start = Instant::now();
        if start >= measure_until {
            return run;
        }
        let result = connection.invoke(false).await;
        let end = Instant::now();
        let timed = start >= measure_from;
        match result {
            Ok(_) if timed => {
                run.latencies.push(end - start);
                run.last_end = end;
            }
            Ok(_) => {}
            Err(failure) => {
                // Failures count whenever they happen: a warm-up failure is still a failure.
                run.failures.record(&failure);
                if timed {
                    run.last_end = end;
                }
                if matches!(failure, Failure::Transport(_) | Failure::TimedOut) {
                    return run;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use hyper::Response;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use tokio::net::TcpListener;

    use super::*;

    /// A stand-in for flint on a loopback port: it echoes the body, except that a payload of
    /// `"fail"`, `"error"` or `"wrong"` gets a 500, a function error or a different body.
    async fn fake_flint() -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer)),
                );
            }
        });
        endpoint(addr)
    }

    async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        assert_eq!(request.method(), Method::POST);
        assert_eq!(
            request.uri().path(),
            "/2015-03-31/functions/echo/invocations"
        );
        let tail = request.headers().contains_key("x-amz-log-type");
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut response = Response::builder();
        if tail {
            response = response.header("x-amz-log-result", "UkVQT1JU");
        }
        let response = match &body[..] {
            b"\"fail\"" => response
                .status(500)
                .body(Full::new(Bytes::from_static(b"oops"))),
            b"\"error\"" => response
                .header("x-amz-function-error", "Unhandled")
                .body(Full::new(Bytes::from_static(b"{}"))),
            b"\"wrong\"" => response.body(Full::new(Bytes::from_static(b"\"right\""))),
            _ => response.body(Full::new(body)),
        };
        Ok(response.unwrap())
    }

    fn endpoint(addr: SocketAddr) -> Endpoint {
        Endpoint {
            url: format!("http://{addr}"),
            addr,
            authority: addr.to_string(),
        }
    }

    fn invocation(endpoint: &Endpoint, payload: &'static [u8]) -> Invocation {
        Invocation::new(endpoint, "echo", Bytes::from_static(payload)).unwrap()
    }

    #[tokio::test]
    async fn an_echoed_payload_succeeds_and_keeps_the_connection() {
        let endpoint = fake_flint().await;
        let mut connection = invocation(&endpoint, b"{\"a\":1}").connect().await.unwrap();
        for _ in 0..3 {
            let headers = connection.invoke(false).await.unwrap();
            assert!(!headers.contains_key("x-amz-log-result"));
        }
        let headers = connection.invoke(true).await.unwrap();
        assert_eq!(headers["x-amz-log-result"], "UkVQT1JU");
    }

    #[tokio::test]
    async fn bad_answers_are_told_apart() {
        let endpoint = fake_flint().await;
        let check = |payload: &'static [u8], expect: &'static str| {
            let invocation = invocation(&endpoint, payload);
            async move {
                let mut connection = invocation.connect().await.unwrap();
                let failure = connection.invoke(false).await.unwrap_err();
                assert_eq!(failure.to_string(), expect);
            }
        };
        check(
            b"\"fail\"",
            "flint answered 500 Internal Server Error: oops",
        )
        .await;
        check(b"\"error\"", "X-Amz-Function-Error: Unhandled: {}").await;
        check(b"\"wrong\"", "the function answered \"\\\"right\\\"\"").await;
    }

    #[tokio::test]
    async fn a_closed_loop_times_every_invoke_of_its_window() {
        let endpoint = fake_flint().await;
        let run = closed_loop(
            &invocation(&endpoint, b"{}"),
            4,
            Duration::from_millis(20),
            Duration::from_millis(100),
        )
        .await
        .unwrap();
        assert_eq!(run.failures, Failures::default());
        assert!(run.latencies.len() > 4, "{} invokes", run.latencies.len());
        assert!(run.elapsed >= Duration::from_millis(100));
        assert!(run.elapsed < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_closed_loop_counts_failures_without_stopping() {
        let endpoint = fake_flint().await;
        let run = closed_loop(
            &invocation(&endpoint, b"\"fail\""),
            2,
            Duration::ZERO,
            Duration::from_millis(50),
        )
        .await
        .unwrap();
        assert!(run.latencies.is_empty());
        assert!(run.failures.non_200 > 2, "{:?}", run.failures);
        assert_eq!(run.failures.total(), run.failures.non_200);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let error = invocation(&endpoint(addr), b"{}")
            .connect()
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("connect to flint at 127.0.0.1:")
        );
    }

    #[test]
    fn failures_are_counted_by_kind_and_the_first_is_kept() {
        let mut failures = Failures::default();
        failures.record(&Failure::Status(
            StatusCode::TOO_MANY_REQUESTS,
            Bytes::from_static(b"{\"Type\":\"User\"}"),
        ));
        failures.record(&Failure::WrongBody(Bytes::from_static(b"{}")));
        failures.record(&Failure::FunctionError(
            "Unhandled".to_owned(),
            Bytes::from_static(b"{}"),
        ));
        failures.record(&Failure::TimedOut);
        assert_eq!(failures.non_200, 1);
        assert_eq!(failures.bad_answers, 2);
        assert_eq!(failures.errors, 1);
        assert_eq!(failures.total(), 4);
        assert_eq!(
            failures.first.as_deref(),
            Some("flint answered 429 Too Many Requests: {\"Type\":\"User\"}")
        );

        let mut merged = Failures::default();
        merged.merge(Failures::default());
        merged.merge(failures.clone());
        merged.merge(failures);
        assert_eq!(merged.total(), 8);
        assert!(merged.first.unwrap().starts_with("flint answered 429"));
    }
}
