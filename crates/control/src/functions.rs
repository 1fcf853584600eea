//! Creating, reading, listing, changing and deleting functions.

use std::sync::Arc;

use model::function::{FunctionMeta, LATEST};
use model::layer;
use model::limits::LIST_PAGE_MAX;
use model::version::Qualifier;
use model::{FunctionConfig, Runtime, RuntimeFamily, Scope, ids, validate};
use store::StoreError;

use crate::cache::LatestEntry;
use crate::code::check_package;
use crate::resolve::{self, Target};
use crate::spec::{CodeUpdate, ConfigUpdate, FunctionSpec, model_error};
use crate::{ControlError, ControlPlane, marker};

/// A function as GetFunction shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDetails {
    pub config: FunctionConfig,
    pub meta: FunctionMeta,
    /// The qualifier the caller named, if any; Lambda then shows the qualified ARN.
    pub qualifier: Option<String>,
    /// The function's reserved concurrency (GetFunction's `Concurrency`), if set.
    pub reserved_concurrency: Option<u32>,
}

/// One page of ListFunctions.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionPage {
    pub functions: Vec<FunctionConfig>,
    /// Continues the listing; `None` on the last page.
    pub next_marker: Option<String>,
}

/// Lambda's largest `MaxItems`.
const MAX_ITEMS_MODEL_LIMIT: i64 = 10_000;

impl ControlPlane {
    /// CreateFunction: validates the request, stores the package, then the configuration.
    pub async fn create_function(
        &self,
        scope: &Scope,
        spec: FunctionSpec,
    ) -> Result<FunctionConfig, ControlError> {
        let name = resolve::new_function_name(scope, &spec.function_name)?;
        let new = spec.validate(name)?;
        self.prepare_runtime(new.runtime).await?;
        let layers = self.resolve_layers(scope, &spec.layers).await?;
        let zip = spec.code.zip_file.unwrap_or_default();
        let code = self.store_package(zip).await?;
        layer::combined_size(&code, &layers)?;
        let meta = FunctionMeta {
            tags: new.tags.clone(),
        };
        let config = FunctionConfig {
            layers,
            ..new.into_config(code, self.inner.clock.now(), ids::revision_id())
        };

        let _write = self.inner.writes.lock().await;
        self.inner
            .store
            .create_function(&config, &meta)
            .await
            .map_err(|err| match err {
                StoreError::FunctionExists { name } => ControlError::FunctionExists { name },
                other => ControlError::Store(other),
            })?;
        self.changed(&config);
        tracing::info!(function = %config.name, runtime = %config.runtime, "created function");
        if spec.publish {
            // Lambda answers with the version it published.
            let target = Target {
                name: config.name.clone(),
                qualifier: None,
            };
            return self
                .publish_locked(scope, &target, &config.revision_id, None)
                .await;
        }
        Ok(config)
    }

