//! The load generator: invokes sent over raw keep-alive HTTP/1.1 connections.
//!
//! Each [`Connection`] is one TCP connection (TCP_NODELAY) that the invoking task drives itself,
//! with no pool and no connection task in between: an invoke is one write of a request built
//! ahead of time and reads until the response is complete, parsed in place. The load generator
//! shares the machine with flint, so every microsecond it spends per invoke is taken from flint.

use std::time::{Duration, Instant};
use std::{fmt, io};

use anyhow::Context;
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::server::Endpoint;

/// An invoke that takes longer than this fails the benchmark instead of hanging it.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Room made in a connection's read buffer before each read; an echo response fits many times.
const READ_SIZE: usize = 8 * 1024;
/// The most response headers read; flint sends fewer than ten.
const MAX_HEADERS: usize = 32;
/// Why a response without a `Content-Length` cannot be read.
const ONLY_CONTENT_LENGTH: &str =
    "the load generator reads only bodies of a declared content-length";

/// How to invoke one function: where, and with which payload. The echo function must answer
/// with the payload itself.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    endpoint: Endpoint,
    payload: Bytes,
    /// The whole invoke request, head and payload, as it goes on the wire.
    request: Bytes,
    /// The same request with `X-Amz-Log-Type: Tail`.
    request_with_log_tail: Bytes,
}

