//! Shared helpers of the unit tests: a store in a temporary directory with a clock the test
//! sets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;
use model::Clock;
use tempfile::TempDir;

use crate::{FilterQuery, LogLimits, LogStore};

pub(crate) const GROUP: &str = "/aws/lambda/fn";
pub(crate) const STREAM_A: &str = "2026/09/14/[$LATEST]aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub(crate) const STREAM_B: &str = "2026/09/14/[$LATEST]bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[derive(Debug, Default)]
pub(crate) struct ManualClock(AtomicI64);

impl ManualClock {
    pub(crate) fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.0.load(Ordering::Relaxed)).unwrap()
    }
}

#[derive(Debug)]
pub(crate) struct TestStore {
    pub(crate) dir: TempDir,
    pub(crate) store: LogStore,
    pub(crate) clock: Arc<ManualClock>,
}

impl TestStore {
    pub(crate) fn new(limits: LogLimits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::default());
        let store = LogStore::open_with_clock(dir.path(), limits, clock.clone()).unwrap();
        TestStore { dir, store, clock }
    }

    /// Appends `(stream, timestamp_ms, message)` events to `GROUP`, each stream's in the order
    /// given, with the clock at the event's timestamp, and flushes.
    pub(crate) fn write(&self, events: &[(&str, i64, &str)]) {
        let mut writers = BTreeMap::new();
        for &(stream, timestamp_ms, message) in events {
            self.clock.set(timestamp_ms);
            let writer = writers
                .entry(stream)
                .or_insert_with(|| self.store.create_stream(GROUP, stream).unwrap());
            writer.append(timestamp_ms, message).unwrap();
        }
        for writer in writers.values_mut() {
            writer.flush().unwrap();
        }
    }

    /// The messages `filter` returns for `query`, every page of its token chain.
    pub(crate) fn filter_all(&self, query: &FilterQuery) -> Vec<String> {
        let mut query = query.clone();
        let mut messages = Vec::new();
        loop {
            let page = self.store.filter(GROUP, &query).unwrap();
            messages.extend(page.events.into_iter().map(|event| event.message));
            match page.next_token {
                Some(token) => query.next_token = Some(token),
                None => return messages,
            }
        }
    }
}
