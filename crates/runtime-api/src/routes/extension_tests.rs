//! The Extensions and Telemetry APIs driven over HTTP, as an extension drives them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::tests::{config, invocation};
use super::*;
use crate::endpoint::EndpointEvent;
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

async fn fixture(external: &[&str]) -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (endpoint, events) = Endpoint::new(config(external));
    let server = serve(listener, endpoint.clone());
    Fixture {
        endpoint,
        events,
        base,
        client: reqwest::Client::new(),
        _server: server,
    }
}

impl Fixture {
    async fn register(&self, name: &str, events: &[&str]) -> String {
        let response = self
            .client
            .post(format!("{}/2020-01-01/extension/register", self.base))
            .header("Lambda-Extension-Name", name)
            .header("Lambda-Extension-Accept-Feature", "accountId")
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let id = response.headers()["lambda-extension-identifier"]
            .to_str()
            .unwrap()
            .to_string();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"functionName": "f", "functionVersion": "$LATEST", "handler": "index.handler", "accountId": "000000000000"})
        );
        id
    }

    fn next_event(&self, id: &str) -> tokio::task::JoinHandle<serde_json::Value> {
        let request = self
            .client
            .get(format!("{}/2020-01-01/extension/event/next", self.base))
            .header("Lambda-Extension-Identifier", id);
        tokio::spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert!(
                response
                    .headers()
                    .contains_key("lambda-extension-event-identifier")
            );
            response.json().await.unwrap()
        })
    }

    async fn runtime_next(&self) {
        let response = self
            .client
            .get(format!("{}/2018-06-01/runtime/invocation/next", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn init_waits_for_every_extension_and_invoke_for_its_subscribers() {
    let mut fx = fixture(&["external-ext"]).await;
    let external = fx.register("external-ext", &["INVOKE", "SHUTDOWN"]).await;
    let _internal = fx.register("internal-ext", &[]).await;

    // The runtime asks first; init is not over until the extensions ask too.
    let outcome = fx.endpoint.dispatch(invocation("req-1"));
    let runtime = tokio::spawn({
        let client = fx.client.clone();
        let url = format!("{}/2018-06-01/runtime/invocation/next", fx.base);
        async move { client.get(url).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let registered = |name: &str| Ok(EndpointEvent::Registered { name: name.into() });
    assert_eq!(fx.events.try_recv(), registered("external-ext"));
    assert_eq!(fx.events.try_recv(), registered("internal-ext"));
    assert!(
        fx.events.try_recv().is_err(),
        "not ready before the extensions call next"
    );

    let internal_next = fx.next_event(&_internal);
    let first = fx.next_event(&external);
    match tokio::time::timeout(Duration::from_secs(5), fx.events.recv())
        .await
        .unwrap()
    {
        Some(EndpointEvent::Ready { extensions }) => {
            let names: Vec<_> = extensions
                .iter()
                .map(|e| (e.name.as_str(), e.events.clone(), e.external))
                .collect();
            assert_eq!(
                names,
                vec![
                    ("external-ext", vec!["INVOKE", "SHUTDOWN"], true),
                    ("internal-ext", vec![], false)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runtime.await.unwrap(), 200);

    // The INVOKE event carries the request id; the invocation is settled only when the
    // extension asks for its next event again.
    let event = first.await.unwrap();
    assert_eq!(event["eventType"], "INVOKE");
    assert_eq!(event["requestId"], "req-1");
    assert_eq!(
        event["invokedFunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:f"
    );
    assert_eq!(event["tracing"]["type"], "X-Amzn-Trace-Id");
    let response = fx
        .client
        .post(format!(
            "{}/2018-06-01/runtime/invocation/req-1/response",
            fx.base
        ))
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    outcome.await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), fx.endpoint.extensions_settled())
            .await
            .is_err()
    );
    let shutdown = fx.next_event(&external);
    tokio::time::timeout(Duration::from_secs(5), fx.endpoint.extensions_settled())
        .await
        .unwrap();

    // SHUTDOWN reaches only the external extension that asked for it.
    assert!(fx.endpoint.shutdown_extensions("spindown", 42));
    let event = shutdown.await.unwrap();
    assert_eq!(
        event,
        serde_json::json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 42})
    );
    assert!(
        !internal_next.is_finished(),
        "internal extensions get no SHUTDOWN"
    );

    // Registration is closed after init.
    let late = fx
        .client
        .post(format!("{}/2020-01-01/extension/register", fx.base))
        .header("Lambda-Extension-Name", "late")
        .json(&serde_json::json!({"events": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 403);
    let body: serde_json::Value = late.json().await.unwrap();
    assert_eq!(body["errorType"], "Extension.RegistrationClosed");
}

#[tokio::test]
async fn refusals_carry_lambdas_error_types() {
    let fx = fixture(&[]).await;
    let post = |path: &str| fx.client.post(format!("{}{path}", fx.base));
    let check = |response: reqwest::Response, status: u16, error_type: &'static str| async move {
        assert_eq!(response.status(), status);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errorType"], error_type);
    };
    check(
        post("/2020-01-01/extension/register")
            .json(&serde_json::json!({"events": []}))
            .send()
            .await
            .unwrap(),
        403,
        "Extension.InvalidExtensionName",
    )
    .await;
    check(
        post("/2020-01-01/extension/register")
            .header("Lambda-Extension-Name", "x")
            .json(&serde_json::json!({"events": ["SHUTDOWN"]}))
            .send()
            .await
            .unwrap(),
        403,
        "Extension.InvalidEventType",
    )
    .await;
    check(
        fx.client
            .get(format!("{}/2020-01-01/extension/event/next", fx.base))
            .send()
            .await
            .unwrap(),
        403,
        "Extension.MissingExtensionIdentifier",
    )
    .await;
    check(
        fx.client
            .get(format!("{}/2020-01-01/extension/event/next", fx.base))
            .header("Lambda-Extension-Identifier", "nope")
            .send()
            .await
            .unwrap(),
        403,
        "Extension.UnknownExtensionIdentifier",
    )
    .await;
    let id = fx.register("x", &["INVOKE"]).await;
    check(
        post("/2020-01-01/extension/init/error")
            .header("Lambda-Extension-Identifier", &id)
            .send()
            .await
            .unwrap(),
        403,
        "Extension.MissingHeader",
    )
    .await;
}

#[tokio::test]
async fn an_extension_init_error_is_reported() {
    let mut fx = fixture(&["x"]).await;
    let id = fx.register("x", &["INVOKE"]).await;
    let response = fx
        .client
        .post(format!("{}/2020-01-01/extension/init/error", fx.base))
        .header("Lambda-Extension-Identifier", &id)
        .header(
            "Lambda-Extension-Function-Error-Type",
            "Extension.ConfigInvalid",
        )
        .body(r#"{"errorMessage":"bad","errorType":"Extension.ConfigInvalid"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        fx.events.recv().await,
        Some(EndpointEvent::Registered { name: "x".into() })
    );
    assert_eq!(
        fx.events.recv().await,
        Some(EndpointEvent::ExtensionError {
            name: "x".into(),
            error_type: "Extension.ConfigInvalid".into(),
            init: true
        })
    );
}

/// A telemetry listener like an extension's, recording every batch it receives.
async fn listener() -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/telemetry",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock()
                    .unwrap()
                    .extend(body.0.as_array().unwrap().iter().cloned());
                "ok"
            }
        }),
    );
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(socket, app).await.unwrap() });
    (port, received)
}

