//! The behaviour every `EventQueue` shares. Times are fixed instants, so nothing here waits.

use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};

use crate::{Claim, ClaimedEvent, EventQueue, NewEvent, NextAttempt, QueueStats, StoreError};

/// Runs every check against `queue`, which must start empty; each check leaves it empty again.
pub async fn run_event_queue(queue: &dyn EventQueue) {
    assert_drained(queue).await;
    enqueue_then_claim_returns_the_event_whole(queue).await;
    claims_take_due_events_earliest_first_up_to_the_limit(queue).await;
    a_lease_hides_the_event_until_it_ends(queue).await;
    retry_at_reschedules_with_new_counts(queue).await;
    extend_leases_keeps_claimed_events_hidden(queue).await;
    complete_removes_the_event_once(queue).await;
    stats_count_queued_and_in_flight_per_function(queue).await;
    next_due_is_the_earliest_claimable_time(queue).await;
    concurrent_claims_never_take_the_same_event(queue).await;
}

/// An event for `function` received `seconds` after the suite's epoch.
pub fn sample_event(request_id: &str, function: &str, seconds: f64) -> NewEvent {
    NewEvent {
        request_id: request_id.to_owned(),
        function: function.to_owned(),
        qualifier: "$LATEST".to_owned(),
        region: "eu-west-1".to_owned(),
        trace_id: Some(format!("Root=1-00000000-{request_id}")),
        payload: Bytes::from(format!(r#"{{"request":"{request_id}"}}"#)),
        received_at: at(seconds),
    }
}

/// The suite's epoch plus `seconds`, to the nanosecond.
fn at(seconds: f64) -> Timestamp {
    let epoch: Timestamp = "2025-03-01T00:00:00Z"
        .parse()
        .expect("the epoch is valid RFC 3339");
    epoch + SignedDuration::from_secs_f64(seconds)
}

/// Far enough ahead that every event is due and every lease of the suite has ended.
fn far_future() -> Timestamp {
    at(10.0 * 365.0 * 86_400.0)
}

async fn claim(queue: &dyn EventQueue, now: f64, lease: f64, limit: usize) -> Vec<ClaimedEvent> {
    queue.claim_due(at(now), at(lease), limit).await.unwrap()
}

fn request_ids(events: &[ClaimedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.request_id.as_str()).collect()
}

fn is_lease_lost(result: Result<(), StoreError>, claim: Claim) -> bool {
    matches!(result, Err(StoreError::LeaseLost { id, token }) if id == claim.id && token == claim.token)
}

/// Completes whatever is left and checks the queue is empty.
async fn drain(queue: &dyn EventQueue) {
    let far = far_future();
    let left = queue
        .claim_due(far, far + SignedDuration::from_secs(1), usize::MAX)
        .await
        .unwrap();
    for event in left {
        queue.complete(event.claim).await.unwrap();
    }
    assert_drained(queue).await;
}

async fn assert_drained(queue: &dyn EventQueue) {
    assert_eq!(
        queue.queue_stats(None).await.unwrap(),
        QueueStats::default(),
        "queue is not empty"
    );
    assert_eq!(queue.next_due().await.unwrap(), None);
}

async fn enqueue_then_claim_returns_the_event_whole(queue: &dyn EventQueue) {
    let binary = NewEvent {
        // Every byte value, and a payload of the full 1 MB async limit.
        payload: Bytes::from((0..=255u8).cycle().take(1024 * 1024).collect::<Vec<u8>>()),
        // Sub-millisecond digits are dropped: the queue keeps milliseconds.
        received_at: at(1.234_567),
        ..sample_event("binary", "whole", 0.0)
    };
    let bare = NewEvent {
        qualifier: "live".to_owned(),
        trace_id: None,
        payload: Bytes::new(),
        ..sample_event("bare", "whole", 2.0)
    };
    let first = queue.enqueue(&binary).await.unwrap();
    let second = queue.enqueue(&bare).await.unwrap();
    assert!(second > first, "ids grow: {first} then {second}");

    let claimed = claim(queue, 2.0, 30.0, 10).await;
    assert_eq!(request_ids(&claimed), ["binary", "bare"]);
    let check = |event: &ClaimedEvent, sent: &NewEvent, id: i64, received_at: Timestamp| {
        let expect = ClaimedEvent {
            claim: Claim {
                id,
                token: event.claim.token,
            },
            request_id: sent.request_id.clone(),
            function: sent.function.clone(),
            qualifier: sent.qualifier.clone(),
            region: sent.region.clone(),
            trace_id: sent.trace_id.clone(),
            payload: sent.payload.clone(),
            received_at,
            attempts: 0,
            backoffs: 0,
            next_attempt_at: received_at,
        };
        assert_eq!(*event, expect);
    };
    check(&claimed[0], &binary, first, at(1.234));
    check(&claimed[1], &bare, second, at(2.0));

    drain(queue).await;
}

async fn claims_take_due_events_earliest_first_up_to_the_limit(queue: &dyn EventQueue) {
    for (request_id, received) in [("a", 10.0), ("b", 0.0), ("c", 5.0), ("d", 20.0)] {
        queue
            .enqueue(&sample_event(request_id, "ordered", received))
            .await
            .unwrap();
    }
    let check = async |now: f64, limit: usize, expect: &[&str]| {
        let claimed = claim(queue, now, now + 60.0, limit).await;
        assert_eq!(request_ids(&claimed), expect, "now +{now}s, limit {limit}");
    };
    check(-1.0, 10, &[]).await;
    check(10.0, 0, &[]).await;
    check(10.0, 2, &["b", "c"]).await;
    check(10.0, 10, &["a"]).await;
    check(19.999, 10, &[]).await;
    check(20.0, usize::MAX, &["d"]).await;

    drain(queue).await;
}

async fn a_lease_hides_the_event_until_it_ends(queue: &dyn EventQueue) {
    queue
        .enqueue(&sample_event("leased", "lease", 0.0))
        .await
        .unwrap();
    let first = claim(queue, 0.0, 30.0, 10).await;
    assert_eq!(request_ids(&first), ["leased"]);
    let first = first[0].claim;

    assert!(claim(queue, 29.999, 60.0, 10).await.is_empty());
    assert_eq!(queue.next_due().await.unwrap(), Some(at(30.0)));

    // The lease ended: the event is claimed again, under a newer token.
    let second = claim(queue, 30.0, 60.0, 10).await;
    assert_eq!(request_ids(&second), ["leased"]);
    let second = second[0].claim;
    assert_eq!(second.id, first.id);
    assert!(second.token > first.token, "{first:?} then {second:?}");

    // The first claimer lost the event and can change nothing about it.
    assert!(is_lease_lost(queue.complete(first).await, first));
    let later = NextAttempt {
        at: at(0.0),
        attempts: 2,
        backoffs: 0,
    };
    assert!(is_lease_lost(queue.retry_at(first, &later).await, first));
    queue.extend_leases(&[first], at(1000.0)).await.unwrap();
    assert_eq!(
        queue.queue_stats(Some("lease")).await.unwrap(),
        QueueStats {
            queued: 0,
            in_flight: 1,
            oldest_received_at: Some(at(0.0)),
        }
    );

    let third = claim(queue, 60.0, 90.0, 10).await;
    assert_eq!(
        request_ids(&third),
        ["leased"],
        "the stale extension moved the lease"
    );
    assert_eq!(third[0].attempts, 0, "the stale retry changed the counts");
    assert!(is_lease_lost(queue.complete(second).await, second));
    queue.complete(third[0].claim).await.unwrap();

    assert_drained(queue).await;
}

async fn retry_at_reschedules_with_new_counts(queue: &dyn EventQueue) {
    let sent = sample_event("retried", "retry", 0.0);
    queue.enqueue(&sent).await.unwrap();
    let claimed = claim(queue, 0.0, 300.0, 10).await;
    let claim_one = claimed[0].claim;
    let next = NextAttempt {
        at: at(60.5),
        attempts: 1,
        backoffs: 3,
    };
    queue.retry_at(claim_one, &next).await.unwrap();

    // The lease is gone with the retry: the event waits for `next.at`, not for the lease's end.
    assert_eq!(
        queue.queue_stats(None).await.unwrap(),
        QueueStats {
            queued: 1,
            in_flight: 0,
            oldest_received_at: Some(at(0.0)),
        }
    );
    assert_eq!(queue.next_due().await.unwrap(), Some(at(60.5)));
    assert!(claim(queue, 60.499, 400.0, 10).await.is_empty());
    let again = claim(queue, 60.5, 400.0, 10).await;
    assert_eq!(again.len(), 1);
    let again = &again[0];
    assert_eq!(again.claim.id, claim_one.id);
    assert_eq!(
        (again.attempts, again.backoffs, again.next_attempt_at),
        (1, 3, at(60.5))
    );
    assert_eq!(
        (&again.request_id, &again.payload, again.received_at),
        (&sent.request_id, &sent.payload, sent.received_at),
        "an event keeps its request id, payload and age across retries"
    );
    assert!(is_lease_lost(
        queue.retry_at(claim_one, &next).await,
        claim_one
    ));

    queue.complete(again.claim).await.unwrap();
    assert_drained(queue).await;
}

async fn extend_leases_keeps_claimed_events_hidden(queue: &dyn EventQueue) {
    for request_id in ["x", "y"] {
        queue
            .enqueue(&sample_event(request_id, "extend", 0.0))
            .await
            .unwrap();
    }
    let claimed = claim(queue, 0.0, 10.0, 10).await;
    let mut claims: Vec<Claim> = claimed.iter().map(|e| e.claim).collect();
    // A claim of no event is skipped, not an error.
    claims.push(Claim {
        id: i64::MAX,
        token: 1,
    });
    queue.extend_leases(&claims, at(100.0)).await.unwrap();
    queue.extend_leases(&[], at(100.0)).await.unwrap();

    assert!(claim(queue, 50.0, 150.0, 10).await.is_empty());
    assert_eq!(queue.next_due().await.unwrap(), Some(at(100.0)));
    let again = claim(queue, 100.0, 150.0, 10).await;
    assert_eq!(request_ids(&again), ["x", "y"]);

    drain(queue).await;
}

async fn complete_removes_the_event_once(queue: &dyn EventQueue) {
    queue
        .enqueue(&sample_event("done", "complete", 0.0))
        .await
        .unwrap();
    let claimed = claim(queue, 0.0, 30.0, 10).await;
    let done = claimed[0].claim;
    queue.complete(done).await.unwrap();
    assert_drained(queue).await;
    assert!(is_lease_lost(queue.complete(done).await, done));
    assert!(claim(queue, 1000.0, 2000.0, 10).await.is_empty());
}

async fn stats_count_queued_and_in_flight_per_function(queue: &dyn EventQueue) {
    for (request_id, function, received) in [
        ("f1-a", "stats-one", 1.0),
        ("f1-b", "stats-one", 2.0),
        ("f1-c", "stats-one", 3.0),
        ("f2-a", "stats-two", 0.5),
    ] {
        queue
            .enqueue(&sample_event(request_id, function, received))
            .await
            .unwrap();
    }
    let claimed = claim(queue, 1.5, 30.0, 10).await;
    assert_eq!(request_ids(&claimed), ["f2-a", "f1-a"]);

    let check = async |function: Option<&str>, queued: u64, in_flight: u64, oldest: Option<f64>| {
        let expect = QueueStats {
            queued,
            in_flight,
            oldest_received_at: oldest.map(at),
        };
        assert_eq!(
            queue.queue_stats(function).await.unwrap(),
            expect,
            "{function:?}"
        );
    };
    check(None, 2, 2, Some(0.5)).await;
    check(Some("stats-one"), 2, 1, Some(1.0)).await;
    check(Some("stats-two"), 0, 1, Some(0.5)).await;
    check(Some("stats-none"), 0, 0, None).await;

    let next = NextAttempt {
        at: at(100.0),
        attempts: 1,
        backoffs: 0,
    };
    queue.retry_at(claimed[0].claim, &next).await.unwrap();
    check(Some("stats-two"), 1, 0, Some(0.5)).await;
    queue.complete(claimed[1].claim).await.unwrap();
    check(Some("stats-one"), 2, 0, Some(2.0)).await;
    check(None, 3, 0, Some(0.5)).await;

    drain(queue).await;
}

async fn next_due_is_the_earliest_claimable_time(queue: &dyn EventQueue) {
    assert_eq!(queue.next_due().await.unwrap(), None);
    queue
        .enqueue(&sample_event("late", "due", 20.0))
        .await
        .unwrap();
    queue
        .enqueue(&sample_event("early", "due", 10.0))
        .await
        .unwrap();
    assert_eq!(queue.next_due().await.unwrap(), Some(at(10.0)));

    // A lease that ends first is the next claimable time: its claimer may have died.
    let claimed = claim(queue, 10.0, 15.0, 10).await;
    assert_eq!(request_ids(&claimed), ["early"]);
    assert_eq!(queue.next_due().await.unwrap(), Some(at(15.0)));
    queue
        .extend_leases(&[claimed[0].claim], at(25.0))
        .await
        .unwrap();
    assert_eq!(queue.next_due().await.unwrap(), Some(at(20.0)));
    queue.complete(claimed[0].claim).await.unwrap();
    assert_eq!(queue.next_due().await.unwrap(), Some(at(20.0)));

    drain(queue).await;
}

async fn concurrent_claims_never_take_the_same_event(queue: &dyn EventQueue) {
    const EVENTS: usize = 40;
    for i in 0..EVENTS {
        queue
            .enqueue(&sample_event(&format!("c{i:02}"), "concurrent", 0.0))
            .await
            .unwrap();
    }
    let (a, b, c, d) = tokio::join!(
        claim(queue, 1.0, 60.0, 15),
        claim(queue, 1.0, 60.0, 15),
        claim(queue, 1.0, 60.0, 15),
        claim(queue, 1.0, 60.0, 15),
    );
    let mut ids: Vec<&str> = [&a, &b, &c, &d]
        .into_iter()
        .flat_map(|claimed| request_ids(claimed))
        .collect();
    ids.sort_unstable();
    let expect: Vec<String> = (0..EVENTS).map(|i| format!("c{i:02}")).collect();
    assert_eq!(ids, expect, "every event claimed exactly once");

    drain(queue).await;
}
