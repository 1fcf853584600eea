//! Warm environments grouped by function version and configuration generation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use model::FunctionConfig;

use crate::environment::Environment;
use crate::provisioned::{Initialization, ProvisionTarget, ProvisionedStatus, Reserve};

/// How many of the most recently used idle environments are looked through for one served on
/// the caller's event loop. Few: further down they are colder, and the look holds the lock.
const HOME_WINDOW: usize = 8;

/// The environments of one version of one function, for one configuration (`revision_id`):
/// on-demand ones, idle or busy, and the provisioned reserve.
#[derive(Debug)]
pub(crate) struct Generation {
    revision_id: String,
    idle: Mutex<Vec<Environment>>,
    /// Wakes an invocation waiting for its cold start when an environment goes idle.
    returned: tokio::sync::Notify,
    /// On-demand environments running an invocation.
    busy: AtomicU32,
    reserve: Reserve,
    retired: AtomicBool,
}

/// What one version's environments are doing, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionActivity {
    /// `$LATEST` or a version number.
    pub version: String,
    /// Warm on-demand environments waiting for an invocation.
    pub idle: u32,
    /// On-demand environments running an invocation.
    pub busy: u32,
    /// Provisioned environments running an invocation.
    pub provisioned_busy: u32,
    /// Provisioned concurrency of the version; `requested` is 0 without any.
    pub provisioned: ProvisionedStatus,
}

impl Generation {
    /// The most recently used idle environment that still runs (the warmest), now busy. Among
    /// the few most recently used, one served by this thread's event loop comes first.
    pub(crate) fn take_idle(&self) -> Option<Environment> {
        let here = std::thread::current().id();
        let mut idle = lock(&self.idle);
        let nearby = idle
            .iter()
            .rev()
            .take(HOME_WINDOW)
            .position(|environment| environment.home == here)
            .map(|offset| idle.len() - 1 - offset);
        let first = nearby.map(|index| idle.remove(index));
        // Environments that stopped running are dropped on the way.
        let environment = first
            .into_iter()
            .chain(std::iter::from_fn(|| idle.pop()))
            .find(Environment::is_alive)?;
        self.busy.fetch_add(1, Ordering::Relaxed);
        Some(environment)
    }

    /// The next on-demand environment that goes idle (or one idle now), now busy.
    pub(crate) async fn idle_returned(&self) -> Environment {
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(environment) = self.take_idle() {
                return environment;
            }
            returned.await;
        }
    }

    /// An idle provisioned environment, now busy.
    pub(crate) fn take_provisioned(&self) -> Option<Environment> {
        self.reserve.take()
    }

    /// Counts an environment that was just started for an invocation as busy.
    pub(crate) fn started_on_demand(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes an environment back after an invocation; `None` if it was torn down. A retired
    /// generation or a closed pool shuts it down instead of keeping it.
    pub(crate) fn finish(
        &self,
        environment: Option<Environment>,
        initialization: Initialization,
        closed: bool,
    ) {
        let keep = !closed && !self.is_retired();
        match initialization {
            Initialization::Provisioned => self.reserve.give_back(environment, !keep),
            Initialization::OnDemand => {
                self.busy.fetch_sub(1, Ordering::Relaxed);
                if let Some(environment) = environment
                    && keep
                {
                    lock(&self.idle).push(environment);
                    self.returned.notify_one();
                }
            }
        }
    }

    pub(crate) fn reserve(&self) -> &Reserve {
        &self.reserve
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        lock(&self.idle).clear();
        self.reserve.clear();
    }

    fn activity(&self, version: &str) -> VersionActivity {
        VersionActivity {
            version: version.to_owned(),
            idle: u32::try_from(lock(&self.idle).len()).unwrap_or(u32::MAX),
            busy: self.busy.load(Ordering::Relaxed),
            provisioned_busy: self.reserve.busy(),
            provisioned: self.reserve.status(),
        }
    }
}

/// Every function's generations.
#[derive(Debug, Default)]
pub(crate) struct Versions {
    by_function: Mutex<HashMap<String, HashMap<String, Arc<Generation>>>>,
}