impl Invocation {
    pub(crate) fn new(endpoint: &Endpoint, function: &str, payload: Bytes) -> anyhow::Result<Self> {
        let path = format!("/2015-03-31/functions/{function}/invocations");
        path.parse::<hyper::Uri>()
            .with_context(|| format!("{path:?} is not a valid request path"))?;
        HeaderValue::from_str(&endpoint.authority)
            .with_context(|| format!("{:?} is not a valid Host", endpoint.authority))?;
        let request = |log_tail: bool| {
            let mut head = format!(
                "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n",
                endpoint.authority,
                payload.len()
            );
            if log_tail {
                head.push_str("x-amz-log-type: Tail\r\n");
            }
            head.push_str("\r\n");
            let mut request = head.into_bytes();
            request.extend_from_slice(&payload);
            Bytes::from(request)
        };
        Ok(Self {
            endpoint: endpoint.clone(),
            request: request(false),
            request_with_log_tail: request(true),
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
        Ok(Connection {
            stream,
            invocation: self.clone(),
            buffer: Vec::with_capacity(READ_SIZE),
            unusable: None,
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
    stream: TcpStream,
    invocation: Invocation,
    /// Bytes read and not yet used: the part of the current response read so far.
    buffer: Vec<u8>,
    /// Why no further request may be sent, once that is so.
    unusable: Option<&'static str>,
}

/// What a successful invoke answered, as far as the benchmark looks at it.
#[derive(Debug)]
pub(crate) struct Answer {
    /// `X-Amz-Log-Result`, the base64 tail of the function's log; flint sends it when the
    /// invoke asked for `X-Amz-Log-Type: Tail`.
    pub(crate) log_result: Option<Bytes>,
}

impl Connection {
    /// Invokes the function once and checks the answer: 200, no `X-Amz-Function-Error`, and the
    /// payload echoed back. `log_tail` asks for `X-Amz-Log-Type: Tail`.
    pub(crate) async fn invoke(&mut self, log_tail: bool) -> Result<Answer, Failure> {
        match tokio::time::timeout(INVOKE_TIMEOUT, self.exchange(log_tail)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::TimedOut),
        }
    }

    async fn exchange(&mut self, log_tail: bool) -> Result<Answer, Failure> {
        if let Some(reason) = self.unusable {
            return Err(Broken::Unusable(reason).into());
        }
        // Until this response has been read whole, the stream is somewhere inside it; this
        // stays the reason if the exchange fails or is cancelled by the timeout.
        self.unusable = Some("an earlier invoke broke off in the middle");
        let request = if log_tail {
            &self.invocation.request_with_log_tail
        } else {
            &self.invocation.request
        };
        self.stream.write_all(request).await.map_err(Broken::Send)?;
        let head = loop {
            if let Some(head) = Head::parse(&self.buffer)? {
                break head;
            }
            let closed = if self.buffer.is_empty() {
                "before it answered"
            } else {
                "in the middle of the response head"
            };
            self.fill(closed).await?;
        };
        let end = head.len + head.content_length;
        while self.buffer.len() < end {
            self.fill("in the middle of the response body").await?;
        }
        self.unusable = head
            .close
            .then_some("flint closed it after the previous response (connection: close)");
        let body = &self.buffer[head.len..end];
        let result = head.check(body, &self.invocation.payload);
        // What follows this response is the start of the next one.
        self.buffer.drain(..end);
        result
    }

    /// Reads what the socket has into the buffer. `closed` says where in the response the
    /// connection was if flint closed it.
    async fn fill(&mut self, closed: &'static str) -> Result<(), Broken> {
        self.buffer.reserve(READ_SIZE);
        match self.stream.read_buf(&mut self.buffer).await {
            Ok(0) => Err(Broken::Closed(closed)),
            Ok(_) => Ok(()),
            Err(error) => Err(Broken::Receive(error)),
        }
    }
}

/// The parts of a response head an invoke needs.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    /// The bytes of the status line and headers, the blank line included.
    len: usize,
    status: StatusCode,
    content_length: usize,
    /// `X-Amz-Function-Error`.
    function_error: Option<String>,
    /// `X-Amz-Log-Result`.
    log_result: Option<Bytes>,
    /// `Connection: close`: flint sends nothing more on this connection.
    close: bool,
}

impl Head {
    /// Parses the response head at the start of `bytes`; `None` while it is incomplete.
    fn parse(bytes: &[u8]) -> Result<Option<Self>, Broken> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(bytes) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => return Err(Broken::Unreadable(error.to_string())),
        };
        let code = response.code.unwrap_or_default();
        let status = StatusCode::from_u16(code)
            .map_err(|_| Broken::Unreadable(format!("status {code} is out of range")))?;
        let mut content_length = None;
        let mut function_error = None;
        let mut log_result = None;
        let mut close = false;
        for header in response.headers.iter() {
            let (name, value) = (header.name, header.value);
            if name.eq_ignore_ascii_case("content-length") {
                let length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                content_length = Some(length.ok_or_else(|| {
                    Broken::Unreadable(format!(
                        "content-length {:?} is not a number",
                        String::from_utf8_lossy(value)
                    ))
                })?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(Broken::Unreadable(format!(
                    "transfer-encoding: {}, and {ONLY_CONTENT_LENGTH}",
                    String::from_utf8_lossy(value)
                )));
            } else if name.eq_ignore_ascii_case("x-amz-function-error") {
                function_error = Some(String::from_utf8_lossy(value).into_owned());
            } else if name.eq_ignore_ascii_case("x-amz-log-result") {
                log_result = Some(Bytes::copy_from_slice(value));
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case(b"close");
            }
        }
        let content_length = content_length.ok_or_else(|| {
            Broken::Unreadable(format!("no content-length, and {ONLY_CONTENT_LENGTH}"))
        })?;
        Ok(Some(Self {
            len,
            status,
            content_length,
            function_error,
            log_result,
            close,
        }))
    }

    /// The invoke's outcome from this head and its `body`, given the `payload` sent.
    fn check(self, body: &[u8], payload: &[u8]) -> Result<Answer, Failure> {
        if self.status != StatusCode::OK {
            return Err(Failure::Status(self.status, Bytes::copy_from_slice(body)));
        }
        if let Some(kind) = self.function_error {
            return Err(Failure::FunctionError(kind, Bytes::copy_from_slice(body)));
        }
        if body != payload {
            return Err(Failure::WrongBody(Bytes::copy_from_slice(body)));
        }
        Ok(Answer {
            log_result: self.log_result,
        })
    }
}

/// Why an invoke did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connection failed or cannot carry invokes.
    Transport(Broken),
    /// No answer within [`INVOKE_TIMEOUT`].
    TimedOut,
    /// An answer other than 200.
    Status(StatusCode, Bytes),
    /// 200 with `X-Amz-Function-Error`.
    FunctionError(String, Bytes),
    /// 200 with a body that is not the payload.
    WrongBody(Bytes),
}

impl From<Broken> for Failure {
    fn from(broken: Broken) -> Self {
        Self::Transport(broken)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |body: &Bytes| String::from_utf8_lossy(body).into_owned();
        match self {
            Self::Transport(broken) => write!(f, "the connection to flint failed: {broken}"),
            Self::TimedOut => write!(f, "no answer within {}s", INVOKE_TIMEOUT.as_secs()),
            Self::Status(status, body) => write!(f, "flint answered {status}: {}", text(body)),
            Self::FunctionError(kind, body) => {
                write!(f, "X-Amz-Function-Error: {kind}: {}", text(body))
            }
            Self::WrongBody(body) => write!(f, "the function answered {:?}", text(body)),
        }
    }
}

/// What broke a connection; it carries no more invokes.
#[derive(Debug)]
pub(crate) enum Broken {
    /// Writing the request failed.
    Send(io::Error),
    /// Reading the response failed.
    Receive(io::Error),
    /// flint closed the connection before the response was complete; says where.
    Closed(&'static str),
    /// The response cannot be read: malformed, or framed other than by `Content-Length`.
    Unreadable(String),
    /// The connection ended earlier; says why.
    Unusable(&'static str),
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send(error) => write!(f, "send the request: {error}"),
            Self::Receive(error) => write!(f, "read the response: {error}"),
            Self::Closed(place) => write!(f, "flint closed the connection {place}"),
            Self::Unreadable(problem) => write!(f, "unreadable response: {problem}"),
            Self::Unusable(reason) => write!(f, "the connection is unusable: {reason}"),
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
            Failure::Transport(_) | Failure::TimedOut => self.errors += 1,
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

    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::{Method, Request, Response};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    use super::*;

    /// The payload of the scripted invokes, and a response that echoes it.
    const PAYLOAD: &[u8] = b"{\"a\":1}";
    const ECHO: &str =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}";

    /// A stand-in for flint that serves one connection from a script: for each request it
    /// reads, it writes the next answer piece by piece, pausing after each piece so that it
    /// arrives in a read of its own. After the script it closes the connection and returns the
    /// requests it read.
    async fn scripted_flint(script: Vec<Vec<String>>) -> (Endpoint, JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buffer = Vec::new();
            let mut requests = Vec::new();
            for answer in script {
                requests.push(read_request(&mut stream, &mut buffer).await);
                for piece in answer {
                    stream.write_all(piece.as_bytes()).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            requests
        });
        (endpoint(addr), server)
    }

    /// Reads one request: its head, then as many body bytes as its content-length says.
    async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> String {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut request = httparse::Request::new(&mut headers);
            if let httparse::Status::Complete(len) = request.parse(buffer).unwrap() {
                let length = request
                    .headers
                    .iter()
                    .find(|header| header.name == "content-length")
                    .map(|header| std::str::from_utf8(header.value).unwrap().parse().unwrap())
                    .unwrap_or(0);
                if buffer.len() >= len + length {
                    let request = buffer.drain(..len + length).collect();
                    return String::from_utf8(request).unwrap();
                }
            }
            let read = stream.read_buf(buffer).await.unwrap();
            assert_ne!(
                read, 0,
                "the client closed the connection before a whole request"
            );
        }
    }

