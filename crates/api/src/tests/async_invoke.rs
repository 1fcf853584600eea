//! Asynchronous invocation through the router: `Event` invokes and InvokeAsync, the event invoke
//! configuration operations, the dispatcher running queued events into destinations, metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::{Answer, TestApi, create_body, zip_with_bootstrap};

const ACCOUNT: &str = "000000000000";

/// A bash + curl bootstrap that logs every event as `handling <event>` and answers `{}`: a
/// destination that never fails, whatever the record holds.
const RECORDER_BOOTSTRAP: &str = r#"#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  echo "handling $EVENT"
  curl -sS -X POST "$API/invocation/$ID/response" -d '{}' >/dev/null
done
"#;

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
}

fn event_invoke(name: &str, payload: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("/2015-03-31/functions/{name}/invocations"))
        .header("x-amz-invocation-type", "Event")
        .body(payload.into())
        .unwrap()
}

fn config_path(name: &str, qualifier: Option<&str>) -> String {
    let path = format!("/2019-09-25/functions/{name}/event-invoke-config");
    match qualifier {
        Some(q) => format!("{path}?Qualifier={q}"),
        None => path,
    }
}

#[track_caller]
fn assert_error(answer: &Answer, status: StatusCode, code: &str, fragment: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.error_type(), code, "{:?}", answer.body);
    let body = answer.json();
    let message = body["message"]
        .as_str()
        .or(body["Message"].as_str())
        .unwrap_or_default();
    assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
}

/// Starts a dispatcher on the test server's database with retry delays scaled down a hundred
/// times. It has its own queue handle, so it looks at the queue every 20 ms instead of being
/// woken by the router's enqueues.
fn start_dispatcher(api: &TestApi) -> (dispatch::Dispatcher, dispatch::AsyncQueue) {
    let store = Arc::new(store::SqliteStore::open(&api.dir.path().join("flint.db")).unwrap());
    let queue = dispatch::AsyncQueue::new(Arc::clone(&store) as Arc<dyn store::EventQueue>);
    let dispatcher = dispatch::Dispatcher::start(dispatch::DispatcherParts {
        queue: queue.clone(),
        configs: store,
        invoker: Arc::new(api.control.clone()),
        destinations: Arc::new(api.control.clone()),
        clock: Arc::new(model::SystemClock),
        settings: dispatch::DispatcherSettings {
            schedule: dispatch::RetrySchedule::scaled(0.01).unwrap(),
            poll_interval: Duration::from_millis(20),
            ..dispatch::DispatcherSettings::new(ACCOUNT)
        },
    });
    (dispatcher, queue)
}

/// The events a function logged as `handling <event>`, parsed.
async fn handled_events(api: &TestApi, function: &str) -> Vec<Value> {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header("x-amz-target", "Logs_20140328.FilterLogEvents")
        .header("content-type", "application/x-amz-json-1.1")
        .body(Body::from(
            json!({"logGroupName": format!("/aws/lambda/{function}")}).to_string(),
        ))
        .unwrap();
    let answer = api.send(request).await;
    if answer.status != StatusCode::OK {
        return Vec::new();
    }
    answer.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str()?.strip_prefix("handling "))
        .filter_map(|text| serde_json::from_str(text.trim()).ok())
        .collect()
}

