//! The $LATEST configurations the invoke path has seen, so a warm invoke reads no database.
//!
//! Invariant: an entry is never older than the last write to its function. Writers invalidate
//! after their store write; a reader that missed fills the cache only if no invalidation happened
//! since it started reading the store (a generation counter, compared under the lock).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use model::FunctionConfig;

/// What an invocation of $LATEST needs: the configuration, the extracted code and the merged
/// layers (`None` without layers).
#[derive(Debug)]
pub(crate) struct LatestEntry {
    pub(crate) config: Arc<FunctionConfig>,
    pub(crate) code_dir: PathBuf,
    pub(crate) opt_dir: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub(crate) struct LatestCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Arc<LatestEntry>>,
    generation: u64,
}

/// Proof of when a reader started its store read; see [`LatestCache::fill`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generation(u64);

impl LatestCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is consistent after every statement, so a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached entry of `name`, or the generation to pass to `fill` after reading the store.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<LatestEntry>, Generation> {
        let inner = self.lock();
        inner
            .entries
            .get(name)
            .cloned()
            .ok_or(Generation(inner.generation))
    }

    /// Caches `entry` unless the cache was invalidated since `seen` was taken.
    pub(crate) fn fill(&self, name: &str, entry: Arc<LatestEntry>, seen: Generation) {
        let mut inner = self.lock();
        if inner.generation == seen.0 {
            inner.entries.insert(name.to_string(), entry);
        }
    }

    /// Forgets `name`; called after every write to the function.
    pub(crate) fn invalidate(&self, name: &str) {
        let mut inner = self.lock();
        inner.entries.remove(name);
        inner.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(revision: &str) -> Arc<LatestEntry> {
        let config = FunctionConfig {
            handler: "h".into(),
            code: model::CodeRef {
                sha256_hex: "00".repeat(32),
                size: 1,
                unzipped_size: 1,
            },
            last_modified: "2026-01-15T10:00:00Z".parse().unwrap(),
            revision_id: revision.into(),
            ..FunctionConfig::example("f")
        };
        Arc::new(LatestEntry {
            config: Arc::new(config),
            code_dir: PathBuf::from("/code"),
            opt_dir: None,
        })
    }

    #[test]
    fn fill_after_invalidation_is_dropped() {
        let cache = LatestCache::default();
        let seen = cache.get("f").unwrap_err();
        cache.invalidate("f");
        cache.fill("f", entry("old"), seen);
        assert!(
            cache.get("f").is_err(),
            "a read older than a write must not be cached"
        );

        let seen = cache.get("f").unwrap_err();
        cache.fill("f", entry("new"), seen);
        assert_eq!(cache.get("f").unwrap().config.revision_id, "new");

        cache.invalidate("f");
        assert!(cache.get("f").is_err());
    }
}
