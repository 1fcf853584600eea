//! One task per environment that turns the runtime's output into log events: every line it
//! prints goes to the environment's log stream, framed by the platform's `START`, `END` and
//! `REPORT` lines, and the lines of an invocation are kept for `X-Amz-Log-Type: Tail`.
//!
//! The task runs beside the invoke path, never on it: the caller gets its response without
//! waiting for logs, unless it asked for the tail.

use std::sync::Arc;
use std::time::Duration;

use logs::{LogStore, StreamWriter};
use model::limits::LOG_TAIL_BYTES;
use runtime_api::telemetry::{Event, Hub};
use sandbox::Sandbox;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::{mpsc, oneshot};

use crate::report::{Report, ReportStatus, end_line, megabytes, round2, status_word};

/// What the pool tells an environment's logger.
#[derive(Debug)]
pub(crate) enum LogCommand {
    /// The runtime's output streams, once it runs, and where its lines are published.
    Attach(ChildStdout, ChildStderr, Hub),
    /// A platform line (`INIT_START`, `START`, ...). `collect` starts keeping lines for a tail.
    Line { text: String, collect: bool },
    /// The last lines of an invocation; the tail is sent back when asked for.
    Finish {
        lines: Vec<String>,
        closing: Box<Closing>,
        tail: Option<oneshot::Sender<String>>,
    },
}

/// Sends commands to an environment's logger. Dropping it ends the task once the runtime's
/// output is closed.
#[derive(Debug, Clone)]
pub(crate) struct Logger {
    commands: mpsc::UnboundedSender<LogCommand>,
    /// Lines of extension processes, read by tasks of their own.
    extension_lines: mpsc::UnboundedSender<String>,
}

impl Logger {
    /// Starts the logger of a new environment writing to `group` / `stream`. The stream's
    /// directory and first segment are created by the task, off the cold-start path; commands
    /// sent meanwhile wait in the channel.
    pub(crate) fn spawn(store: &LogStore, group: &str, stream: &str) -> Logger {
        let (commands, receiver) = mpsc::unbounded_channel();
        let (extension_lines, extension_receiver) = mpsc::unbounded_channel();
        let (store, group, stream) = (store.clone(), group.to_owned(), stream.to_owned());
        tokio::spawn(async move {
            let writer = open_stream(store, group, stream).await;
            run(writer, receiver, extension_receiver).await;
        });
        Logger {
            commands,
            extension_lines,
        }
    }

    pub(crate) fn attach(&self, stdout: ChildStdout, stderr: ChildStderr, telemetry: Hub) {
        let _ = self
            .commands
            .send(LogCommand::Attach(stdout, stderr, telemetry));
    }

    /// Logs an extension process's output. Extensions print outside invocations too, so their
    /// lines are forwarded by reader tasks rather than ordered against `START` / `END`.
    pub(crate) fn attach_extension(
        &self,
        stdout: ChildStdout,
        stderr: ChildStderr,
        telemetry: Hub,
    ) {
        for reader in [
            Box::new(stdout) as Box<dyn AsyncRead + Send + Unpin>,
            Box::new(stderr),
        ] {
            let lines = self.extension_lines.clone();
            let telemetry = telemetry.clone();
            tokio::spawn(async move {
                let mut reader = Some(Lines::new(reader));
                while let Some(line) = next_line(&mut reader).await {
                    publish(&telemetry, "extension", &line);
                    if lines.send(line).is_err() {
                        break;
                    }
                }
            });
        }
    }

    pub(crate) fn line(&self, text: String) {
        let _ = self.commands.send(LogCommand::Line {
            text,
            collect: false,
        });
    }

    /// The first line of an invocation; with `collect`, lines are kept for its tail.
    pub(crate) fn begin(&self, text: String, collect: bool) {
        let _ = self.commands.send(LogCommand::Line { text, collect });
    }

    /// Writes the closing lines. The returned receiver yields the tail when `want_tail`.
    pub(crate) fn finish(
        &self,
        lines: Vec<String>,
        closing: Closing,
        want_tail: bool,
    ) -> Option<oneshot::Receiver<String>> {
        let (sender, receiver) = if want_tail {
            let (s, r) = oneshot::channel();
            (Some(s), Some(r))
        } else {
            (None, None)
        };
        let _ = self.commands.send(LogCommand::Finish {
            lines,
            closing: Box::new(closing),
            tail: sender,
        });
        receiver
    }
}

/// How long lines may wait in the buffer before they are written to the stream's file. Readers
/// (`flint logs`, the CloudWatch Logs API) need not wait: a read flushes the group's writers
/// first. Buffering, also across invocations, spares a write per invocation under load; the
/// delay bounds what a crash of flint can lose.
const FLUSH_DELAY: Duration = Duration::from_millis(50);

