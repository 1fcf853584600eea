//! Counters of asynchronous invocations since the server started, for `flint status` and the
//! metrics endpoint. In memory only: the queue itself is the durable record of what is pending.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};

/// Updated by the queue handle and the dispatcher; read with `snapshot`.
#[derive(Debug, Default)]
pub struct AsyncMetrics {
    received: AtomicU64,
    attempts: AtomicU64,
    retried: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    discarded: AtomicU64,
    delivered: AtomicU64,
    delivery_failures: AtomicU64,
    finished_age_ms_sum: AtomicU64,
    finished_age_ms_max: AtomicU64,
    failed_by_function: Mutex<BTreeMap<String, u64>>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Events accepted into the queue (by `Invoke` and by destinations).
    pub received: u64,
    /// Attempts started, including throttled ones.
    pub attempts: u64,
    /// Events scheduled for another attempt.
    pub retried: u64,
    /// Events that ended in success.
    pub succeeded: u64,
    /// Events that ended in failure: retries exhausted, too old, reserved concurrency 0.
    pub failed: u64,
    /// Failed events without an `OnFailure` destination to take their record (part of `failed`).
    pub dropped: u64,
    /// Events whose function or qualifier was gone when they were due.
    pub discarded: u64,
    /// Records handed to destinations.
    pub delivered: u64,
    /// Records a destination refused; the event is finished anyway, as on Lambda.
    pub delivery_failures: u64,
    /// Sum and maximum of the age of finished events in milliseconds; the mean is the sum over
    /// `finished()`.
    pub finished_age_ms_sum: u64,
    pub finished_age_ms_max: u64,
}

impl MetricsSnapshot {
    /// Events that left the queue: succeeded, failed or discarded.
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed + self.discarded
    }
}

/// Which way an event finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Succeeded,
    /// Failed; `dropped` when no destination took the record.
    Failed {
        dropped: bool,
    },
    /// Discarded without a decision: the function is gone.
    Discarded,
}

impl AsyncMetrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            received: read(&self.received),
            attempts: read(&self.attempts),
            retried: read(&self.retried),
            succeeded: read(&self.succeeded),
            failed: read(&self.failed),
            dropped: read(&self.dropped),
            discarded: read(&self.discarded),
            delivered: read(&self.delivered),
            delivery_failures: read(&self.delivery_failures),
            finished_age_ms_sum: read(&self.finished_age_ms_sum),
            finished_age_ms_max: read(&self.finished_age_ms_max),
        }
    }

    /// Events of `function` that ended in failure since the server started.
    pub fn failed_of(&self, function: &str) -> u64 {
        let failed = self
            .failed_by_function
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        failed.get(function).copied().unwrap_or(0)
    }

    pub(crate) fn count_received(&self) {
        bump(&self.received);
    }

    pub(crate) fn count_attempt(&self) {
        bump(&self.attempts);
    }

    pub(crate) fn count_retry(&self) {
        bump(&self.retried);
    }

    pub(crate) fn count_delivery(&self, delivered: bool) {
        bump(if delivered {
            &self.delivered
        } else {
            &self.delivery_failures
        });
    }

    /// Counts an event that left the queue, and its age then.
    pub(crate) fn count_finished(
        &self,
        function: &str,
        finish: Finish,
        received_at: Timestamp,
        now: Timestamp,
    ) {
        match finish {
            Finish::Succeeded => bump(&self.succeeded),
            Finish::Failed { dropped } => {
                bump(&self.failed);
                if dropped {
                    bump(&self.dropped);
                }
                let mut failed = self
                    .failed_by_function
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                *failed.entry(function.to_owned()).or_default() += 1;
            }
            Finish::Discarded => bump(&self.discarded),
        }
        let age = now.duration_since(received_at).max(SignedDuration::ZERO);
        let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
        self.finished_age_ms_sum
            .fetch_add(age_ms, Ordering::Relaxed);
        self.finished_age_ms_max
            .fetch_max(age_ms, Ordering::Relaxed);
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    #[test]
    fn finished_events_count_once_with_their_age() {
        let metrics = AsyncMetrics::default();
        metrics.count_received();
        metrics.count_received();
        metrics.count_received();
        metrics.count_finished("f", Finish::Succeeded, at(0), at(1500));
        metrics.count_finished("f", Finish::Failed { dropped: true }, at(0), at(500));
        metrics.count_finished("g", Finish::Failed { dropped: false }, at(0), at(200));
        metrics.count_finished("g", Finish::Discarded, at(1000), at(1100));
        // A clock that stepped back counts as age zero.
        metrics.count_finished("g", Finish::Succeeded, at(5000), at(4000));

        let snapshot = metrics.snapshot();
        assert_eq!(
            snapshot,
            MetricsSnapshot {
                received: 3,
                succeeded: 2,
                failed: 2,
                dropped: 1,
                discarded: 1,
                finished_age_ms_sum: 1500 + 500 + 200 + 100,
                finished_age_ms_max: 1500,
                ..MetricsSnapshot::default()
            }
        );
        assert_eq!(snapshot.finished(), 5);
        assert_eq!(metrics.failed_of("f"), 1);
        assert_eq!(metrics.failed_of("g"), 1);
        assert_eq!(metrics.failed_of("h"), 0);
    }
}
