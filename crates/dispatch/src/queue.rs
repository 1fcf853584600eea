//! The queue of asynchronous invocations as the rest of flint uses it: the durable `EventQueue`,
//! the signal that wakes the dispatcher when an event arrives, and the counters.

use std::sync::Arc;

use store::{EventQueue, NewEvent, QueueStats, StoreError};
use tokio::sync::Notify;

use crate::metrics::AsyncMetrics;

/// A cheap, cloneable handle on the queue, shared by the Invoke API, destinations and the
/// dispatcher.
#[derive(Debug, Clone)]
pub struct AsyncQueue {
    pub(crate) events: Arc<dyn EventQueue>,
    pub(crate) arrived: Arc<Notify>,
    pub(crate) metrics: Arc<AsyncMetrics>,
}

impl AsyncQueue {
    pub fn new(events: Arc<dyn EventQueue>) -> Self {
        AsyncQueue {
            events,
            arrived: Arc::new(Notify::new()),
            metrics: Arc::new(AsyncMetrics::default()),
        }
    }

    /// Stores the event durably, then wakes the dispatcher. `Invoke` answers 202 once this
    /// returned `Ok`; on an error nothing was accepted.
    pub async fn enqueue(&self, event: &NewEvent) -> Result<i64, StoreError> {
        let id = self.events.enqueue(event).await?;
        self.metrics.count_received();
        // A stored permit covers a dispatcher that is between a claim and its wait.
        self.arrived.notify_one();
        Ok(id)
    }

    /// Queued and in-flight events of `function`, or of every function.
    pub async fn stats(&self, function: Option<&str>) -> Result<QueueStats, StoreError> {
        self.events.queue_stats(function).await
    }

    /// The counters since the server started.
    pub fn metrics(&self) -> &AsyncMetrics {
        &self.metrics
    }
}
