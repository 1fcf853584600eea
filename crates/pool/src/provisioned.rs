//! Provisioned concurrency: environments of a published version initialised before any
//! invocation (`AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`), kept at the requested
//! count by one maintenance task per version, replaced when they die, and preferred by invokes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use model::FunctionConfig;
use tokio::sync::Notify;

use crate::Shared;
use crate::environment::{Environment, StartFor};
use crate::versions::Generation;

/// How long the maintenance task sleeps between looks at its environments when nothing wakes
/// it: a provisioned environment that dies while idle is noticed within this time.
const RECHECK: Duration = Duration::from_secs(1);

/// How an environment came to be, as `AWS_LAMBDA_INITIALIZATION_TYPE` and the Telemetry API's
/// `initializationType` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Initialization {
    OnDemand,
    Provisioned,
}

impl Initialization {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Initialization::OnDemand => "on-demand",
            Initialization::Provisioned => "provisioned-concurrency",
        }
    }
}

/// What the pool needs to start environments of a version without an invocation.
#[derive(Debug, Clone)]
pub struct ProvisionTarget {
    /// The published version's configuration.
    pub config: Arc<FunctionConfig>,
    /// Host directory holding the extracted code (`/var/task`).
    pub code_dir: PathBuf,
    /// Host directory holding the merged layers (`/opt`), if the version has layers.
    pub opt_dir: Option<PathBuf>,
}

/// How far the provisioning of one version got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProvisionedStatus {
    /// Environments asked for.
    pub requested: u32,
    /// Initialised environments, idle or running an invocation.
    pub allocated: u32,
    /// Initialised environments waiting for an invocation.
    pub idle: u32,
    /// Why initialising an environment failed; provisioning stops until it is asked for again.
    pub failure: Option<String>,
}

/// `Status` of a provisioned concurrency configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionedState {
    InProgress,
    Ready,
    Failed,
}

impl ProvisionedStatus {
    pub fn state(&self) -> ProvisionedState {
        if self.failure.is_some() {
            ProvisionedState::Failed
        } else if self.allocated >= self.requested {
            ProvisionedState::Ready
        } else {
            ProvisionedState::InProgress
        }
    }
}

/// The provisioned environments of one generation.
#[derive(Debug, Default)]
pub(crate) struct Reserve {
    state: Mutex<ReserveState>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct ReserveState {
    target: Option<ProvisionTarget>,
    requested: u32,
    idle: Vec<Environment>,
    busy: u32,
    starting: u32,
    failure: Option<String>,
    /// A maintenance task runs for this reserve.
    maintained: bool,
}

impl ReserveState {
    fn allocated(&self) -> u32 {
        count(self.idle.len()) + self.busy
    }
}

/// What the maintenance task does next.
#[derive(Debug)]
enum Step {
    Start(ProvisionTarget, u32),
    Wait,
    Stop,
}

impl Reserve {
    fn lock(&self) -> MutexGuard<'_, ReserveState> {
        // Critical sections only move values in and out; a panic cannot leave them half done.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An idle provisioned environment that still runs, now busy; dead ones are dropped and
    /// will be replaced.
    pub(crate) fn take(&self) -> Option<Environment> {
        let mut state = self.lock();
        let mut lost = false;
        let found = loop {
            match state.idle.pop() {
                Some(environment) if environment.is_alive() => break Some(environment),
                Some(_) => lost = true,
                None => break None,
            }
        };
        if found.is_some() {
            state.busy += 1;
        }
        drop(state);
        if lost {
            self.wake.notify_one();
        }
        found
    }

    /// Takes back an environment after its invocation; `None` if it was torn down, and a
    /// replacement starts. Beyond the requested count (the count went down meanwhile), or with
    /// `discard` (a retired generation, a closing pool), the environment is shut down.
    pub(crate) fn give_back(&self, environment: Option<Environment>, discard: bool) {
        let mut state = self.lock();
        state.busy = state.busy.saturating_sub(1);
        match environment {
            Some(environment) if !discard && state.allocated() < state.requested => {
                state.idle.push(environment);
            }
            _ => {
                drop(state);
                self.wake.notify_one();
            }
        }
    }

    /// Sets the count to keep initialised; returns `true` if the caller must start the
    /// maintenance task. A new request forgets an earlier failure, so provisioning retries.
    pub(crate) fn set(&self, target: ProvisionTarget, requested: u32) -> bool {
        let mut state = self.lock();
        state.target = Some(target);
        state.requested = requested;
        state.failure = None;
        let surplus = state.allocated().saturating_sub(requested);
        let keep = state.idle.len().saturating_sub(surplus as usize);
        state.idle.truncate(keep);
        let start_task = requested > 0 && !state.maintained;
        if start_task {
            state.maintained = true;
        }
        drop(state);
        self.wake.notify_one();
        start_task
    }

