//! The CloudWatch Logs JSON 1.1 protocol on `POST /`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::{Answer, TestApi};

async fn logs_call(api: &TestApi, operation: &str, body: Value) -> Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header("x-amz-target", format!("Logs_20140328.{operation}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(Body::from(body.to_string()))
        .unwrap();
    api.send(request).await
}

#[tokio::test]
async fn function_logs_are_readable_with_the_logs_api() {
    let api = TestApi::new().await;
    api.create("echo", json!({})).await;
    let invoke = Request::builder()
        .method(Method::POST)
        .uri("/2015-03-31/functions/echo/invocations")
        .body(Body::from(r#"{"n":1}"#))
        .unwrap();
    assert_eq!(api.send(invoke).await.status, StatusCode::OK);
    let group = json!({"logGroupName": "/aws/lambda/echo"});

    // The pool may write the REPORT line just after the answer; wait for it, boundedly.
    let mut messages = Vec::new();
    for _ in 0..50 {
        let filtered = logs_call(&api, "FilterLogEvents", group.clone()).await;
        assert_eq!(filtered.status, StatusCode::OK, "{:?}", filtered.body);
        assert_eq!(
            filtered.header("content-type"),
            Some("application/x-amz-json-1.1")
        );
        messages = filtered.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect();
        if messages.iter().any(|m| m.starts_with("REPORT")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        messages.iter().any(|m| m.starts_with("START RequestId:")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("handling {\"n\":1}")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("REPORT")),
        "{messages:?}"
    );

    let groups = logs_call(&api, "DescribeLogGroups", json!({})).await.json();
    assert_eq!(groups["logGroups"][0]["logGroupName"], "/aws/lambda/echo");
    assert_eq!(
        groups["logGroups"][0]["arn"],
        "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/echo:*"
    );

    let streams = logs_call(&api, "DescribeLogStreams", group.clone())
        .await
        .json();
    let stream = streams["logStreams"][0]["logStreamName"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(stream.contains("[$LATEST]"), "{stream}");

    let events = logs_call(
        &api,
        "GetLogEvents",
        json!({"logGroupName": "/aws/lambda/echo", "logStreamName": stream, "startFromHead": true}),
    )
    .await
    .json();
    assert!(!events["events"].as_array().unwrap().is_empty());
    assert!(events["nextForwardToken"].is_string());
    api.control.shutdown().await;
}

#[tokio::test]
async fn logs_errors_use_the_json_protocols_shape() {
    let api = TestApi::new().await;
    let missing = logs_call(
        &api,
        "FilterLogEvents",
        json!({"logGroupName": "/aws/lambda/nothing"}),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error_type(), "ResourceNotFoundException");
    assert_eq!(
        missing.json(),
        json!({
            "__type": "ResourceNotFoundException",
            "message": "The specified log group does not exist."
        })
    );
    assert!(missing.header("x-amzn-requestid").is_some());

    let unknown = logs_call(&api, "PutLogEvents", json!({})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.json()["__type"], "UnknownOperationException");

    let malformed = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header("x-amz-target", "Logs_20140328.DescribeLogGroups")
        .body(Body::from("{"))
        .unwrap();
    let malformed = api.send(malformed).await;
    assert_eq!(malformed.json()["__type"], "SerializationException");

    let untargeted = api.call(Method::POST, "/", None).await;
    assert_eq!(untargeted.status, StatusCode::BAD_REQUEST);
    assert_eq!(untargeted.json()["__type"], "UnknownOperationException");
}
