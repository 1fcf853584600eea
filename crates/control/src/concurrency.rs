//! Concurrency control: reserved concurrency (Put/Get/DeleteFunctionConcurrency), provisioned
//! concurrency (Put/Get/Delete/ListProvisionedConcurrencyConfigs), admission of invocations, and
//! bringing both back when the server starts.

use std::collections::BTreeMap;

use admission::concurrency::{self, Throttle};
use admission::routing::Routing;
use jiff::Timestamp;
use model::alias::Alias;
use model::concurrency::ProvisionedConcurrency;
use model::function::LATEST;
use model::version::Qualifier;
use model::{Scope, validate};
use pool::{ProvisionTarget, ProvisionedState};

use crate::admission::{InvocationPermit, Throttled};
use crate::marker;
use crate::resolve::{self, Target};
use crate::spec::model_error;
use crate::{ControlError, ControlPlane};

/// A provisioned concurrency configuration with how far its allocation got.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedView {
    pub function: String,
    /// The version number or alias name it is configured on.
    pub qualifier: String,
    pub requested: u32,
    /// Initialised environments.
    pub allocated: u32,
    /// Initialised environments ready for invocations.
    pub available: u32,
    pub state: ProvisionedState,
    /// Why allocation failed, when `state` is `Failed`.
    pub reason: Option<String>,
    pub last_modified: Timestamp,
}

/// One page of ListProvisionedConcurrencyConfigs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedPage {
    pub configs: Vec<ProvisionedView>,
    pub next_marker: Option<String>,
}

/// What the server brought back when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Restored {
    /// Functions with a reserved concurrency.
    pub reservations: usize,
    /// Provisioned concurrency configurations being allocated again.
    pub provisioned: usize,
}

const UNPUBLISHED: &str =
    "Provisioned Concurrency Configs cannot be applied to unpublished function versions.";
const NOT_ALIAS_OR_VERSION: &str =
    "The function resource provided must be an alias or a published version.";

impl ControlPlane {
    /// Admits one invocation of `function`: the permit must be held while the function runs.
    /// Every way of running a function goes through here.
    pub fn admit(&self, function: &str) -> Result<InvocationPermit, Throttled> {
        self.inner.ledger.admit(function)
    }

    /// Counts an invocation the pool's scaling rate refused, and says so as admission would.
    pub(crate) fn scaling_throttle(&self, function: &str) -> ControlError {
        ControlError::Throttled(
            self.inner
                .ledger
                .throttled(function, Throttle::FunctionInvocationRateLimitExceeded),
        )
    }