    /// Drops every idle environment and stops provisioning; busy ones end with their invocation.
    pub(crate) fn clear(&self) {
        let mut state = self.lock();
        state.requested = 0;
        state.idle.clear();
        drop(state);
        self.wake.notify_one();
    }

    pub(crate) fn status(&self) -> ProvisionedStatus {
        let state = self.lock();
        ProvisionedStatus {
            requested: state.requested,
            allocated: state.allocated(),
            idle: count(state.idle.len()),
            failure: state.failure.clone(),
        }
    }

    /// Busy provisioned environments, for status.
    pub(crate) fn busy(&self) -> u32 {
        self.lock().busy
    }

    fn next_step(&self, retired: bool) -> Step {
        let mut state = self.lock();
        if retired || state.requested == 0 {
            state.maintained = false;
            return Step::Stop;
        }
        let before = state.idle.len();
        state.idle.retain(Environment::is_alive);
        if state.idle.len() < before {
            tracing::info!(
                lost = before - state.idle.len(),
                "provisioned environments died"
            );
        }
        if state.failure.is_some() {
            return Step::Wait;
        }
        let missing = state
            .requested
            .saturating_sub(state.allocated() + state.starting);
        match (&state.target, missing) {
            (Some(target), missing) if missing > 0 => {
                let target = target.clone();
                state.starting += missing;
                Step::Start(target, missing)
            }
            _ => Step::Wait,
        }
    }

    fn started(&self, results: Vec<Result<Environment, String>>, retired: bool) {
        let mut state = self.lock();
        for result in results {
            state.starting = state.starting.saturating_sub(1);
            match result {
                Ok(environment) if !retired && state.allocated() < state.requested => {
                    state.idle.push(environment);
                }
                Ok(_) => {}
                Err(reason) => state.failure = Some(reason),
            }
        }
    }
}

/// Keeps the provisioned environments of `generation` at the requested count until it drops
/// to 0, the generation is retired or the pool is gone.
pub(crate) async fn maintain(shared: Weak<Shared>, generation: Arc<Generation>) {
    loop {
        let reserve = generation.reserve();
        match reserve.next_step(generation.is_retired()) {
            Step::Stop => return,
            Step::Wait => {
                let _ = tokio::time::timeout(RECHECK, reserve.wake.notified()).await;
            }
            Step::Start(target, missing) => {
                let Some(pool) = shared.upgrade() else {
                    return;
                };
                let starts = (0..missing).map(|_| start(&pool, &target));
                let results = futures_util::future::join_all(starts).await;
                drop(pool);
                reserve.started(results, generation.is_retired());
            }
        }
    }
}

/// Initialises one provisioned environment; the error is the configuration's `StatusReason`.
async fn start(shared: &Shared, target: &ProvisionTarget) -> Result<Environment, String> {
    let config = &target.config;
    let request_id = model::ids::request_id();
    let arn = shared
        .settings
        .scope
        .qualified_arn(&config.name, &config.version);
    let started = async {
        let prepared = crate::environment::prepare(shared, &config.name).await?;
        let start = StartFor {
            config: Arc::clone(config),
            code_dir: &target.code_dir,
            opt_dir: target.opt_dir.as_deref(),
            request_id: &request_id,
            invoked_arn: &arn,
            initialization: Initialization::Provisioned,
        };
        Environment::start(shared, prepared, start).await
    }
    .await;
    match started {
        Ok(Ok(environment)) => Ok(environment),
        Ok(Err(failure)) => {
            let error_type = failure.failure.error_type().to_owned();
            tracing::warn!(function = %config.name, version = %config.version, %error_type, "provisioned environment failed to initialise");
            Err(format!(
                "FUNCTION_ERROR_INIT_FAILURE: an environment failed to initialise ({error_type})"
            ))
        }
        Err(error) => Err(format!(
            "FUNCTION_ERROR_INIT_FAILURE: an environment could not start ({error})"
        )),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(requested: u32, allocated: u32, failure: Option<&str>, expect: ProvisionedState) {
        let status = ProvisionedStatus {
            requested,
            allocated,
            idle: 0,
            failure: failure.map(str::to_owned),
        };
        assert_eq!(status.state(), expect);
    }

    #[test]
    fn ready_once_every_environment_is_initialised() {
        check(3, 0, None, ProvisionedState::InProgress);
        check(3, 2, None, ProvisionedState::InProgress);
        check(3, 3, None, ProvisionedState::Ready);
        check(3, 1, Some("init failed"), ProvisionedState::Failed);
        assert_eq!(
            Initialization::Provisioned.as_str(),
            "provisioned-concurrency"
        );
        assert_eq!(Initialization::OnDemand.as_str(), "on-demand");
    }
}