#[tokio::test]
async fn events_run_and_their_records_reach_the_destination() {
    let api = TestApi::new().await;
    api.create("worker", json!({})).await;
    let recorder = create_body("dest", &zip_with_bootstrap(RECORDER_BOOTSTRAP));
    let created = api
        .call(Method::POST, "/2015-03-31/functions", Some(recorder))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let put = api
        .call(
            Method::PUT,
            &config_path("worker", None),
            Some(json!({
                "MaximumRetryAttempts": 1,
                "DestinationConfig": {
                    "OnSuccess": {"Destination": arn("dest")},
                    "OnFailure": {"Destination": arn("dest")},
                },
            })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);

    let ok = api.send(event_invoke("worker", r#"{"n":1}"#)).await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "{:?}", ok.body);
    assert!(ok.body.is_empty());
    let ok_id = ok.header("x-amzn-requestid").unwrap().to_owned();
    let failing = api.send(event_invoke("worker", r#"{"fail":1}"#)).await;
    assert_eq!(failing.status, StatusCode::ACCEPTED);
    let failing_id = failing.header("x-amzn-requestid").unwrap().to_owned();

    let (dispatcher, queue) = start_dispatcher(&api);
    let mut records = Vec::new();
    for _ in 0..300 {
        records = handled_events(&api, "dest").await;
        if records.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    dispatcher.shutdown(Duration::from_secs(5)).await;
    assert_eq!(records.len(), 2, "{records:?}");
    let record_of = |id: &str| {
        records
            .iter()
            .find(|r| r["requestContext"]["requestId"] == id)
            .unwrap_or_else(|| panic!("no record for {id} in {records:?}"))
    };

    let success = record_of(&ok_id);
    assert_eq!(success["version"], "1.0");
    let context = &success["requestContext"];
    assert_eq!(context["functionArn"], format!("{}:$LATEST", arn("worker")));
    assert_eq!(context["condition"], "Success");
    assert_eq!(context["approximateInvokeCount"], 1);
    assert_eq!(success["requestPayload"], json!({"n": 1}));
    assert_eq!(
        success["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
    assert_eq!(success["responsePayload"], json!({"n": 1}));

    let failure = record_of(&failing_id);
    assert_eq!(failure["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(failure["requestPayload"], json!({"fail": 1}));
    assert_eq!(
        failure["responseContext"]["functionError"], "Unhandled",
        "{failure}"
    );
    assert_eq!(failure["responsePayload"]["errorType"], "Purpose");

    // The failing event ran twice with its own request id; the worker saw nothing else.
    let worker = handled_events(&api, "worker").await;
    assert_eq!(worker.len(), 3, "{worker:?}");
    let snapshot = queue.metrics().snapshot();
    assert_eq!(
        (snapshot.delivered, snapshot.failed),
        (2, 1),
        "{snapshot:?}"
    );
    assert_eq!(snapshot.succeeded, 3, "{snapshot:?}");
    assert_eq!(queue.stats(None).await.unwrap().queued, 0);
}

#[tokio::test]
async fn event_invoke_configs_are_put_updated_listed_and_deleted() {
    let api = TestApi::new().await;
    api.create("f", json!({})).await;
    api.create("dest", json!({})).await;
    let path = config_path("f", None);

    let missing = api.call(Method::GET, &path, None).await;
    assert_error(
        &missing,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        &format!(
            "The function {}:$LATEST doesn't have an EventInvokeConfig",
            arn("f")
        ),
    );

    let put = api
        .call(
            Method::PUT,
            &path,
            Some(json!({"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    let shape = put.json();
    assert_eq!(shape["FunctionArn"], format!("{}:$LATEST", arn("f")));
    assert_eq!(shape["MaximumRetryAttempts"], 0);
    assert_eq!(shape["MaximumEventAgeInSeconds"], 60);
    assert_eq!(
        shape["DestinationConfig"],
        json!({"OnSuccess": {}, "OnFailure": {}})
    );
    let modified = shape["LastModified"].as_f64().unwrap();
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    assert!((now - modified).abs() < 60.0, "{modified} vs {now}");

    // Update merges: the age stays, a destination is added.
    let update = api
        .call(
            Method::POST,
            &path,
            Some(json!({"DestinationConfig": {"OnFailure": {"Destination": arn("dest")}}})),
        )
        .await;
    assert_eq!(update.status, StatusCode::OK, "{:?}", update.body);
    let shape = update.json();
    assert_eq!(shape["MaximumEventAgeInSeconds"], 60);
    assert_eq!(shape["MaximumRetryAttempts"], 0);
    assert_eq!(
        shape["DestinationConfig"]["OnFailure"]["Destination"],
        arn("dest")
    );

    // Put replaces: what it leaves out is gone.
    let replaced = api
        .call(Method::PUT, &path, Some(json!({"MaximumRetryAttempts": 2})))
        .await
        .json();
    assert_eq!(replaced.get("MaximumEventAgeInSeconds"), None);
    assert_eq!(
        replaced["DestinationConfig"],
        json!({"OnSuccess": {}, "OnFailure": {}})
    );
    assert_eq!(api.call(Method::GET, &path, None).await.json(), replaced);

    let list = api
        .call(
            Method::GET,
            "/2019-09-25/functions/f/event-invoke-config/list",
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.json()["FunctionEventInvokeConfigs"],
        json!([replaced.clone()])
    );

    let deleted = api.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = api.call(Method::DELETE, &path, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let update_missing = api
        .call(
            Method::POST,
            &path,
            Some(json!({"MaximumRetryAttempts": 1})),
        )
        .await;
    assert_error(
        &update_missing,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "doesn't have an EventInvokeConfig",
    );
}

#[tokio::test]
async fn event_invoke_configs_refuse_what_flint_cannot_do() {
    let api = TestApi::new().await;
    api.create("f", json!({})).await;
    let path = config_path("f", None);
    let put = |body: Value| api.call(Method::PUT, &path, Some(body));

    assert_error(
        &put(json!({})).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
    );
    assert_error(
        &put(json!({"MaximumRetryAttempts": 3})).await,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "Member must have value less than or equal to 2",
    );
    assert_error(
        &put(json!({"MaximumEventAgeInSeconds": 59})).await,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "Member must have value greater than or equal to 60",
    );
    assert_error(
        &put(json!({"DestinationConfig": {"OnFailure": {"Destination": "somewhere"}}})).await,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "destinationConfig.onFailure.destination",
    );
    for other in [
        "arn:aws:sqs:us-east-1:000000000000:queue",
        "arn:aws:sns:us-east-1:000000000000:topic",
        "arn:aws:events:us-east-1:000000000000:event-bus/default",
        "arn:aws:s3:::bucket",
    ] {
        assert_error(
            &put(json!({"DestinationConfig": {"OnFailure": {"Destination": other}}})).await,
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "flint delivers invocation records to Lambda functions only",
        );
    }
    assert_error(
        &put(json!({"DestinationConfig": {"OnSuccess": {"Destination": arn("f")}}})).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
    );
    assert_error(
        &put(json!({"DestinationConfig": {"OnSuccess": {"Destination": arn("nobody")}}})).await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "is invalid",
    );
    // An empty destination is none.
    let empty = put(json!({"DestinationConfig": {"OnSuccess": {"Destination": ""}}})).await;
    assert_eq!(empty.status, StatusCode::OK, "{:?}", empty.body);
    assert_eq!(empty.json()["DestinationConfig"]["OnSuccess"], json!({}));

    let missing_version = api
        .call(
            Method::PUT,
            &config_path("f", Some("7")),
            Some(json!({"MaximumRetryAttempts": 1})),
        )
        .await;
    assert_eq!(missing_version.status, StatusCode::NOT_FOUND);
    let missing_function = api
        .call(
            Method::PUT,
            &config_path("ghost", None),
            Some(json!({"MaximumRetryAttempts": 1})),
        )
        .await;
    assert_eq!(missing_function.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn async_invokes_are_checked_before_they_are_queued() {
    let api = TestApi::new().await;
    api.create("f", json!({})).await;

    let mut big = vec![b' '; model::limits::ASYNC_PAYLOAD_MAX + 1];
    big[0] = b'1';
    assert_error(
        &api.send(event_invoke("f", big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        "Request must be smaller than 1048576 bytes for the InvokeFunction operation",
    );
    assert_error(
        &api.send(event_invoke("f", "{not json")).await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestContentException",
        "Could not parse request body into json",
    );
    assert_error(
        &api.send(event_invoke("ghost", "{}")).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "Function not found",
    );

    let legacy = Request::builder()
        .method(Method::POST)
        .uri("/2014-11-13/functions/f/invoke-async")
        .body(Body::from(r#"{"legacy":true}"#))
        .unwrap();
    let legacy = api.send(legacy).await;
    assert_eq!(legacy.status, StatusCode::ACCEPTED, "{:?}", legacy.body);
    assert!(legacy.header("x-amzn-requestid").is_some());
    let event = api.send(event_invoke("f", "")).await;
    assert_eq!(event.status, StatusCode::ACCEPTED);

    // Nothing runs them here: both wait in the queue.
    let status = api.call(Method::GET, "/_flint/status/f", None).await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    let queued = &status.json()["Async"];
    assert_eq!(queued["Queued"], 2, "{queued}");
    assert_eq!(queued["InFlight"], 0);
    assert!(queued["OldestAgeSeconds"].as_f64().unwrap() >= 0.0);

    let metrics = api.call(Method::GET, "/_flint/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = std::str::from_utf8(&metrics.body).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "flint_async_events_received_total 2"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "flint_async_events_queued 2"),
        "{text}"
    );
}

#[tokio::test]
async fn dead_letter_queues_are_refused_until_flint_has_queues() {
    let api = TestApi::new().await;
    let refused = api
        .call(
            Method::POST,
            "/2015-03-31/functions",
            Some({
                let mut body = create_body("f", &zip_with_bootstrap("#!/bin/sh\n"));
                body["DeadLetterConfig"] =
                    json!({"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"});
                body
            }),
        )
        .await;
    assert_error(
        &refused,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "SQS queue or SNS topic",
    );
    api.create("f", json!({"DeadLetterConfig": {}})).await;
    let update = |target: &str| {
        api.call(
            Method::PUT,
            "/2015-03-31/functions/f/configuration",
            Some(json!({"DeadLetterConfig": {"TargetArn": target}})),
        )
    };
    assert_error(
        &update("arn:aws:sns:us-east-1:000000000000:topic").await,
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        "OnFailure destination",
    );
    assert_eq!(update("").await.status, StatusCode::OK);
}