#[tokio::test]
async fn telemetry_subscribers_receive_batches_of_what_they_asked_for() {
    let mut fx = fixture(&["telemetry-ext"]).await;
    let id = fx.register("telemetry-ext", &["INVOKE"]).await;
    let (port, received) = listener().await;
    let subscribe = fx
        .client
        .put(format!("{}/2022-07-01/telemetry", fx.base))
        .header("Lambda-Extension-Identifier", &id)
        .json(&serde_json::json!({
            "schemaVersion": "2022-12-13",
            "types": ["platform", "function"],
            "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
            "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}/telemetry")},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(subscribe.status(), 200);
    assert_eq!(
        fx.events.recv().await,
        Some(EndpointEvent::Registered {
            name: "telemetry-ext".into()
        })
    );
    assert_eq!(
        fx.events.recv().await,
        Some(EndpointEvent::Subscribed {
            name: "telemetry-ext".into(),
            types: "[Platform, Function]".into()
        })
    );

    let hub = fx.endpoint.telemetry();
    hub.publish(&crate::telemetry::Event::new(
        "2026-01-01T00:00:00.000Z".into(),
        "platform.start",
        serde_json::json!({"requestId": "r1"}),
    ));
    hub.publish(&crate::telemetry::Event::new(
        "2026-01-01T00:00:00.001Z".into(),
        "function",
        serde_json::json!("hello"),
    ));
    hub.publish(&crate::telemetry::Event::new(
        "2026-01-01T00:00:00.002Z".into(),
        "extension",
        serde_json::json!("not subscribed"),
    ));
    hub.flush(Duration::from_secs(5)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while received.lock().unwrap().len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let types: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        vec![
            "platform.telemetrySubscription",
            "platform.start",
            "function"
        ]
    );

    // Once init is over, subscriptions are refused.
    fx.next_event(&id);
    fx.runtime_next_after_dispatch().await;
    let late = fx
        .client
        .put(format!("{}/2022-07-01/telemetry", fx.base))
        .header("Lambda-Extension-Identifier", &id)
        .json(&serde_json::json!({"types": ["platform"], "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}/telemetry")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 403);
}

impl Fixture {
    async fn runtime_next_after_dispatch(&mut self) {
        let _outcome = self.endpoint.dispatch(invocation("req-x"));
        self.runtime_next().await;
        loop {
            if let Some(EndpointEvent::Ready { .. }) = self.events.recv().await {
                return;
            }
        }
    }
}
