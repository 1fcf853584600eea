//! Asynchronous invocation in the control plane: accepting an `Event` invoke into the durable
//! queue, running each attempt for the dispatcher (`dispatch::Invoker`) through the admission
//! of synchronous invokes, handing invocation records to Lambda function destinations
//! (`dispatch::Destinations`), and what `flint status` and the metrics show of the queue.
//!
//! Invariant: an event is accepted only once it is durable, and only for a function and
//! qualifier that exist when it arrives; every attempt resolves the qualifier again, so an alias
//! moved in between runs its new version.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dispatch::{AttemptOutcome, DeliveryError, FunctionResponse, MetricsSnapshot};
use jiff::Timestamp;
use model::function::LATEST;
use model::{FunctionRef, Scope};
use store::{ClaimedEvent, NewEvent, QueueStats};

use crate::resolve::Target;
use crate::{ControlError, ControlPlane};

/// The asynchronous events of one function (or of all), for `flint status` and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AsyncEventStatus {
    /// Events waiting for their next attempt.
    pub queued: u64,
    /// Events with an attempt running (or whose dispatcher died and whose lease has not ended).
    pub in_flight: u64,
    /// Events that ended in failure since the server started.
    pub failed: u64,
    /// How long the oldest event still in the queue has been there.
    pub oldest_age: Option<Duration>,
}

impl ControlPlane {
    /// Accepts an `Event` invocation of `target`, which the caller found runnable: returns once
    /// the event is durable, so a 202 never names an event a crash can lose.
    pub(crate) async fn enqueue(
        &self,
        scope: &Scope,
        target: &Target,
        request_id: String,
        payload: Bytes,
        trace_id: Option<String>,
    ) -> Result<(), ControlError> {
        let event = NewEvent {
            request_id,
            function: target.name.clone(),
            qualifier: target
                .qualifier
                .clone()
                .unwrap_or_else(|| LATEST.to_owned()),
            region: scope.region.clone(),
            trace_id,
            payload,
            received_at: self.inner.clock.now(),
        };
        self.inner
            .queue
            .enqueue(&event)
            .await
            .map_err(ControlError::Store)?;
        Ok(())
    }

    /// The queued, running and failed asynchronous events of `function`.
    pub(crate) async fn async_status(
        &self,
        function: &str,
    ) -> Result<AsyncEventStatus, ControlError> {
        let stats = self
            .inner
            .queue
            .stats(Some(function))
            .await
            .map_err(ControlError::Store)?;
        let failed = self.inner.queue.metrics().failed_of(function);
        Ok(status(stats, failed, self.inner.clock.now()))
    }

    /// The queued and running asynchronous events of every function; `failed` counts every
    /// event that failed since the server started.
    pub async fn async_totals(&self) -> Result<AsyncEventStatus, ControlError> {
        let stats = self
            .inner
            .queue
            .stats(None)
            .await
            .map_err(ControlError::Store)?;
        Ok(status(
            stats,
            self.async_metrics().failed,
            self.inner.clock.now(),
        ))
    }

    /// The counters of asynchronous invocations since the server started.
    pub fn async_metrics(&self) -> MetricsSnapshot {
        self.inner.queue.metrics().snapshot()
    }
}

fn status(stats: QueueStats, failed: u64, now: Timestamp) -> AsyncEventStatus {
    AsyncEventStatus {
        queued: stats.queued,
        in_flight: stats.in_flight,
        failed,
        // A clock that stepped back makes the age zero, not negative.
        oldest_age: stats
            .oldest_received_at
            .map(|received| Duration::try_from(now.duration_since(received)).unwrap_or_default()),
    }
}

#[async_trait::async_trait]
impl dispatch::Invoker for ControlPlane {
    async fn invoke(&self, event: &ClaimedEvent) -> AttemptOutcome {
        let scope = self.scope(&event.region);
        let target = Target {
            name: event.function.clone(),
            qualifier: Some(event.qualifier.clone()),
        };
        let runnable = match self.runnable(&scope, &target).await {
            Ok(runnable) => runnable,
            Err(ControlError::FunctionNotFound { arn } | ControlError::AliasNotFound { arn }) => {
                return AttemptOutcome::FunctionNotFound {
                    reason: format!("{arn} does not exist"),
                };
            }
            Err(error) => {
                return AttemptOutcome::SystemError {
                    reason: error_chain(&error),
                };
            }
        };
        // Held until the function answered, as for a synchronous invoke.
        let _permit = match self.admit(&event.function) {
            Ok(permit) => permit,
            Err(throttled) if throttled.zero_reserved => {
                return AttemptOutcome::ZeroReservedConcurrency;
            }
            Err(throttled) => {
                return AttemptOutcome::Throttled {
                    reason: throttled.reason.reason().to_owned(),
                };
            }
        };
        let request = pool::InvokeRequest {
            config: Arc::clone(&runnable.config),
            code_dir: runnable.code_dir.clone(),
            opt_dir: runnable.opt_dir.clone(),
            request_id: event.request_id.clone(),
            payload: event.payload.clone(),
            invoked_arn: invoked_arn(&scope, event),
            trace_id: event.trace_id.clone(),
            // Lambda passes a client context to synchronous invocations only.
            client_context: None,
            cognito_identity: None,
            want_tail: false,
        };
        match self.inner.pool.invoke(request).await {
            Ok(result) => AttemptOutcome::Ran(FunctionResponse {
                executed_version: result.executed_version,
                body: result.body,
                function_error: result.function_error.map(str::to_owned),
                error_type: result.error_type,
            }),
            Err(pool::PoolError::Throttled { function }) => AttemptOutcome::Throttled {
                reason: error_chain(&self.scaling_throttle(&function)),
            },
            Err(error) => AttemptOutcome::SystemError {
                reason: error_chain(&error),
            },
        }
    }
}