    /// Invokes with [`PAYLOAD`] on one connection to a [`scripted_flint`] that answers with
    /// `script`; each invoke asks for the log tail or not and expects its log result or the
    /// message of its failure. Returns the requests flint read.
    async fn check(
        script: &[&[&str]],
        invokes: &[(bool, Result<Option<&str>, &str>)],
    ) -> Vec<String> {
        let owned = script
            .iter()
            .map(|answer| answer.iter().map(|piece| (*piece).to_owned()).collect())
            .collect();
        let (endpoint, server) = scripted_flint(owned).await;
        let mut connection = invocation(&endpoint, PAYLOAD).connect().await.unwrap();
        for (index, (log_tail, expect)) in invokes.iter().enumerate() {
            let outcome = connection
                .invoke(*log_tail)
                .await
                .map(|answer| {
                    answer
                        .log_result
                        .map(|log| String::from_utf8(log.into()).unwrap())
                })
                .map_err(|failure| failure.to_string());
            let expect = expect
                .map(|log| log.map(str::to_owned))
                .map_err(str::to_owned);
            assert_eq!(outcome, expect, "invoke {index} on {script:?}");
        }
        drop(connection);
        server.await.unwrap()
    }

    #[tokio::test]
    async fn an_echo_succeeds_and_the_request_is_sent_whole() {
        let requests = check(
            &[
                &[ECHO],
                &["HTTP/1.1 200 OK\r\nX-Amz-Log-Result: UkVQT1JU\r\nContent-Length: 7\r\n\r\n{\"a\":1}"],
            ],
            &[(false, Ok(None)), (true, Ok(Some("UkVQT1JU")))],
        )
        .await;
        let head = "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nhost: 127.0.0.1:";
        assert!(requests[0].starts_with(head), "{requests:?}");
        assert!(
            requests[0].ends_with(
                "\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
            ),
            "{requests:?}"
        );
        assert!(
            requests[1].ends_with("\r\nx-amz-log-type: Tail\r\n\r\n{\"a\":1}"),
            "{requests:?}"
        );
    }

    #[tokio::test]
    async fn responses_are_read_however_they_arrive() {
        // Two responses in one read: the second waits in the buffer for the next invoke.
        check(
            &[&[&format!("{ECHO}{ECHO}")], &[]],
            &[(false, Ok(None)), (false, Ok(None))],
        )
        .await;
        // One response over several reads, split inside a header line and inside the body.
        check(
            &[
                &[
                    "HTTP/1.1 200 OK\r\ncont",
                    "ent-length: 7\r",
                    "\n\r\n{\"a\"",
                    ":1}",
                ],
                &[ECHO],
            ],
            &[(false, Ok(None)), (false, Ok(None))],
        )
        .await;
    }

