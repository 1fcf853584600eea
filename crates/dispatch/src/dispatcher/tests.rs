//! The dispatcher against the real SQLite queue in a temporary directory. Only the invoker and the
//! destinations are fakes: they stand for the control plane.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jiff::Timestamp;
use model::SystemClock;
use model::function::FunctionMeta;
use serde_json::{Value, json};
use store::conformance::sample_config;
use store::{
    EventInvokeConfig, EventInvokeConfigStore as _, EventQueue as _, NewEvent, SqliteStore,
    Store as _,
};

use super::*;
use crate::seams::{AttemptOutcome, DeliveryError, FunctionResponse};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";

/// How a fake function answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Succeed,
    Fail,
    Throttle,
    ZeroConcurrency,
    Gone,
    /// Succeeds after running this long.
    Slow(Duration),
    /// Panics, and succeeds from then on.
    PanicOnce,
}

#[derive(Debug)]
struct Call {
    request_id: String,
    function: String,
    at: Instant,
}

/// Answers by function, as set with `behave`, and records every attempt when it starts.
#[derive(Debug, Default)]
struct FakeInvoker {
    behaviours: Mutex<HashMap<String, Behaviour>>,
    calls: Mutex<Vec<Call>>,
}

impl FakeInvoker {
    fn behave(&self, function: &str, behaviour: Behaviour) {
        self.behaviours
            .lock()
            .unwrap()
            .insert(function.to_owned(), behaviour);
    }

    fn calls_of(&self, function: &str) -> Vec<(String, Instant)> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.function == function)
            .map(|c| (c.request_id.clone(), c.at))
            .collect()
    }

    fn calls_by_request_id(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for call in self.calls.lock().unwrap().iter() {
            *counts.entry(call.request_id.clone()).or_default() += 1;
        }
        counts
    }
}

fn response(body: Value, function_error: Option<&str>) -> FunctionResponse {
    FunctionResponse {
        executed_version: "$LATEST".to_owned(),
        body: Bytes::from(body.to_string()),
        function_error: function_error.map(str::to_owned),
        error_type: function_error.map(|_| "Function.Boom".to_owned()),
    }
}

fn boom() -> Value {
    json!({"errorMessage": "boom", "errorType": "Function.Boom"})
}

#[async_trait::async_trait]
impl Invoker for FakeInvoker {
    async fn invoke(&self, event: &ClaimedEvent) -> AttemptOutcome {
        self.calls.lock().unwrap().push(Call {
            request_id: event.request_id.clone(),
            function: event.function.clone(),
            at: Instant::now(),
        });
        let behaviour = self
            .behaviours
            .lock()
            .unwrap()
            .get(&event.function)
            .copied();
        match behaviour.unwrap_or(Behaviour::Succeed) {
            Behaviour::Succeed => {
                AttemptOutcome::Ran(response(json!({"ok": event.request_id}), None))
            }
            Behaviour::Fail => AttemptOutcome::Ran(response(boom(), Some("Unhandled"))),
            Behaviour::Throttle => AttemptOutcome::Throttled {
                reason: "Rate Exceeded.".to_owned(),
            },
            Behaviour::ZeroConcurrency => AttemptOutcome::ZeroReservedConcurrency,
            Behaviour::Gone => AttemptOutcome::FunctionNotFound {
                reason: format!("Function not found: {}", event.function),
            },
            Behaviour::PanicOnce => {
                self.behave(&event.function, Behaviour::Succeed);
                panic!("the invoker broke on {}", event.request_id);
            }
            Behaviour::Slow(duration) => {
                tokio::time::sleep(duration).await;
                AttemptOutcome::Ran(response(json!({"ok": event.request_id}), None))
            }
        }
    }
}

/// Keeps every record it is given, or refuses them all.
#[derive(Debug, Default)]
struct FakeDestinations {
    refuse: bool,
    records: Mutex<Vec<(String, Value)>>,
}

impl FakeDestinations {
    fn records(&self) -> Vec<(String, Value)> {
        self.records.lock().unwrap().clone()
    }

    fn records_to(&self, destination: &str) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|(to, _)| to == destination)
            .map(|(_, record)| record)
            .collect()
    }
}

