//! One execution environment: its runtime process, its external extensions, its Runtime API
//! endpoint and its logger. It starts (Init), runs one invocation at a time (Invoke), and is
//! torn down after a timeout, a crash, a retirement or when idle too long (Shutdown).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use model::limits::INIT_TIMEOUT_MS;
use model::{FunctionConfig, ids};
use runtime_api::telemetry::Event;
use runtime_api::{Endpoint, EndpointConfig, EndpointEvent, Invocation, Outcome};
use runtimes::EnvPaths;
use sandbox::{ExitReason, LaunchSpec, Mounts, Prepared, Sandbox};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::env_vars::{self, EnvContext};
use crate::failure::Failure;
use crate::freezer::Freezer;
use crate::logger::{Closing, Logger};
use crate::provisioned::Initialization;
use crate::report::{self, Report, ReportStatus, round2, status_word};
use crate::{InvokeRequest, InvokeResult, PoolError, Shared};

/// Lambda's shutdown budget when external extensions run: 2,000 ms.
const SHUTDOWN_WITH_EXTENSIONS: Duration = Duration::from_millis(2_000);

/// A running environment that finished its Init phase.
#[derive(Debug)]
pub(crate) struct Environment {
    endpoint: Endpoint,
    runtime: Arc<dyn Sandbox>,
    extensions: Vec<Process>,
    exit: watch::Receiver<Option<ExitReason>>,
    server: Option<JoinHandle<()>>,
    logger: Logger,
    config: Arc<FunctionConfig>,
    /// Init time, reported on the first invocation only.
    init_duration: Option<Duration>,
    /// On demand, or ahead of invocations for provisioned concurrency.
    initialization: Initialization,
    stopped: bool,
    freezer: Arc<Freezer>,
    pub(crate) last_used: Instant,
    /// The thread whose event loop serves the environment's Runtime API (the one that started
    /// it): an invocation taken there needs no hand-off between threads.
    pub(crate) home: std::thread::ThreadId,
    /// Keeps the Runtime API listener in the loopback shortcut while the environment lives.
    _shortcut: Option<sandbox::loopback::Admission>,
}

/// An external extension's process.
#[derive(Debug, Clone)]
struct Process {
    sandbox: Arc<dyn Sandbox>,
    exit: watch::Receiver<Option<ExitReason>>,
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

/// The runtime's part of an invocation is over; extensions may still be working.
#[derive(Debug)]
pub(crate) struct Attempt {
    started: Instant,
    runtime_done: Duration,
    ended: Result<Outcome, Failure>,
    /// The runtime exited before it received the invocation: nothing of it ran.
    undelivered: bool,
}

/// What an environment is started for.
#[derive(Debug)]
pub(crate) struct StartFor<'a> {
    pub(crate) config: Arc<FunctionConfig>,
    pub(crate) code_dir: &'a Path,
    pub(crate) opt_dir: Option<&'a Path>,
    /// The invocation that starts it (a provisioned one has its own id).
    pub(crate) request_id: &'a str,
    pub(crate) invoked_arn: &'a str,
    pub(crate) initialization: Initialization,
}

/// Asks the launcher for a new environment's Runtime API listener and sandbox (made ahead of
/// time, or now).
pub(crate) async fn prepare(shared: &Shared, function: &str) -> Result<Prepared, PoolError> {
    shared
        .launcher
        .prepare()
        .await
        .map_err(|e| PoolError::StartEnvironment {
            function: function.to_owned(),
            reason: e.to_string(),
        })
}

