//! The dispatcher: a loop that claims due events, runs each (bounded in number) through the
//! invoker and the retry rules, and keeps the leases of running attempts alive.
//!
//! Delivery is at least once. An event leaves the queue only after its outcome was written
//! (rescheduled, or completed after its record reached the destination); a process that dies at
//! any point leaves the event leased, and it is claimed again when the lease ends. The lease is
//! short and renewed while the attempt runs, so a crash delays events by one lease at most, while
//! an attempt may run as long as the function's timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use model::Clock;
use store::{Claim, ClaimedEvent, EventInvokeConfigStore, NextAttempt, StoreError};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::attempt;
use crate::policy::{EventProgress, RetrySchedule, later};
use crate::queue::AsyncQueue;
use crate::seams::{Destinations, Invoker};

/// How long the loop waits after the queue failed before it tries again.
const PAUSE_AFTER_ERROR: Duration = Duration::from_secs(1);

/// How the dispatcher runs.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatcherSettings {
    /// The account in the ARNs of destination records (12 digits).
    pub account_id: String,
    /// Most attempts running at once, over all functions.
    pub concurrency: usize,
    /// How long a claim holds an event. Renewed every third of it while the attempt runs; after
    /// a crash, the events that were running come back this much later.
    pub lease: Duration,
    /// The delays between attempts.
    pub schedule: RetrySchedule,
    /// The longest sleep without a new event, in case another process changed the queue.
    pub poll_interval: Duration,
}

impl DispatcherSettings {
    /// Defaults for the server: 64 attempts at once, 15 s leases, Lambda's retry delays, a look
    /// at the queue at least every 10 s.
    pub fn new(account_id: impl Into<String>) -> Self {
        DispatcherSettings {
            account_id: account_id.into(),
            concurrency: 64,
            lease: Duration::from_secs(15),
            schedule: RetrySchedule::default(),
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// Everything the dispatcher works with.
#[derive(Debug)]
pub struct DispatcherParts {
    pub queue: AsyncQueue,
    pub configs: Arc<dyn EventInvokeConfigStore>,
    pub invoker: Arc<dyn Invoker>,
    pub destinations: Arc<dyn Destinations>,
    pub clock: Arc<dyn Clock>,
    pub settings: DispatcherSettings,
}

/// A running dispatcher. Dropping it stops the loop as `shutdown(Duration::ZERO)` would, without
/// waiting.
#[derive(Debug)]
pub struct Dispatcher {
    /// `Some(grace)` asks the loop to stop, waiting that long for attempts in flight.
    stop: watch::Sender<Option<Duration>>,
    task: JoinHandle<()>,
}

/// What the loop and its attempts share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) queue: AsyncQueue,
    pub(crate) configs: Arc<dyn EventInvokeConfigStore>,
    pub(crate) invoker: Arc<dyn Invoker>,
    pub(crate) destinations: Arc<dyn Destinations>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: DispatcherSettings,
    /// Claims of the attempts running now, with the counts each event had when claimed.
    in_flight: Mutex<HashMap<Claim, EventProgress>>,
}

impl Dispatcher {
    /// Starts the loop on the current tokio runtime.
    pub fn start(parts: DispatcherParts) -> Self {
        let shared = Arc::new(Shared {
            queue: parts.queue,
            configs: parts.configs,
            invoker: parts.invoker,
            destinations: parts.destinations,
            clock: parts.clock,
            settings: parts.settings,
            in_flight: Mutex::new(HashMap::new()),
        });
        let (stop, stopped) = watch::channel(None);
        let task = tokio::spawn(run(shared, stopped));
        Dispatcher { stop, task }
    }

    /// Stops claiming, waits up to `grace` for the attempts in flight, then abandons the rest and
    /// makes their events due again at once, so the next start runs them without waiting for
    /// their leases.
    pub async fn shutdown(self, grace: Duration) {
        // The loop may have ended already (it never does on its own); then there is no one to tell.
        let _ = self.stop.send(Some(grace));
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the async dispatcher ended abnormally");
        }
    }

    /// Stops the loop and every attempt at once, leaving their leases as a crash would.
    #[cfg(test)]
    pub(crate) fn crash(self) {
        self.task.abort();
    }
}

impl Shared {
    /// Counts the event as running until the returned guard is dropped, however its task ends.
    fn track(self: &Arc<Self>, event: &ClaimedEvent) -> Running {
        self.in_flight()
            .insert(event.claim, EventProgress::of(event));
        Running {
            shared: Arc::clone(self),
            claim: event.claim,
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<Claim, EventProgress>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An attempt in flight: its lease is renewed until this is dropped.
struct Running {
    shared: Arc<Shared>,
    claim: Claim,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.in_flight().remove(&self.claim);
    }
}

/// Aborts the task when dropped, so the heartbeat ends with the loop however the loop ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<Option<Duration>>) {
    let _heartbeat = AbortOnDrop(tokio::spawn(heartbeat(Arc::clone(&shared))));
    let permits = Arc::new(Semaphore::new(shared.settings.concurrency.max(1)));
    let mut attempts = JoinSet::new();
    tracing::info!(
        concurrency = shared.settings.concurrency,
        "async dispatcher started"
    );
    loop {
        // Finished attempts are only reaped here; their results are already written.
        while let Some(joined) = attempts.try_join_next() {
            if let Err(error) = joined {
                tracing::error!(
                    %error,
                    "an async attempt panicked; its event returns when its lease ends"
                );
            }
        }
        let first = tokio::select! {
            biased;
            _ = stop.changed() => break,
            permit = Arc::clone(&permits).acquire_owned() => permit,
        };
        // The semaphore is never closed.
        let Ok(first) = first else { break };
        let now = shared.clock.now();
        let lease_until = later(now, shared.settings.lease);
        // Only this loop takes permits, so as many as are free now stay free for the batch.
        let limit = 1 + permits.available_permits();
        let claimed = match shared.queue.events.claim_due(now, lease_until, limit).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "could not claim async events");
                drop(first);
                if sleep_or_stop(PAUSE_AFTER_ERROR, &shared, &mut stop).await {
                    break;
                }
                continue;
            }
        };
        if claimed.is_empty() {
            drop(first);
            if wait_for_work(&shared, &mut stop).await {
                break;
            }
            continue;
        }
        let mut first = Some(first);
        for event in claimed {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match Arc::clone(&permits).acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let running = shared.track(&event);
            let shared = Arc::clone(&shared);
            attempts.spawn(async move {
                attempt::process(&shared, event).await;
                drop(running);
                drop(permit);
            });
        }
    }

    let grace = stop.borrow().unwrap_or(Duration::ZERO);
    let finished = tokio::time::timeout(grace, async {
        while attempts.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        // Taken before the abort, which drops the attempts' `Running` guards.
        let abandoned: Vec<(Claim, EventProgress)> = shared
            .in_flight()
            .iter()
            .map(|(claim, progress)| (*claim, *progress))
            .collect();
        attempts.shutdown().await;
        release_abandoned(&shared, abandoned).await;
    }
    tracing::info!("async dispatcher stopped");
}