#[async_trait::async_trait]
impl Destinations for FakeDestinations {
    async fn deliver(&self, destination: &str, record: Bytes) -> Result<(), DeliveryError> {
        if self.refuse {
            return Err(DeliveryError {
                destination: destination.to_owned(),
                reason: "function not found".to_owned(),
            });
        }
        let record = serde_json::from_slice(&record).unwrap();
        self.records
            .lock()
            .unwrap()
            .push((destination.to_owned(), record));
        Ok(())
    }
}

fn destination(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

fn settings() -> DispatcherSettings {
    DispatcherSettings {
        concurrency: 8,
        lease: Duration::from_secs(1),
        // Function errors wait 60 ms then 120 ms; back-offs go from 1 ms to 300 ms.
        schedule: RetrySchedule::scaled(0.001).unwrap(),
        poll_interval: Duration::from_millis(200),
        ..DispatcherSettings::new(ACCOUNT)
    }
}

/// A store in a temporary directory, the fakes, and a dispatcher on them.
struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    queue: AsyncQueue,
    invoker: Arc<FakeInvoker>,
    destinations: Arc<FakeDestinations>,
    dispatcher: Option<Dispatcher>,
}

impl Harness {
    fn new() -> Self {
        Harness::with(settings(), FakeDestinations::default())
    }

    fn with(settings: DispatcherSettings, destinations: FakeDestinations) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("flint.db")).unwrap());
        let invoker = Arc::new(FakeInvoker::default());
        let destinations = Arc::new(destinations);
        let queue = queue_of(&store);
        let dispatcher = start(&queue, &store, &invoker, &destinations, settings);
        Harness {
            _dir: dir,
            store,
            queue,
            invoker,
            destinations,
            dispatcher: Some(dispatcher),
        }
    }

    /// Creates the function, with an event invoke configuration if `config` changes anything.
    async fn function(&self, name: &str, config: impl FnOnce(&mut EventInvokeConfig)) {
        self.store
            .create_function(&sample_config(name), &FunctionMeta::default())
            .await
            .unwrap();
        let mut event_config = EventInvokeConfig {
            function: name.to_owned(),
            qualifier: "$LATEST".to_owned(),
            maximum_retry_attempts: None,
            maximum_event_age_s: None,
            on_success: None,
            on_failure: None,
            last_modified: Timestamp::now(),
        };
        config(&mut event_config);
        self.store
            .put_event_invoke_config(&event_config)
            .await
            .unwrap();
    }

    /// Enqueues an event received `age` ago and returns its request id.
    async fn send(&self, function: &str, payload: Value, age: Duration) -> String {
        let event = event(function, payload, age);
        self.queue.enqueue(&event).await.unwrap();
        event.request_id
    }

    async fn wait_for_records(&self, count: usize) -> Vec<(String, Value)> {
        wait_until(Duration::from_secs(20), async || {
            self.destinations.records().len() >= count
        })
        .await;
        self.destinations.records()
    }

    /// Waits until `count` events left the queue and were counted.
    async fn wait_until_finished(&self, count: u64) {
        wait_until(Duration::from_secs(20), async || {
            self.queue.metrics().snapshot().finished() >= count
        })
        .await;
        let stats = self.queue.stats(None).await.unwrap();
        assert_eq!(stats.queued + stats.in_flight, 0, "{stats:?}");
    }
}

fn start(
    queue: &AsyncQueue,
    store: &Arc<SqliteStore>,
    invoker: &Arc<FakeInvoker>,
    destinations: &Arc<FakeDestinations>,
    settings: DispatcherSettings,
) -> Dispatcher {
    Dispatcher::start(DispatcherParts {
        queue: queue.clone(),
        configs: Arc::clone(store) as Arc<dyn EventInvokeConfigStore>,
        invoker: Arc::clone(invoker) as Arc<dyn Invoker>,
        destinations: Arc::clone(destinations) as Arc<dyn Destinations>,
        clock: Arc::new(SystemClock),
        settings,
    })
}

fn queue_of(store: &Arc<SqliteStore>) -> AsyncQueue {
    AsyncQueue::new(Arc::clone(store) as Arc<dyn store::EventQueue>)
}

fn event(function: &str, payload: Value, age: Duration) -> NewEvent {
    NewEvent {
        request_id: model::ids::request_id(),
        function: function.to_owned(),
        qualifier: "$LATEST".to_owned(),
        region: REGION.to_owned(),
        trace_id: None,
        payload: Bytes::from(payload.to_string()),
        received_at: Timestamp::now() - age,
    }
}

