//! `GetLogEvents`: one stream's events, forward from its head or backward from its tail.

use std::collections::VecDeque;

use crate::cursor::StreamCursor;
use crate::event::LogEvent;
use crate::token::StreamToken;
use crate::{LogError, LogStore, MAX_PAGE_BYTES, MAX_PAGE_EVENTS, in_time_range};

/// What to read from a stream.
#[derive(Debug, Clone, Default)]
pub struct StreamQuery {
    /// Only events at or after this time (ms).
    pub start_ms: Option<i64>,
    /// Only events before this time (ms).
    pub end_ms: Option<i64>,
    /// At most this many events (default and maximum 10,000).
    pub limit: Option<usize>,
    /// Without a token: the oldest events if true, the newest if false (CloudWatch's default).
    pub start_from_head: bool,
    /// `next_forward_token` or `next_backward_token` of an earlier page.
    pub next_token: Option<String>,
}

/// One page of a stream's events, oldest first.
#[derive(Debug, Clone)]
pub struct StreamPage {
    pub events: Vec<LogEvent>,
    /// Reads on after this page. At the end of the stream it equals the token passed in,
    /// which is how CloudWatch Logs clients know to stop.
    pub next_forward_token: String,
    /// Reads the events before this page.
    pub next_backward_token: String,
}

impl LogStore {
    /// One stream's events (CloudWatch Logs `GetLogEvents`).
    pub fn stream_events(
        &self,
        group: &str,
        stream: &str,
        query: &StreamQuery,
    ) -> Result<StreamPage, LogError> {
        let stream_dir = self.existing_stream_dir(group, stream)?;
        let start = match &query.next_token {
            Some(token) => StreamToken::parse(token)?,
            None if query.start_from_head => StreamToken::Forward(0),
            None => StreamToken::Backward(u64::MAX),
        };
        let limit = query
            .limit
            .unwrap_or(MAX_PAGE_EVENTS)
            .clamp(1, MAX_PAGE_EVENTS);
        let reader = PageReader {
            stream,
            query,
            limit,
        };
        match start {
            StreamToken::Forward(from) => reader.forward(StreamCursor::open(&stream_dir, from)?),
            StreamToken::Backward(before) => {
                reader.backward(StreamCursor::open(&stream_dir, 0)?, before)
            }
        }
    }
}

#[derive(Debug)]
struct PageReader<'a> {
    stream: &'a str,
    query: &'a StreamQuery,
    limit: usize,
}

