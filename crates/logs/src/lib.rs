//! Function logs on disk, organised the way CloudWatch Logs organises them: log groups
//! (`/aws/lambda/NAME`), one stream per execution environment
//! (`2026/09/14/[$LATEST]0123456789abcdef0123456789abcdef`), each event a timestamp and a
//! message.
//!
//! The environment pool writes (`START`/`END`/`REPORT` lines and every line a function prints)
//! through a [`StreamWriter`]; the API (`FilterLogEvents`, `GetLogEvents`, `DescribeLogStreams`,
//! `DescribeLogGroups`) and `flint logs` read through [`LogStore`].
//!
//! Storage: a directory per group, a directory per stream, and per stream one or two
//! append-only segment files with one line per event (see `layout` and `line`). Every call is
//! plain synchronous file I/O; the caller picks the thread.
//!
//! Invariants:
//! - Writers may keep a few KB of events buffered; a read of a group first flushes its
//!   writers (a short lock each), so every event appended before the read is seen. Readers see
//!   whole lines only, so a line being written or torn by a crash is invisible.
//! - A stream holds at most `max_stream_bytes` (its newest part), a group at most
//!   `max_group_bytes` (its most recently written streams), checked on stream creation and
//!   every few hundred KB written rather than on every event.
//! - Filter patterns are CloudWatch's unstructured kind: every space-separated term, or
//!   double-quoted phrase, must occur in the message.

mod cursor;
mod describe;
mod error;
mod event;
mod filter;
mod layout;
mod line;
mod names;
mod pattern;
mod retention;
mod stream_events;
#[cfg(test)]
mod testing;
mod token;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError, Weak};

use model::{Clock, SystemClock};

pub use describe::{GroupInfo, StreamInfo};
pub use error::LogError;
pub use event::LogEvent;
pub use filter::{FilterPage, FilterQuery};
pub use stream_events::{StreamPage, StreamQuery};
use writer::Appender;
pub use writer::StreamWriter;

/// Most events one page returns, as in CloudWatch Logs.
const MAX_PAGE_EVENTS: usize = 10_000;
/// A page stops once its messages reach this size, as CloudWatch Logs pages stop at 1 MB.
const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// A writer checks its group's size at least this often (in bytes written).
const MAX_GROUP_CHECK_INTERVAL: u64 = 256 * 1024;

/// Size caps of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// A group's streams are deleted, least recently written first, beyond this.
    pub max_group_bytes: u64,
    /// A stream keeps its newest part within this.
    pub max_stream_bytes: u64,
}