/// Polls `done` every 10 ms; panics after `timeout`.
async fn wait_until(timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < timeout, "gave up after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks the record's timestamp is ISO-8601 with milliseconds and blanks it for comparison.
fn without_timestamp(mut record: Value) -> Value {
    let timestamp = record["timestamp"].as_str().unwrap().to_owned();
    assert!(
        timestamp.len() == 24 && timestamp.ends_with('Z') && timestamp.parse::<Timestamp>().is_ok(),
        "{timestamp}"
    );
    record["timestamp"] = json!("<timestamp>");
    record
}

#[tokio::test]
async fn a_success_goes_to_on_success_with_the_exact_record() {
    let harness = Harness::new();
    harness
        .function("hello", |c| c.on_success = Some(destination("hello-ok")))
        .await;
    let request_id = harness
        .send("hello", json!({"order": [1, 2]}), Duration::ZERO)
        .await;

    let records = harness.wait_for_records(1).await;
    assert_eq!(records.len(), 1);
    let (to, record) = records.into_iter().next().unwrap();
    assert_eq!(to, destination("hello-ok"));
    assert_eq!(
        without_timestamp(record),
        json!({
            "version": "1.0",
            "timestamp": "<timestamp>",
            "requestContext": {
                "requestId": request_id,
                "functionArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:hello:$LATEST"),
                "condition": "Success",
                "approximateInvokeCount": 1
            },
            "requestPayload": {"order": [1, 2]},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "responsePayload": {"ok": request_id}
        })
    );
    harness.wait_until_finished(1).await;
    let calls = harness.invoker.calls_of("hello");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, request_id);
    let metrics = harness.queue.metrics().snapshot();
    assert_eq!(
        (
            metrics.received,
            metrics.attempts,
            metrics.succeeded,
            metrics.delivered
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test]
async fn function_errors_are_retried_exactly_maximum_retry_attempts_times() {
    let harness = Harness::new();
    let cases: [(&str, Option<u32>); 4] = [
        ("none", Some(0)),
        ("once", Some(1)),
        ("twice", Some(2)),
        ("default", None),
    ];
    let mut sent = Vec::new();
    for (name, retries) in cases {
        harness
            .function(name, |c| {
                c.maximum_retry_attempts = retries;
                c.on_failure = Some(destination("failures"));
            })
            .await;
        harness.invoker.behave(name, Behaviour::Fail);
        sent.push(
            harness
                .send(name, json!({"case": name}), Duration::ZERO)
                .await,
        );
    }

    harness.wait_for_records(cases.len()).await;
    harness.wait_until_finished(4).await;
    let records = harness.destinations.records_to(&destination("failures"));
    for ((name, retries), request_id) in cases.into_iter().zip(&sent) {
        let attempts = retries.unwrap_or(2) + 1;
        let calls = harness.invoker.calls_of(name);
        assert_eq!(calls.len(), attempts as usize, "{name}");
        assert!(
            calls.iter().all(|(id, _)| id == request_id),
            "{name}: {calls:?}"
        );
        // The scaled schedule: 60 ms before the second attempt, 120 ms before the third.
        for (pair, least) in calls.windows(2).zip([60, 120]) {
            let gap = pair[1].1 - pair[0].1;
            assert!(gap >= Duration::from_millis(least), "{name}: {gap:?}");
        }

        let record = records
            .iter()
            .find(|r| r["requestContext"]["requestId"] == json!(request_id))
            .unwrap_or_else(|| panic!("no record for {name}"));
        assert_eq!(
            without_timestamp(record.clone()),
            json!({
                "version": "1.0",
                "timestamp": "<timestamp>",
                "requestContext": {
                    "requestId": request_id,
                    "functionArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:$LATEST"),
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempts
                },
                "requestPayload": {"case": name},
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled"
                },
                "responsePayload": boom()
            }),
            "{name}"
        );
    }
    let metrics = harness.queue.metrics().snapshot();
    assert_eq!(
        (metrics.failed, metrics.dropped, metrics.retried),
        (4, 0, 5)
    );
}

