//! `flint logs`: prints a function's log events, and with `--follow` keeps printing new ones.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::client::http::{CallError, Flint};

/// How often `--follow` asks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// How far behind the newest event each poll of `--follow` starts again, so that an event
/// written a little late (by another execution environment) is still printed; the events of
/// that window already printed are skipped by id.
const LATE_EVENT_WINDOW_MS: i64 = 5_000;

/// Options of `flint logs`.
#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    /// Name of the function.
    name: String,
    /// Keep printing new events until Ctrl-C.
    #[arg(long, short)]
    follow: bool,
    /// How far back to start: 30s, 10m, 1h, 2d, 1h30m.
    #[arg(long, default_value = "1h", value_parser = parse_since)]
    since: Duration,
    /// Show the log stream (execution environment) of each event.
    #[arg(long)]
    streams: bool,
}

/// Parses a duration written as numbers with units `s`, `m`, `h`, `d` (`10m`, `1h30m`).
fn parse_since(text: &str) -> Result<Duration, String> {
    let invalid = || format!("expected a duration like 30s, 10m, 1h or 2d, got {text:?}");
    let mut seconds: u64 = 0;
    let mut number = String::new();
    for char in text.chars() {
        if char.is_ascii_digit() {
            number.push(char);
            continue;
        }
        let unit = match char {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        seconds = value
            .checked_mul(unit)
            .and_then(|part| seconds.checked_add(part))
            .ok_or_else(invalid)?;
        number.clear();
    }
    if text.is_empty() || !number.is_empty() {
        return Err(invalid());
    }
    Ok(Duration::from_secs(seconds))
}

/// The first millisecond to show: `since` before `now`, not before the epoch.
fn start_time(now: Timestamp, since: Duration) -> i64 {
    let since_ms = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    now.as_millisecond().saturating_sub(since_ms).max(0)
}

/// The body of FilterLogEvents.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEvents<'a> {
    log_group_name: &'a str,
    start_time: i64,
    interleaved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

/// One page of FilterLogEvents.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEventsPage {
    #[serde(default)]
    events: Vec<LogEvent>,
    next_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent {
    #[serde(default)]
    log_stream_name: String,
    timestamp: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    event_id: String,
}

impl LogEvent {
    /// What tells this event apart from the others: its id, or its content if it has none.
    fn key(&self) -> String {
        if self.event_id.is_empty() {
            format!(
                "{}\n{}\n{}",
                self.log_stream_name, self.timestamp, self.message
            )
        } else {
            self.event_id.clone()
        }
    }
}

/// Where the next poll starts and which events of that window were printed already.
#[derive(Debug)]
struct Cursor {
    /// The start the user asked for; polls never start earlier.
    floor: i64,
    newest: i64,
    /// Printed events with their timestamps, kept while they are inside the window.
    printed: HashMap<String, i64>,
}

impl Cursor {
    fn new(floor: i64) -> Self {
        Cursor {
            floor,
            newest: floor,
            printed: HashMap::new(),
        }
    }

    /// The `startTime` of the next poll.
    fn start_time(&self) -> i64 {
        self.newest
            .saturating_sub(LATE_EVENT_WINDOW_MS)
            .max(self.floor)
    }

    /// Whether `event` is to be printed, that is, was not printed before; remembers it.
    fn admit(&mut self, event: &LogEvent) -> bool {
        if self.printed.insert(event.key(), event.timestamp).is_some() {
            return false;
        }
        if event.timestamp > self.newest {
            self.newest = event.timestamp;
            // A poll never returns events before its start, so those need not be remembered.
            let start = self.start_time();
            self.printed.retain(|_, timestamp| *timestamp >= start);
        }
        true
    }
}

/// One output line: `<ISO time> [<stream>] <message>`, the stream dimmed when `dim`.
fn format_event(event: &LogEvent, streams: bool, dim: bool) -> String {
    let time = Timestamp::from_millisecond(event.timestamp).map_or_else(
        |_| event.timestamp.to_string(),
        |time| time.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    );
    let message = event.message.strip_suffix('\n').unwrap_or(&event.message);
    let message = message.strip_suffix('\r').unwrap_or(message);
    match (streams, dim) {
        (false, _) => format!("{time} {message}"),
        (true, false) => format!("{time} {} {message}", event.log_stream_name),
        (true, true) => format!("{time} \x1b[2m{}\x1b[0m {message}", event.log_stream_name),
    }
}

/// Runs `flint logs`.
pub(crate) async fn run(flint: &Flint, args: LogsArgs) -> anyhow::Result<()> {
    let group = format!("/aws/lambda/{}", args.name);
    let mut cursor = Cursor::new(start_time(Timestamp::now(), args.since));
    let dim = std::io::stdout().is_terminal();
    let mut out = std::io::stdout();
    let mut said_no_logs = false;
    loop {
        match print_new_events(flint, &group, &mut cursor, &mut out, args.streams, dim).await {
            Ok(()) => {}
            Err(error) if is_not_found(&error) => {
                if !said_no_logs {
                    // No log group: either the function never ran, or there is no such function.
                    let path = crate::client::function::function_path(&args.name, "/configuration");
                    flint
                        .send(flint.request(reqwest::Method::GET, &path))
                        .await?;
                    writeln!(out, "no logs yet for {}", args.name)?;
                    said_no_logs = true;
                }
            }
            Err(error) => return Err(error),
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
    }
}

fn is_not_found(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<CallError>()
        .and_then(CallError::aws)
        .is_some_and(|aws| aws.is_not_found())
}

/// Pages through the events from the cursor's start time and prints those not printed yet.
async fn print_new_events(
    flint: &Flint,
    group: &str,
    cursor: &mut Cursor,
    out: &mut impl Write,
    streams: bool,
    dim: bool,
) -> anyhow::Result<()> {
    let start_time = cursor.start_time();
    let mut token: Option<String> = None;
    loop {
        let body = FilterLogEvents {
            log_group_name: group,
            start_time,
            interleaved: true,
            next_token: token.as_deref(),
        };
        let request = flint.json_rpc("Logs_20140328.FilterLogEvents").json(&body);
        let page: FilterLogEventsPage = flint.json(request).await?;
        for event in &page.events {
            if cursor.admit(event) {
                writeln!(out, "{}", format_event(event, streams, dim))?;
            }
        }
        // A token equal to the one just sent would loop forever; treat it as the end.
        match page.next_token.filter(|next| !next.is_empty()) {
            Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(id: &str, timestamp: i64) -> LogEvent {
        LogEvent {
            log_stream_name: "2024/01/01/[$LATEST]abc".to_owned(),
            timestamp,
            message: format!("message {id}\n"),
            event_id: id.to_owned(),
        }
    }

    #[test]
    fn since_takes_units_and_sums() {
        let check = |text, expect: Option<u64>| {
            assert_eq!(
                parse_since(text).ok().map(|d| d.as_secs()),
                expect,
                "{text}"
            );
        };
        check("30s", Some(30));
        check("10m", Some(600));
        check("1h", Some(3_600));
        check("2d", Some(172_800));
        check("1h30m", Some(5_400));
        check("0s", Some(0));
        check("", None);
        check("10", None);
        check("m", None);
        check("1w", None);
        check("-1h", None);
        check("99999999999999999999d", None);
    }

    #[test]
    fn start_time_is_since_before_now() {
        let now = Timestamp::from_millisecond(1_700_000_000_000).unwrap();
        assert_eq!(
            start_time(now, Duration::from_secs(3_600)),
            1_699_996_400_000
        );
        assert_eq!(start_time(now, Duration::from_secs(u64::MAX)), 0);
    }

    #[test]
    fn request_body_is_json_1_1() {
        let body = FilterLogEvents {
            log_group_name: "/aws/lambda/hello",
            start_time: 5,
            interleaved: true,
            next_token: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"logGroupName": "/aws/lambda/hello", "startTime": 5, "interleaved": true})
        );
        let body = FilterLogEvents {
            next_token: Some("t1"),
            ..body
        };
        assert_eq!(serde_json::to_value(&body).unwrap()["nextToken"], "t1");
    }

    #[test]
    fn page_reads_events_and_token() {
        let page: FilterLogEventsPage = serde_json::from_str(
            r#"{"events":[{"logStreamName":"s","timestamp":1,"message":"m\n","ingestionTime":2,
                "eventId":"e1"}],"nextToken":"n","searchedLogStreams":[]}"#,
        )
        .unwrap();
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.events[0].event_id, "e1");
        assert_eq!(page.next_token.as_deref(), Some("n"));
    }

    #[test]
    fn events_are_printed_once_across_polls() {
        let mut cursor = Cursor::new(1_000);
        assert_eq!(cursor.start_time(), 1_000);
        assert!(cursor.admit(&event("a", 10_000)));
        assert!(cursor.admit(&event("b", 10_000)));
        assert_eq!(cursor.start_time(), 5_000);
        // The next poll returns the same events again, and one that arrived late.
        assert!(!cursor.admit(&event("a", 10_000)));
        assert!(!cursor.admit(&event("b", 10_000)));
        assert!(cursor.admit(&event("late", 9_000)));
        assert!(cursor.admit(&event("c", 20_000)));
        assert_eq!(cursor.start_time(), 15_000);
        // Events before the window are forgotten: a poll cannot return them any more.
        assert_eq!(cursor.printed.len(), 1);
    }

    #[test]
    fn events_without_id_are_told_apart_by_content() {
        let mut cursor = Cursor::new(0);
        assert!(cursor.admit(&event("", 1)));
        assert!(cursor.admit(&LogEvent {
            message: "other".to_owned(),
            ..event("", 1)
        }));
        assert!(!cursor.admit(&event("", 1)));
    }

    #[test]
    fn lines_show_utc_time_and_message() {
        let event = event("a", 1_700_000_000_123);
        assert_eq!(
            format_event(&event, false, false),
            "2023-11-14T22:13:20.123Z message a"
        );
        assert_eq!(
            format_event(&event, true, false),
            "2023-11-14T22:13:20.123Z 2024/01/01/[$LATEST]abc message a"
        );
        assert_eq!(
            format_event(&event, true, true),
            "2023-11-14T22:13:20.123Z \x1b[2m2024/01/01/[$LATEST]abc\x1b[0m message a"
        );
        let multi = LogEvent {
            message: "one\ntwo\r\n".to_owned(),
            ..event
        };
        assert_eq!(
            format_event(&multi, false, false),
            "2023-11-14T22:13:20.123Z one\ntwo"
        );
    }
}