impl PageReader<'_> {
    fn in_range(&self, timestamp_ms: i64) -> bool {
        in_time_range(self.query.start_ms, self.query.end_ms, timestamp_ms)
    }

    /// The first events at or after the cursor's position.
    fn forward(&self, mut cursor: StreamCursor) -> Result<StreamPage, LogError> {
        let from = cursor.position();
        let mut events = Vec::new();
        let mut bytes = 0;
        while events.len() < self.limit && bytes < MAX_PAGE_BYTES {
            let Some(event) = cursor.next_event()? else {
                break;
            };
            if self.in_range(event.timestamp_ms) {
                bytes += event.message.len();
                events.push(event);
            }
        }
        let first = events.first().map_or(from, |event| event.pos);
        Ok(StreamPage {
            next_forward_token: StreamToken::Forward(cursor.position()).encode(),
            next_backward_token: StreamToken::Backward(first).encode(),
            events: events
                .into_iter()
                .map(|event| LogEvent::new(self.stream, event))
                .collect(),
        })
    }

    /// The last events before logical position `before`.
    fn backward(&self, mut cursor: StreamCursor, before: u64) -> Result<StreamPage, LogError> {
        let mut events = VecDeque::new();
        let mut bytes = 0;
        while cursor.peek()?.is_some_and(|event| event.pos < before) {
            let Some(event) = cursor.next_event()? else {
                break;
            };
            if !self.in_range(event.timestamp_ms) {
                continue;
            }
            bytes += event.message.len();
            events.push_back(event);
            while events.len() > self.limit || (events.len() > 1 && bytes > MAX_PAGE_BYTES) {
                if let Some(dropped) = events.pop_front() {
                    bytes -= dropped.message.len();
                }
            }
        }
        let end = cursor.position();
        let first = events.front().map_or(end, |event| event.pos);
        let last = events.back().map_or(end, |event| event.end);
        Ok(StreamPage {
            next_forward_token: StreamToken::Forward(last).encode(),
            next_backward_token: StreamToken::Backward(first).encode(),
            events: events
                .into_iter()
                .map(|event| LogEvent::new(self.stream, event))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogLimits;
    use crate::testing::{GROUP, STREAM_A, TestStore};

    /// A stream holding events `e1` to `e10`, at times 1 to 10.
    fn ten_events() -> TestStore {
        let test = TestStore::new(LogLimits::default());
        let messages: Vec<String> = (1..=10).map(|i| format!("e{i}")).collect();
        let events: Vec<(&str, i64, &str)> = messages
            .iter()
            .zip(1..)
            .map(|(m, i)| (STREAM_A, i, m.as_str()))
            .collect();
        test.write(&events);
        test
    }

    fn read(test: &TestStore, query: &StreamQuery) -> (Vec<String>, StreamPage) {
        let page = test.store.stream_events(GROUP, STREAM_A, query).unwrap();
        (
            page.events.iter().map(|e| e.message.clone()).collect(),
            page,
        )
    }

    /// Follows `next_*_token` page by page until the token repeats, as CloudWatch clients do.
    fn check_pages(test: &TestStore, first: StreamQuery, forward: bool, expect: &[&[&str]]) {
        let mut query = first;
        let mut pages = Vec::new();
        loop {
            let (messages, page) = read(test, &query);
            let token = if forward {
                page.next_forward_token
            } else {
                page.next_backward_token
            };
            if query.next_token.as_ref() == Some(&token) {
                assert!(
                    messages.is_empty(),
                    "the last page repeats its token and is empty"
                );
                break;
            }
            pages.push(messages);
            query.next_token = Some(token);
        }
        assert_eq!(pages, expect);
    }

    #[test]
    fn pages_forward_from_the_head() {
        let test = ten_events();
        let head = |limit| StreamQuery {
            start_from_head: true,
            limit: Some(limit),
            ..Default::default()
        };
        check_pages(
            &test,
            head(4),
            true,
            &[
                &["e1", "e2", "e3", "e4"],
                &["e5", "e6", "e7", "e8"],
                &["e9", "e10"],
            ],
        );
        check_pages(
            &test,
            head(10),
            true,
            &[&["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10"]],
        );
        let ranged = StreamQuery {
            start_ms: Some(3),
            end_ms: Some(6),
            ..head(2)
        };
        check_pages(&test, ranged, true, &[&["e3", "e4"], &["e5"]]);
    }

    #[test]
    fn pages_backward_from_the_tail() {
        let test = ten_events();
        let tail = |limit| StreamQuery {
            limit: Some(limit),
            ..Default::default()
        };
        check_pages(
            &test,
            tail(3),
            false,
            &[
                &["e8", "e9", "e10"],
                &["e5", "e6", "e7"],
                &["e2", "e3", "e4"],
                &["e1"],
            ],
        );
        let ranged = StreamQuery {
            end_ms: Some(10),
            ..tail(4)
        };
        check_pages(
            &test,
            ranged,
            false,
            &[
                &["e6", "e7", "e8", "e9"],
                &["e2", "e3", "e4", "e5"],
                &["e1"],
            ],
        );
    }

    #[test]
    fn forward_token_of_the_tail_sees_new_events() {
        let test = ten_events();
        let (messages, page) = read(
            &test,
            &StreamQuery {
                limit: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(messages, ["e9", "e10"]);
        let follow = StreamQuery {
            next_token: Some(page.next_forward_token),
            ..Default::default()
        };
        let (messages, empty) = read(&test, &follow);
        assert!(messages.is_empty());
        assert_eq!(Some(&empty.next_forward_token), follow.next_token.as_ref());

        test.write(&[(STREAM_A, 11, "e11 with\ttab and\nnewline")]);
        let (messages, _) = read(&test, &follow);
        assert_eq!(messages, ["e11 with\ttab and\nnewline"]);
    }

    #[test]
    fn rejects_unknown_streams_and_bad_tokens() {
        let test = ten_events();
        let missing = test
            .store
            .stream_events(GROUP, "other", &StreamQuery::default());
        assert!(
            matches!(missing, Err(LogError::StreamNotFound { stream, .. }) if stream == "other")
        );
        let missing =
            test.store
                .stream_events("/aws/lambda/other", STREAM_A, &StreamQuery::default());
        assert!(matches!(missing, Err(LogError::GroupNotFound { .. })));
        let bad = StreamQuery {
            next_token: Some("v1".to_owned()),
            ..Default::default()
        };
        let bad = test.store.stream_events(GROUP, STREAM_A, &bad);
        assert!(matches!(bad, Err(LogError::InvalidToken { .. })));
    }
}
