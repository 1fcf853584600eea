//! `FilterLogEvents`: the events of a group, across its streams, in time order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use crate::cursor::StreamCursor;
use crate::event::{LogEvent, stream_key};
use crate::layout::named_dirs;
use crate::pattern::Pattern;
use crate::token::FilterToken;
use crate::{LogError, LogStore, MAX_PAGE_BYTES, MAX_PAGE_EVENTS, in_time_range};

/// What to read from a group.
#[derive(Debug, Clone, Default)]
pub struct FilterQuery {
    /// Only events at or after this time (ms).
    pub start_ms: Option<i64>,
    /// Only events before this time (ms).
    pub end_ms: Option<i64>,
    /// Only these streams; empty means every stream.
    pub stream_names: Vec<String>,
    /// Only streams whose name starts with this.
    pub stream_name_prefix: Option<String>,
    /// Terms every message must contain; see the crate docs.
    pub pattern: Option<String>,
    /// At most this many events (default and maximum 10,000).
    pub limit: Option<usize>,
    /// Continue where an earlier page stopped.
    pub next_token: Option<String>,
}

/// One page of a group's events.
#[derive(Debug, Clone)]
pub struct FilterPage {
    pub events: Vec<LogEvent>,
    /// Set when more events are already stored: pass it to get the next page. Absent at the end,
    /// which is how CloudWatch Logs clients know to stop paginating.
    pub next_token: Option<String>,
    /// Where a follower continues: passing it later returns exactly the events stored since,
    /// in every stream, including streams created since.
    pub follow_token: String,
}

/// One stream being read, with the key of its name.
#[derive(Debug)]
struct Source {
    name: String,
    key: u64,
    cursor: StreamCursor,
}

impl LogStore {
    /// Events of a group in time order across its streams (CloudWatch Logs `FilterLogEvents`,
    /// interleaved). Every event is returned exactly once across the pages of one token chain.
    pub fn filter(&self, group: &str, query: &FilterQuery) -> Result<FilterPage, LogError> {
        let group_dir = self.existing_group_dir(group)?;
        let mut token = match &query.next_token {
            Some(token) => FilterToken::parse(token)?,
            None => FilterToken::default(),
        };
        let pattern = Pattern::parse(query.pattern.as_deref().unwrap_or_default());
        let limit = query
            .limit
            .unwrap_or(MAX_PAGE_EVENTS)
            .clamp(1, MAX_PAGE_EVENTS);

        let streams = named_dirs(&group_dir)?;
        // Positions of deleted streams are forgotten, so the token does not grow forever.
        let live_keys: BTreeSet<u64> = streams.iter().map(|(name, _)| stream_key(name)).collect();
        token.positions.retain(|key, _| live_keys.contains(key));
        let mut sources = Vec::new();
        for (name, dir) in streams.into_iter().filter(|(name, _)| query.selects(name)) {
            let key = stream_key(&name);
            let pos = token.positions.get(&key).copied().unwrap_or(0);
            sources.push(Source {
                cursor: StreamCursor::open(&dir, pos)?,
                name,
                key,
            });
        }

        // Ties in time go to the stream whose name sorts first; `sources` is sorted by name.
        let mut heads = BinaryHeap::new();
        for (index, source) in sources.iter_mut().enumerate() {
            if let Some(event) = source.cursor.peek()? {
                heads.push(Reverse((event.timestamp_ms, index)));
            }
        }
        let mut events = Vec::new();
        let mut bytes = 0;
        while events.len() < limit && bytes < MAX_PAGE_BYTES {
            let Some(Reverse((_, index))) = heads.pop() else {
                break;
            };
            let source = &mut sources[index];
            let Some(event) = source.cursor.next_event()? else {
                continue;
            };
            if in_time_range(query.start_ms, query.end_ms, event.timestamp_ms)
                && pattern.matches(&event.message)
            {
                bytes += event.message.len();
                events.push(LogEvent::new(&source.name, event));
            }
            if let Some(next) = source.cursor.peek()? {
                heads.push(Reverse((next.timestamp_ms, index)));
            }
        }

        for source in &sources {
            match source.cursor.position() {
                0 => token.positions.remove(&source.key),
                pos => token.positions.insert(source.key, pos),
            };
        }
        let follow_token = token.encode();
        let next_token = (!heads.is_empty()).then(|| follow_token.clone());
        Ok(FilterPage {
            events,
            next_token,
            follow_token,
        })
    }
}