#[tokio::test]
async fn an_event_past_its_maximum_age_goes_to_on_failure_without_running() {
    let harness = Harness::new();
    harness
        .function("stale", |c| {
            c.maximum_event_age_s = Some(60);
            c.on_failure = Some(destination("failures"));
        })
        .await;
    let request_id = harness
        .send("stale", json!("old news"), Duration::from_secs(61))
        .await;

    let records = harness.wait_for_records(1).await;
    assert_eq!(
        without_timestamp(records[0].1.clone()),
        json!({
            "version": "1.0",
            "timestamp": "<timestamp>",
            "requestContext": {
                "requestId": request_id,
                "functionArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:stale:$LATEST"),
                "condition": "EventAgeExceeded",
                "approximateInvokeCount": 0
            },
            "requestPayload": "old news"
        })
    );
    harness.wait_until_finished(1).await;
    assert!(harness.invoker.calls_of("stale").is_empty());
}

#[tokio::test]
async fn throttled_events_wait_and_run_once_the_limit_is_lifted() {
    let harness = Harness::new();
    harness
        .function("busy", |c| c.on_success = Some(destination("done")))
        .await;
    harness.invoker.behave("busy", Behaviour::Throttle);
    let request_id = harness.send("busy", json!({}), Duration::ZERO).await;

    wait_until(Duration::from_secs(10), async || {
        harness.invoker.calls_of("busy").len() >= 5
    })
    .await;
    assert!(harness.destinations.records().is_empty());
    let stats = harness.queue.stats(Some("busy")).await.unwrap();
    assert_eq!(
        stats.queued + stats.in_flight,
        1,
        "the event waits in the queue"
    );

    harness.invoker.behave("busy", Behaviour::Succeed);
    let records = harness.wait_for_records(1).await;
    let record = &records[0].1;
    assert_eq!(record["requestContext"]["requestId"], json!(request_id));
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(
        record["requestContext"]["approximateInvokeCount"], 1,
        "throttled attempts do not count"
    );
    harness.wait_until_finished(1).await;
    let calls = harness.invoker.calls_of("busy");
    assert!(calls.iter().all(|(id, _)| *id == request_id));
    // Back-offs double: the waits between throttled attempts never shrink (up to the cap).
    let gaps: Vec<Duration> = calls.windows(2).map(|p| p[1].1 - p[0].1).collect();
    for (n, gap) in gaps.iter().enumerate() {
        let least = Duration::from_millis(1 << n.min(8)).min(Duration::from_millis(300));
        assert!(*gap >= least, "gap {n} is {gap:?}, less than {least:?}");
    }
}