/// The end of an invocation's log: its report, completed by the logger with the environment's
/// peak memory, which is read here rather than on the caller's path.
#[derive(Debug)]
pub(crate) struct Closing {
    pub(crate) report: Report,
    /// The environment whose peak memory the report shows.
    pub(crate) memory: Option<Arc<dyn Sandbox>>,
    /// When the runtime answered, for the report's `extensionOverhead` span.
    pub(crate) runtime_done: Duration,
}

impl Closing {
    /// Fills in the memory, publishes `platform.report` and returns the `END` and `REPORT` lines.
    fn finish(mut self, telemetry: Option<&Hub>) -> [String; 2] {
        if let Some(memory) = &self.memory {
            self.report.max_memory_used_mb = megabytes(memory.peak_memory_bytes().unwrap_or(0));
        }
        if let Some(hub) = telemetry.filter(|hub| hub.has_subscribers()) {
            publish_report(hub, &self.report, self.runtime_done);
        }
        [end_line(&self.report.request_id), self.report.line()]
    }
}

/// `platform.report`, with the metrics of the `REPORT` line.
fn publish_report(hub: &Hub, report: &Report, runtime_done: Duration) {
    let mut metrics = json!({
        "durationMs": round2(report.duration),
        "billedDurationMs": report.billed_ms(),
        "memorySizeMB": report.memory_size_mb,
        "maxMemoryUsedMB": report.max_memory_used_mb,
    });
    if let Some(init) = report.init_duration {
        metrics["initDurationMs"] = json!(round2(init));
    }
    let mut record = json!({
        "requestId": report.request_id,
        "status": status_word(&report.status),
        "metrics": metrics,
    });
    if let ReportStatus::Error(error_type) = &report.status {
        record["errorType"] = json!(error_type);
    }
    let overhead = report.duration.saturating_sub(runtime_done);
    if !overhead.is_zero() {
        record["spans"] = json!([{
            "name": "extensionOverhead",
            "start": model::clock::iso_millis(jiff::Timestamp::now()),
            "durationMs": round2(overhead),
        }]);
    }
    let time = model::clock::iso_millis(jiff::Timestamp::now());
    hub.publish(&Event::new(time, "platform.report", record));
}

struct Sink {
    writer: Option<StreamWriter>,
    tail: Option<String>,
    /// When buffered lines must be flushed; `None` when nothing is buffered.
    flush_at: Option<tokio::time::Instant>,
}

impl Sink {
    fn write(&mut self, line: &str) {
        let now = jiff::Timestamp::now().as_millisecond();
        if let Some(writer) = &mut self.writer
            && let Err(error) = writer.append(now, line)
        {
            tracing::warn!(%error, "could not write a log line");
        }
        if let Some(tail) = &mut self.tail {
            tail.push_str(line);
            tail.push('\n');
        }
        if self.flush_at.is_none() {
            self.flush_at = Some(tokio::time::Instant::now() + FLUSH_DELAY);
        }
    }

    fn flush(&mut self) {
        self.flush_at = None;
        if let Some(writer) = &mut self.writer
            && let Err(error) = writer.flush()
        {
            tracing::warn!(%error, "could not flush a log stream");
        }
    }
}

/// Publishes a log line to the environment's telemetry subscribers, if it has any.
fn publish(telemetry: &Hub, kind: &str, line: &str) {
    if telemetry.has_subscribers() {
        let time = model::clock::iso_millis(jiff::Timestamp::now());
        telemetry.publish(&Event::new(
            time,
            kind,
            serde_json::Value::String(line.to_string()),
        ));
    }
}

/// Creates the stream on a blocking thread (directories and files); `None`, with a warning, when
/// it cannot be created.
async fn open_stream(store: LogStore, group: String, stream: String) -> Option<StreamWriter> {
    let opened = tokio::task::spawn_blocking(move || {
        store
            .create_stream(&group, &stream)
            .inspect_err(|error| {
                tracing::warn!(%error, group, stream, "could not open log stream; function logs are dropped");
            })
            .ok()
    })
    .await;
    opened.unwrap_or_else(|error| {
        tracing::warn!(%error, "could not open a log stream; function logs are dropped");
        None
    })
}

