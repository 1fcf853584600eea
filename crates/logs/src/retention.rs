//! Keeping a log group under its size cap by dropping its least recently written streams.

use std::path::{Path, PathBuf};

use crate::LogError;
use crate::layout::{last_stored_line, list_segments, named_dirs, remove_tree};

/// Size and last write of one stream of a group.
#[derive(Debug)]
struct StreamUsage {
    dir: PathBuf,
    bytes: u64,
    /// Ingestion time of the stream's last event, from the store's clock.
    last_write_ms: i64,
}

/// Deletes the streams of `group_dir` written to least recently until the group holds at most
/// `max_bytes`. The stream in `keep` (the one being written) is never deleted, nor is an
/// empty stream, which frees nothing. Returns how many streams were deleted.
pub(crate) fn enforce_group_cap(
    group_dir: &Path,
    max_bytes: u64,
    keep: &Path,
) -> Result<usize, LogError> {
    let mut streams = stream_usages(group_dir)?;
    let mut total: u64 = streams.iter().map(|stream| stream.bytes).sum();
    let mut removed = 0;
    if total <= max_bytes {
        return Ok(removed);
    }
    streams.sort_by(|a, b| (a.last_write_ms, &a.dir).cmp(&(b.last_write_ms, &b.dir)));
    for stream in streams {
        if total <= max_bytes {
            break;
        }
        if stream.dir == keep || stream.bytes == 0 {
            continue;
        }
        remove_tree(&stream.dir)?;
        removed += 1;
        total -= stream.bytes;
        tracing::info!(
            stream = %stream.dir.display(),
            freed_bytes = stream.bytes,
            "deleted log stream to keep its group under its size cap"
        );
    }
    Ok(removed)
}

fn stream_usages(group_dir: &Path) -> Result<Vec<StreamUsage>, LogError> {
    let mut usages = Vec::new();
    for (_, dir) in named_dirs(group_dir)? {
        let segments = list_segments(&dir)?;
        let bytes = segments.iter().map(|segment| segment.len).sum();
        let last_write_ms = last_stored_line(&segments)?.map_or(i64::MIN, |line| line.ingestion_ms);
        usages.push(StreamUsage {
            dir,
            bytes,
            last_write_ms,
        });
    }
    Ok(usages)
}

#[cfg(test)]
mod tests {
    use crate::LogLimits;
    use crate::testing::{GROUP, TestStore};

    #[test]
    fn group_drops_least_recently_written_streams_beyond_its_cap() {
        let test = TestStore::new(LogLimits {
            max_group_bytes: 300,
            max_stream_bytes: u64::MAX,
        });
        let names = || -> Vec<String> {
            test.store
                .streams(GROUP)
                .unwrap()
                .into_iter()
                .map(|info| info.name)
                .collect()
        };
        // Five events of 26 to 28 bytes ("100\t10\t" + 20 bytes + "\n"): two streams fit.
        let write_five = |stream: &str, written_ms: i64, stamped_ms: i64| {
            test.clock.set(written_ms);
            let mut writer = test.store.create_stream(GROUP, stream).unwrap();
            for i in 0..5 {
                writer.append(stamped_ms + i, &"x".repeat(20)).unwrap();
            }
            writer.flush().unwrap();
        };
        write_five("first", 10, 100);
        write_five("second", 20, 50);
        assert_eq!(names(), ["first", "second"]);

        // Last write decides, not the events' own timestamps.
        write_five("third", 30, 10);
        assert_eq!(names(), ["second", "third"]);

        // The stream being written is spared even when it looks oldest (the clock went back).
        write_five("fourth", 5, 0);
        assert_eq!(names(), ["third", "fourth"]);
        assert!(test.store.groups().unwrap()[0].stored_bytes <= 300);
    }
}
