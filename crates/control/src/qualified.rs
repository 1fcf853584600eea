//! The published versions and aliases the invoke path has seen, so a warm invoke by version or
//! alias reads no database either.
//!
//! Invariant: as for `$LATEST` (see `cache`), an entry is never older than the last write to its
//! function's versions or aliases: writers invalidate after their store write, and a reader
//! fills only if no invalidation happened since it started reading.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use model::alias::Alias;

use crate::cache::LatestEntry;

#[derive(Debug, Default)]
pub(crate) struct QualifiedCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    functions: HashMap<String, Entries>,
    generation: u64,
}

#[derive(Debug, Default)]
struct Entries {
    versions: HashMap<String, Arc<LatestEntry>>,
    aliases: HashMap<String, Arc<Alias>>,
}

/// Proof of when a reader started its store read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen(u64);

impl QualifiedCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The maps are consistent after every statement, so a panic elsewhere leaves them usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached published `version` of `function`, or the mark to fill it with.
    pub(crate) fn version(&self, function: &str, version: &str) -> Result<Arc<LatestEntry>, Seen> {
        let inner = self.lock();
        inner
            .functions
            .get(function)
            .and_then(|entries| entries.versions.get(version))
            .cloned()
            .ok_or(Seen(inner.generation))
    }

    /// The cached alias `name` of `function`, or the mark to fill it with.
    pub(crate) fn alias(&self, function: &str, name: &str) -> Result<Arc<Alias>, Seen> {
        let inner = self.lock();
        inner
            .functions
            .get(function)
            .and_then(|entries| entries.aliases.get(name))
            .cloned()
            .ok_or(Seen(inner.generation))
    }

    pub(crate) fn fill_version(&self, function: &str, entry: Arc<LatestEntry>, seen: Seen) {
        let mut inner = self.lock();
        if inner.generation == seen.0 {
            let version = entry.config.version.clone();
            inner
                .functions
                .entry(function.to_owned())
                .or_default()
                .versions
                .insert(version, entry);
        }
    }

    pub(crate) fn fill_alias(&self, alias: Arc<Alias>, seen: Seen) {
        let mut inner = self.lock();
        if inner.generation == seen.0 {
            inner
                .functions
                .entry(alias.function.clone())
                .or_default()
                .aliases
                .insert(alias.name.clone(), alias);
        }
    }

    /// Forgets everything of `function`; called after a write to its versions or aliases.
    pub(crate) fn invalidate(&self, function: &str) {
        let mut inner = self.lock();
        inner.functions.remove(function);
        inner.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(version: &str) -> Arc<Alias> {
        Arc::new(Alias {
            function: "f".into(),
            name: "live".into(),
            function_version: version.into(),
            description: String::new(),
            additional_version: None,
            revision_id: "r".into(),
        })
    }

    #[test]
    fn a_read_older_than_a_write_is_not_cached() {
        let cache = QualifiedCache::default();
        let seen = cache.alias("f", "live").unwrap_err();
        cache.invalidate("f");
        cache.fill_alias(alias("1"), seen);
        assert!(cache.alias("f", "live").is_err());

        let seen = cache.alias("f", "live").unwrap_err();
        cache.fill_alias(alias("2"), seen);
        assert_eq!(cache.alias("f", "live").unwrap().function_version, "2");
        assert!(
            cache.version("f", "2").is_err(),
            "versions are cached apart"
        );
        cache.invalidate("f");
        assert!(cache.alias("f", "live").is_err());
    }
}