    /// PutFunctionConcurrency.
    pub async fn put_function_concurrency(
        &self,
        scope: &Scope,
        function_name: &str,
        reserved: i64,
    ) -> Result<u32, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        let reserved = u32::try_from(reserved).map_err(|_| {
            model_error(
                "reservedConcurrentExecutions",
                &reserved.to_string(),
                "Member must have value greater than or equal to 0",
            )
        })?;
        let _write = self.inner.writes.lock().await;
        self.stored(scope, &target).await?;
        let ledger = &self.inner.ledger;
        let provisioned = ledger.function(&target.name).provisioned;
        concurrency::check_reservation(
            ledger.limits(),
            reserved,
            ledger.taken_by_others(Some(&target.name)),
            provisioned,
        )
        .map_err(|refused| validate::invalid(refused.message))?;
        self.inner
            .store
            .put_reserved_concurrency(&target.name, reserved)
            .await
            .map_err(|err| self.not_found(err, scope, &target))?;
        ledger.set_reserved(&target.name, Some(reserved));
        tracing::info!(function = %target.name, reserved, "reserved concurrency");
        Ok(reserved)
    }

    /// GetFunctionConcurrency: the reserved concurrency, if any.
    pub async fn get_function_concurrency(
        &self,
        scope: &Scope,
        function_name: &str,
    ) -> Result<Option<u32>, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        self.stored(scope, &target).await?;
        Ok(self.inner.ledger.function(&target.name).reserved)
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_function_concurrency(
        &self,
        scope: &Scope,
        function_name: &str,
    ) -> Result<(), ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        let _write = self.inner.writes.lock().await;
        self.stored(scope, &target).await?;
        self.inner
            .store
            .delete_reserved_concurrency(&target.name)
            .await
            .map_err(ControlError::Store)?;
        self.inner.ledger.set_reserved(&target.name, None);
        tracing::info!(function = %target.name, "removed reserved concurrency");
        Ok(())
    }

    /// PutProvisionedConcurrencyConfig: stores the request and starts allocating; the answer
    /// says how far allocation got (usually `IN_PROGRESS`).
    pub async fn put_provisioned_concurrency(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        requested: i64,
    ) -> Result<ProvisionedView, ControlError> {
        let target = resolve::target(scope, function_name, qualifier)?;
        let requested = u32::try_from(requested)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                model_error(
                    "provisionedConcurrentExecutions",
                    &requested.to_string(),
                    "Member must have value greater than or equal to 1",
                )
            })?;
        let qualifier = required_qualifier(&target)?;
        if qualifier == LATEST {
            return Err(validate::invalid(UNPUBLISHED).into());
        }
        let _write = self.inner.writes.lock().await;
        let alias = self.provisionable(scope, &target, qualifier).await?;
        let configs = self.provisioned_configs(&target.name).await?;
        check_conflicts(
            qualifier,
            alias.as_ref(),
            &configs,
            &self.all_aliases(&target.name).await?,
        )?;
        let elsewhere: u32 = configs
            .iter()
            .filter(|c| c.qualifier != qualifier)
            .map(|c| c.requested)
            .sum();
        let ledger = &self.inner.ledger;
        let reserved = ledger.function(&target.name).reserved;
        let unreserved_now = concurrency::unreserved(
            ledger.limits(),
            ledger.taken_by_others(Some(&target.name)) + reserved.unwrap_or(elsewhere),
        );
        concurrency::check_provisioned(
            ledger.limits(),
            requested,
            elsewhere,
            reserved,
            unreserved_now,
        )
        .map_err(|refused| validate::invalid(refused.message))?;
        let config = ProvisionedConcurrency {
            function: target.name.clone(),
            qualifier: qualifier.to_owned(),
            requested,
            last_modified: self.inner.clock.now(),
        };
        self.inner
            .store
            .put_provisioned_concurrency(&config)
            .await
            .map_err(|err| self.not_found(err, scope, &target))?;
        self.reprovision(&target.name).await?;
        tracing::info!(function = %target.name, qualifier, requested, "provisioned concurrency");
        Ok(self.provisioned_view(config, alias.as_ref()))
    }

    /// GetProvisionedConcurrencyConfig.
    pub async fn get_provisioned_concurrency(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<ProvisionedView, ControlError> {
        let target = resolve::target(scope, function_name, qualifier)?;
        let qualifier = required_qualifier(&target)?;
        if qualifier == LATEST {
            return Err(validate::invalid(NOT_ALIAS_OR_VERSION).into());
        }
        let alias = self.existing_qualifier(scope, &target, qualifier).await?;
        let config = self
            .provisioned_configs(&target.name)
            .await?
            .into_iter()
            .find(|c| c.qualifier == qualifier)
            .ok_or(ControlError::ProvisionedConfigNotFound)?;
        Ok(self.provisioned_view(config, alias.as_ref()))
    }

    /// DeleteProvisionedConcurrencyConfig: idempotent, as on Lambda.
    pub async fn delete_provisioned_concurrency(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ControlError> {
        let target = resolve::target(scope, function_name, qualifier)?;
        let qualifier = required_qualifier(&target)?;
        if qualifier == LATEST {
            return Err(validate::invalid(NOT_ALIAS_OR_VERSION).into());
        }
        let _write = self.inner.writes.lock().await;
        self.existing_qualifier(scope, &target, qualifier).await?;
        let deleted = self
            .inner
            .store
            .delete_provisioned_concurrency(&target.name, qualifier)
            .await
            .map_err(ControlError::Store)?;
        if deleted {
            self.reprovision(&target.name).await?;
            tracing::info!(function = %target.name, qualifier, "removed provisioned concurrency");
        }
        Ok(())
    }

    /// ListProvisionedConcurrencyConfigs, by qualifier.
    pub async fn list_provisioned_concurrency(
        &self,
        scope: &Scope,
        function_name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<ProvisionedPage, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        let limit = crate::functions::page_size(max_items)?;
        let after = marker.map(decode_marker).transpose()?;
        self.stored(scope, &target).await?;
        let aliases = self.all_aliases(&target.name).await?;
        let mut configs = Vec::new();
        for config in self.provisioned_configs(&target.name).await? {
            if after
                .as_ref()
                .is_some_and(|after| config.qualifier <= *after)
            {
                continue;
            }
            let alias = aliases.iter().find(|a| a.name == config.qualifier);
            configs.push(self.provisioned_view(config, alias));
            if configs.len() > limit {
                break;
            }
        }
        let next_marker = marker::next_page(&mut configs, limit, |c| c.qualifier.clone());
        Ok(ProvisionedPage {
            configs,
            next_marker,
        })
    }

    /// Brings back what the store remembers and memory forgot: reservations into admission,
    /// and the allocation of every provisioned concurrency configuration. Called once when the
    /// server starts, before it serves.
    pub async fn restore(&self) -> Result<Restored, ControlError> {
        let reservations = self
            .inner
            .store
            .list_reserved_concurrency()
            .await
            .map_err(ControlError::Store)?;
        for (function, reserved) in &reservations {
            self.inner.ledger.set_reserved(function, Some(*reserved));
        }
        let configs = self
            .inner
            .store
            .list_provisioned_concurrency(None)
            .await
            .map_err(ControlError::Store)?;
        let mut functions: Vec<&str> = configs.iter().map(|c| c.function.as_str()).collect();
        functions.dedup();
        for function in functions {
            self.reprovision(function).await?;
        }
        Ok(Restored {
            reservations: reservations.len(),
            provisioned: configs.len(),
        })
    }

    /// Tells the pool how many environments of each version of `function` to keep initialised,
    /// from the stored configurations and the aliases they name, and admission how many the
    /// function holds. Called after every change to either.
    pub(crate) async fn reprovision(&self, function: &str) -> Result<(), ControlError> {
        let configs = self.provisioned_configs(function).await?;
        let aliases = if configs
            .iter()
            .any(|c| matches!(Qualifier::of(&c.qualifier), Qualifier::Alias(_)))
        {
            self.all_aliases(function).await?
        } else {
            Vec::new()
        };
        let desired = desired_environments(&configs, &aliases);
        for (version, &count) in &desired {
            let config = self
                .inner
                .store
                .get_version(function, version)
                .await
                .map_err(ControlError::Store)?;
            let Some(config) = config else {
                continue;
            };
            let entry = self.runnable_entry(config).await?;
            let target = ProvisionTarget {
                config: std::sync::Arc::clone(&entry.config),
                code_dir: entry.code_dir.clone(),
                opt_dir: entry.opt_dir.clone(),
            };
            self.inner.pool.provision(target, count);
        }
        for activity in self.inner.pool.activity(function) {
            if activity.provisioned.requested > 0 && !desired.contains_key(&activity.version) {
                self.inner.pool.unprovision(function, &activity.version);
            }
        }
        self.inner
            .ledger
            .set_provisioned(function, configs.iter().map(|c| c.requested).sum());
        Ok(())
    }

    /// The provisioned concurrency configurations of `function`, by qualifier.
    pub(crate) async fn provisioned_configs(
        &self,
        function: &str,
    ) -> Result<Vec<ProvisionedConcurrency>, ControlError> {
        self.inner
            .store
            .list_provisioned_concurrency(Some(function))
            .await
            .map_err(ControlError::Store)
    }

    /// A configuration with the pool's progress on the version(s) it covers.
    pub(crate) fn provisioned_view(
        &self,
        config: ProvisionedConcurrency,
        alias: Option<&Alias>,
    ) -> ProvisionedView {
        let shares: Vec<(String, u32)> = match alias {
            Some(alias) => {
                let (primary, extra) = routing(alias).split(config.requested);
                let mut shares = vec![(alias.function_version.clone(), primary)];
                if let Some(additional) = &alias.additional_version {
                    shares.push((additional.version.clone(), extra));
                }
                shares
            }
            None => vec![(config.qualifier.clone(), config.requested)],
        };
        let mut allocated = 0;
        let mut available = 0;
        let mut reason = None;
        for (version, share) in &shares {
            let status = self.inner.pool.provisioned(&config.function, version);
            allocated += status.allocated.min(*share);
            available += status.idle.min(*share);
            reason = reason.or(status.failure);
        }
        let state = if reason.is_some() {
            ProvisionedState::Failed
        } else if allocated >= config.requested {
            ProvisionedState::Ready
        } else {
            ProvisionedState::InProgress
        };
        // Once ready, every environment counts as available, busy or not, as on Lambda.
        if state == ProvisionedState::Ready {
            available = allocated;
        }
        ProvisionedView {
            function: config.function,
            qualifier: config.qualifier,
            requested: config.requested,
            allocated,
            available,
            state,
            reason,
            last_modified: config.last_modified,
        }
    }

    /// Checks that the version or alias exists and can have provisioned concurrency; returns
    /// the alias when it is one.
    async fn provisionable(
        &self,
        scope: &Scope,
        target: &Target,
        qualifier: &str,
    ) -> Result<Option<Alias>, ControlError> {
        let alias = self.existing_qualifier(scope, target, qualifier).await?;
        if alias
            .as_ref()
            .is_some_and(|alias| alias.function_version == LATEST)
        {
            return Err(validate::invalid(UNPUBLISHED).into());
        }
        Ok(alias)
    }

    /// Fails unless the function has the version or alias `qualifier`; returns the alias.
    async fn existing_qualifier(
        &self,
        scope: &Scope,
        target: &Target,
        qualifier: &str,
    ) -> Result<Option<Alias>, ControlError> {
        match Qualifier::of(qualifier) {
            Qualifier::Alias(name) => {
                let alias = self.stored_alias(scope, target, name).await?;
                Ok(Some(alias))
            }
            Qualifier::Version(_) | Qualifier::Latest => {
                let function = Target {
                    name: target.name.clone(),
                    qualifier: None,
                };
                let latest = self.stored(scope, &function).await?.latest;
                self.configuration_of(scope, target, latest).await?;
                Ok(None)
            }
        }
    }

    fn not_found(&self, err: store::StoreError, scope: &Scope, target: &Target) -> ControlError {
        match err {
            store::StoreError::FunctionNotFound { .. } => ControlError::FunctionNotFound {
                arn: scope.function_arn(&target.name),
            },
            other => ControlError::Store(other),
        }
    }
}

fn required_qualifier(target: &Target) -> Result<&str, ControlError> {
    target
        .qualifier
        .as_deref()
        .ok_or_else(|| model_error("qualifier", "null", "Member must not be null").into())
}

fn routing(alias: &Alias) -> Routing<'_> {
    Routing {
        primary: &alias.function_version,
        additional: alias
            .additional_version
            .as_ref()
            .map(|a| (a.version.as_str(), a.weight)),
    }
}