    #[tokio::test]
    async fn bad_answers_are_told_apart_and_keep_the_connection() {
        let check = async |answer: &str, expect: &str| {
            check(
                &[&[answer], &[ECHO]],
                &[(false, Err(expect)), (false, Ok(None))],
            )
            .await;
        };
        check(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops",
            "flint answered 500 Internal Server Error: oops",
        )
        .await;
        check(
            "HTTP/1.1 200 OK\r\nx-amz-function-error: Unhandled\r\ncontent-length: 2\r\n\r\n{}",
            "X-Amz-Function-Error: Unhandled: {}",
        )
        .await;
        check(
            "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n\"right\"",
            "the function answered \"\\\"right\\\"\"",
        )
        .await;
    }

    #[tokio::test]
    async fn a_broken_connection_fails_this_invoke_and_the_next() {
        let check = async |answer: &[&str], expect: &str| {
            check(
                &[answer],
                &[
                    (false, Err(expect)),
                    (
                        false,
                        Err(
                            "the connection to flint failed: the connection is unusable: an \
                             earlier invoke broke off in the middle",
                        ),
                    ),
                ],
            )
            .await;
        };
        check(
            &[],
            "the connection to flint failed: flint closed the connection before it answered",
        )
        .await;
        check(
            &["HTTP/1.1 200 OK\r\ncontent-le"],
            "the connection to flint failed: flint closed the connection in the middle of the \
             response head",
        )
        .await;
        check(
            &["HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"a\""],
            "the connection to flint failed: flint closed the connection in the middle of the \
             response body",
        )
        .await;
        check(
            &["HTTP/1.1 2x0 OK\r\ncontent-length: 7\r\n\r\n{\"a\":1}"],
            "the connection to flint failed: unreadable response: invalid response status",
        )
        .await;
    }

    #[tokio::test]
    async fn connection_close_ends_the_connection_after_its_response() {
        check(
            &[&["HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 7\r\n\r\n{\"a\":1}"]],
            &[
                (false, Ok(None)),
                (
                    false,
                    Err(
                        "the connection to flint failed: the connection is unusable: flint \
                         closed it after the previous response (connection: close)",
                    ),
                ),
            ],
        )
        .await;
    }

    #[test]
    fn a_head_gives_what_the_invoke_needs() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Amz-Function-Error: Unhandled\r\n\
                    X-Amz-Log-Result: UkVQT1JU\r\nConnection: close\r\n\r\n";
        let expect = Head {
            len: head.len(),
            status: StatusCode::OK,
            content_length: 7,
            function_error: Some("Unhandled".to_owned()),
            log_result: Some(Bytes::from_static(b"UkVQT1JU")),
            close: true,
        };
        let with_body = format!("{head}{{\"a\":1}}HTTP/1.1");
        assert_eq!(Head::parse(with_body.as_bytes()).unwrap(), Some(expect));
        assert_eq!(
            Head::parse(&head.as_bytes()[..head.len() - 1]).unwrap(),
            None
        );
    }

    #[test]
    fn heads_that_cannot_be_read_are_told_apart() {
        let check = |head: &str, expect: &str| {
            let error = Head::parse(head.as_bytes()).unwrap_err();
            assert_eq!(error.to_string(), expect);
        };
        check(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            "unreadable response: transfer-encoding: chunked, and the load generator reads only \
             bodies of a declared content-length",
        );
        check(
            "HTTP/1.1 200 OK\r\n\r\n",
            "unreadable response: no content-length, and the load generator reads only bodies \
             of a declared content-length",
        );
        check(
            "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            "unreadable response: content-length \"-1\" is not a number",
        );
        check(
            "HTTP/1.1 099 Odd\r\n\r\n",
            "unreadable response: status 99 is out of range",
        );
        check(
            "SMTP 220 ready\r\n\r\n",
            "unreadable response: invalid HTTP version",
        );
    }

    /// A stand-in for flint on a loopback port, served by hyper: it echoes the body, except
    /// that a payload of `"fail"` gets a 500, and it sends a log result when asked for one.
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
    async fn hyper_reads_the_requests_and_its_answers_are_read() {
        let endpoint = fake_flint().await;
        let mut connection = invocation(&endpoint, b"{\"a\":1}").connect().await.unwrap();
        for _ in 0..3 {
            let answer = connection.invoke(false).await.unwrap();
            assert_eq!(answer.log_result, None);
        }
        let answer = connection.invoke(true).await.unwrap();
        assert_eq!(answer.log_result, Some(Bytes::from_static(b"UkVQT1JU")));
        let failure = invocation(&endpoint, b"\"fail\"")
            .connect()
            .await
            .unwrap()
            .invoke(false)
            .await
            .unwrap_err();
        assert_eq!(
            failure.to_string(),
            "flint answered 500 Internal Server Error: oops"
        );
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
