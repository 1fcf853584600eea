//! Execution environments: the pool of warm environments per function version, cold starts,
//! dispatching one invocation at a time to an environment's Runtime API, timeouts, crashes,
//! idle reaping, and the `START` / `END` / `REPORT` lines of every invocation.
//!
//! Invariant: the warm path (an idle environment exists) takes two short locks, writes nothing
//! to disk and waits on nothing but the runtime.

mod env_vars;
mod environment;
mod failure;
mod freezer;
mod gate;
mod logger;
mod provisioned;
mod report;
mod versions;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use model::FunctionConfig;

use crate::environment::{Environment, Health, StartFor};
use crate::provisioned::Initialization;
use crate::versions::{Generation, Versions};

pub use gate::ColdStartGate;
pub use provisioned::{ProvisionTarget, ProvisionedState, ProvisionedStatus};
pub use versions::VersionActivity;

/// How the pool runs environments.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Region and account the functions run in.
    pub scope: model::Scope,
    /// `AWS_ENDPOINT_URL` as reachable from inside an environment.
    pub endpoint_url: String,
    /// Idle environments older than this are shut down.
    pub idle_timeout: Duration,
    /// An empty directory, given as `/opt` to functions without layers.
    pub empty_dir: PathBuf,
    /// Asked before every cold start of an invocation (Lambda's scaling rate); `None` lets
    /// every cold start happen.
    pub cold_start_gate: Option<Arc<dyn ColdStartGate>>,
}

/// One invocation to run.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The version's configuration; its `revision_id` identifies the generation of environments.
    pub config: Arc<FunctionConfig>,
    /// Host directory holding the extracted code (`/var/task`).
    pub code_dir: PathBuf,
    /// Host directory holding the function's layers merged in order (`/opt`); `None` for a
    /// function without layers, which gets `PoolSettings::empty_dir`.
    pub opt_dir: Option<PathBuf>,
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
    /// The cold-start gate refused a new environment (the function scales too fast).
    #[error("function {function} may not start another environment now")]
    Throttled { function: String },
}

/// The environments of every function, shared by all requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: PoolSettings,
    pub(crate) launcher: Arc<dyn sandbox::Launcher>,
    pub(crate) runtimes: runtimes::Runtimes,
    pub(crate) logs: logs::LogStore,
    versions: Versions,
    closed: AtomicBool,
}