/// Lambda's rules for provisioning through aliases: an alias may not cover a version that has
/// provisioned concurrency of its own, and a version may not get its own while a provisioned
/// alias covers it.
fn check_conflicts(
    qualifier: &str,
    alias: Option<&Alias>,
    configs: &[ProvisionedConcurrency],
    aliases: &[Alias],
) -> Result<(), ControlError> {
    let provisioned = |q: &str| configs.iter().any(|c| c.qualifier == q);
    match alias {
        // AWS's words for it (an alias may gain weights later, as a gradual deployment does;
        // the provisioned environments are then split by the weights).
        Some(alias) if alias.additional_version.is_some() => Err(validate::invalid(
            "Alias with weights can not be used with Provisioned Concurrency",
        )
        .into()),
        Some(alias) if provisioned(&alias.function_version) => Err(ControlError::Conflict {
            message: "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version".to_owned(),
        }),
        Some(_) => Ok(()),
        None if aliases
            .iter()
            .any(|a| a.function_version == qualifier && provisioned(&a.name)) =>
        {
            Err(ControlError::Conflict {
                message: "Version is pointed by a Provisioned Concurrency alias".to_owned(),
            })
        }
        None => Ok(()),
    }
}

/// How many environments each version must keep initialised for `configs`: a version's own,
/// plus its share of every provisioned alias, split by the alias's weights. `$LATEST` never
/// gets any.
fn desired_environments(
    configs: &[ProvisionedConcurrency],
    aliases: &[Alias],
) -> BTreeMap<String, u32> {
    let mut desired: BTreeMap<String, u32> = BTreeMap::new();
    let mut add = |version: &str, count: u32| {
        if version != LATEST && count > 0 {
            *desired.entry(version.to_owned()).or_default() += count;
        }
    };
    for config in configs {
        match Qualifier::of(&config.qualifier) {
            Qualifier::Version(version) => add(version, config.requested),
            Qualifier::Alias(name) => {
                if let Some(alias) = aliases.iter().find(|a| a.name == name) {
                    let (primary, extra) = routing(alias).split(config.requested);
                    add(&alias.function_version, primary);
                    if let Some(additional) = &alias.additional_version {
                        add(&additional.version, extra);
                    }
                }
            }
            Qualifier::Latest => {}
        }
    }
    desired
}

