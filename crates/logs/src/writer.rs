//! Appending events to one stream.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::layout::{ensure_stream_dir, last_newline_before, list_segments, segment_path};
use crate::line::encode_line;
use crate::{LogError, StoreInner};

/// Appends the events of one stream. There is one writer per stream at a time. Readers see
/// what it appended once [`StreamWriter::flush`] returns, or once they read the stream's group:
/// a read first flushes the group's writers, so a writer may keep events buffered.
#[derive(Debug)]
pub struct StreamWriter {
    appender: Arc<Mutex<Appender>>,
}

impl StreamWriter {
    /// Opens the stream in `stream_dir` for appending, creating it if needed, and lets the
    /// store's readers flush it.
    pub(crate) fn open(
        store: Arc<StoreInner>,
        group_dir: PathBuf,
        stream_dir: PathBuf,
    ) -> Result<Self, LogError> {
        let appender = Appender::open(Arc::clone(&store), group_dir.clone(), stream_dir)?;
        let appender = Arc::new(Mutex::new(appender));
        store.register_writer(group_dir, Arc::downgrade(&appender));
        Ok(StreamWriter { appender })
    }

    /// Appends one event; `message` is a single line (the caller splits on '\n'; a message that
    /// still contains '\n', '\r' or '\t' is stored and read back faithfully). The event may
    /// stay buffered until [`StreamWriter::flush`] or a read of the group.
    pub fn append(&mut self, timestamp_ms: i64, message: &str) -> Result<(), LogError> {
        lock(&self.appender).append(timestamp_ms, message)
    }

    /// Makes appended events visible to readers (writes the buffer to the file).
    pub fn flush(&mut self) -> Result<(), LogError> {
        lock(&self.appender).flush()
    }
}

/// A writer's state is consistent between calls, so one that panicked mid-call is still usable.
pub(crate) fn lock(appender: &Mutex<Appender>) -> MutexGuard<'_, Appender> {
    appender.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a [`StreamWriter`] appends through: the stream's current segment and its buffer.
#[derive(Debug)]
pub(crate) struct Appender {
    store: Arc<StoreInner>,
    group_dir: PathBuf,
    stream_dir: PathBuf,
    file: BufWriter<File>,
    segment_path: PathBuf,
    segment_start: u64,
    /// Bytes of the current segment, buffered ones included.
    segment_len: u64,
    /// Bytes appended since the group's size was last checked.
    unchecked_bytes: u64,
    /// The store's removal count when this writer last looked whether its stream is gone.
    seen_removals: u64,
    line: Vec<u8>,
}

/// Bytes buffered before a write: an invocation's START, END and REPORT lines fit, and every
/// idle environment keeps one such buffer (the default 8 KiB was 1% of an idle environment's
/// whole memory).
const WRITE_BUFFER: usize = 2048;

fn buffered(file: File) -> BufWriter<File> {
    BufWriter::with_capacity(WRITE_BUFFER, file)
}

impl Appender {
    /// Opens the stream in `stream_dir` for appending, creating it if needed. A line torn by a
    /// crash at the end of the stream is cut off, so new events do not run into it.
    fn open(
        store: Arc<StoreInner>,
        group_dir: PathBuf,
        stream_dir: PathBuf,
    ) -> Result<Self, LogError> {
        let seen_removals = store.removals();
        ensure_stream_dir(&group_dir, &stream_dir, store.now_ms())?;
        let (segment_start, segment_path, file, segment_len) =
            match list_segments(&stream_dir)?.pop() {
                Some(last) => {
                    let (file, len) = reopen_segment(&last.path)?;
                    (last.start, last.path, file, len)
                }
                None => {
                    let path = segment_path(&stream_dir, 0);
                    (0, path.clone(), create_segment(&path)?, 0)
                }
            };
        // The group's cap is checked as bytes are appended, not here: a stream adds nothing
        // when opened, and the check reads every stream of the group, which grows with it.
        Ok(Appender {
            store,
            group_dir,
            stream_dir,
            file: buffered(file),
            segment_path,
            segment_start,
            segment_len,
            unchecked_bytes: 0,
            seen_removals,
            line: Vec::new(),
        })
    }

    fn append(&mut self, timestamp_ms: i64, message: &str) -> Result<(), LogError> {
        self.line.clear();
        encode_line(&mut self.line, timestamp_ms, self.store.now_ms(), message);
        let line_len = self.line.len() as u64;
        if self.segment_len > 0 && self.segment_len + line_len > self.store.segment_cap() {
            self.rotate()?;
        }
        self.file
            .write_all(&self.line)
            .map_err(|source| self.write_error(source))?;
        self.segment_len += line_len;
        self.unchecked_bytes += line_len;
        if self.unchecked_bytes >= self.store.group_check_interval() {
            self.unchecked_bytes = 0;
            // The check measures files, so this writer's bytes must be in its file.
            self.flush()?;
            self.store
                .enforce_group_cap(&self.group_dir, &self.stream_dir);
        }
        Ok(())
    }