impl Environment {
    /// Starts an environment in what the launcher `prepared`: its external extensions, which
    /// must register, then its runtime; returns once the runtime and every extension asked
    /// for their first event.
    pub(crate) async fn start(
        shared: &Shared,
        prepared: Prepared,
        start: StartFor<'_>,
    ) -> Result<Result<Environment, StartFailure>, PoolError> {
        let StartFor {
            config,
            code_dir,
            opt_dir,
            request_id,
            invoked_arn,
            initialization,
        } = start;
        let started = Instant::now();
        // The environment runs in the region it was invoked in (the invoked ARN names it).
        let region = invoked_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .unwrap_or(&shared.settings.scope.region)
            .to_string();
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
            opt: opt_dir.map_or_else(|| shared.settings.empty_dir.clone(), Path::to_path_buf),
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
                region: &region,
                runtime_api: &prepared.runtime_api,
                endpoint_url: prepared
                    .endpoint_url
                    .as_deref()
                    .unwrap_or(&shared.settings.endpoint_url),
                log_stream: &stream,
                initialization_type: initialization.as_str(),
                inside: &inside,
                runtime_env: &plan.env,
            },
        );
        let extension_names = discover_extensions(&mounts.opt.join("extensions"));

        let (endpoint, mut events) = Endpoint::new(EndpointConfig {
            function_name: config.name.clone(),
            function_version: config.version.clone(),
            handler: config.handler.clone(),
            account_id: shared.settings.scope.account.clone(),
            external_extensions: extension_names.clone(),
            dialer: match &prepared.network {
                Some(network) => Arc::new(NetworkDialer(Arc::clone(network))),
                None => Arc::new(runtime_api::telemetry::LoopbackDialer),
            },
        });
        let server = runtime_api::serve(prepared.listener, endpoint.clone());
        let runtime_program = plan.program.clone();
        let spec = |program: PathBuf,
                    args: Vec<String>,
                    env: Vec<(String, String)>,
                    cwd: PathBuf| LaunchSpec {
            program,
            args,
            env,
            cwd,
            mounts: mounts.clone(),
            runtime_program: runtime_program.clone(),
            memory_mb: config.memory_mb,
            ephemeral_storage_mb: config.ephemeral_storage_mb,
            network: prepared.network.clone(),
        };

        // Extension init: every external extension starts and registers before the runtime.
        let mut extensions = Vec::new();
        let extension_env = env_vars::for_extensions(&env);
        for name in &extension_names {
            let program = inside.opt.join("extensions").join(name);
            let launched = shared
                .launcher
                .launch(spec(
                    program,
                    Vec::new(),
                    extension_env.clone(),
                    inside.opt.clone(),
                ))
                .await;
            let sandbox: Arc<dyn Sandbox> = match launched {
                Ok(sandbox) => Arc::from(sandbox),
                Err(error) => {
                    server.abort();
                    let message = format!("extension {name}: {}", launch_error_message(&error));
                    return fail(
                        Failure::launch(request_id, "Extension.LaunchError", &message),
                        logger,
                    );
                }
            };
            if let Some((stdout, stderr)) = sandbox.take_output() {
                logger.attach_extension(stdout, stderr, endpoint.telemetry().clone());
            }
            let exit = supervise(Arc::clone(&sandbox));
            extensions.push(Process { sandbox, exit });
        }
        let (runtime_exit_sender, exit) = watch::channel(None);
        let placeholder: Arc<dyn Sandbox> = Arc::new(NotStarted);
        let mut environment = Environment {
            endpoint,
            runtime: placeholder,
            extensions,
            exit,
            server: Some(server),
            logger,
            config: Arc::clone(&config),
            init_duration: None,
            initialization,
            stopped: false,
            freezer: Arc::default(),
            last_used: Instant::now(),
            home: std::thread::current().id(),
            _shortcut: prepared.shortcut,
        };
        drop(runtime_exit_sender);
        if let Err(failure) = environment
            .await_registrations(&mut events, request_id)
            .await
        {
            return Ok(Err(environment.abandon(failure, started.elapsed())));
        }

        // Runtime init.
        environment
            .logger
            .line(report::init_start_line(config.runtime));
        environment.platform(
            "platform.initStart",
            json!({
                "initializationType": initialization.as_str(),
                "phase": "init",
                "functionName": config.name,
                "functionVersion": config.version,
                "runtimeVersion": config.runtime.to_string(),
            }),
        );
        let launched = shared
            .launcher
            .launch(spec(plan.program, plan.args, env, inside.task_root.clone()))
            .await;
        let runtime: Arc<dyn Sandbox> = match launched {
            Ok(sandbox) => Arc::from(sandbox),
            Err(error) => {
                let failure = Failure::launch(
                    request_id,
                    "Runtime.InvalidEntrypoint",
                    &launch_error_message(&error),
                );
                return Ok(Err(environment.abandon(failure, started.elapsed())));
            }
        };
        if let Some((stdout, stderr)) = runtime.take_output() {
            environment
                .logger
                .attach(stdout, stderr, environment.endpoint.telemetry().clone());
        }
        environment.exit = supervise(Arc::clone(&runtime));
        let mut processes: Vec<Arc<dyn Sandbox>> = vec![Arc::clone(&runtime)];
        processes.extend(
            environment
                .extensions
                .iter()
                .map(|e| Arc::clone(&e.sandbox)),
        );
        environment.freezer = Freezer::new(processes);
        environment.runtime = runtime;

        let init = environment.await_init(&mut events, request_id).await;
        let elapsed = started.elapsed();
        match init {
            Ok(()) => {
                // A provisioned environment initialised before any invocation: its first
                // REPORT has no Init Duration.
                if initialization == Initialization::OnDemand {
                    environment.init_duration = Some(elapsed);
                }
                let millis = round2(elapsed);
                let kind = initialization.as_str();
                environment.platform(
                    "platform.initRuntimeDone",
                    json!({"initializationType": kind, "phase": "init", "status": "success"}),
                );
                environment.platform(
                    "platform.initReport",
                    json!({"initializationType": kind, "phase": "init", "status": "success", "metrics": {"durationMs": millis}}),
                );
                Ok(Ok(environment))
            }
            Err(failure) => Ok(Err(environment.abandon(failure, elapsed))),
        }
    }

    /// Logs a failed init, tears the environment down and hands back the failure.
    fn abandon(mut self, failure: Failure, elapsed: Duration) -> StartFailure {
        let status = failure.report_status();
        self.logger.line(report::init_report_line(elapsed, &status));
        self.platform(
            "platform.initReport",
            json!({"initializationType": self.initialization.as_str(), "phase": "init", "status": status_word(&status), "errorType": failure.error_type(), "metrics": {"durationMs": round2(elapsed)}}),
        );
        self.shutdown("failure");
        StartFailure {
            failure,
            logger: self.logger.clone(),
            elapsed,
        }
    }

    /// Waits until every external extension registered.
    async fn await_registrations(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<EndpointEvent>,
        request_id: &str,
    ) -> Result<(), Failure> {
        let mut missing = self.extensions.len();
        let deadline = tokio::time::sleep(Duration::from_millis(INIT_TIMEOUT_MS));
        tokio::pin!(deadline);
        while missing > 0 {
            tokio::select! {
                event = events.recv() => match event {
                    Some(EndpointEvent::Registered { .. }) => missing -= 1,
                    Some(other) => self.early_event(other, request_id)?,
                    None => return Err(Failure::exit(request_id, ExitReason::Unknown)),
                },
                reason = any_exited(&mut self.extensions) => {
                    return Err(Failure::extension(request_id, "extension", &format!("exited before registering: {reason}")));
                }
                () = &mut deadline => return Err(Failure::init_timeout(request_id, INIT_TIMEOUT_MS)),
            }
        }
        Ok(())
    }

    /// Handles an endpoint event that may arrive during Init; errors end the Init.
    fn early_event(&mut self, event: EndpointEvent, request_id: &str) -> Result<(), Failure> {
        match event {
            EndpointEvent::InitError { error_type, body } => {
                Err(Failure::InitError { error_type, body })
            }
            EndpointEvent::ExtensionError {
                name, error_type, ..
            } => Err(Failure::extension(request_id, &name, &error_type)),
            EndpointEvent::Subscribed { name, types } => {
                self.logger.line(report::telemetry_line(&name, &types));
                Ok(())
            }
            EndpointEvent::Registered { .. } | EndpointEvent::Ready { .. } => Ok(()),
        }
    }

    /// Waits for the runtime's and every extension's first `next`, an init error, an exit or
    /// the init timeout.
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
                            self.platform(
                                "platform.extension",
                                json!({"name": extension.name, "state": "Ready", "events": extension.events}),
                            );
                        }
                        return Ok(());
                    }
                    Some(other) => self.early_event(other, request_id)?,
                    None => return Err(Failure::exit(request_id, ExitReason::Unknown)),
                },
                reason = exited(&mut self.exit) => return Err(Failure::exit(request_id, reason)),
                reason = any_exited(&mut self.extensions) => {
                    return Err(Failure::extension(request_id, "extension", &format!("exited during init: {reason}")));
                }
                () = &mut timeout => return Err(Failure::init_timeout(request_id, INIT_TIMEOUT_MS)),
            }
        }
    }

    /// Hands one invocation to the runtime and waits for its answer (or a timeout, or a crash).
    pub(crate) async fn run(&mut self, request: &InvokeRequest) -> Attempt {
        self.freezer.wake();
        let started = Instant::now();
        let timeout = Duration::from_secs(u64::from(self.config.timeout_s));
        let deadline_ms =
            jiff::Timestamp::now().as_millisecond().max(0) as u64 + timeout.as_millis() as u64;
        self.logger.begin(
            report::start_line(&request.request_id, &self.config.version),
            request.want_tail,
        );
        self.platform(
            "platform.start",
            json!({"requestId": request.request_id, "version": self.config.version}),
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
        let mut undelivered = false;
        let ended = tokio::select! {
            answer = answer => answer.map_err(|_| Failure::exit(&request.request_id, ExitReason::Unknown)),
            reason = exited(&mut self.exit) => {
                undelivered = self.endpoint.withdraw();
                if undelivered {
                    self.logger.line(format!(
                        "RequestId: {} The runtime exited ({reason}) before it took the invocation; a new environment runs it",
                        request.request_id
                    ));
                }
                Err(Failure::exit(&request.request_id, reason))
            }
            () = tokio::time::sleep(timeout) => Err(Failure::Timeout {
                request_id: request.request_id.clone(),
                timeout_s: self.config.timeout_s,
            }),
        };
        let runtime_done = started.elapsed().min(timeout);
        let attempt = Attempt {
            started,
            runtime_done,
            ended,
            undelivered,
        };
        if self.endpoint.telemetry().has_subscribers() {
            let (_, _, status) = attempt.verdict();
            let produced = match &attempt.ended {
                Ok(Outcome::Response(body)) => body.len(),
                _ => 0,
            };
            self.platform(
                "platform.runtimeDone",
                json!({"requestId": request.request_id, "status": status_word(&status), "metrics": {"durationMs": round2(runtime_done), "producedBytes": produced}}),
            );
        }
        attempt
    }

    /// True while an extension still works on the last invocation (post-invoke work).
    pub(crate) fn extensions_busy(&self) -> bool {
        !self.endpoint.extensions_idle()
    }

    /// Finishes an invocation: waits for extensions to finish their post-invoke work (within
    /// the function's timeout), writes `END` / `REPORT`, and builds the caller's result.
    pub(crate) async fn complete(
        &mut self,
        attempt: Attempt,
        request: &InvokeRequest,
    ) -> (InvokeResult, Health) {
        let timeout = Duration::from_secs(u64::from(self.config.timeout_s));
        let mut attempt = attempt;
        if attempt.ended.is_ok() {
            let remaining = timeout.saturating_sub(attempt.started.elapsed());
            if tokio::time::timeout(remaining, self.endpoint.extensions_settled())
                .await
                .is_err()
            {
                attempt.ended = Err(Failure::Timeout {
                    request_id: request.request_id.clone(),
                    timeout_s: self.config.timeout_s,
                });
            }
        }
        let duration = attempt.started.elapsed().min(timeout);
        let (body, error_type, status) = attempt.verdict();
        let health = match &attempt.ended {
            Ok(_) => Health::Reusable,
            Err(failure) => {
                self.shutdown(shutdown_reason(failure));
                Health::Spent
            }
        };
        if health == Health::Reusable {
            // Idle environments use no CPU until their next invocation, as on Lambda.
            self.freezer.idle();
        }
        let lines =
            Failure::log_lines_for(&status, &request.request_id, &body, self.config.timeout_s);
        let report = Report {
            request_id: request.request_id.clone(),
            duration,
            memory_size_mb: self.config.memory_mb,
            max_memory_used_mb: 0,
            init_duration: self.init_duration.take(),
            status,
        };
        // The logger reads the peak memory and writes END / REPORT, off the caller's path.
        let closing = Closing {
            report,
            memory: Some(Arc::clone(&self.runtime)),
            runtime_done: attempt.runtime_done,
        };
        let log_tail = match self.logger.finish(lines, closing, request.want_tail) {
            Some(tail) => tail.await.ok(),
            None => None,
        };
        self.last_used = Instant::now();
        let result = InvokeResult {
            executed_version: self.config.version.clone(),
            function_error: error_type.as_ref().map(|_| "Unhandled"),
            error_type,
            body,
            log_tail,
        };
        (result, health)
    }

    /// Publishes a platform event to the telemetry subscribers, if there are any.
    fn platform(&self, kind: &str, record: serde_json::Value) {
        let hub = self.endpoint.telemetry();
        if hub.has_subscribers() {
            hub.publish(&Event::new(
                model::clock::iso_millis(jiff::Timestamp::now()),
                kind,
                record,
            ));
        }
    }

    /// True while the runtime process runs.
    pub(crate) fn is_alive(&self) -> bool {
        self.exit.borrow().is_none()
    }

    /// Tears the environment down. Without extensions Lambda gives the runtime no shutdown
    /// time, so neither does flint: the process tree is killed at once. Extensions subscribed to
    /// SHUTDOWN get the event with `reason` and up to 2 s to finish.
    pub(crate) fn shutdown(&mut self, reason: &str) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        // Extensions of an idle environment must run to receive SHUTDOWN.
        self.freezer.wake();
        self.runtime.kill();
        let server = self.server.take();
        let deadline_ms = jiff::Timestamp::now().as_millisecond().max(0) as u64
            + SHUTDOWN_WITH_EXTENSIONS.as_millis() as u64;
        let graceful = !self.extensions.is_empty()
            && tokio::runtime::Handle::try_current().is_ok()
            && self.endpoint.shutdown_extensions(reason, deadline_ms);
        if !graceful {
            stop(&self.endpoint, &self.extensions, server);
            return;
        }
        let endpoint = self.endpoint.clone();
        let mut extensions = self.extensions.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(SHUTDOWN_WITH_EXTENSIONS, async {
                tokio::select! {
                    () = endpoint.extensions_settled() => {}
                    () = all_exited(&mut extensions) => {}
                }
            })
            .await;
            stop(&endpoint, &extensions, server);
        });
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.shutdown("spindown");
    }
}