/// Sleeps until the next event is due, a new event arrives, or the poll interval passed.
/// Returns true when asked to stop.
async fn wait_for_work(shared: &Shared, stop: &mut watch::Receiver<Option<Duration>>) -> bool {
    let now = shared.clock.now();
    let poll = later(now, shared.settings.poll_interval);
    let wake_at = match shared.queue.events.next_due().await {
        Ok(Some(due)) => due.min(poll),
        Ok(None) => poll,
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "could not read when the next async event is due");
            later(now, PAUSE_AFTER_ERROR)
        }
    };
    let sleep = Duration::try_from(wake_at.duration_since(shared.clock.now())).unwrap_or_default();
    tokio::select! {
        biased;
        _ = stop.changed() => true,
        () = shared.queue.arrived.notified() => false,
        () = tokio::time::sleep(sleep) => false,
    }
}

/// Returns true when asked to stop before `pause` passed.
async fn sleep_or_stop(
    pause: Duration,
    shared: &Shared,
    stop: &mut watch::Receiver<Option<Duration>>,
) -> bool {
    tokio::select! {
        biased;
        _ = stop.changed() => true,
        () = shared.queue.arrived.notified() => false,
        () = tokio::time::sleep(pause) => false,
    }
}

/// Renews the leases of running attempts every third of a lease.
async fn heartbeat(shared: Arc<Shared>) {
    // A zero lease would make this loop spin.
    let period = (shared.settings.lease / 3).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(period).await;
        let claims: Vec<Claim> = shared.in_flight().keys().copied().collect();
        if claims.is_empty() {
            continue;
        }
        let lease_until = later(shared.clock.now(), shared.settings.lease);
        if let Err(error) = shared
            .queue
            .events
            .extend_leases(&claims, lease_until)
            .await
        {
            tracing::warn!(
                error = %error_chain(&error),
                events = claims.len(),
                "could not renew the leases of running async events; they may run twice"
            );
        }
    }
}

/// Makes the events of attempts abandoned at shutdown due at once, with the counts they were
/// claimed with: the attempt may have run, and runs again, as after a crash.
async fn release_abandoned(shared: &Shared, abandoned: Vec<(Claim, EventProgress)>) {
    let now = shared.clock.now();
    for (claim, progress) in abandoned {
        let next = NextAttempt {
            at: now,
            attempts: progress.attempts,
            backoffs: progress.backoffs,
        };
        match shared.queue.events.retry_at(claim, &next).await {
            Ok(()) => tracing::info!(event = claim.id, "released an unfinished async event"),
            // The attempt finished between the end of the grace period and the abort.
            Err(StoreError::LeaseLost { .. }) => {}
            Err(error) => tracing::warn!(
                event = claim.id,
                error = %error_chain(&error),
                "could not release an unfinished async event; it returns when its lease ends"
            ),
        }
    }
}

/// An error with its causes, for one log line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