    /// Writes the buffer to the file. When the store deleted streams since the last look, the
    /// writer first checks that its own file is still linked; flushes in between cost one
    /// write (none with nothing buffered). (A segment file removed behind the store's back stays
    /// unnoticed.)
    pub(crate) fn flush(&mut self) -> Result<(), LogError> {
        let removals = self.store.removals();
        if removals != self.seen_removals {
            self.seen_removals = removals;
            let metadata = self
                .file
                .get_ref()
                .metadata()
                .map_err(|source| self.write_error(source))?;
            if metadata.nlink() == 0 {
                self.recreate()?;
            }
        }
        self.file.flush().map_err(|source| self.write_error(source))
    }

    /// Starts a new segment and drops the ones before the current one, so a stream keeps at
    /// most two segments of `segment_cap` bytes: its newest part.
    fn rotate(&mut self) -> Result<(), LogError> {
        self.file
            .flush()
            .map_err(|source| self.write_error(source))?;
        let previous_start = self.segment_start;
        self.start_segment(self.segment_start + self.segment_len)?;
        for segment in list_segments(&self.stream_dir)? {
            if segment.start < previous_start {
                remove_segment(&segment.path)?;
            }
        }
        Ok(())
    }

    /// The stream was deleted under this writer (its group deleted, or dropped to keep the
    /// group under its cap) while the environment lives on. Like CloudWatch Logs, writing again
    /// brings the stream back; logical positions continue, so followers keep their place.
    fn recreate(&mut self) -> Result<(), LogError> {
        let buffered = self.file.buffer().len() as u64;
        let flushed_end = self.segment_start + self.segment_len - buffered;
        let old = self.start_segment(flushed_end)?;
        let (_, unwritten) = old.into_parts();
        let unwritten = unwritten.unwrap_or_else(|panicked| panicked.into_inner());
        self.file
            .write_all(&unwritten)
            .map_err(|source| self.write_error(source))?;
        self.segment_len = unwritten.len() as u64;
        Ok(())
    }

    /// Switches to a new segment starting at logical position `start`; returns the old file.
    fn start_segment(&mut self, start: u64) -> Result<BufWriter<File>, LogError> {
        ensure_stream_dir(&self.group_dir, &self.stream_dir, self.store.now_ms())?;
        let path = segment_path(&self.stream_dir, start);
        let file = create_segment(&path)?;
        self.segment_path = path;
        self.segment_start = start;
        self.segment_len = 0;
        Ok(std::mem::replace(&mut self.file, buffered(file)))
    }

    fn write_error(&self, source: std::io::Error) -> LogError {
        LogError::WriteFile {
            path: self.segment_path.clone(),
            source,
        }
    }
}

fn create_segment(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .map_err(|source| LogError::OpenFile {
            path: path.to_owned(),
            source,
        })
}