impl Pool {
    /// Creates the pool and starts its idle reaper. Must be called inside a tokio runtime.
    pub fn new(
        settings: PoolSettings,
        launcher: Arc<dyn sandbox::Launcher>,
        runtimes: runtimes::Runtimes,
        logs: logs::LogStore,
    ) -> Self {
        let shared = Arc::new(Shared {
            settings,
            launcher,
            runtimes,
            logs,
            versions: Versions::default(),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(reap_idle(Arc::downgrade(&shared)));
        Pool { shared }
    }

    /// Runs one invocation on a warm environment of its version, or on a new one.
    pub async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResult, PoolError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(PoolError::ShuttingDown);
        }
        let version = self.shared.versions.generation(&request.config);
        // A runtime that exited between invocations (after answering the last one) never saw
        // this one, so nothing of it ran: it goes to another environment, once.
        let mut retried = false;
        let (mut environment, initialization, attempt) = loop {
            let (mut environment, initialization) = match self.acquire(&version, &request).await? {
                Ok(acquired) => acquired,
                Err(failed) => return Ok(failed),
            };
            let attempt = environment.run(&request).await;
            if retried || !attempt.undelivered() {
                break (environment, initialization, attempt);
            }
            environment.shutdown("failure");
            version.finish(None, initialization, true);
            retried = true;
        };
        if environment.extensions_busy() && !request.want_tail {
            // Lambda answers the caller as soon as the runtime has; extensions finish their
            // post-invoke work before the environment takes the next invocation.
            let result = attempt.early_result(&request.config.version);
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                let (_, health) = environment.complete(attempt, &request).await;
                let reusable = (health == Health::Reusable).then_some(environment);
                version.finish(
                    reusable,
                    initialization,
                    shared.closed.load(Ordering::Acquire),
                );
            });
            return Ok(result);
        }
        let (result, health) = environment.complete(attempt, &request).await;
        let reusable = (health == Health::Reusable).then_some(environment);
        version.finish(
            reusable,
            initialization,
            self.shared.closed.load(Ordering::Acquire),
        );
        Ok(result)
    }

    /// An environment for `request`: provisioned first, then a warm on-demand one, then a cold
    /// start. A start that fails gives the invocation's result instead.
    async fn acquire(
        &self,
        version: &Generation,
        request: &InvokeRequest,
    ) -> Result<Result<(Environment, Initialization), InvokeResult>, PoolError> {
        if let Some(environment) = version.take_provisioned() {
            return Ok(Ok((environment, Initialization::Provisioned)));
        }
        if let Some(environment) = version.take_idle() {
            return Ok(Ok((environment, Initialization::OnDemand)));
        }
        if let Some(gate) = &self.shared.settings.cold_start_gate
            && !gate.allow_cold_start(&request.config.name)
        {
            return Err(PoolError::Throttled {
                function: request.config.name.clone(),
            });
        }
        // While the launcher prepares the new environment's sandbox (when none is ready ahead,
        // it makes one now, a few at a time), an environment of the version that goes idle
        // serves the invocation instead: in a burst, the later invocations reuse the first
        // environments rather than each wait for a sandbox of its own. A sandbox made meanwhile
        // is kept for the next start, and the gate takes the cold start back: otherwise, under
        // load, invocations that each counted a start they never made exhaust the scaling rate.
        let prepared = tokio::select! {
            biased;
            environment = version.idle_returned() => {
                if let Some(gate) = &self.shared.settings.cold_start_gate {
                    gate.cold_start_not_needed(&request.config.name);
                }
                return Ok(Ok((environment, Initialization::OnDemand)));
            }
            prepared = environment::prepare(&self.shared, &request.config.name) => prepared?,
        };
        let start = StartFor {
            config: Arc::clone(&request.config),
            code_dir: &request.code_dir,
            opt_dir: request.opt_dir.as_deref(),
            request_id: &request.request_id,
            invoked_arn: &request.invoked_arn,
            initialization: Initialization::OnDemand,
        };
        let started = Environment::start(&self.shared, prepared, start).await?;
        Ok(match started {
            Ok(environment) => {
                version.started_on_demand();
                Ok((environment, Initialization::OnDemand))
            }
            Err(failure) => Err(failure.into_result(request, &request.config).await),
        })
    }

    /// Keeps `requested` environments of the target's published version initialised ahead of
    /// invocations (0 stops), replacing those that die; see [`Pool::provisioned`] for progress.
    pub fn provision(&self, target: ProvisionTarget, requested: u32) {
        if self.shared.closed.load(Ordering::Acquire) {
            return;
        }
        if let Some(generation) = self.shared.versions.provision(target, requested) {
            tokio::spawn(provisioned::maintain(
                Arc::downgrade(&self.shared),
                generation,
            ));
        }
    }

    /// Stops keeping environments of `version` of `function` initialised.
    pub fn unprovision(&self, function: &str, version: &str) {
        self.shared.versions.unprovision(function, version);
    }

    /// What the environments of every version of `function` are doing, `$LATEST` first.
    pub fn activity(&self, function: &str) -> Vec<VersionActivity> {
        self.shared.versions.activity(function)
    }

    /// The provisioned concurrency of `version` of `function`: all zero without any.
    pub fn provisioned(&self, function: &str, version: &str) -> ProvisionedStatus {
        self.activity(function)
            .into_iter()
            .find(|activity| activity.version == version)
            .map(|activity| activity.provisioned)
            .unwrap_or_default()
    }

    /// Retires the environments of one version: after a change of `$LATEST`, or when a
    /// published version is deleted. Other versions keep theirs.
    pub fn retire_version(&self, function: &str, version: &str) {
        self.shared.versions.retire_version(function, version);
    }

    /// Retires every environment of a function: idle ones stop now, busy ones after their
    /// invocation. Called on a code or configuration change and on delete.
    pub fn retire(&self, function: &str) {
        self.shared.versions.retire(function);
    }

    /// Stops every environment; used when the server stops.
    pub async fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.versions.retire_all();
    }

    /// Number of idle (warm) environments, for status and tests.
    pub fn idle_count(&self, function: &str) -> usize {
        self.shared.versions.idle_count(function)
    }
}

/// Shuts down environments idle for longer than the idle timeout, until the pool is dropped.
async fn reap_idle(shared: std::sync::Weak<Shared>) {
    loop {
        let period = match shared.upgrade() {
            Some(shared) => {
                let timeout = shared.settings.idle_timeout;
                shared.versions.reap(timeout);
                (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
            }
            None => return,
        };
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests;
