//! Invoke through the router, with a real bash + curl function.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use serde_json::json;

use super::{TestApi, base64, zip_with_bootstrap};

fn invoke(name: &str, payload: impl Into<Body>, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/2015-03-31/functions/{name}/invocations"));
    for (key, value) in headers {
        request = request.header(*key, *value);
    }
    request.body(payload.into()).unwrap()
}

#[tokio::test]
async fn invoke_returns_the_functions_answer_and_log_tail() {
    let api = TestApi::new().await;
    api.create("echo", json!({})).await;

    let answer = api
        .send(invoke("echo", r#"{"a":1}"#, &[("x-amz-log-type", "Tail")]))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(&answer.body[..], br#"{"a":1}"#);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("x-amz-executed-version"), Some("$LATEST"));
    assert_eq!(answer.header("x-amz-function-error"), None);
    let request_id = answer.header("x-amzn-requestid").unwrap();
    let tail = base64::engine::general_purpose::STANDARD
        .decode(answer.header("x-amz-log-result").unwrap())
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    assert!(
        tail.contains(&format!("START RequestId: {request_id} Version: $LATEST")),
        "{tail}"
    );
    assert!(tail.contains("handling {\"a\":1}"), "{tail}");
    assert!(
        tail.contains(&format!("REPORT RequestId: {request_id}")),
        "{tail}"
    );

    let empty = api.send(invoke("echo", Body::empty(), &[])).await;
    assert_eq!(
        &empty.body[..],
        b"{}",
        "an empty payload is the empty object"
    );
    assert_eq!(empty.header("x-amz-log-result"), None);

    let failed = api.send(invoke("echo", r#"{"fail":1}"#, &[])).await;
    assert_eq!(failed.status, StatusCode::OK);
    assert_eq!(failed.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(failed.json()["errorType"], "Purpose");
}

#[tokio::test]
async fn invoke_refusals() {
    let api = TestApi::new().await;
    api.create("echo", json!({})).await;

    let dry = api
        .send(invoke("echo", "{}", &[("x-amz-invocation-type", "DryRun")]))
        .await;
    assert_eq!(dry.status, StatusCode::NO_CONTENT);
    assert!(dry.header("x-amzn-requestid").is_some());

    let event = api
        .send(invoke("echo", "{}", &[("x-amz-invocation-type", "Event")]))
        .await;
    assert_eq!(event.status, StatusCode::ACCEPTED, "queued, never run here");
    assert!(event.body.is_empty());

    let not_json = api.send(invoke("echo", "{not json", &[])).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.error_type(), "InvalidRequestContentException");
    assert!(
        not_json.json()["message"].as_str().unwrap().starts_with(
            "Could not parse request body into json: Could not parse payload into json"
        )
    );

    let too_large = api
        .send(invoke("echo", vec![b' '; 6 * 1024 * 1024 + 1], &[]))
        .await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        too_large.json()["message"],
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    );

    let bad_context = api
        .send(invoke("echo", "{}", &[("x-amz-client-context", "%%%")]))
        .await;
    assert_eq!(bad_context.error_type(), "InvalidRequestContentException");
}

#[tokio::test]
async fn a_code_update_is_seen_by_the_next_invoke() {
    let api = TestApi::new().await;
    api.create("echo", json!({})).await;
    let first = api.send(invoke("echo", r#""one""#, &[])).await;
    assert_eq!(&first.body[..], br#""one""#);

    let constant = super::ECHO_BOOTSTRAP.replace(r#"-d "$EVENT""#, r#"-d '"updated"'"#);
    let updated = api
        .call(
            Method::PUT,
            "/2015-03-31/functions/echo/code",
            Some(json!({"ZipFile": base64(&zip_with_bootstrap(&constant))})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    let second = api.send(invoke("echo", r#""two""#, &[])).await;
    assert_eq!(&second.body[..], br#""updated""#);
    api.control.shutdown().await;
}