impl Attempt {
    /// True when the runtime never received the invocation, so it may run on another environment.
    pub(crate) fn undelivered(&self) -> bool {
        self.undelivered
    }

    /// The body, error type and report status of the runtime's answer.
    pub(crate) fn verdict(&self) -> (Bytes, Option<String>, ReportStatus) {
        match &self.ended {
            Ok(Outcome::Response(body)) => (body.clone(), None, ReportStatus::Success),
            Ok(Outcome::Error { error_type, body }) => {
                // A refused response (too large, bad mode) is the platform's error, not the handler's.
                let status = if error_type.starts_with("Function.ResponseSizeTooLarge")
                    || error_type.starts_with("Runtime.")
                {
                    ReportStatus::Error(error_type.clone())
                } else {
                    ReportStatus::FunctionError
                };
                (body.clone(), Some(error_type.clone()), status)
            }
            Err(failure) => (
                failure.body(),
                Some(failure.error_type().to_string()),
                failure.report_status(),
            ),
        }
    }

    /// The caller's result, before extensions finish (no log tail).
    pub(crate) fn early_result(&self, version: &str) -> InvokeResult {
        let (body, error_type, _) = self.verdict();
        InvokeResult {
            executed_version: version.to_string(),
            function_error: error_type.as_ref().map(|_| "Unhandled"),
            error_type,
            body,
            log_tail: None,
        }
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
        let lines = Failure::log_lines_for(&status, &request.request_id, &body, config.timeout_s);
        let report = Report {
            request_id: request.request_id.clone(),
            duration: Duration::ZERO,
            memory_size_mb: config.memory_mb,
            max_memory_used_mb: 0,
            init_duration: Some(self.elapsed),
            status,
        };
        let closing = Closing {
            report,
            memory: None,
            runtime_done: Duration::ZERO,
        };
        let log_tail = match self.logger.finish(lines, closing, request.want_tail) {
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

/// Stands in for the runtime until it is launched, so an environment whose extensions fail
/// to start can be torn down like any other.
#[derive(Debug)]
struct NotStarted;

#[async_trait::async_trait]
impl Sandbox for NotStarted {
    fn pid(&self) -> Option<u32> {
        None
    }
    fn take_output(&self) -> Option<(tokio::process::ChildStdout, tokio::process::ChildStderr)> {
        None
    }
    async fn wait(&self) -> ExitReason {
        std::future::pending().await
    }
    fn kill(&self) {}
    fn peak_memory_bytes(&self) -> Option<u64> {
        None
    }
}

fn stop(endpoint: &Endpoint, extensions: &[Process], server: Option<JoinHandle<()>>) {
    for extension in extensions {
        extension.sandbox.kill();
    }
    endpoint.close();
    if let Some(server) = server {
        server.abort();
    }
}

fn shutdown_reason(failure: &Failure) -> &'static str {
    match failure {
        Failure::Timeout { .. } | Failure::InitTimeout { .. } => "timeout",
        _ => "failure",
    }
}

/// The executables in `/opt/extensions`, by name, as Lambda starts them.
fn discover_extensions(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Waits for a process in its own task and publishes how it ended.
fn supervise(sandbox: Arc<dyn Sandbox>) -> watch::Receiver<Option<ExitReason>> {
    let (sender, receiver) = watch::channel(None);
    tokio::spawn(async move {
        let reason = sandbox.wait().await;
        let _ = sender.send(Some(reason));
    });
    receiver
}

/// Resolves when the process has exited.
async fn exited(exit: &mut watch::Receiver<Option<ExitReason>>) -> ExitReason {
    let reason = exit
        .wait_for(Option::is_some)
        .await
        .map(|reason| reason.unwrap_or(ExitReason::Unknown));
    match reason {
        Ok(reason) => reason,
        // The process was never started (or its supervisor is gone): it cannot exit.
        Err(_) => std::future::pending().await,
    }
}

/// Resolves when any extension process has exited; never when there are none.
async fn any_exited(extensions: &mut [Process]) -> ExitReason {
    if extensions.is_empty() {
        return std::future::pending().await;
    }
    let waits = extensions.iter_mut().map(|p| Box::pin(exited(&mut p.exit)));
    futures_util::future::select_all(waits).await.0
}

/// Resolves when every extension process has exited.
async fn all_exited(extensions: &mut [Process]) {
    for process in extensions.iter_mut() {
        exited(&mut process.exit).await;
    }
}

fn env_paths(mounts: &Mounts) -> EnvPaths {
    EnvPaths {
        task_root: mounts.task_root.clone(),
        opt: mounts.opt.clone(),
        runtime_dir: mounts.runtime_dir.clone(),
    }
}

/// Reaches listeners inside an environment that has a network of its own.
#[derive(Debug)]
struct NetworkDialer(Arc<sandbox::Network>);

#[async_trait::async_trait]
impl runtime_api::telemetry::Dialer for NetworkDialer {
    async fn dial(&self, port: u16) -> std::io::Result<tokio::net::TcpStream> {
        self.0.connect_inside(port).await
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
