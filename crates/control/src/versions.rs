//! Published versions: PublishVersion (also `Publish=true` on create and code update),
//! ListVersionsByFunction, deleting one version, and finding the configuration a qualifier
//! names, for reads and for invokes.
//!
//! Invariant: a published version never changes. Its environments belong to its own
//! generation in the pool, so changing `$LATEST` leaves them warm.

use std::sync::Arc;

use model::function::LATEST;
use model::version::{Qualifier, is_version_number};
use model::{FunctionConfig, Scope, ids, validate};
use store::{Publication, PublishRequest, StoreError};

use crate::cache::LatestEntry;
use crate::marker;
use crate::resolve::{self, Target};
use crate::{ControlError, ControlPlane};

/// A PublishVersion request.
#[derive(Debug, Clone, Default)]
pub struct PublishInput {
    /// Publish only if `$LATEST`'s `CodeSha256` (base64) is this.
    pub code_sha256: Option<String>,
    /// The version's description instead of the function's.
    pub description: Option<String>,
    /// Publish only if `$LATEST` is at this revision.
    pub revision_id: Option<String>,
}

/// One page of ListVersionsByFunction: `$LATEST` first, then the published versions in order.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionPage {
    pub versions: Vec<FunctionConfig>,
    pub next_marker: Option<String>,
}

