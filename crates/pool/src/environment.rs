//! One execution environment: its runtime process, its Runtime API endpoint and its logger.
//! It starts (Init), runs one invocation at a time (Invoke), and is torn down after a timeout,
//! a crash, a retirement or when idle too long (Shutdown).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use model::limits::INIT_TIMEOUT_MS;
use model::{FunctionConfig, ids};
use runtime_api::{Endpoint, EndpointConfig, EndpointEvent, Invocation, Outcome};
use runtimes::EnvPaths;
use sandbox::{ExitReason, LaunchSpec, Mounts, Sandbox};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::env_vars::{self, EnvContext};
use crate::failure::Failure;
use crate::logger::Logger;
use crate::report::{self, Report, ReportStatus};
use crate::{InvokeRequest, InvokeResult, PoolError, Shared};

/// A running environment that finished its Init phase.
#[derive(Debug)]
pub(crate) struct Environment {
    endpoint: Endpoint,
    sandbox: Arc<dyn Sandbox>,
    exit: watch::Receiver<Option<ExitReason>>,
    server: JoinHandle<()>,
    logger: Logger,
    config: Arc<FunctionConfig>,
    /// Init time, reported on the first invocation only.
    init_duration: Option<Duration>,
    pub(crate) last_used: Instant,
}

/// What happened to the environment during an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// Can serve the next invocation.
    Reusable,
    /// Was (or must be) torn down.
    Spent,
}

/// A cold start that failed: the invocation's result is already decided.
#[derive(Debug)]
pub(crate) struct StartFailure {
    pub(crate) failure: Failure,
    pub(crate) logger: Logger,
    pub(crate) elapsed: Duration,
}

impl Environment {
    /// Starts an environment for `config` and waits until its runtime asks for the first event.
    pub(crate) async fn start(
        shared: &Shared,
        config: Arc<FunctionConfig>,
        code_dir: &std::path::Path,
        request_id: &str,
    ) -> Result<Result<Environment, StartFailure>, PoolError> {
        let started = Instant::now();
        let now = jiff::Timestamp::now();
        let stream = ids::log_stream_name(now, &config.version);
        let logger = Logger::spawn(&shared.logs, &env_vars::log_group(&config.name), &stream);
        let fail = |failure: Failure, logger: Logger| {
            Ok(Err(StartFailure {
                failure,
                logger,
                elapsed: started.elapsed(),
            }))
        };

        let prepared =
            shared
                .launcher
                .prepare()
                .await
                .map_err(|e| PoolError::StartEnvironment {
                    function: config.name.clone(),
                    reason: e.to_string(),
                })?;
        // Idempotent and cheap once done; needed here too because a restarted server runs
        // functions whose runtime nobody prepared since.
        if let Err(error) = shared.runtimes.prepare(config.runtime).await {
            return fail(
                Failure::launch(request_id, error.error_type(), &error.to_string()),
                logger,
            );
        }
        let runtime_dir = match shared.runtimes.runtime_dir(config.runtime) {
            Ok(dir) => dir,
            Err(error) => {
                return fail(
                    Failure::launch(request_id, error.error_type(), &error.to_string()),
                    logger,
                );
            }
        };
        let mounts = Mounts {
            task_root: code_dir.to_path_buf(),
            opt: shared.settings.empty_dir.clone(),
            runtime_dir,
        };
        let inside = shared.launcher.inside(&mounts);
        let plan = match shared.runtimes.launch_plan(
            config.runtime,
            &config.handler,
            &env_paths(&mounts),
            &env_paths(&inside),
        ) {
            Ok(plan) => plan,
            Err(error) => {
                return fail(
                    Failure::launch(request_id, error.error_type(), &error.to_string()),
                    logger,
                );
            }
        };
        let env = env_vars::environment(
            &config,
            &EnvContext {
                region: &shared.settings.scope.region,
                runtime_api: &prepared.runtime_api,
                endpoint_url: &shared.settings.endpoint_url,
                log_stream: &stream,
                initialization_type: "on-demand",
                inside: &inside,
                runtime_env: &plan.env,
            },
        );

        let (endpoint, mut events) = Endpoint::new(EndpointConfig {
            function_name: config.name.clone(),
            function_version: config.version.clone(),
            handler: config.handler.clone(),
            account_id: shared.settings.scope.account.clone(),
            external_extensions: Vec::new(),
            dialer: Arc::new(runtime_api::telemetry::LoopbackDialer),
        });
        let server = runtime_api::serve(prepared.listener, endpoint.clone());
        logger.line(report::init_start_line(config.runtime));
        let spec = LaunchSpec {
            program: plan.program,
            args: plan.args,
            env,
            cwd: inside.task_root.clone(),
            mounts,
            memory_mb: config.memory_mb,
            ephemeral_storage_mb: config.ephemeral_storage_mb,
        };
        let sandbox: Arc<dyn Sandbox> = match shared.launcher.launch(spec).await {
            Ok(sandbox) => Arc::from(sandbox),
            Err(error) => {
                server.abort();
                let message = launch_error_message(&error);
                return fail(
                    Failure::launch(request_id, "Runtime.InvalidEntrypoint", &message),
                    logger,
                );
            }
        };
        if let Some((stdout, stderr)) = sandbox.take_output() {
            logger.attach(stdout, stderr);
        }
        let exit = supervise(Arc::clone(&sandbox));
        let mut environment = Environment {
            endpoint,
            sandbox,
            exit,
            server,
            logger,
            config,
            init_duration: None,
            last_used: Instant::now(),
        };

        let init = environment.await_init(&mut events, request_id).await;
        let elapsed = started.elapsed();
        match init {
            Ok(()) => {
                environment.init_duration = Some(elapsed);
                Ok(Ok(environment))
            }
            Err(failure) => {
                let status = failure.report_status();
                environment
                    .logger
                    .line(report::init_report_line(elapsed, &status));
                let logger = environment.logger.clone();
                environment.shutdown();
                Ok(Err(StartFailure {
                    failure,
                    logger,
                    elapsed,
                }))
            }
        }
    }