impl Versions {
    /// The current generation of `config`'s version; a newer configuration retires the old one.
    pub(crate) fn generation(&self, config: &FunctionConfig) -> Arc<Generation> {
        let mut functions = lock(&self.by_function);
        // The warm path: the current generation exists; no allocation.
        if let Some(current) = functions
            .get(&config.name)
            .and_then(|v| v.get(&config.version))
            && current.revision_id == config.revision_id
        {
            return Arc::clone(current);
        }
        let versions = functions.entry(config.name.clone()).or_default();
        let fresh = Arc::new(Generation {
            revision_id: config.revision_id.clone(),
            idle: Mutex::new(Vec::new()),
            returned: tokio::sync::Notify::new(),
            busy: AtomicU32::new(0),
            reserve: Reserve::default(),
            retired: AtomicBool::new(false),
        });
        if let Some(old) = versions.insert(config.version.clone(), Arc::clone(&fresh)) {
            old.retire();
        }
        fresh
    }

    /// Keeps `requested` environments of the target's version initialised; returns the
    /// generation if its maintenance task must be started.
    pub(crate) fn provision(
        &self,
        target: ProvisionTarget,
        requested: u32,
    ) -> Option<Arc<Generation>> {
        let generation = self.generation(&target.config);
        generation
            .reserve
            .set(target, requested)
            .then_some(generation)
    }

    /// Stops keeping environments of `version` initialised: the idle provisioned ones stop now,
    /// busy ones after their invocation.
    pub(crate) fn unprovision(&self, function: &str, version: &str) {
        let generation = lock(&self.by_function)
            .get(function)
            .and_then(|versions| versions.get(version))
            .cloned();
        if let Some(generation) = generation {
            generation.reserve.clear();
        }
    }

    pub(crate) fn retire(&self, function: &str) {
        let removed = lock(&self.by_function).remove(function);
        for generation in removed.into_iter().flat_map(HashMap::into_values) {
            generation.retire();
        }
    }

    pub(crate) fn retire_version(&self, function: &str, version: &str) {
        let removed = lock(&self.by_function)
            .get_mut(function)
            .and_then(|versions| versions.remove(version));
        if let Some(generation) = removed {
            generation.retire();
        }
    }

    pub(crate) fn retire_all(&self) {
        let all: Vec<_> = lock(&self.by_function).drain().collect();
        for generation in all
            .into_iter()
            .flat_map(|(_, versions)| versions.into_values())
        {
            generation.retire();
        }
    }

    pub(crate) fn idle_count(&self, function: &str) -> usize {
        lock(&self.by_function)
            .get(function)
            .map(|versions| versions.values().map(|g| lock(&g.idle).len()).sum())
            .unwrap_or(0)
    }

    /// What the environments of each version of `function` do, ordered by version.
    pub(crate) fn activity(&self, function: &str) -> Vec<VersionActivity> {
        let generations: Vec<(String, Arc<Generation>)> = lock(&self.by_function)
            .get(function)
            .map(|versions| {
                versions
                    .iter()
                    .map(|(version, generation)| (version.clone(), Arc::clone(generation)))
                    .collect()
            })
            .unwrap_or_default();
        let mut activity: Vec<VersionActivity> = generations
            .iter()
            .map(|(version, generation)| generation.activity(version))
            .collect();
        activity.sort_by(|a, b| version_order(&a.version, &b.version));
        activity
    }

    /// Shuts down on-demand environments idle for longer than `timeout`; provisioned ones stay.
    pub(crate) fn reap(&self, timeout: Duration) {
        let generations: Vec<Arc<Generation>> = lock(&self.by_function)
            .values()
            .flat_map(|v| v.values().cloned())
            .collect();
        let now = Instant::now();
        for generation in generations {
            lock(&generation.idle)
                .retain(|env| env.is_alive() && now.duration_since(env.last_used) < timeout);
        }
    }
}

/// `$LATEST` first, then version numbers in numeric order.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |v: &str| (v != model::function::LATEST, v.len(), v.to_owned());
    key(a).cmp(&key(b))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections here only move values in and out of collections; a panic elsewhere
    // cannot leave them half-updated.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_comes_first_then_numbers_in_order() {
        let mut versions = vec!["10", "2", "$LATEST", "1"];
        versions.sort_by(|a, b| version_order(a, b));
        assert_eq!(versions, ["$LATEST", "1", "2", "10"]);
    }
}
