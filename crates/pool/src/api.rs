//! The pool's public interface (placeholder bodies; the implementation follows).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use model::FunctionConfig;

/// How the pool runs environments.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Region and account the functions run in.
    pub scope: model::Scope,
    /// `AWS_ENDPOINT_URL` as reachable from inside an environment.
    pub endpoint_url: String,
    /// Idle environments older than this are shut down.
    pub idle_timeout: Duration,
}

/// One invocation to run.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The version's configuration; its `revision_id` identifies the generation of environments.
    pub config: Arc<FunctionConfig>,
    /// Host directory holding the extracted code (`/var/task`).
    pub code_dir: PathBuf,
    pub request_id: String,
    pub payload: Bytes,
    /// The ARN exactly as invoked (may carry a qualifier).
    pub invoked_arn: String,
    /// X-Ray trace header from the caller, if any.
    pub trace_id: Option<String>,
    /// Client context, already base64-decoded.
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    /// Whether the caller wants the log tail (`X-Amz-Log-Type: Tail`).
    pub want_tail: bool,
}

/// What came of an invocation.
#[derive(Debug, Clone)]
pub struct InvokeResult {
    pub executed_version: String,
    /// The runtime's response, or the error document when `function_error` is set.
    pub body: Bytes,
    /// `Some("Unhandled")` when the invocation failed (handler error, timeout, crash, init error).
    pub function_error: Option<&'static str>,
    /// The error type, for logs and metrics (`Sandbox.Timedout`, `Runtime.ExitError`, ...).
    pub error_type: Option<String>,
    /// The end of this invocation's log (at most 4 KB), when asked for.
    pub log_tail: Option<String>,
}

/// Why the pool could not run an invocation at all (function errors are not errors here).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("could not start an environment for function {function}: {reason}")]
    StartEnvironment { function: String, reason: String },
    #[error("the pool is shutting down")]
    ShuttingDown,
}

/// The environments of every function, shared by all requests.
#[derive(Debug, Clone)]
pub struct Pool {
    _settings: Arc<PoolSettings>,
}

impl Pool {
    pub fn new(
        settings: PoolSettings,
        _launcher: Arc<dyn sandbox::Launcher>,
        _runtimes: runtimes::Runtimes,
        _logs: logs::LogStore,
    ) -> Self {
        Pool { _settings: Arc::new(settings) }
    }

    /// Runs one invocation on a warm environment of its version, or on a new one.
    pub async fn invoke(&self, _request: InvokeRequest) -> Result<InvokeResult, PoolError> {
        Err(PoolError::ShuttingDown)
    }

    /// Retires every environment of a function: idle ones stop now, busy ones after their
    /// invocation. Called on a code or configuration change and on delete.
    pub fn retire(&self, _function: &str) {}

    /// Stops every environment; used when the server stops.
    pub async fn shutdown(&self) {}
}