fn decode_marker(marker: &str) -> Result<String, ControlError> {
    marker::decode_key(marker, |_| true).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use model::alias::AdditionalVersion;

    use super::*;

    fn config(qualifier: &str, requested: u32) -> ProvisionedConcurrency {
        ProvisionedConcurrency {
            function: "f".into(),
            qualifier: qualifier.into(),
            requested,
            last_modified: Timestamp::UNIX_EPOCH,
        }
    }

    fn alias(name: &str, version: &str, additional: Option<(&str, f64)>) -> Alias {
        Alias {
            function: "f".into(),
            name: name.into(),
            function_version: version.into(),
            description: String::new(),
            additional_version: additional.map(|(version, weight)| AdditionalVersion {
                version: version.into(),
                weight,
            }),
            revision_id: "r".into(),
        }
    }

    #[track_caller]
    fn check_desired(
        configs: &[ProvisionedConcurrency],
        aliases: &[Alias],
        expect: &[(&str, u32)],
    ) {
        let got = desired_environments(configs, aliases);
        let expect: BTreeMap<String, u32> =
            expect.iter().map(|(v, n)| (v.to_string(), *n)).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn versions_and_aliases_add_up_per_version() {
        check_desired(&[config("1", 2)], &[], &[("1", 2)]);
        check_desired(
            &[config("1", 2), config("live", 3)],
            &[alias("live", "2", None)],
            &[("1", 2), ("2", 3)],
        );
        check_desired(
            &[config("canary", 10)],
            &[alias("canary", "1", Some(("2", 0.2)))],
            &[("1", 8), ("2", 2)],
        );
        check_desired(&[config("edge", 2)], &[alias("edge", "$LATEST", None)], &[]);
        check_desired(&[config("gone", 2)], &[], &[]);
    }

    #[test]
    fn provisioning_through_aliases_follows_lambdas_rules() {
        let live = alias("live", "1", None);
        let conflict = |result: Result<(), ControlError>| match result {
            Err(ControlError::Conflict { message }) => message,
            other => panic!("{other:?}"),
        };
        let message = conflict(check_conflicts("live", Some(&live), &[config("1", 1)], &[]));
        assert!(message.contains("already Provisioned version"), "{message}");
        let message = conflict(check_conflicts(
            "1",
            None,
            &[config("live", 1)],
            std::slice::from_ref(&live),
        ));
        assert!(
            message.contains("pointed by a Provisioned Concurrency alias"),
            "{message}"
        );
        assert!(
            check_conflicts("2", None, &[config("live", 1)], std::slice::from_ref(&live)).is_ok()
        );
        assert!(check_conflicts("live", Some(&live), &[config("2", 1)], &[]).is_ok());
        let weighted = alias("canary", "1", Some(("2", 0.1)));
        match check_conflicts("canary", Some(&weighted), &[], &[]) {
            Err(ControlError::Validation(error)) => assert_eq!(
                error,
                validate::invalid(
                    "Alias with weights can not be used with Provisioned Concurrency"
                )
            ),
            other => panic!("{other:?}"),
        }
    }
}
