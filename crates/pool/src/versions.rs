//! Warm environments grouped by function version and configuration generation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use model::FunctionConfig;

use crate::environment::Environment;

/// The environments of one version of one function, for one configuration (`revision_id`).
#[derive(Debug)]
pub(crate) struct Generation {
    revision_id: String,
    idle: Mutex<Vec<Environment>>,
    retired: AtomicBool,
}

impl Generation {
    /// The most recently used idle environment that still runs (the warmest).
    pub(crate) fn take_idle(&self) -> Option<Environment> {
        let mut idle = lock(&self.idle);
        while let Some(environment) = idle.pop() {
            if environment.is_alive() {
                return Some(environment);
            }
        }
        None
    }

    /// Returns an environment after an invocation; a retired generation shuts it down instead.
    pub(crate) fn put_idle(&self, environment: Environment) {
        if self.retired.load(Ordering::Acquire) {
            return;
        }
        lock(&self.idle).push(environment);
    }

    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        lock(&self.idle).clear();
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
            retired: AtomicBool::new(false),
        });
        if let Some(old) = versions.insert(config.version.clone(), Arc::clone(&fresh)) {
            old.retire();
        }
        fresh
    }

    pub(crate) fn retire(&self, function: &str) {
        let removed = lock(&self.by_function).remove(function);
        for generation in removed.into_iter().flat_map(HashMap::into_values) {
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

    /// Shuts down environments idle for longer than `timeout`.
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections here only move values in and out of collections; a panic elsewhere
    // cannot leave them half-updated.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