    /// GetFunction and GetFunctionConfiguration.
    pub async fn get_function(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionDetails, ControlError> {
        let target = resolve::target(scope, function_name, qualifier)?;
        let stored = self.stored(scope, &target).await?;
        let config = self.configuration_of(scope, &target, stored.latest).await?;
        Ok(FunctionDetails {
            config,
            meta: stored.meta,
            qualifier: target.qualifier,
            reserved_concurrency: self.inner.ledger.function(&target.name).reserved,
        })
    }

    /// ListFunctions: at most 50 functions a page, ordered by name.
    pub async fn list_functions(
        &self,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<FunctionPage, ControlError> {
        let limit = page_size(max_items)?;
        let after = marker.map(marker::decode).transpose()?;
        let mut functions: Vec<FunctionConfig> = self
            .inner
            .store
            .list_functions(after.as_deref(), limit + 1)
            .await
            .map_err(ControlError::Store)?
            .into_iter()
            .map(|stored| stored.latest)
            .collect();
        let next_marker = marker::next_page(&mut functions, limit, |last| last.name.clone());
        Ok(FunctionPage {
            functions,
            next_marker,
        })
    }

    /// UpdateFunctionCode: stores the new package, then points $LATEST at it.
    pub async fn update_function_code(
        &self,
        scope: &Scope,
        function_name: &str,
        update: CodeUpdate,
    ) -> Result<FunctionConfig, ControlError> {
        let target = resolve::target(scope, function_name, None)?;
        update.validate()?;
        // Fail on an unknown function before the package is hashed and written.
        let current = self.stored(scope, &target).await?.latest;
        check_revision(&current, update.revision_id.as_deref())?;
        let zip = update.code.zip_file.unwrap_or_default();
        if update.dry_run {
            check_package(zip).await?;
            return Ok(current);
        }
        let code = self.store_package(zip).await?;
        let architectures = update.architectures;
        let latest = self
            .write_latest(
                scope,
                &target,
                update.revision_id.as_deref(),
                move |current| {
                    let mut next = current.clone();
                    layer::combined_size(&code, &next.layers)?;
                    next.code = code;
                    if let Some(architectures) = architectures {
                        next.architectures = architectures;
                    }
                    Ok(next)
                },
            )
            .await?;
        if !update.publish {
            return Ok(latest);
        }
        // Publishes exactly the code just written: if `$LATEST` changed again meanwhile, the
        // store refuses with a revision mismatch.
        let _write = self.inner.writes.lock().await;
        self.publish_locked(scope, &target, &latest.revision_id, None)
            .await
    }

    /// UpdateFunctionConfiguration: changes the fields that are set.
    pub async fn update_function_configuration(
        &self,
        scope: &Scope,
        function_name: &str,
        update: ConfigUpdate,
    ) -> Result<FunctionConfig, ControlError> {
        let target = resolve::target(scope, function_name, None)?;
        if let Some(runtime) = &update.runtime {
            self.prepare_runtime(validate::runtime(runtime)?).await?;
        }
        let layers = match &update.layers {
            Some(arns) => Some(self.resolve_layers(scope, arns).await?),
            None => None,
        };
        let revision = update.revision_id.clone();
        self.write_latest(scope, &target, revision.as_deref(), move |current| {
            let mut next = update.apply(current)?;
            if let Some(layers) = layers {
                layer::combined_size(&next.code, &layers)?;
                next.layers = layers;
            }
            Ok(next)
        })
        .await
    }

    /// DeleteFunction. Log groups stay, as on Lambda.
    pub async fn delete_function(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ControlError> {
        let target = resolve::target(scope, function_name, qualifier)?;
        if target.qualifier.as_deref() == Some(LATEST) {
            return Err(validate::invalid(
                "$LATEST version cannot be deleted without deleting the function.",
            )
            .into());
        }
        match target.qualifier.as_deref().map(Qualifier::of) {
            Some(Qualifier::Version(version)) => {
                return self.delete_version(scope, &target, version).await;
            }
            Some(Qualifier::Alias(_)) => {
                return Err(
                    validate::invalid("Deletion of aliases is not currently supported.").into(),
                );
            }
            Some(Qualifier::Latest) | None => {}
        }
        let _write = self.inner.writes.lock().await;
        self.inner
            .store
            .delete_function(&target.name)
            .await
            .map_err(|err| not_found_or_store(err, scope, &target))?;
        self.inner.latest.invalidate(&target.name);
        self.inner.qualified.invalidate(&target.name);
        self.inner.pool.retire(&target.name);
        self.inner.ledger.forget(&target.name);
        tracing::info!(function = %target.name, "deleted function");
        Ok(())
    }

    /// Reads a function, or `FunctionNotFound` with the ARN as the caller named it.
    pub(crate) async fn stored(
        &self,
        scope: &Scope,
        target: &Target,
    ) -> Result<store::StoredFunction, ControlError> {
        self.inner
            .store
            .get_function(&target.name)
            .await
            .map_err(ControlError::Store)?
            .ok_or_else(|| ControlError::FunctionNotFound {
                arn: target.arn(scope),
            })
    }

    /// Replaces $LATEST with what `change` makes of it, under a new revision, and retires the
    /// environments of the old one.
    async fn write_latest(
        &self,
        scope: &Scope,
        target: &Target,
        expected_revision: Option<&str>,
        change: impl FnOnce(&FunctionConfig) -> Result<FunctionConfig, ControlError>,
    ) -> Result<FunctionConfig, ControlError> {
        let _write = self.inner.writes.lock().await;
        let current = self.stored(scope, target).await?.latest;
        check_revision(&current, expected_revision)?;
        let mut next = change(&current)?;
        next.last_modified = self.inner.clock.now();
        next.revision_id = ids::revision_id();
        self.inner
            .store
            .update_latest(&next, expected_revision)
            .await
            .map_err(|err| match err {
                StoreError::RevisionMismatch { name, expected, .. } => {
                    ControlError::RevisionMismatch { name, expected }
                }
                other => not_found_or_store(other, scope, target),
            })?;
        self.changed(&next);
        tracing::info!(function = %next.name, revision = %next.revision_id, "updated function");
        Ok(next)
    }

    /// After a write to `$LATEST`: its environments are of the old revision (published versions
    /// keep theirs), and the invoke path's cache is refilled with the new configuration in the
    /// background, so the next invoke, a cold start, need not read the store and the code
    /// directory first (about 0.35 ms). Extracting new code can take long, so it does not hold
    /// up the write; a write that comes between makes the fill a no-op (see `LatestCache`).
    fn changed(&self, config: &FunctionConfig) {
        self.inner.latest.invalidate(&config.name);
        self.inner.pool.retire_version(&config.name, LATEST);
        let Err(seen) = self.inner.latest.get(&config.name) else {
            return;
        };
        let control = self.clone();
        let config = Arc::new(config.clone());
        tokio::spawn(async move {
            // If code or layers cannot be had now, the invoke path reads them itself and says
            // why.
            let (Ok(code_dir), Ok(opt_dir)) = (
                control.code_dir(&config.code).await,
                control.opt_dir(&config.layers).await,
            ) else {
                return;
            };
            let name = config.name.clone();
            let entry = LatestEntry {
                config,
                code_dir,
                opt_dir,
            };
            control.inner.latest.fill(&name, Arc::new(entry), seen);
        });
    }

    /// Makes sure a managed runtime's interpreter and client are there, so a function that could
    /// never start is refused when it is created.
    async fn prepare_runtime(&self, runtime: Runtime) -> Result<(), ControlError> {
        if runtime.family() == RuntimeFamily::Provided {
            return Ok(());
        }
        self.inner
            .runtimes
            .prepare(runtime)
            .await
            .map_err(|source| ControlError::RuntimeUnavailable {
                runtime: runtime.to_string(),
                source,
            })
    }
}

fn check_revision(current: &FunctionConfig, expected: Option<&str>) -> Result<(), ControlError> {
    match expected {
        Some(expected) if expected != current.revision_id => Err(ControlError::RevisionMismatch {
            name: current.name.clone(),
            expected: expected.to_string(),
        }),
        _ => Ok(()),
    }
}

fn not_found_or_store(err: StoreError, scope: &Scope, target: &Target) -> ControlError {
    match err {
        StoreError::FunctionNotFound { .. } => ControlError::FunctionNotFound {
            arn: target.arn(scope),
        },
        other => ControlError::Store(other),
    }
}

/// How many items a list page holds for a `MaxItems`.
pub(crate) fn page_size(max_items: Option<i64>) -> Result<usize, ControlError> {
    match max_items {
        None => Ok(LIST_PAGE_MAX),
        Some(n) if n < 1 => Err(model_error(
            "maxItems",
            &n.to_string(),
            "Member must have value greater than or equal to 1",
        )
        .into()),
        Some(n) if n > MAX_ITEMS_MODEL_LIMIT => Err(model_error(
            "maxItems",
            &n.to_string(),
            "Member must have value less than or equal to 10000",
        )
        .into()),
        Some(n) => Ok(usize::try_from(n).map_or(LIST_PAGE_MAX, |n| n.min(LIST_PAGE_MAX))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::ValidationKind;

    #[track_caller]
    fn check_page_size(max_items: Option<i64>, expect: Option<usize>) {
        let got = page_size(max_items).ok();
        assert_eq!(got, expect, "{max_items:?}");
        if let Err(ControlError::Validation(e)) = page_size(max_items) {
            assert_eq!(e.kind, ValidationKind::Model);
        }
    }

    #[test]
    fn pages_hold_at_most_fifty() {
        check_page_size(None, Some(50));
        check_page_size(Some(1), Some(1));
        check_page_size(Some(50), Some(50));
        check_page_size(Some(10_000), Some(50));
        check_page_size(Some(0), None);
        check_page_size(Some(10_001), None);
    }
}