async fn run(
    writer: Option<StreamWriter>,
    mut commands: mpsc::UnboundedReceiver<LogCommand>,
    mut extension_lines: mpsc::UnboundedReceiver<String>,
) {
    let mut sink = Sink {
        writer,
        tail: None,
        flush_at: None,
    };
    let mut stdout: Option<Lines<ChildStdout>> = None;
    let mut stderr: Option<Lines<ChildStderr>> = None;
    let mut telemetry: Option<Hub> = None;
    // One timer, re-armed when lines are buffered, rather than a new one on every turn.
    let flush_timer = tokio::time::sleep(FLUSH_DELAY);
    tokio::pin!(flush_timer);
    let mut timer_armed = false;
    loop {
        match sink.flush_at {
            Some(at) if !timer_armed => {
                flush_timer.as_mut().reset(at);
                timer_armed = true;
            }
            Some(_) => {}
            None => timer_armed = false,
        }
        // Output first: a line the runtime printed before answering belongs before `END`.
        tokio::select! {
            biased;
            line = next_line(&mut stdout), if stdout.is_some() => match line {
                Some(line) => {
                    if let Some(hub) = &telemetry {
                        publish(hub, "function", &line);
                    }
                    sink.write(&line);
                }
                None => stdout = None,
            },
            line = next_line(&mut stderr), if stderr.is_some() => match line {
                Some(line) => {
                    if let Some(hub) = &telemetry {
                        publish(hub, "function", &line);
                    }
                    sink.write(&line);
                }
                None => stderr = None,
            },
            Some(line) = extension_lines.recv() => sink.write(&line),
            () = &mut flush_timer, if timer_armed => sink.flush(),
            command = commands.recv() => match command {
                Some(LogCommand::Attach(out, err, hub)) => {
                    stdout = Some(Lines::new(out));
                    stderr = Some(Lines::new(err));
                    telemetry = Some(hub);
                }
                Some(LogCommand::Line { text, collect }) => {
                    if collect {
                        sink.tail = Some(String::new());
                    }
                    sink.write(&text);
                }
                Some(LogCommand::Finish { lines, closing, tail }) => {
                    for line in &lines {
                        sink.write(line);
                    }
                    for line in (*closing).finish(telemetry.as_ref()) {
                        sink.write(&line);
                    }
                    let collected = sink.tail.take().unwrap_or_default();
                    if let Some(tail) = tail {
                        let _ = tail.send(last_bytes(&collected, LOG_TAIL_BYTES).to_string());
                    }
                }
                None if stdout.is_none() && stderr.is_none() => {
                    while let Some(line) = extension_lines.recv().await {
                        sink.write(&line);
                    }
                    break;
                }
                None => {
                    // The environment is gone; drain what the runtime still printed, and what
                    // its extensions print while they shut down (until their output closes).
                    while let Some(line) = next_line(&mut stdout).await {
                        sink.write(&line);
                    }
                    while let Some(line) = next_line(&mut stderr).await {
                        sink.write(&line);
                    }
                    while let Some(line) = extension_lines.recv().await {
                        sink.write(&line);
                    }
                    break;
                }
            },
        }
    }
    sink.flush();
}

/// Bytes a line reader reads at once, and the most it keeps for the next line. Every idle
/// environment holds two readers (stdout and stderr); tokio's default of 8 KiB each was more
/// than 1% of an idle environment's memory. A longer line is still read whole.
const READ_BUFFER: usize = 2048;

/// Line reader that keeps non-UTF-8 output (lossily) rather than failing.
struct Lines<R> {
    reader: BufReader<R>,
    buffer: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(inner: R) -> Self {
        Lines {
            reader: BufReader::with_capacity(READ_BUFFER, inner),
            buffer: Vec::new(),
        }
    }
}

/// The next line, or `None` at the end of the output. `read_until` keeps what it read in the
/// buffer when `select!` drops it half-way, so the buffer is only cleared once a line is out.
async fn next_line<R: AsyncRead + Unpin>(lines: &mut Option<Lines<R>>) -> Option<String> {
    let lines = lines.as_mut()?;
    let read = lines.reader.read_until(b'\n', &mut lines.buffer).await;
    if matches!(read, Ok(0) | Err(_)) && lines.buffer.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&lines.buffer)
        .trim_end_matches(['\n', '\r'])
        .to_string();
    lines.buffer.clear();
    // One long line must not stay with the environment for its whole life.
    lines.buffer.shrink_to(READ_BUFFER);
    Some(text)
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub(crate) fn last_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_at_a_char_boundary() {
        assert_eq!(last_bytes("abcdef", 4), "cdef");
        assert_eq!(last_bytes("abc", 4), "abc");
        assert_eq!(last_bytes("aéb", 2), "b");
    }

    #[tokio::test]
    async fn a_line_longer_than_the_buffer_comes_whole_and_is_not_kept() {
        let long = "x".repeat(READ_BUFFER * 5);
        let output = format!("{long}\nshort\r\nlast");
        let mut lines = Some(Lines::new(output.as_bytes()));
        assert_eq!(next_line(&mut lines).await.as_deref(), Some(long.as_str()));
        let kept = lines.as_ref().map_or(0, |lines| lines.buffer.capacity());
        assert!(kept <= READ_BUFFER, "{kept} bytes kept after a long line");
        assert_eq!(next_line(&mut lines).await.as_deref(), Some("short"));
        assert_eq!(next_line(&mut lines).await.as_deref(), Some("last"));
        assert_eq!(next_line(&mut lines).await, None);
    }
}