/// The ARN the function sees as invoked: the queue keeps an unqualified invoke as `$LATEST`, and
/// most callers invoke unqualified, so `$LATEST` shows as the unqualified ARN.
fn invoked_arn(scope: &Scope, event: &ClaimedEvent) -> String {
    if event.qualifier == LATEST {
        scope.function_arn(&event.function)
    } else {
        scope.qualified_arn(&event.function, &event.qualifier)
    }
}

#[async_trait::async_trait]
impl dispatch::Destinations for ControlPlane {
    async fn deliver(&self, destination: &str, record: Bytes) -> Result<(), DeliveryError> {
        let failed = |reason: String| DeliveryError {
            destination: destination.to_owned(),
            reason,
        };
        let (scope, target) = self
            .lambda_destination(destination)
            .map_err(|error| failed(error_chain(&error)))?;
        // The destination must exist now; its invocation then goes through the queue like any
        // `Event` invoke, with its own request id.
        self.runnable(&scope, &target)
            .await
            .map_err(|error| failed(error_chain(&error)))?;
        self.enqueue(&scope, &target, model::ids::request_id(), record, None)
            .await
            .map_err(|error| failed(error_chain(&error)))
    }
}

impl ControlPlane {
    /// The function a Lambda destination ARN names, in the region the ARN names. The event
    /// invoke configuration checked the ARN when it was stored; this checks it again because the
    /// queue outlives configurations.
    fn lambda_destination(&self, arn: &str) -> Result<(Scope, Target), ControlError> {
        let parsed = FunctionRef::parse(arn)
            .ok()
            .filter(|f| f.account.as_deref() == Some(self.account_id()))
            .and_then(|f| Some((f.region?, f.name, f.qualifier)));
        let Some((region, name, qualifier)) = parsed else {
            return Err(ControlError::FunctionNotFound {
                arn: arn.to_owned(),
            });
        };
        Ok((self.scope(&region), Target { name, qualifier }))
    }
}

/// An error with its causes, for one log line.
fn error_chain(error: &dyn std::error::Error) -> String {
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
mod tests {
    use super::*;

    fn event(qualifier: &str) -> ClaimedEvent {
        ClaimedEvent {
            claim: store::Claim { id: 1, token: 1 },
            request_id: "r".into(),
            function: "f".into(),
            qualifier: qualifier.into(),
            region: "eu-west-1".into(),
            trace_id: None,
            payload: Bytes::from_static(b"{}"),
            received_at: Timestamp::UNIX_EPOCH,
            attempts: 0,
            backoffs: 0,
            next_attempt_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_invoked_arn_is_qualified_unless_latest() {
        let scope = Scope {
            region: "eu-west-1".into(),
            account: "000000000000".into(),
        };
        let arn = "arn:aws:lambda:eu-west-1:000000000000:function:f";
        assert_eq!(invoked_arn(&scope, &event("$LATEST")), arn);
        assert_eq!(invoked_arn(&scope, &event("3")), format!("{arn}:3"));
        assert_eq!(invoked_arn(&scope, &event("live")), format!("{arn}:live"));
    }

    #[test]
    fn queue_counts_and_failures_make_the_status() {
        let stats = QueueStats {
            queued: 3,
            in_flight: 1,
            oldest_received_at: Some(Timestamp::from_millisecond(1_000).unwrap()),
        };
        let now = Timestamp::from_millisecond(3_500).unwrap();
        assert_eq!(
            status(stats, 2, now),
            AsyncEventStatus {
                queued: 3,
                in_flight: 1,
                failed: 2,
                oldest_age: Some(Duration::from_millis(2_500)),
            }
        );
        let earlier = Timestamp::from_millisecond(500).unwrap();
        assert_eq!(status(stats, 0, earlier).oldest_age, Some(Duration::ZERO));
        let empty = status(QueueStats::default(), 0, now);
        assert_eq!(empty.oldest_age, None);
    }
}