impl FilterQuery {
    fn selects(&self, stream: &str) -> bool {
        let named = self.stream_names.is_empty() || self.stream_names.iter().any(|s| s == stream);
        let prefixed = self
            .stream_name_prefix
            .as_deref()
            .is_none_or(|p| stream.starts_with(p));
        named && prefixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogLimits;
    use crate::testing::{GROUP, STREAM_A, STREAM_B, TestStore};

    /// Two streams whose events interleave in time; `b4` and `a4` tie.
    fn interleaved() -> TestStore {
        let test = TestStore::new(LogLimits::default());
        test.write(&[
            (STREAM_A, 1, "a1 START"),
            (STREAM_B, 2, "b2 START"),
            (STREAM_A, 3, "a3 hello world"),
            (STREAM_B, 4, "b4 hello"),
            (STREAM_A, 4, "a4 world"),
            (STREAM_A, 5, "a5 END"),
            (STREAM_B, 6, "b6 END"),
        ]);
        test
    }

    #[test]
    fn interleaves_streams_by_time() {
        let test = interleaved();
        let page = test.store.filter(GROUP, &FilterQuery::default()).unwrap();
        let got: Vec<(&str, i64, &str)> = page
            .events
            .iter()
            .map(|e| (e.stream.as_str(), e.timestamp_ms, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (STREAM_A, 1, "a1 START"),
                (STREAM_B, 2, "b2 START"),
                (STREAM_A, 3, "a3 hello world"),
                (STREAM_A, 4, "a4 world"),
                (STREAM_B, 4, "b4 hello"),
                (STREAM_A, 5, "a5 END"),
                (STREAM_B, 6, "b6 END"),
            ]
        );
        assert_eq!(page.next_token, None);
        assert!(page.events.iter().all(|e| e.ingestion_ms == e.timestamp_ms));
    }

    #[test]
    fn every_page_chain_returns_each_event_once() {
        let test = interleaved();
        let check = |query: FilterQuery, expect: &[&str]| {
            for limit in [None, Some(1), Some(2), Some(3), Some(7), Some(100)] {
                let query = FilterQuery {
                    limit,
                    ..query.clone()
                };
                let messages = test.filter_all(&query);
                let got: Vec<&str> = messages.iter().map(|m| &m[..2]).collect();
                assert_eq!(got, expect, "{query:?}");
            }
        };
        check(
            FilterQuery::default(),
            &["a1", "b2", "a3", "a4", "b4", "a5", "b6"],
        );
        check(
            FilterQuery {
                start_ms: Some(3),
                ..Default::default()
            },
            &["a3", "a4", "b4", "a5", "b6"],
        );
        check(
            FilterQuery {
                end_ms: Some(4),
                ..Default::default()
            },
            &["a1", "b2", "a3"],
        );
        check(
            FilterQuery {
                start_ms: Some(4),
                end_ms: Some(5),
                ..Default::default()
            },
            &["a4", "b4"],
        );
        check(
            FilterQuery {
                start_ms: Some(7),
                ..Default::default()
            },
            &[],
        );
        let pattern = |p: &str| FilterQuery {
            pattern: Some(p.to_owned()),
            ..Default::default()
        };
        check(pattern("hello"), &["a3", "b4"]);
        check(pattern("world hello"), &["a3"]);
        check(pattern("\"hello world\""), &["a3"]);
        check(pattern("\"\""), &["a1", "b2", "a3", "a4", "b4", "a5", "b6"]);
        check(pattern("missing"), &[]);
        let only_b = FilterQuery {
            stream_names: vec![STREAM_B.to_owned()],
            ..Default::default()
        };
        check(only_b, &["b2", "b4", "b6"]);
        let prefix = |p: &str| FilterQuery {
            stream_name_prefix: Some(p.to_owned()),
            ..Default::default()
        };
        check(prefix("2026/09/14/[$LATEST]a"), &["a1", "a3", "a4", "a5"]);
        check(prefix("2025"), &[]);
    }

    #[test]
    fn follower_sees_later_events_in_old_and_new_streams() {
        let test = interleaved();
        let first = test.store.filter(GROUP, &FilterQuery::default()).unwrap();
        assert_eq!(first.events.len(), 7);

        // Written later, though one is stamped earlier than events already read.
        test.write(&[
            (STREAM_B, 7, "b7"),
            (STREAM_A, 2, "a2 late"),
            ("new-stream", 1, "n1"),
        ]);
        let follow = FilterQuery {
            next_token: Some(first.follow_token),
            ..Default::default()
        };
        let second = test.store.filter(GROUP, &follow).unwrap();
        let got: Vec<&str> = second.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(got, ["n1", "a2 late", "b7"]);
        assert_eq!(second.next_token, None);

        let follow = FilterQuery {
            next_token: Some(second.follow_token.clone()),
            ..follow
        };
        let third = test.store.filter(GROUP, &follow).unwrap();
        assert!(third.events.is_empty());
        assert_eq!(third.follow_token, second.follow_token);
    }

    #[test]
    fn event_ids_are_unique_and_stable() {
        let test = interleaved();
        let ids = |query: &FilterQuery| -> Vec<String> {
            let page = test.store.filter(GROUP, query).unwrap();
            page.events.into_iter().map(|e| e.event_id).collect()
        };
        let all = ids(&FilterQuery::default());
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
        assert!(
            all.iter()
                .all(|id| id.len() == 40 && id.bytes().all(|b| b.is_ascii_digit()))
        );
        let later = ids(&FilterQuery {
            start_ms: Some(5),
            ..Default::default()
        });
        assert_eq!(later, all[5..]);
    }

    #[test]
    fn rejects_unknown_groups_and_bad_tokens() {
        let test = interleaved();
        let missing = test
            .store
            .filter("/aws/lambda/other", &FilterQuery::default());
        assert!(
            matches!(missing, Err(LogError::GroupNotFound { group }) if group == "/aws/lambda/other")
        );
        let bad = FilterQuery {
            next_token: Some("f/1".to_owned()),
            ..Default::default()
        };
        assert!(matches!(
            test.store.filter(GROUP, &bad),
            Err(LogError::InvalidToken { .. })
        ));
    }
}

#[cfg(test)]
mod concurrency_tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::LogLimits;
    use crate::testing::{GROUP, STREAM_A, STREAM_B, TestStore};