impl ControlPlane {
    /// PublishVersion: snapshots `$LATEST` as the next version, unless it did not change since
    /// the last one, which is returned instead.
    pub async fn publish_version(
        &self,
        scope: &Scope,
        function_name: &str,
        input: PublishInput,
    ) -> Result<FunctionConfig, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        if let Some(description) = &input.description {
            validate::description(description)?;
        }
        let _write = self.inner.writes.lock().await;
        let latest = self.stored(scope, &target).await?.latest;
        if let Some(expected) = &input.revision_id
            && *expected != latest.revision_id
        {
            return Err(ControlError::RevisionMismatch {
                name: target.name,
                expected: expected.clone(),
            });
        }
        let current = latest.code.code_sha256();
        if let Some(given) = &input.code_sha256
            && *given != current
        {
            return Err(validate::invalid(format!(
                "CodeSHA256 ({given}) is different from current CodeSHA256 in $LATEST ({current}). Please try again with the CodeSHA256 in $LATEST."
            ))
            .into());
        }
        self.publish_locked(scope, &target, &latest.revision_id, input.description)
            .await
    }

    /// Publishes `$LATEST` at `latest_revision`; the caller holds the write lock.
    pub(crate) async fn publish_locked(
        &self,
        scope: &Scope,
        target: &Target,
        latest_revision: &str,
        description: Option<String>,
    ) -> Result<FunctionConfig, ControlError> {
        let request = PublishRequest {
            function: target.name.clone(),
            latest_revision: latest_revision.to_owned(),
            description,
            revision_id: ids::revision_id(),
            now: self.inner.clock.now(),
        };
        let publication =
            self.inner
                .store
                .publish_version(&request)
                .await
                .map_err(|err| match err {
                    StoreError::RevisionMismatch { name, expected, .. } => {
                        ControlError::RevisionMismatch { name, expected }
                    }
                    StoreError::FunctionNotFound { .. } => ControlError::FunctionNotFound {
                        arn: target.arn(scope),
                    },
                    other => ControlError::Store(other),
                })?;
        match publication {
            Publication::Published(config) => {
                tracing::info!(function = %config.name, version = %config.version, "published version");
                Ok(config)
            }
            Publication::Unchanged(config) => Ok(config),
        }
    }

    /// ListVersionsByFunction.
    pub async fn list_versions(
        &self,
        scope: &Scope,
        function_name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<VersionPage, ControlError> {
        let target = resolve::target(scope, function_name, None)?;
        let limit = crate::functions::page_size(max_items)?;
        let after = marker.map(decode_marker).transpose()?;
        let latest = self.stored(scope, &target).await?.latest;
        let mut versions = Vec::with_capacity(limit + 1);
        if after.is_none() {
            versions.push(latest);
        }
        let published = self
            .inner
            .store
            .list_versions(&target.name, after, limit + 1 - versions.len())
            .await
            .map_err(ControlError::Store)?;
        versions.extend(published);
        let next_marker = marker::next_page(&mut versions, limit, |v| v.version.clone());
        Ok(VersionPage {
            versions,
            next_marker,
        })
    }

    /// DeleteFunction with a version number: that version goes, with its environments and
    /// provisioned concurrency, unless an alias uses it. A version that does not exist is not an
    /// error, as on Lambda.
    pub(crate) async fn delete_version(
        &self,
        scope: &Scope,
        target: &Target,
        version: &str,
    ) -> Result<(), ControlError> {
        let function = Target {
            name: target.name.clone(),
            qualifier: None,
        };
        let _write = self.inner.writes.lock().await;
        self.stored(scope, &function).await?;
        let deleted = self
            .inner
            .store
            .delete_version(&target.name, version)
            .await
            .map_err(|err| match err {
                StoreError::VersionInUse { aliases, .. } => ControlError::VersionInUse {
                    arn: target.arn(scope),
                    aliases,
                },
                other => ControlError::Store(other),
            })?;
        if deleted {
            self.inner.qualified.invalidate(&target.name);
            self.inner.pool.retire_version(&target.name, version);
            self.reprovision(&target.name).await?;
            self.forget_event_invoke_config(&target.name, version)
                .await?;
            tracing::info!(function = %target.name, version, "deleted version");
        }
        Ok(())
    }

    /// The configuration a read (GetFunction, GetFunctionConfiguration) names: `$LATEST`, a
    /// version, or the version an alias points at. `latest` is the function's `$LATEST`.
    pub(crate) async fn configuration_of(
        &self,
        scope: &Scope,
        target: &Target,
        latest: FunctionConfig,
    ) -> Result<FunctionConfig, ControlError> {
        let version = match target.qualifier.as_deref().map(Qualifier::of) {
            None | Some(Qualifier::Latest) => return Ok(latest),
            Some(Qualifier::Version(version)) => version.to_owned(),
            Some(Qualifier::Alias(name)) => {
                let alias = self.stored_alias(scope, target, name).await?;
                alias.function_version.clone()
            }
        };
        if version == LATEST {
            return Ok(latest);
        }
        self.inner
            .store
            .get_version(&target.name, &version)
            .await
            .map_err(ControlError::Store)?
            .ok_or_else(|| ControlError::FunctionNotFound {
                arn: target.arn(scope),
            })
    }

    /// What an invocation of `target` runs, from the caches when it can: `$LATEST`, a version,
    /// or for an alias the version its weights pick, with a fresh roll of the dice.
    pub(crate) async fn runnable(
        &self,
        scope: &Scope,
        target: &Target,
    ) -> Result<Arc<LatestEntry>, ControlError> {
        let version = match target.qualifier.as_deref().map(Qualifier::of) {
            None | Some(Qualifier::Latest) => return self.latest(scope, target).await,
            Some(Qualifier::Version(version)) => {
                return self.published(scope, target, version).await;
            }
            Some(Qualifier::Alias(name)) => {
                let alias = self.cached_alias(scope, target, name).await?;
                let routing = admission::routing::Routing {
                    primary: &alias.function_version,
                    additional: alias
                        .additional_version
                        .as_ref()
                        .map(|a| (a.version.as_str(), a.weight)),
                };
                let roll = if routing.additional.is_some() {
                    rand::random::<f64>()
                } else {
                    0.0
                };
                routing.choose(roll).to_owned()
            }
        };
        if version == LATEST {
            self.latest(scope, target).await
        } else {
            self.published(scope, target, &version).await
        }
    }

    /// A published version and its code, from the cache when it can.
    async fn published(
        &self,
        scope: &Scope,
        target: &Target,
        version: &str,
    ) -> Result<Arc<LatestEntry>, ControlError> {
        let seen = match self.inner.qualified.version(&target.name, version) {
            Ok(entry) => return Ok(entry),
            Err(seen) => seen,
        };
        let config = self
            .inner
            .store
            .get_version(&target.name, version)
            .await
            .map_err(ControlError::Store)?
            .ok_or_else(|| ControlError::FunctionNotFound {
                arn: target.arn(scope),
            })?;
        let entry = self.runnable_entry(config).await?;
        self.inner
            .qualified
            .fill_version(&target.name, Arc::clone(&entry), seen);
        Ok(entry)
    }

    /// A configuration with its code extracted and its layers merged, ready for the pool.
    pub(crate) async fn runnable_entry(
        &self,
        config: FunctionConfig,
    ) -> Result<Arc<LatestEntry>, ControlError> {
        let code_dir = self.code_dir(&config.code).await?;
        let opt_dir = self.opt_dir(&config.layers).await?;
        Ok(Arc::new(LatestEntry {
            config: Arc::new(config),
            code_dir,
            opt_dir,
        }))
    }
}

/// The version number a marker continues after; `$LATEST` is before every number.
fn decode_marker(marker: &str) -> Result<u64, ControlError> {
    marker::decode_key(marker, |_| true)
        .ok()
        .and_then(|version| match version.as_str() {
            LATEST => Some(0),
            number if is_version_number(number) => number.parse().ok(),
            _ => None,
        })
        .ok_or_else(|| validate::invalid(format!("Invalid marker: {marker}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_name_the_last_version_listed() {
        assert_eq!(decode_marker(&marker::encode("$LATEST")).unwrap(), 0);
        assert_eq!(decode_marker(&marker::encode("12")).unwrap(), 12);
        for bad in ["", "!!", &marker::encode("live")] {
            assert!(decode_marker(bad).is_err(), "{bad}");
        }
    }
}
