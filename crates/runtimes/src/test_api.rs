//! A stand-in for an environment's Lambda Runtime API, for tests that run a real runtime
//! client: it hands out queued events on `/next` and records what the runtime posts back.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use crate::LaunchPlan;

/// How long a test waits for the runtime to post something.
const POST_TIMEOUT: Duration = Duration::from_secs(60);

/// One event to hand out, with the headers `/next` answers with besides the defaults.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) request_id: String,
    pub(crate) body: String,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Event {
    pub(crate) fn new(request_id: &str, body: &str) -> Self {
        Event {
            request_id: request_id.to_string(),
            body: body.to_string(),
            headers: Vec::new(),
        }
    }
}

/// What the runtime posted.
#[derive(Debug)]
pub(crate) struct Post {
    pub(crate) path: String,
    pub(crate) error_type: Option<String>,
    pub(crate) body: String,
}

impl Post {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

#[derive(Debug)]
struct Shared {
    events: Mutex<mpsc::UnboundedReceiver<Event>>,
    posts: mpsc::UnboundedSender<Post>,
}

/// A Runtime API on a loopback port; stops when dropped.
#[derive(Debug)]
pub(crate) struct StubApi {
    /// `AWS_LAMBDA_RUNTIME_API` for the runtime.
    pub(crate) address: String,
    events: mpsc::UnboundedSender<Event>,
    posts: mpsc::UnboundedReceiver<Post>,
    server: JoinHandle<()>,
}

impl StubApi {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (posts_tx, posts) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events_rx),
            posts: posts_tx,
        });
        let app = axum::Router::new().fallback(answer).with_state(shared);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StubApi {
            address,
            events,
            posts,
            server,
        }
    }

    /// Queues an event for the runtime's next `/next`.
    pub(crate) fn invoke(&self, event: Event) {
        self.events.send(event).unwrap();
    }

    /// The next thing the runtime posts.
    pub(crate) async fn next_post(&mut self) -> Post {
        let post = tokio::time::timeout(POST_TIMEOUT, self.posts.recv()).await;
        post.expect("the runtime posted nothing in time").unwrap()
    }

    /// A command that starts `plan` against this API, as the pool would (with a cleared
    /// environment), with the task root as working directory.
    pub(crate) fn command(&self, plan: &LaunchPlan, task_root: &Path, handler: &str) -> Command {
        let mut command = Command::new(&plan.program);
        command
            .args(&plan.args)
            .env_clear()
            .envs(plan.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("LAMBDA_TASK_ROOT", task_root)
            .env("_HANDLER", handler)
            .env("AWS_LAMBDA_FUNCTION_NAME", "echo")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/echo")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0123")
            .current_dir(task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

impl Drop for StubApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Kills the runtime and returns what it printed on standard output and error.
pub(crate) async fn stop(mut child: Child) -> (String, String) {
    let _ = child.start_kill();
    let output = child.wait_with_output().await.unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (text(output.stdout), text(output.stderr))
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let path = uri.path().to_string();
    if method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let event = shared.events.lock().await.recv().await;
        // No more events: keep the runtime waiting, as an idle environment does.
        let Some(event) = event else {
            std::future::pending().await
        };
        return next_response(event);
    }
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .map(|v| v.to_str().unwrap().to_string());
    let body = String::from_utf8_lossy(&body).into_owned();
    let _ = shared.posts.send(Post {
        path,
        error_type,
        body,
    });
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Body::from(r#"{"status":"OK"}"#))
        .unwrap()
}

fn next_response(event: Event) -> Response<Body> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let deadline = now + Duration::from_secs(60);
    let mut response = Response::builder()
        .status(StatusCode::OK)
        // awslambdaric crashes (SIGSEGV) on an event without a content type; Lambda always
        // sends one.
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &event.request_id)
        .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
        .header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:echo",
        )
        .header("lambda-runtime-trace-id", format!("Root=1-{}", event.request_id));
    for (name, value) in &event.headers {
        response = response.header(*name, value);
    }
    response.body(Body::from(event.body)).unwrap()
}
