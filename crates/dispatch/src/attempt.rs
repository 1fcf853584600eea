//! One claimed event from claim to written outcome: check its age, run it, decide with the retry
//! rules, and either reschedule it or hand its record to its destination and complete it.

use model::Scope;
use store::{ClaimedEvent, EventInvokeConfig, StoreError};

use crate::dispatcher::{Shared, error_chain};
use crate::metrics::Finish;
use crate::policy::{self, Condition, Decision, EventProgress, RetryLimits};
use crate::record::InvocationRecord;
use crate::seams::{AttemptOutcome, FunctionResponse};

/// Takes one event through an attempt and writes what follows. Every failure to write leaves the
/// event leased, so it comes back when the lease ends: it may run again, it is never lost.
pub(crate) async fn process(shared: &Shared, event: ClaimedEvent) {
    let config = match shared
        .configs
        .get_event_invoke_config(&event.function, &event.qualifier)
        .await
    {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(
                request_id = %event.request_id,
                function = %event.function,
                error = %error_chain(&error),
                "could not read the event invoke config; the event returns when its lease ends"
            );
            return;
        }
    };
    let limits = RetryLimits::from_config(config.as_ref());
    let progress = EventProgress::of(&event);

    let (decision, outcome) = match policy::before_attempt(&progress, &limits, shared.clock.now()) {
        Some(decision) => (decision, None),
        None => {
            shared.queue.metrics.count_attempt();
            let outcome = shared.invoker.invoke(&event).await;
            let kind = match outcome.classify() {
                Ok(kind) => kind,
                Err(reason) => {
                    discard(shared, &event, reason).await;
                    return;
                }
            };
            let now = shared.clock.now();
            let decision =
                policy::after_attempt(&progress, &limits, &shared.settings.schedule, kind, now);
            (decision, Some(outcome))
        }
    };

    match decision {
        Decision::Retry(next) => {
            log_retry(&event, outcome.as_ref(), next.at);
            match shared.queue.events.retry_at(event.claim, &next).await {
                Ok(()) => shared.queue.metrics.count_retry(),
                Err(error) => not_written(&event, &error),
            }
        }
        Decision::Done {
            condition,
            invoke_count,
        } => {
            let response = outcome.as_ref().and_then(AttemptOutcome::response);
            let ending = Ending {
                condition,
                invoke_count,
                response,
            };
            finish(shared, &event, config.as_ref(), &ending).await;
        }
    }
}

/// How an event ended.
struct Ending<'a> {
    condition: Condition,
    invoke_count: u32,
    response: Option<&'a FunctionResponse>,
}

/// Hands the record to the destination the condition selects, if any, then removes the event.
async fn finish(
    shared: &Shared,
    event: &ClaimedEvent,
    config: Option<&EventInvokeConfig>,
    ending: &Ending<'_>,
) {
    let success = ending.condition.is_success();
    let destination = config.and_then(|c| {
        if success {
            c.on_success.as_deref()
        } else {
            c.on_failure.as_deref()
        }
    });
    let now = shared.clock.now();
    if let Some(destination) = destination {
        deliver(shared, event, destination, ending, now).await;
    }
    if !success {
        tracing::warn!(
            request_id = %event.request_id,
            function = %event.function,
            qualifier = %event.qualifier,
            condition = ending.condition.as_str(),
            attempts = ending.invoke_count,
            on_failure = destination.unwrap_or("none, the event is dropped"),
            "async event failed"
        );
    }
    match shared.queue.events.complete(event.claim).await {
        Ok(()) => {
            let finish = if success {
                Finish::Succeeded
            } else {
                Finish::Failed {
                    dropped: destination.is_none(),
                }
            };
            shared
                .queue
                .metrics
                .count_finished(&event.function, finish, event.received_at, now);
        }
        Err(error) => not_written(event, &error),
    }
}

async fn deliver(
    shared: &Shared,
    event: &ClaimedEvent,
    destination: &str,
    ending: &Ending<'_>,
    now: jiff::Timestamp,
) {
    let scope = Scope {
        region: event.region.clone(),
        account: shared.settings.account_id.clone(),
    };
    let version = ending
        .response
        .map_or(event.qualifier.as_str(), |r| r.executed_version.as_str());
    let function_arn = scope.qualified_arn(&event.function, version);
    let record = InvocationRecord {
        timestamp: now,
        request_id: &event.request_id,
        function_arn: &function_arn,
        condition: ending.condition,
        approximate_invoke_count: ending.invoke_count,
        request_payload: &event.payload,
        response: ending.response,
    };
    let delivered = match record.to_json() {
        Ok(record) => shared.destinations.deliver(destination, record).await,
        Err(error) => {
            tracing::error!(
                request_id = %event.request_id,
                %error,
                "could not write the invocation record"
            );
            shared.queue.metrics.count_delivery(false);
            return;
        }
    };
    match delivered {
        Ok(()) => shared.queue.metrics.count_delivery(true),
        Err(error) => {
            // As on Lambda, a record that cannot be delivered is not retried: the event's
            // outcome is final, and re-running the function would not make the destination work.
            tracing::error!(
                request_id = %event.request_id,
                function = %event.function,
                %destination,
                %error,
                "could not deliver the invocation record"
            );
            shared.queue.metrics.count_delivery(false);
        }
    }
}

/// Removes an event whose function or qualifier is gone.
async fn discard(shared: &Shared, event: &ClaimedEvent, reason: &str) {
    tracing::warn!(
        request_id = %event.request_id,
        function = %event.function,
        qualifier = %event.qualifier,
        %reason,
        "discarding async event: its function is gone"
    );
    match shared.queue.events.complete(event.claim).await {
        Ok(()) => shared.queue.metrics.count_finished(
            &event.function,
            Finish::Discarded,
            event.received_at,
            shared.clock.now(),
        ),
        Err(error) => not_written(event, &error),
    }
}

fn log_retry(event: &ClaimedEvent, outcome: Option<&AttemptOutcome>, at: jiff::Timestamp) {
    let why = match outcome {
        Some(AttemptOutcome::Ran(response)) => response
            .error_type
            .as_deref()
            .or(response.function_error.as_deref())
            .unwrap_or("function error"),
        Some(AttemptOutcome::Throttled { reason } | AttemptOutcome::SystemError { reason }) => {
            reason.as_str()
        }
        _ => "unknown",
    };
    tracing::debug!(
        request_id = %event.request_id,
        function = %event.function,
        %at,
        %why,
        "async event will be retried"
    );
}

/// Logs an outcome the queue did not take; the event comes back when its lease ends.
fn not_written(event: &ClaimedEvent, error: &StoreError) {
    match error {
        StoreError::LeaseLost { .. } => tracing::warn!(
            request_id = %event.request_id,
            function = %event.function,
            "async event was claimed again while its attempt ran; it may run twice"
        ),
        _ => tracing::error!(
            request_id = %event.request_id,
            function = %event.function,
            error = %error_chain(error),
            "could not write the outcome of an async event; it returns when its lease ends"
        ),
    }
}
