//! `DescribeLogStreams` and `DescribeLogGroups`: what the store holds.

use std::cmp::Reverse;
use std::path::Path;

use crate::cursor::StreamCursor;
use crate::layout::{created_ms, last_stored_line, list_segments, named_dirs};
use crate::{LogError, LogStore};

/// One stream of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    pub creation_ms: i64,
    /// Time of the oldest event kept, if any.
    pub first_event_ms: Option<i64>,
    /// Time of the newest event.
    pub last_event_ms: Option<i64>,
    /// When the newest event was stored.
    pub last_ingestion_ms: Option<i64>,
    pub stored_bytes: u64,
}

/// One log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub creation_ms: i64,
    pub stored_bytes: u64,
}

impl LogStore {
    /// The streams of a group, the one with the newest last event first.
    pub fn streams(&self, group: &str) -> Result<Vec<StreamInfo>, LogError> {
        let group_dir = self.existing_group_dir(group)?;
        let mut streams = Vec::new();
        for (name, dir) in named_dirs(&group_dir)? {
            streams.push(stream_info(name, &dir)?);
        }
        streams.sort_by(|a, b| {
            let newest_first = |info: &StreamInfo| Reverse((info.last_event_ms, info.creation_ms));
            newest_first(a)
                .cmp(&newest_first(b))
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(streams)
    }

    /// Every log group, sorted by name.
    pub fn groups(&self) -> Result<Vec<GroupInfo>, LogError> {
        let mut groups = Vec::new();
        for (name, dir) in named_dirs(&self.inner.root)? {
            let mut stored_bytes = 0;
            for (_, stream_dir) in named_dirs(&dir)? {
                stored_bytes += list_segments(&stream_dir)?
                    .iter()
                    .map(|s| s.len)
                    .sum::<u64>();
            }
            groups.push(GroupInfo {
                name,
                creation_ms: created_ms(&dir),
                stored_bytes,
            });
        }
        Ok(groups)
    }
}

fn stream_info(name: String, dir: &Path) -> Result<StreamInfo, LogError> {
    let segments = list_segments(dir)?;
    let first_event_ms = StreamCursor::open(dir, 0)?
        .peek()?
        .map(|event| event.timestamp_ms);
    let last = last_stored_line(&segments)?;
    Ok(StreamInfo {
        name,
        creation_ms: created_ms(dir),
        first_event_ms,
        last_event_ms: last.as_ref().map(|line| line.timestamp_ms),
        last_ingestion_ms: last.as_ref().map(|line| line.ingestion_ms),
        stored_bytes: segments.iter().map(|segment| segment.len).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogLimits;
    use crate::testing::{GROUP, STREAM_A, STREAM_B, TestStore};

    #[test]
    fn names_round_trip_through_listings() {
        let test = TestStore::new(LogLimits::default());
        let groups = [
            "/aws/lambda/fn",
            "/aws/lambda/other-fn_2",
            "odd [$group] 100%",
        ];
        let streams = [STREAM_A, "2026/09/14/[3]0123", "..", ".created"];
        test.clock.set(7);
        for group in groups {
            for stream in streams {
                test.store.create_stream(group, stream).unwrap();
            }
        }
        let listed: Vec<String> = test
            .store
            .groups()
            .unwrap()
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(listed, groups);
        let mut listed: Vec<String> = test
            .store
            .streams(GROUP)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        listed.sort();
        let mut expect = streams.map(str::to_owned);
        expect.sort();
        assert_eq!(listed, expect);
    }

    #[test]
    fn describes_streams_newest_first() {
        let test = TestStore::new(LogLimits::default());
        test.clock.set(1);
        test.store.create_stream(GROUP, "empty").unwrap();
        test.write(&[
            (STREAM_A, 10, "a"),
            (STREAM_B, 20, "b"),
            (STREAM_A, 30, "a2"),
        ]);
        let check = |info: &StreamInfo, expect: (&str, i64, Option<i64>, Option<i64>, u64)| {
            let got = (
                info.name.as_str(),
                info.creation_ms,
                info.first_event_ms,
                info.last_event_ms,
                info.stored_bytes,
            );
            assert_eq!(got, expect);
            assert_eq!(info.last_ingestion_ms, info.last_event_ms);
        };
        let streams = test.store.streams(GROUP).unwrap();
        assert_eq!(streams.len(), 3);
        check(&streams[0], (STREAM_A, 10, Some(10), Some(30), 17));
        check(&streams[1], (STREAM_B, 20, Some(20), Some(20), 8));
        check(&streams[2], ("empty", 1, None, None, 0));

        let groups = test.store.groups().unwrap();
        assert_eq!(
            groups,
            [GroupInfo {
                name: GROUP.to_owned(),
                creation_ms: 1,
                stored_bytes: 25
            }]
        );
        assert!(matches!(
            test.store.streams("none"),
            Err(LogError::GroupNotFound { .. })
        ));
    }
}