#[tokio::test]
async fn events_throttled_until_too_old_fail_with_event_age_exceeded() {
    let harness = Harness::new();
    harness
        .function("jammed", |c| {
            c.maximum_event_age_s = Some(60);
            c.on_failure = Some(destination("failures"));
        })
        .await;
    harness.invoker.behave("jammed", Behaviour::Throttle);
    harness
        .send("jammed", json!({}), Duration::from_millis(59_700))
        .await;

    let records = harness.wait_for_records(1).await;
    let record = &records[0].1;
    assert_eq!(record["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
    assert!(record.get("responseContext").is_none(), "{record}");
    assert!(!harness.invoker.calls_of("jammed").is_empty());
}

#[tokio::test]
async fn zero_reserved_concurrency_fails_without_retries() {
    let harness = Harness::new();
    harness
        .function("off", |c| c.on_failure = Some(destination("failures")))
        .await;
    harness.invoker.behave("off", Behaviour::ZeroConcurrency);
    harness.send("off", json!({}), Duration::ZERO).await;

    let records = harness.wait_for_records(1).await;
    let record = &records[0].1;
    assert_eq!(
        record["requestContext"]["condition"],
        "ZeroReservedConcurrency"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
    assert!(record.get("responseContext").is_none(), "{record}");
    harness.wait_until_finished(1).await;
    assert_eq!(harness.invoker.calls_of("off").len(), 1);
}

#[tokio::test]
async fn failures_without_a_destination_are_dropped_and_counted() {
    let harness = Harness::new();
    harness
        .function("lonely", |c| c.maximum_retry_attempts = Some(0))
        .await;
    harness.invoker.behave("lonely", Behaviour::Fail);
    harness.send("lonely", json!({}), Duration::ZERO).await;

    harness.wait_until_finished(1).await;
    let metrics = harness.queue.metrics().snapshot();
    assert_eq!(
        (metrics.failed, metrics.dropped, metrics.delivered),
        (1, 1, 0)
    );
    assert_eq!(harness.queue.metrics().failed_of("lonely"), 1);
    assert_eq!(harness.invoker.calls_of("lonely").len(), 1);
}

#[tokio::test]
async fn events_of_a_deleted_function_are_discarded() {
    let harness = Harness::new();
    harness.invoker.behave("deleted", Behaviour::Gone);
    harness.send("deleted", json!({}), Duration::ZERO).await;

    harness.wait_until_finished(1).await;
    let metrics = harness.queue.metrics().snapshot();
    assert_eq!(
        (metrics.discarded, metrics.failed, metrics.finished()),
        (1, 0, 1)
    );
    assert!(harness.destinations.records().is_empty());
}

#[tokio::test]
async fn a_refused_record_still_finishes_the_event() {
    let harness = Harness::with(
        settings(),
        FakeDestinations {
            refuse: true,
            ..FakeDestinations::default()
        },
    );
    harness
        .function("orphan", |c| c.on_success = Some(destination("gone")))
        .await;
    harness.send("orphan", json!({}), Duration::ZERO).await;

    harness.wait_until_finished(1).await;
    let metrics = harness.queue.metrics().snapshot();
    assert_eq!(
        (
            metrics.succeeded,
            metrics.delivered,
            metrics.delivery_failures
        ),
        (1, 0, 1)
    );
    assert_eq!(harness.invoker.calls_of("orphan").len(), 1);
}

#[tokio::test]
async fn a_new_event_wakes_the_idle_dispatcher() {
    let harness = Harness::with(
        DispatcherSettings {
            poll_interval: Duration::from_secs(3600),
            ..settings()
        },
        FakeDestinations::default(),
    );
    harness
        .function("prompt", |c| c.on_success = Some(destination("done")))
        .await;
    // Let the dispatcher find the queue empty and go to sleep.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = Instant::now();
    harness.send("prompt", json!({}), Duration::ZERO).await;
    harness.wait_for_records(1).await;
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn attempts_longer_than_a_lease_keep_their_event() {
    let harness = Harness::with(
        DispatcherSettings {
            lease: Duration::from_millis(900),
            ..settings()
        },
        FakeDestinations::default(),
    );
    harness
        .function("long", |c| c.on_success = Some(destination("done")))
        .await;
    // Three leases long: without renewals the event would be claimed again twice.
    harness
        .invoker
        .behave("long", Behaviour::Slow(Duration::from_millis(2700)));
    harness.send("long", json!({}), Duration::ZERO).await;

    harness.wait_for_records(1).await;
    harness.wait_until_finished(1).await;
    assert_eq!(
        harness.invoker.calls_of("long").len(),
        1,
        "the renewed lease kept the event from a second claim"
    );
}

#[tokio::test]
async fn an_attempt_that_panics_leaves_its_event_to_come_back() {
    let harness = Harness::new();
    harness
        .function("fragile", |c| c.on_success = Some(destination("done")))
        .await;
    harness.invoker.behave("fragile", Behaviour::PanicOnce);
    let request_id = harness.send("fragile", json!({}), Duration::ZERO).await;

    let records = harness.wait_for_records(1).await;
    assert_eq!(
        records[0].1["requestContext"]["requestId"],
        json!(request_id)
    );
    let calls = harness.invoker.calls_of("fragile");
    assert_eq!(
        calls.len(),
        2,
        "the lease ran out once and the event ran again"
    );
    assert!(
        calls[1].1 - calls[0].1 >= Duration::from_millis(900),
        "the event came back only when its lease ended"
    );
}

#[tokio::test]
async fn shutdown_makes_unfinished_events_due_at_once() {
    let mut harness = Harness::new();
    harness.function("slow", |_| {}).await;
    harness
        .invoker
        .behave("slow", Behaviour::Slow(Duration::from_secs(30)));
    for _ in 0..3 {
        harness.send("slow", json!({}), Duration::ZERO).await;
    }
    wait_until(Duration::from_secs(10), async || {
        harness.invoker.calls_of("slow").len() == 3
    })
    .await;

    let dispatcher = harness.dispatcher.take().unwrap();
    dispatcher.shutdown(Duration::from_millis(50)).await;
    assert_eq!(
        harness.queue.stats(Some("slow")).await.unwrap(),
        store::QueueStats {
            queued: 3,
            in_flight: 0,
            oldest_received_at: harness.queue.stats(None).await.unwrap().oldest_received_at,
        }
    );
    let due = harness.store.next_due().await.unwrap().unwrap();
    assert!(due <= Timestamp::now(), "{due}");
}

const CRASH_EVENTS: usize = 1000;
const CRASH_CONCURRENCY: usize = 16;

/// 1,000 events, a dispatcher stopped dead mid-flight (no outcome written for the attempts it
/// was running, leases left behind), then a new dispatcher on the reopened database: every event
/// runs at least once, and only the attempts cut short can run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_flight_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("flint.db");
    let invoker = Arc::new(FakeInvoker::default());
    invoker.behave("crash", Behaviour::Slow(Duration::from_millis(3)));
    let destinations = Arc::new(FakeDestinations::default());
    let crash_settings = DispatcherSettings {
        concurrency: CRASH_CONCURRENCY,
        lease: Duration::from_millis(500),
        ..settings()
    };

    let sent = {
        let store = open_with_function(&db).await;
        let queue = queue_of(&store);
        let mut sent = Vec::with_capacity(CRASH_EVENTS);
        for i in 0..CRASH_EVENTS {
            sent.push(harness_send(&queue, "crash", json!({"n": i})).await);
        }
        let dispatcher = start(
            &queue,
            &store,
            &invoker,
            &destinations,
            crash_settings.clone(),
        );
        wait_until(Duration::from_secs(60), async || {
            destinations.records().len() >= CRASH_EVENTS / 3
        })
        .await;
        dispatcher.crash();
        sent
    };
    let finished_before = destinations.records().len();
    assert!(
        finished_before < CRASH_EVENTS,
        "the crash came too late to test anything"
    );

    let store = Arc::new(SqliteStore::open(&db).unwrap());
    let queue = queue_of(&store);
    let dispatcher = start(&queue, &store, &invoker, &destinations, crash_settings);
    wait_until(Duration::from_secs(60), async || {
        let stats = queue.stats(None).await.unwrap();
        stats.queued + stats.in_flight == 0
    })
    .await;
    dispatcher.shutdown(Duration::from_secs(1)).await;

    let calls = invoker.calls_by_request_id();
    let mut delivered: HashMap<String, usize> = HashMap::new();
    for record in destinations.records_to(&destination("done")) {
        let id = record["requestContext"]["requestId"]
            .as_str()
            .unwrap()
            .to_owned();
        *delivered.entry(id).or_default() += 1;
    }
    for request_id in &sent {
        assert!(
            calls.get(request_id).copied().unwrap_or(0) >= 1,
            "{request_id} never ran"
        );
        assert!(
            delivered.get(request_id).copied().unwrap_or(0) >= 1,
            "{request_id} has no record"
        );
    }
    assert_eq!(calls.len(), CRASH_EVENTS, "only the events sent ran");
    let total: usize = calls.values().sum();
    assert!(
        total <= CRASH_EVENTS + CRASH_CONCURRENCY,
        "{total} attempts: more repeats than attempts in flight at the crash"
    );
}

async fn open_with_function(db: &Path) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::open(db).unwrap());
    store
        .create_function(&sample_config("crash"), &FunctionMeta::default())
        .await
        .unwrap();
    store
        .put_event_invoke_config(&EventInvokeConfig {
            function: "crash".to_owned(),
            qualifier: "$LATEST".to_owned(),
            maximum_retry_attempts: None,
            maximum_event_age_s: None,
            on_success: Some(destination("done")),
            on_failure: None,
            last_modified: Timestamp::now(),
        })
        .await
        .unwrap();
    store
}

async fn harness_send(queue: &AsyncQueue, function: &str, payload: Value) -> String {
    let event = event(function, payload, Duration::ZERO);
    queue.enqueue(&event).await.unwrap();
    event.request_id
}

#[test]
fn error_chains_name_every_cause() {
    let error = store::StoreError::ClaimEvents {
        source: "database is locked".into(),
    };
    assert_eq!(
        error_chain(&error),
        "failed to claim due events: database is locked"
    );
}
