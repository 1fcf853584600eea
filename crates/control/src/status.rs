//! Runtime state of functions for `flint status` and `flint ls`: their versions and aliases,
//! what their environments do, provisioned concurrency and throttles. Lambda has no API for
//! this; the `api` crate serves it on a flint-specific path.

use model::alias::Alias;
use model::{FunctionConfig, Scope};

use crate::admission::FunctionConcurrency;
use crate::concurrency::ProvisionedView;
use crate::resolve;
use crate::{ControlError, ControlPlane};

/// Everything flint knows about one function right now.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStatus {
    /// `$LATEST` first, then every published version in order.
    pub versions: Vec<FunctionConfig>,
    pub aliases: Vec<Alias>,
    pub concurrency: FunctionConcurrency,
    /// What the environments of each version with any do, `$LATEST` first.
    pub environments: Vec<pool::VersionActivity>,
    pub provisioned: Vec<ProvisionedView>,
    /// Its asynchronous invocations: queued, running, failed.
    pub async_events: crate::AsyncEventStatus,
}

impl ControlPlane {
    /// The status of one function.
    pub async fn function_status(
        &self,
        scope: &Scope,
        function_name: &str,
    ) -> Result<FunctionStatus, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        let latest = self.stored(scope, &target).await?.latest;
        self.status_of(latest).await
    }

    /// The status of every function, by name.
    pub async fn all_status(&self) -> Result<Vec<(String, FunctionStatus)>, ControlError> {
        let functions = self
            .inner
            .store
            .list_functions(None, usize::MAX)
            .await
            .map_err(ControlError::Store)?;
        let mut all = Vec::with_capacity(functions.len());
        for function in functions {
            let name = function.latest.name.clone();
            all.push((name, self.status_of(function.latest).await?));
        }
        Ok(all)
    }

    async fn status_of(&self, latest: FunctionConfig) -> Result<FunctionStatus, ControlError> {
        let name = latest.name.clone();
        let mut versions = vec![latest];
        versions.extend(
            self.inner
                .store
                .list_versions(&name, None, usize::MAX)
                .await
                .map_err(ControlError::Store)?,
        );
        let aliases = self.all_aliases(&name).await?;
        let provisioned = self
            .provisioned_configs(&name)
            .await?
            .into_iter()
            .map(|config| {
                let alias = aliases.iter().find(|a| a.name == config.qualifier);
                self.provisioned_view(config, alias)
            })
            .collect();
        Ok(FunctionStatus {
            versions,
            aliases,
            concurrency: self.inner.ledger.function(&name),
            environments: self.inner.pool.activity(&name),
            provisioned,
            async_events: self.async_status(&name).await?,
        })
    }
}