impl Default for LogLimits {
    /// 64 MiB per group, 16 MiB per stream.
    fn default() -> Self {
        LogLimits {
            max_group_bytes: 64 * 1024 * 1024,
            max_stream_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The log store. Cloning is cheap and clones share the store.
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<StoreInner>,
}

/// What a store and its writers share.
#[derive(Debug)]
struct StoreInner {
    root: PathBuf,
    limits: LogLimits,
    clock: Arc<dyn Clock>,
    /// Held while a group's size is checked, so writers do not delete the same streams twice.
    retention: Mutex<()>,
    /// Bumped after the store deleted streams, so that writers look whether theirs is gone
    /// only then, not on every flush.
    removals: AtomicU64,
    /// Every writer of the store with its group directory, so that a read of a group first
    /// flushes what its writers buffered. Writers that are gone are pruned as new ones come.
    writers: Mutex<Vec<(PathBuf, Weak<Mutex<Appender>>)>>,
}

impl LogStore {
    /// Opens (creating if needed) the store in `root`, stamping ingestion times with the
    /// system clock.
    pub fn open(root: &Path, limits: LogLimits) -> Result<Self, LogError> {
        Self::open_with_clock(root, limits, Arc::new(SystemClock))
    }

    /// Like [`LogStore::open`], with ingestion and creation times taken from `clock`.
    pub fn open_with_clock(
        root: &Path,
        limits: LogLimits,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LogError> {
        std::fs::create_dir_all(root).map_err(|source| LogError::CreateDir {
            path: root.to_owned(),
            source,
        })?;
        layout::remove_tombstones(root)?;
        for (_, group_dir) in layout::named_dirs(root)? {
            layout::remove_tombstones(&group_dir)?;
        }
        let inner = StoreInner {
            root: root.to_owned(),
            limits,
            clock,
            retention: Mutex::new(()),
            removals: AtomicU64::new(0),
            writers: Mutex::new(Vec::new()),
        };
        Ok(LogStore {
            inner: Arc::new(inner),
        })
    }

    /// Creates (or reopens for append) a stream of a group, creating the group if needed.
    pub fn create_stream(&self, group: &str, stream: &str) -> Result<StreamWriter, LogError> {
        let group_dir = self.inner.root.join(names::encode(group)?);
        let stream_dir = group_dir.join(names::encode(stream)?);
        StreamWriter::open(Arc::clone(&self.inner), group_dir, stream_dir)
    }

    /// Deletes a group with all its streams.
    pub fn delete_group(&self, group: &str) -> Result<(), LogError> {
        let group_dir = self.inner.root.join(names::encode(group)?);
        let removed = layout::remove_tree(&group_dir);
        self.inner.removed_streams();
        if removed? {
            Ok(())
        } else {
            Err(LogError::GroupNotFound {
                group: group.to_owned(),
            })
        }
    }

    /// The directory of a group a reader is about to read, its writers' buffers flushed.
    fn existing_group_dir(&self, group: &str) -> Result<PathBuf, LogError> {
        let group_dir = self.inner.root.join(names::encode(group)?);
        self.inner.flush_writers(&group_dir);
        if group_dir.is_dir() {
            Ok(group_dir)
        } else {
            Err(LogError::GroupNotFound {
                group: group.to_owned(),
            })
        }
    }

    fn existing_stream_dir(&self, group: &str, stream: &str) -> Result<PathBuf, LogError> {
        let stream_dir = self.existing_group_dir(group)?.join(names::encode(stream)?);
        if stream_dir.is_dir() {
            Ok(stream_dir)
        } else {
            Err(LogError::StreamNotFound {
                group: group.to_owned(),
                stream: stream.to_owned(),
            })
        }
    }
}

impl StoreInner {
    fn register_writer(&self, group_dir: PathBuf, appender: Weak<Mutex<Appender>>) {
        let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        writers.retain(|(_, writer)| writer.strong_count() > 0);
        writers.push((group_dir, appender));
    }

    /// Writes out what the group's writers buffered. A failure is the writer's to report (its
    /// own next flush meets it); the reader reads what is on disk.
    fn flush_writers(&self, group_dir: &Path) {
        let writers: Vec<_> = self
            .writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(dir, _)| dir == group_dir)
            .filter_map(|(_, writer)| writer.upgrade())
            .collect();
        for appender in writers {
            let _ = writer::lock(&appender).flush();
        }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().as_millisecond()
    }

    /// How many times the store deleted streams so far.
    fn removals(&self) -> u64 {
        self.removals.load(Ordering::Acquire)
    }

    /// Streams were deleted (or may have been, after a failure halfway).
    fn removed_streams(&self) {
        self.removals.fetch_add(1, Ordering::Release);
    }

    /// Size of one stream segment: a stream keeps two, the current one and the previous one.
    fn segment_cap(&self) -> u64 {
        (self.limits.max_stream_bytes / 2).max(1)
    }

    fn group_check_interval(&self) -> u64 {
        (self.limits.max_group_bytes / 8).clamp(1, MAX_GROUP_CHECK_INTERVAL)
    }

    /// Keeps the group under its cap, sparing the stream being written. A failure is logged
    /// rather than returned: it must not cost the event being appended.
    fn enforce_group_cap(&self, group_dir: &Path, writing: &Path) {
        // Another writer checking right now covers this one's bytes too, or the next check will.
        let _guard = match self.retention.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let max_bytes = self.limits.max_group_bytes;
        let enforced = retention::enforce_group_cap(group_dir, max_bytes, writing);
        if enforced.as_ref().is_ok_and(|&removed| removed == 0) {
            return;
        }
        self.removed_streams();
        if let Err(error) = enforced {
            tracing::warn!(error = %error, group = %group_dir.display(), "log group cap check failed");
        }
    }
}

fn in_time_range(start_ms: Option<i64>, end_ms: Option<i64>, timestamp_ms: i64) -> bool {
    start_ms.is_none_or(|start| timestamp_ms >= start)
        && end_ms.is_none_or(|end| timestamp_ms < end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GROUP, STREAM_A, STREAM_B, TestStore};

    #[test]
    fn delete_group_removes_everything() {
        let test = TestStore::new(LogLimits::default());
        test.write(&[(STREAM_A, 1, "a"), (STREAM_B, 2, "b")]);
        test.store
            .create_stream("/aws/lambda/kept", STREAM_A)
            .unwrap();

        test.store.delete_group(GROUP).unwrap();

        let groups: Vec<String> = test
            .store
            .groups()
            .unwrap()
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(groups, ["/aws/lambda/kept"]);
        let left: Vec<_> = std::fs::read_dir(test.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, [names::encode("/aws/lambda/kept").unwrap().as_str()]);
        let filter = test.store.filter(GROUP, &FilterQuery::default());
        assert!(matches!(filter, Err(LogError::GroupNotFound { .. })));
        let again = test.store.delete_group(GROUP);
        assert!(matches!(again, Err(LogError::GroupNotFound { .. })));
    }

    #[test]
    fn reopening_the_store_keeps_streams_and_clears_tombstones() {
        let test = TestStore::new(LogLimits::default());
        test.write(&[(STREAM_A, 1, "a")]);
        let tombstone = test.dir.path().join(".deleting-1-1");
        std::fs::create_dir_all(tombstone.join("stream")).unwrap();

        let reopened = LogStore::open(test.dir.path(), LogLimits::default()).unwrap();

        assert!(!tombstone.exists());
        let page = reopened.filter(GROUP, &FilterQuery::default()).unwrap();
        assert_eq!(page.events.len(), 1);
    }

    #[test]
    fn rejects_names_it_cannot_store() {
        let test = TestStore::new(LogLimits::default());
        for (group, stream) in [("", STREAM_A), (GROUP, ""), (GROUP, &"/".repeat(100))] {
            let created = test.store.create_stream(group, stream);
            assert!(
                matches!(created, Err(LogError::InvalidName { .. })),
                "{group:?} {stream:?}"
            );
        }
    }

    #[test]
    fn store_is_shareable_and_writers_are_sendable() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<LogStore>();
        send::<StreamWriter>();
    }
}
