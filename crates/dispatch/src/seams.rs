//! What the dispatcher asks of the rest of flint: running an attempt (`Invoker`) and handing a
//! record to a destination (`Destinations`). The control plane implements both.

use bytes::Bytes;
use store::ClaimedEvent;

use crate::policy::Outcome;

/// What the function answered to an attempt that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionResponse {
    /// The version that ran: `$LATEST` or a number (an alias resolves to one).
    pub executed_version: String,
    /// The runtime's response, or the error document when `function_error` is set.
    pub body: Bytes,
    /// `Unhandled` (or `Handled`) when the attempt failed: error, timeout, crash, init failure.
    pub function_error: Option<String>,
    /// The error type (`Sandbox.Timedout`, `Runtime.ExitError`, ...), for logs.
    pub error_type: Option<String>,
}

/// What came of one attempt to run an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The function ran, successfully or not (see `FunctionResponse::function_error`).
    Ran(FunctionResponse),
    /// Admission refused the attempt for now: account or reserved concurrency is used up.
    Throttled { reason: String },
    /// The function has reserved concurrency 0: the event fails without retries.
    ZeroReservedConcurrency,
    /// flint could not run the attempt (an environment did not start, the function is not
    /// active yet, the server is stopping); retried with back-off like a throttle.
    SystemError { reason: String },
    /// The function or the qualifier no longer exists: the event is discarded.
    FunctionNotFound { reason: String },
}

impl AttemptOutcome {
    /// The outcome as the retry rules see it, or why the function is gone.
    pub(crate) fn classify(&self) -> Result<Outcome, &str> {
        Ok(match self {
            AttemptOutcome::Ran(response) if response.function_error.is_some() => {
                Outcome::FunctionError
            }
            AttemptOutcome::Ran(_) => Outcome::Success,
            AttemptOutcome::Throttled { .. } => Outcome::Throttled,
            AttemptOutcome::ZeroReservedConcurrency => Outcome::ZeroReservedConcurrency,
            AttemptOutcome::SystemError { .. } => Outcome::SystemError,
            AttemptOutcome::FunctionNotFound { reason } => return Err(reason),
        })
    }

    /// The function's response, if it ran.
    pub(crate) fn response(&self) -> Option<&FunctionResponse> {
        match self {
            AttemptOutcome::Ran(response) => Some(response),
            _ => None,
        }
    }
}

/// Runs attempts of queued events.
#[async_trait::async_trait]
pub trait Invoker: Send + Sync + std::fmt::Debug {
    /// Runs one attempt of `event` as a synchronous invocation of `event.function` at
    /// `event.qualifier`, through the same admission as `RequestResponse` invokes, with
    /// `event.request_id` as the request id the function sees.
    async fn invoke(&self, event: &ClaimedEvent) -> AttemptOutcome;
}

/// Why a record did not reach its destination.
#[derive(Debug, thiserror::Error)]
#[error("failed to deliver a record to {destination}: {reason}")]
pub struct DeliveryError {
    pub destination: String,
    pub reason: String,
}

/// Hands invocation records to destinations.
#[async_trait::async_trait]
pub trait Destinations: Send + Sync + std::fmt::Debug {
    /// Delivers `record` (the JSON invocation record) to `destination`, an ARN from the event
    /// invoke configuration. For a Lambda function ARN: enqueue an asynchronous invocation of
    /// that function with the record as payload. Returns once the record is durable.
    async fn deliver(&self, destination: &str, record: Bytes) -> Result<(), DeliveryError>;
}
