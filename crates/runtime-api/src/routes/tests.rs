use std::time::Duration;

use super::*;
use crate::endpoint::{EndpointEvent, Invocation};
use crate::serve;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct Fixture {
    endpoint: Endpoint,
    events: tokio::sync::mpsc::UnboundedReceiver<EndpointEvent>,
    base: String,
    client: reqwest::Client,
    _server: JoinHandle<()>,
}

pub(super) fn config(external: &[&str]) -> crate::EndpointConfig {
    crate::EndpointConfig {
        function_name: "f".into(),
        function_version: "$LATEST".into(),
        handler: "index.handler".into(),
        account_id: "000000000000".into(),
        external_extensions: external.iter().map(|s| s.to_string()).collect(),
        dialer: std::sync::Arc::new(crate::telemetry::LoopbackDialer),
    }
}

async fn fixture() -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/2018-06-01", listener.local_addr().unwrap());
    let (endpoint, events) = Endpoint::new(config(&[]));
    let server = serve(listener, endpoint.clone());
    Fixture {
        endpoint,
        events,
        base,
        client: reqwest::Client::new(),
        _server: server,
    }
}

pub(super) fn invocation(id: &str) -> Invocation {
    Invocation {
        request_id: id.to_string(),
        payload: Bytes::from_static(br#"{"a":1}"#),
        deadline_ms: 1_700_000_000_000,
        invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
        trace_id: "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0"
            .into(),
        client_context: Some(r#"{"custom":{}}"#.into()),
        cognito_identity: None,
    }
}

impl Fixture {
    async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    async fn next(&self) -> reqwest::Response {
        self.client
            .get(format!("{}/runtime/invocation/next", self.base))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn next_carries_every_header_and_response_completes() {
    let mut fx = fixture().await;
    let outcome = fx.endpoint.dispatch(invocation("req-1"));
    let next = fx.next().await;
    assert_eq!(
        fx.events.recv().await,
        Some(EndpointEvent::Ready { extensions: vec![] })
    );
    assert_eq!(next.status(), 200);
    let header = |name: &str| next.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("lambda-runtime-aws-request-id"), "req-1");
    assert_eq!(header("lambda-runtime-deadline-ms"), "1700000000000");
    assert_eq!(
        header("lambda-runtime-invoked-function-arn"),
        "arn:aws:lambda:us-east-1:000000000000:function:f"
    );
    assert!(header("lambda-runtime-trace-id").starts_with("Root=1-"));
    assert_eq!(header("lambda-runtime-client-context"), r#"{"custom":{}}"#);
    assert!(
        next.headers()
            .get("lambda-runtime-cognito-identity")
            .is_none()
    );
    assert_eq!(next.bytes().await.unwrap().as_ref(), br#"{"a":1}"#);

    let (status, body) = fx
        .post("/runtime/invocation/req-1/response", "\"done\"")
        .await;
    assert_eq!((status, body), (202, serde_json::json!({"status": "OK"})));
    assert_eq!(
        outcome.await.unwrap(),
        Outcome::Response(Bytes::from_static(b"\"done\""))
    );
}

#[tokio::test]
async fn wrong_or_repeated_answers_are_refused() {
    let fx = fixture().await;
    let outcome = fx.endpoint.dispatch(invocation("req-1"));
    fx.next().await;
    let (status, body) = fx.post("/runtime/invocation/other/response", "1").await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("InvalidRequestID"))
    );
    let (status, _) = fx.post("/runtime/invocation/req-1/response", "1").await;
    assert_eq!(status, 202);
    let (status, body) = fx.post("/runtime/invocation/req-1/response", "2").await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("InvalidRequestID"))
    );
    assert_eq!(
        outcome.await.unwrap(),
        Outcome::Response(Bytes::from_static(b"1"))
    );
}

#[tokio::test]
async fn errors_with_and_without_type_header() {
    let fx = fixture().await;
    let first = fx.endpoint.dispatch(invocation("a"));
    fx.next().await;
    let response = fx
        .client
        .post(format!("{}/runtime/invocation/a/error", fx.base))
        .header("Lambda-Runtime-Function-Error-Type", "Function.Boom")
        .body(r#"{"errorMessage":"boom","errorType":"Boom"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    match first.await.unwrap() {
        Outcome::Error { error_type, body } => {
            assert_eq!(error_type, "Function.Boom");
            assert_eq!(
                body.as_ref(),
                br#"{"errorMessage":"boom","errorType":"Boom"}"#
            );
        }
        other => panic!("{other:?}"),
    }

    let second = fx.endpoint.dispatch(invocation("b"));
    fx.next().await;
    let (status, _) = fx
        .post(
            "/runtime/invocation/b/error",
            r#"{"errorMessage":"x","errorType":"ValueError"}"#,
        )
        .await;
    assert_eq!(status, 202);
    assert!(
        matches!(second.await.unwrap(), Outcome::Error { error_type, .. } if error_type == "ValueError")
    );

    let third = fx.endpoint.dispatch(invocation("c"));
    fx.next().await;
    let (status, _) = fx.post("/runtime/invocation/c/error", "plain text").await;
    assert_eq!(status, 202);
    match third.await.unwrap() {
        Outcome::Error { error_type, body } => {
            assert_eq!(error_type, "Unhandled");
            let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(document["errorMessage"], "plain text");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn second_next_while_invoking_is_forbidden() {
    let fx = fixture().await;
    let _outcome = fx.endpoint.dispatch(invocation("a"));
    fx.next().await;
    let again = fx.next().await;
    assert_eq!(again.status(), 403);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["errorType"], "InvalidStateTransition");
}

#[tokio::test]
async fn oversized_response_fails_the_invocation() {
    let fx = fixture().await;
    let outcome = fx.endpoint.dispatch(invocation("a"));
    fx.next().await;
    let (status, body) = fx
        .post(
            "/runtime/invocation/a/response",
            vec![b'x'; RESPONSE_PAYLOAD_MAX + 1],
        )
        .await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
    assert!(matches!(
        outcome.await.unwrap(),
        Outcome::Error { error_type, .. } if error_type == "Function.ResponseSizeTooLarge"
    ));
}

#[tokio::test]
async fn init_error_is_reported_once() {
    let mut fx = fixture().await;
    let (status, _) = fx
        .post(
            "/runtime/init/error",
            r#"{"errorMessage":"bad","errorType":"Runtime.ImportModuleError"}"#,
        )
        .await;
    assert_eq!(status, 202);
    match fx.events.recv().await {
        Some(EndpointEvent::InitError { error_type, .. }) => {
            assert_eq!(error_type, "Runtime.ImportModuleError")
        }
        other => panic!("{other:?}"),
    }
    let (status, _) = fx.post("/runtime/init/error", "{}").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn closing_refuses_late_answers_and_wakes_next() {
    let fx = fixture().await;
    let outcome = fx.endpoint.dispatch(invocation("a"));
    fx.next().await;
    fx.endpoint.close();
    assert!(outcome.await.is_err(), "closing drops the pending answer");
    let (status, _) = fx.post("/runtime/invocation/a/response", "late").await;
    assert_eq!(status, 403);
    let next = tokio::time::timeout(Duration::from_secs(5), fx.next())
        .await
        .unwrap();
    assert_eq!(next.status(), 403);
}