    /// Waits for the runtime's first `/next`, an init error, its exit or the init timeout.
    async fn await_init(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<EndpointEvent>,
        request_id: &str,
    ) -> Result<(), Failure> {
        let timeout = tokio::time::sleep(Duration::from_millis(INIT_TIMEOUT_MS));
        tokio::pin!(timeout);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(EndpointEvent::Ready { extensions }) => {
                        for extension in extensions {
                            self.logger.line(report::extension_line(&extension.name, &extension.events));
                        }
                        return Ok(());
                    }
                    Some(EndpointEvent::InitError { error_type, body }) => {
                        return Err(Failure::InitError { error_type, body });
                    }
                    Some(EndpointEvent::ExtensionError { name, error_type, .. }) => {
                        return Err(Failure::extension(request_id, &name, &error_type));
                    }
                    Some(EndpointEvent::Subscribed { name, types }) => {
                        self.logger.line(report::telemetry_line(&name, &types));
                    }
                    None => return Err(Failure::exit(request_id, ExitReason::Unknown)),
                },
                reason = exited(&mut self.exit) => return Err(Failure::exit(request_id, reason)),
                () = &mut timeout => return Err(Failure::init_timeout(request_id, INIT_TIMEOUT_MS)),
            }
        }
    }

    /// Runs one invocation on this environment.
    pub(crate) async fn invoke(&mut self, request: &InvokeRequest) -> (InvokeResult, Health) {
        let started = Instant::now();
        let timeout = Duration::from_secs(u64::from(self.config.timeout_s));
        let deadline_ms =
            jiff::Timestamp::now().as_millisecond().max(0) as u64 + timeout.as_millis() as u64;
        self.logger.begin(
            report::start_line(&request.request_id, &self.config.version),
            request.want_tail,
        );
        let answer = self.endpoint.dispatch(Invocation {
            request_id: request.request_id.clone(),
            payload: request.payload.clone(),
            deadline_ms,
            invoked_function_arn: request.invoked_arn.clone(),
            trace_id: request
                .trace_id
                .clone()
                .unwrap_or_else(|| ids::trace_header(jiff::Timestamp::now())),
            client_context: request.client_context.clone(),
            cognito_identity: request.cognito_identity.clone(),
        });

        let ended = tokio::select! {
            answer = answer => match answer {
                Ok(outcome) => Ok(outcome),
                Err(_) => Err(Failure::exit(&request.request_id, ExitReason::Unknown)),
            },
            reason = exited(&mut self.exit) => Err(Failure::exit(&request.request_id, reason)),
            () = tokio::time::sleep(timeout) => Err(Failure::Timeout {
                request_id: request.request_id.clone(),
                timeout_s: self.config.timeout_s,
            }),
        };
        let duration = started.elapsed().min(timeout);
        let (body, error_type, status, health) = match ended {
            Ok(Outcome::Response(body)) => (body, None, ReportStatus::Success, Health::Reusable),
            Ok(Outcome::Error { error_type, body }) => {
                // A refused response (too large, bad mode) is the platform's error, not the handler's.
                let status = if error_type.starts_with("Function.ResponseSizeTooLarge")
                    || error_type.starts_with("Runtime.")
                {
                    ReportStatus::Error(error_type.clone())
                } else {
                    ReportStatus::FunctionError
                };
                (body, Some(error_type), status, Health::Reusable)
            }
            Err(failure) => {
                self.shutdown();
                let status = failure.report_status();
                (
                    failure.body(),
                    Some(failure.error_type().to_string()),
                    status,
                    Health::Spent,
                )
            }
        };
        let result = self
            .finish(request, body, error_type, status, duration)
            .await;
        self.last_used = Instant::now();
        (result, health)
    }

    /// Writes `END` / `REPORT` and builds the caller's result.
    async fn finish(
        &mut self,
        request: &InvokeRequest,
        body: Bytes,
        error_type: Option<String>,
        status: ReportStatus,
        duration: Duration,
    ) -> InvokeResult {
        let mut lines =
            Failure::log_lines_for(&status, &request.request_id, &body, self.config.timeout_s);
        let report = Report {
            request_id: request.request_id.clone(),
            duration,
            memory_size_mb: self.config.memory_mb,
            max_memory_used_mb: report::megabytes(self.sandbox.peak_memory_bytes().unwrap_or(0)),
            init_duration: self.init_duration.take(),
            status,
        };
        lines.push(report::end_line(&request.request_id));
        lines.push(report.line());
        let tail = self.logger.finish(lines, request.want_tail);
        let log_tail = match tail {
            Some(tail) => tail.await.ok(),
            None => None,
        };
        InvokeResult {
            executed_version: self.config.version.clone(),
            function_error: error_type.as_ref().map(|_| "Unhandled"),
            error_type,
            body,
            log_tail,
        }
    }

    /// True while the runtime process runs.
    pub(crate) fn is_alive(&self) -> bool {
        self.exit.borrow().is_none()
    }

    /// Tears the environment down: refuses further Runtime API calls and kills the process
    /// tree. Without extensions Lambda gives the runtime no shutdown time, so neither does flint.
    pub(crate) fn shutdown(&self) {
        self.endpoint.close();
        self.sandbox.kill();
        self.server.abort();
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl StartFailure {
    /// Logs the failed invocation and returns its result.
    pub(crate) async fn into_result(
        self,
        request: &InvokeRequest,
        config: &FunctionConfig,
    ) -> InvokeResult {
        self.logger.begin(
            report::start_line(&request.request_id, &config.version),
            request.want_tail,
        );
        let status = self.failure.report_status();
        let body = self.failure.body();
        let mut lines =
            Failure::log_lines_for(&status, &request.request_id, &body, config.timeout_s);
        let report = Report {
            request_id: request.request_id.clone(),
            duration: Duration::ZERO,
            memory_size_mb: config.memory_mb,
            max_memory_used_mb: 0,
            init_duration: Some(self.elapsed),
            status,
        };
        lines.push(report::end_line(&request.request_id));
        lines.push(report.line());
        let log_tail = match self.logger.finish(lines, request.want_tail) {
            Some(tail) => tail.await.ok(),
            None => None,
        };
        InvokeResult {
            executed_version: config.version.clone(),
            function_error: Some("Unhandled"),
            error_type: Some(self.failure.error_type().to_string()),
            body,
            log_tail,
        }
    }
}

/// Waits for the runtime process in its own task and publishes how it ended.
fn supervise(sandbox: Arc<dyn Sandbox>) -> watch::Receiver<Option<ExitReason>> {
    let (sender, receiver) = watch::channel(None);
    tokio::spawn(async move {
        let reason = sandbox.wait().await;
        let _ = sender.send(Some(reason));
    });
    receiver
}

/// Resolves when the runtime process has exited.
async fn exited(exit: &mut watch::Receiver<Option<ExitReason>>) -> ExitReason {
    match exit.wait_for(Option::is_some).await {
        Ok(reason) => reason.unwrap_or(ExitReason::Unknown),
        Err(_) => ExitReason::Unknown,
    }
}

fn env_paths(mounts: &Mounts) -> EnvPaths {
    EnvPaths {
        task_root: mounts.task_root.clone(),
        opt: mounts.opt.clone(),
        runtime_dir: mounts.runtime_dir.clone(),
    }
}

/// Lambda words a failed exec like Go's `fork/exec`: `fork/exec /var/task/bootstrap: permission denied`.
fn launch_error_message(error: &sandbox::SandboxError) -> String {
    match error {
        sandbox::SandboxError::Spawn { program, source } => {
            let reason = match source.kind() {
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                _ => source.to_string().to_lowercase(),
            };
            format!("fork/exec {}: {reason}", program.display())
        }
        other => other.to_string(),
    }
}
