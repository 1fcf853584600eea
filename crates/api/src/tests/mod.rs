//! The API driven through `app(...)` without a socket, with a real control plane, store, pool
//! and log store on a temporary directory.

mod async_invoke;
mod errors;
mod functions;
mod invoke;
mod layers;
mod logs;
mod versions;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine as _;
use control::{ControlParts, ControlPlane};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{ApiSettings, app};

/// A bash + curl bootstrap: echoes the event, answers `{"fail":1}` with a handler error.
pub(super) const ECHO_BOOTSTRAP: &str = r#"#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  echo "handling $EVENT"
  case "$EVENT" in
    *'"fail"'*) curl -sS -X POST "$API/invocation/$ID/error" -d '{"errorMessage":"failed on purpose","errorType":"Purpose"}' >/dev/null; continue;;
  esac
  curl -sS -X POST "$API/invocation/$ID/response" -d "$EVENT" >/dev/null
done
"#;

/// A server's worth of state on a temporary directory.
pub(super) struct TestApi {
    pub(super) dir: tempfile::TempDir,
    pub(super) control: ControlPlane,
    pub(super) app: Router,
}

/// A response, read whole.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: bytes::Bytes,
}

impl Answer {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not json ({e}): {:?}", self.body))
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The AWS error code of an error answer.
    pub(super) fn error_type(&self) -> &str {
        self.header("x-amzn-errortype").unwrap_or("<none>")
    }
}

impl TestApi {
    pub(super) async fn new() -> TestApi {
        let dir = tempfile::tempdir().unwrap();
        let control = control_plane(dir.path());
        let app = app(control.clone(), ApiSettings::default());
        TestApi { dir, control, app }
    }

    /// A second server on the same data directory, as after a restart.
    pub(super) async fn restarted(self) -> TestApi {
        self.control.shutdown().await;
        let control = control_plane(self.dir.path());
        let app = app(control.clone(), ApiSettings::default());
        TestApi {
            dir: self.dir,
            control,
            app,
        }
    }

    pub(super) async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(super) async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "localhost:9000")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        self.send(request).await
    }

    /// Creates a function running `bootstrap` and checks it was created.
    pub(super) async fn create(&self, name: &str, extra: Value) -> Answer {
        let mut body = create_body(name, &zip_with_bootstrap(ECHO_BOOTSTRAP));
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        let answer = self
            .call(Method::POST, "/2015-03-31/functions", Some(body))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json());
        answer
    }
}

fn control_plane(dir: &std::path::Path) -> ControlPlane {
    let scope = model::Scope {
        region: "us-east-1".into(),
        account: "000000000000".into(),
    };
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let runtimes = runtimes::Runtimes::new(runtimes::RuntimeSettings {
        root: dir.join("runtimes"),
        python_client_dir: None,
    });
    let logs = ::logs::LogStore::open(&dir.join("logs"), ::logs::LogLimits::default()).unwrap();
    let pool = pool::Pool::new(
        pool::PoolSettings {
            scope,
            endpoint_url: "http://127.0.0.1:9".into(),
            idle_timeout: Duration::from_secs(600),
            empty_dir: empty,
            cold_start_gate: None,
        },
        Arc::new(sandbox::ProcessLauncher),
        runtimes.clone(),
        logs.clone(),
    );
    let store = Arc::new(store::SqliteStore::open(&dir.join("flint.db")).unwrap());
    ControlPlane::new(ControlParts {
        layers: Arc::clone(&store) as Arc<dyn store::LayerStore>,
        queue: dispatch::AsyncQueue::new(Arc::clone(&store) as Arc<dyn store::EventQueue>),
        event_configs: Arc::clone(&store) as Arc<dyn store::EventInvokeConfigStore>,
        store,
        code: store::CodeStore::open(&dir.join("code")).unwrap(),
        pool,
        runtimes,
        logs,
        clock: Arc::new(model::SystemClock),
        account_id: "000000000000".into(),
        concurrency: control::ConcurrencyLimits::default(),
    })
}

/// A zip holding one executable `bootstrap`.
pub(super) fn zip_with_bootstrap(text: &str) -> Vec<u8> {
    zip_with(&[("bootstrap", text, 0o755)])
}

/// A zip of `(name, contents, unix mode)` entries.
pub(super) fn zip_with(entries: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text, mode) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .unix_permissions(*mode)
            .last_modified_time(zip::DateTime::default());
        writer.start_file(*name, options).unwrap();
        writer.write_all(text.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

pub(super) fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A CreateFunction body for a `provided.al2023` function with `zip` as its code.
pub(super) fn create_body(name: &str, zip: &[u8]) -> Value {
    json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Role": "arn:aws:iam::000000000000:role/x",
        "Handler": "handler",
        "Code": {"ZipFile": base64(zip)},
    })
}