/// Opens the last segment for appending and cuts off a torn last line; returns the file and
/// its length.
fn reopen_segment(path: &Path) -> Result<(File, u64), LogError> {
    let open_error = |source| LogError::OpenFile {
        path: path.to_owned(),
        source,
    };
    let write_error = |source| LogError::WriteFile {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(open_error)?;
    let len = file.metadata().map_err(write_error)?.len();
    let complete_len = last_newline_before(&file, len)
        .map_err(write_error)?
        .map_or(0, |newline| newline + 1);
    if complete_len < len {
        file.set_len(complete_len).map_err(write_error)?;
    }
    Ok((file, complete_len))
}

fn remove_segment(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(LogError::Remove {
            path: path.to_owned(),
            source: error,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::names::encode;
    use crate::testing::{GROUP, STREAM_A, STREAM_B, TestStore};
    use crate::{FilterQuery, LogLimits, StreamQuery};

    fn stream_bytes(test: &TestStore, stream: &str) -> u64 {
        let streams = test.store.streams(GROUP).unwrap();
        streams
            .iter()
            .find(|info| info.name == stream)
            .map_or(0, |info| info.stored_bytes)
    }

    #[test]
    fn stream_keeps_its_newest_part_within_its_cap() {
        let test = TestStore::new(LogLimits {
            max_group_bytes: u64::MAX,
            max_stream_bytes: 400,
        });
        let follower = test.store.filter(GROUP, &FilterQuery::default());
        assert!(follower.is_err(), "no group yet");

        let mut writer = test.store.create_stream(GROUP, STREAM_A).unwrap();
        let first = test.store.filter(GROUP, &FilterQuery::default()).unwrap();
        for i in 0..200 {
            writer.append(1000 + i, &format!("event {i:03}")).unwrap();
        }
        writer.flush().unwrap();

        let bytes = stream_bytes(&test, STREAM_A);
        assert!(bytes <= 400 && bytes > 100, "{bytes}");
        let kept = test.filter_all(&FilterQuery::default());
        let expect: Vec<String> = (200 - kept.len()..200)
            .map(|i| format!("event {i:03}"))
            .collect();
        assert_eq!(kept, expect, "a contiguous newest part");

        // A follower from before the rotations resumes at the oldest part kept.
        let follow = FilterQuery {
            next_token: Some(first.follow_token),
            ..Default::default()
        };
        let followed: Vec<String> = test
            .store
            .filter(GROUP, &follow)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(followed, kept);
        let head = StreamQuery {
            start_from_head: true,
            ..Default::default()
        };
        let page = test.store.stream_events(GROUP, STREAM_A, &head).unwrap();
        assert_eq!(page.events.len(), kept.len());
    }

    #[test]
    fn torn_last_line_is_ignored_then_cut_off_on_reopen() {
        let test = TestStore::new(LogLimits::default());
        test.write(&[(STREAM_A, 1, "one"), (STREAM_A, 2, "two")]);
        let stream_dir = test
            .dir
            .path()
            .join(encode(GROUP).unwrap())
            .join(encode(STREAM_A).unwrap());
        let segment = stream_dir.join("00000000000000000000.log");
        let mut content = fs::read(&segment).unwrap();
        content.extend_from_slice(b"3\t3\tthree, torn");
        fs::write(&segment, &content).unwrap();

        assert_eq!(test.filter_all(&FilterQuery::default()), ["one", "two"]);
        let tail = test
            .store
            .stream_events(GROUP, STREAM_A, &StreamQuery::default())
            .unwrap();
        assert_eq!(
            tail.events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert_eq!(test.store.streams(GROUP).unwrap()[0].last_event_ms, Some(2));

        test.write(&[(STREAM_A, 4, "four")]);
        assert_eq!(
            test.filter_all(&FilterQuery::default()),
            ["one", "two", "four"]
        );
        assert!(
            !String::from_utf8(fs::read(&segment).unwrap())
                .unwrap()
                .contains("torn")
        );
    }

    #[test]
    fn live_writer_brings_back_a_deleted_group() {
        let test = TestStore::new(LogLimits::default());
        let mut writer = test.store.create_stream(GROUP, STREAM_A).unwrap();
        writer.append(1, "before").unwrap();
        writer.flush().unwrap();
        let first = test.store.filter(GROUP, &FilterQuery::default()).unwrap();

        test.store.delete_group(GROUP).unwrap();
        writer.append(2, "after").unwrap();
        writer.flush().unwrap();

        assert_eq!(test.filter_all(&FilterQuery::default()), ["after"]);
        let follow = FilterQuery {
            next_token: Some(first.follow_token),
            ..Default::default()
        };
        let followed = test.store.filter(GROUP, &follow).unwrap();
        assert_eq!(
            followed
                .events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["after"]
        );
    }

    #[test]
    fn messages_round_trip_whatever_they_hold() {
        let test = TestStore::new(LogLimits::default());
        let long = "y".repeat(200_000);
        let messages = [
            "",
            "tab\there",
            "new\nline",
            "cr\r\n",
            "back\\slash\\n",
            "ünï ✓",
            long.as_str(),
        ];
        let events: Vec<(&str, i64, &str)> = messages.iter().map(|m| (STREAM_A, 1, *m)).collect();
        test.write(&events);
        assert_eq!(test.filter_all(&FilterQuery::default()), messages);
        let head = StreamQuery {
            start_from_head: true,
            ..Default::default()
        };
        let page = test.store.stream_events(GROUP, STREAM_A, &head).unwrap();
        assert_eq!(
            page.events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            messages
        );
    }

    #[test]
    fn every_read_sees_the_events_a_writer_still_buffers() {
        let test = TestStore::new(LogLimits::default());
        let mut a = test.store.create_stream(GROUP, STREAM_A).unwrap();
        let mut b = test.store.create_stream(GROUP, STREAM_B).unwrap();
        a.append(1, "from a").unwrap();
        b.append(2, "from b").unwrap();
        assert_eq!(
            test.filter_all(&FilterQuery::default()),
            ["from a", "from b"]
        );
        a.append(3, "a again").unwrap();
        let head = StreamQuery {
            start_from_head: true,
            ..Default::default()
        };
        let page = test.store.stream_events(GROUP, STREAM_A, &head).unwrap();
        let messages: Vec<_> = page.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["from a", "a again"]);
        let described = stream_bytes(&test, STREAM_B);
        b.append(4, "b again").unwrap();
        assert!(stream_bytes(&test, STREAM_B) > described);
        // A writer that is gone wrote out its buffer when it went.
        a.append(5, "a last").unwrap();
        drop(a);
        assert_eq!(
            test.filter_all(&FilterQuery::default()),
            ["from a", "from b", "a again", "b again", "a last"]
        );
    }
}
