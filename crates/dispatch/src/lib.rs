//! Asynchronous invocation: the queue handle the Invoke API enqueues through, the dispatcher that
//! runs queued events with Lambda's retry and age rules, and the invocation records it hands to
//! destinations.
//!
//! How it fits: `Invoke` with `InvocationType=Event` calls `AsyncQueue::enqueue` and answers 202
//! once it returned. The `Dispatcher` claims due events from the durable `store::EventQueue`,
//! runs each through an `Invoker` (the control plane, with the admission of synchronous invokes),
//! decides with `policy`, and writes the outcome: another attempt later, or the event completed
//! after its `record` went to the `OnSuccess` / `OnFailure` destination through `Destinations`.
//!
//! Invariants:
//! - an event leaves the queue only after its outcome is written, so delivery is at least once and
//!   a crash at any point loses nothing (a lease brings the event back);
//! - an event keeps its request id across all its attempts;
//! - `policy` and `record` are pure: they take the time as an argument and do no I/O.

mod attempt;
mod dispatcher;
mod metrics;
pub mod policy;
mod queue;
pub mod record;
mod seams;

pub use dispatcher::{Dispatcher, DispatcherParts, DispatcherSettings};
pub use metrics::{AsyncMetrics, MetricsSnapshot};
pub use policy::{Condition, RetrySchedule};
pub use queue::AsyncQueue;
pub use record::InvocationRecord;
pub use seams::{AttemptOutcome, DeliveryError, Destinations, FunctionResponse, Invoker};