    const EVENTS_PER_STREAM: u64 = 3000;

    /// A follower polling while two writers append sees each stream's events in order, never
    /// twice, and, when nothing is dropped by the caps, every one of them.
    fn check(limits: LogLimits, expect_complete: bool) {
        let test = TestStore::new(limits);
        let done = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = [STREAM_A, STREAM_B]
            .into_iter()
            .map(|stream| {
                let mut writer = test.store.create_stream(GROUP, stream).unwrap();
                std::thread::spawn(move || {
                    for i in 0..EVENTS_PER_STREAM {
                        // Some lines are longer than the writer's buffer, so they reach the
                        // file in pieces.
                        let padding = if i % 97 == 0 {
                            10_000
                        } else {
                            (i % 13) as usize
                        };
                        writer
                            .append(i as i64, &format!("{i} {}", "p".repeat(padding)))
                            .unwrap();
                        if i % 7 == 0 {
                            writer.flush().unwrap();
                        }
                    }
                    writer.flush().unwrap();
                })
            })
            .collect();
        let watcher = {
            let done = done.clone();
            std::thread::spawn(move || {
                for writer in writers {
                    writer.join().unwrap();
                }
                done.store(true, Ordering::SeqCst);
            })
        };

        let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut query = FilterQuery {
            limit: Some(500),
            ..Default::default()
        };
        loop {
            let finished = done.load(Ordering::SeqCst);
            let page = test.store.filter(GROUP, &query).unwrap();
            for event in page.events {
                let number = event.message.split(' ').next().unwrap().parse().unwrap();
                seen.entry(event.stream).or_default().push(number);
            }
            query.next_token = Some(page.follow_token);
            if finished && page.next_token.is_none() {
                break;
            }
        }
        watcher.join().unwrap();

        assert_eq!(seen.len(), 2);
        for numbers in seen.values() {
            assert!(
                numbers.windows(2).all(|pair| pair[0] < pair[1]),
                "in order, once"
            );
            assert_eq!(numbers.last(), Some(&(EVENTS_PER_STREAM - 1)));
            if expect_complete {
                assert_eq!(numbers.len() as u64, EVENTS_PER_STREAM);
            }
        }
    }

    #[test]
    fn follower_reads_while_writers_append() {
        check(LogLimits::default(), true);
    }

    #[test]
    fn follower_reads_while_writers_rotate() {
        check(
            LogLimits {
                max_group_bytes: u64::MAX,
                max_stream_bytes: 64 * 1024,
            },
            false,
        );
    }
}
