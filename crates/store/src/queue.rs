//! The durable queue of asynchronous invocations: what goes in, what a dispatcher claims, and the
//! `EventQueue` trait every backend implements.
//!
//! An event is due once `next_attempt_at` has passed. Claiming leases it: until the lease ends no
//! other claim sees it, and a claimer that dies without completing or rescheduling it simply lets
//! the lease run out, after which the event is claimed again. Each claim gets a new token; only the
//! holder of the newest claim may complete, reschedule or extend the event, so a claimer whose
//! lease ran out cannot undo the work of the one that claimed the event after it.
//!
//! Events name their function but do not belong to it: deleting a function leaves its queued
//! events in place (a large queue never slows a delete down), and the dispatcher discards them,
//! with a warning, when they come due and the function is not there.

use bytes::Bytes;
use jiff::Timestamp;

use crate::StoreError;

/// An event accepted by `Invoke` with `InvocationType=Event`, as the queue stores it. It is due at
/// `received_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The request id the caller got back with 202; the function sees it on every attempt.
    pub request_id: String,
    /// The function's name (not an ARN).
    pub function: String,
    /// The qualifier the event was sent to: `$LATEST`, a version number or an alias name. It
    /// selects the event invoke configuration and, for an alias, is resolved on every attempt.
    pub qualifier: String,
    /// The region the caller invoked in, for the ARNs of destination records.
    pub region: String,
    /// `X-Amzn-Trace-Id` of the Invoke request, if any.
    pub trace_id: Option<String>,
    pub payload: Bytes,
    /// When flint accepted the event; its age, and so `MaximumEventAgeInSeconds`, counts from here.
    /// The queue keeps it to the millisecond.
    pub received_at: Timestamp,
}

/// The right to finish one claim of one event: the event's id and the token of that claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The event's id, unique for the life of the queue (ids are never reused).
    pub id: i64,
    /// Which claim of the event this is; a later claim has a greater token.
    pub token: i64,
}

/// An event a dispatcher claimed, with everything an attempt and its decision need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedEvent {
    pub claim: Claim,
    pub request_id: String,
    pub function: String,
    pub qualifier: String,
    pub region: String,
    pub trace_id: Option<String>,
    pub payload: Bytes,
    /// To the millisecond.
    pub received_at: Timestamp,
    /// Attempts that ran the function and failed (error, timeout, crash); they count against
    /// `MaximumRetryAttempts`.
    pub attempts: u32,
    /// Retries in a row after throttles or system errors, which set the next back-off; they do not
    /// count against `MaximumRetryAttempts`.
    pub backoffs: u32,
    /// When the event became due, to the millisecond.
    pub next_attempt_at: Timestamp,
}

/// When to try an event again and the counts it carries to that attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextAttempt {
    /// Stored to the millisecond.
    pub at: Timestamp,
    pub attempts: u32,
    pub backoffs: u32,
}

/// How many events wait in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Events not leased: waiting to be due, or due and waiting for a dispatcher.
    pub queued: u64,
    /// Events leased by a dispatcher: an attempt is running, or its claimer died and the lease has
    /// not run out yet.
    pub in_flight: u64,
    /// When the oldest event still in the queue was received.
    pub oldest_received_at: Option<Timestamp>,
}

/// The durable queue of asynchronous invocations. Every call is one transaction, durable once it
/// returns `Ok`. Times are kept to the millisecond.
#[async_trait::async_trait]
pub trait EventQueue: Send + Sync + std::fmt::Debug {
    /// Stores the event and returns its id. Once this returns `Ok` the event survives a crash, so
    /// `Invoke` answers 202 only after it.
    async fn enqueue(&self, event: &NewEvent) -> Result<i64, StoreError>;

    /// Claims up to `limit` events due at `now` (`next_attempt_at <= now`, and not leased or with a
    /// lease that ended by `now`), earliest due first, and leases them until `lease_until`.
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimedEvent>, StoreError>;

    /// Removes the event: it succeeded, or its failure went to the failure path.
    /// `LeaseLost` if the event was claimed again since (or is gone), and then nothing changes.
    async fn complete(&self, claim: Claim) -> Result<(), StoreError>;

    /// Ends the lease and makes the event due again at `next.at` with `next`'s counts.
    /// `LeaseLost` if the event was claimed again since (or is gone), and then nothing changes.
    async fn retry_at(&self, claim: Claim, next: &NextAttempt) -> Result<(), StoreError>;

    /// Moves the leases of `claims` to `lease_until`, so attempts longer than a lease keep their
    /// events. Claims that were lost are skipped; they show up as `LeaseLost` when finished.
    async fn extend_leases(
        &self,
        claims: &[Claim],
        lease_until: Timestamp,
    ) -> Result<(), StoreError>;

    /// Counts the events of `function`, or of every function.
    async fn queue_stats(&self, function: Option<&str>) -> Result<QueueStats, StoreError>;

    /// The earliest time an event becomes claimable: the earliest `next_attempt_at` of an event
    /// without a lease, or the earliest end of a lease (a claimer may have died). `None` when the
    /// queue is empty. A dispatcher sleeps until then unless woken by a new event.
    async fn next_due(&self) -> Result<Option<Timestamp>, StoreError>;
}
