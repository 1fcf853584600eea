//! Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases, and finding an
//! alias for reads and invokes.

use std::collections::BTreeMap;
use std::sync::Arc;

use admission::routing::{self, RoutingError};
use model::alias::{AdditionalVersion, Alias, is_alias_name};
use model::function::LATEST;
use model::version::is_version;
use model::{Scope, ValidationError, ids, validate};
use store::StoreError;

use crate::marker;
use crate::resolve::{self, Target};
use crate::spec::model_error;
use crate::{ControlError, ControlPlane};

/// `RoutingConfig.AdditionalVersionWeights`: version to weight.
pub type VersionWeights = BTreeMap<String, f64>;

/// A CreateAlias request.
#[derive(Debug, Clone, Default)]
pub struct AliasSpec {
    pub name: String,
    pub function_version: String,
    pub description: Option<String>,
    pub weights: Option<VersionWeights>,
}

/// An UpdateAlias request: only the fields that are set change; an empty `weights` removes the
/// routing.
#[derive(Debug, Clone, Default)]
pub struct AliasUpdate {
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub weights: Option<VersionWeights>,
    /// Update only if the alias is at this revision.
    pub revision_id: Option<String>,
}

/// One page of ListAliases, by alias name.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasPage {
    pub aliases: Vec<Alias>,
    pub next_marker: Option<String>,
}

const NAME_PATTERN: &str =
    "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)";
const VERSION_PATTERN: &str = "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)";

impl ControlPlane {
    /// CreateAlias.
    pub async fn create_alias(
        &self,
        scope: &Scope,
        function_name: &str,
        spec: AliasSpec,
    ) -> Result<Alias, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        check_name(&spec.name)?;
        check_version("functionVersion", &spec.function_version)?;
        let description = spec.description.unwrap_or_default();
        validate::description(&description)?;
        let additional_version = routing_of(&spec.function_version, spec.weights.as_ref())?;
        let alias = Alias {
            function: target.name.clone(),
            name: spec.name,
            function_version: spec.function_version,
            description,
            additional_version,
            revision_id: ids::revision_id(),
        };
        let _write = self.inner.writes.lock().await;
        self.inner
            .store
            .create_alias(&alias)
            .await
            .map_err(|err| alias_error(err, scope, &target))?;
        self.inner.qualified.invalidate(&target.name);
        tracing::info!(function = %alias.function, alias = %alias.name, version = %alias.function_version, "created alias");
        Ok(alias)
    }

    /// GetAlias.
    pub async fn get_alias(
        &self,
        scope: &Scope,
        function_name: &str,
        name: &str,
    ) -> Result<Alias, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        self.stored_alias(scope, &target, name).await
    }

    /// UpdateAlias.
    pub async fn update_alias(
        &self,
        scope: &Scope,
        function_name: &str,
        name: &str,
        update: AliasUpdate,
    ) -> Result<Alias, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        if let Some(version) = &update.function_version {
            check_version("functionVersion", version)?;
        }
        if let Some(description) = &update.description {
            validate::description(description)?;
        }
        let _write = self.inner.writes.lock().await;
        let current = self.stored_alias(scope, &target, name).await?;
        if let Some(expected) = &update.revision_id
            && *expected != current.revision_id
        {
            return Err(ControlError::RevisionMismatch {
                name: format!("{}:{name}", target.name),
                expected: expected.clone(),
            });
        }
        let function_version = update
            .function_version
            .unwrap_or_else(|| current.function_version.clone());
        let additional_version = match &update.weights {
            Some(weights) => routing_of(&function_version, Some(weights))?,
            None => {
                let kept: Option<VersionWeights> = current
                    .additional_version
                    .as_ref()
                    .map(|a| [(a.version.clone(), a.weight)].into());
                routing_of(&function_version, kept.as_ref())?
            }
        };
        if function_version == LATEST {
            let provisioned = self
                .provisioned_configs(&target.name)
                .await?
                .iter()
                .any(|config| config.qualifier == name);
            let alias_arn = scope.qualified_arn(&target.name, name);
            check_provisioned_version(&alias_arn, &function_version, provisioned)?;
        }
        let next = Alias {
            function_version,
            description: update.description.unwrap_or(current.description),
            additional_version,
            revision_id: ids::revision_id(),
            ..current
        };
        self.inner
            .store
            .update_alias(&next, update.revision_id.as_deref())
            .await
            .map_err(|err| alias_error(err, scope, &target))?;
        self.inner.qualified.invalidate(&target.name);
        self.reprovision(&target.name).await?;
        tracing::info!(function = %next.function, alias = %next.name, version = %next.function_version, "updated alias");
        Ok(next)
    }

    /// DeleteAlias.
    pub async fn delete_alias(
        &self,
        scope: &Scope,
        function_name: &str,
        name: &str,
    ) -> Result<(), ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        let _write = self.inner.writes.lock().await;
        self.inner
            .store
            .delete_alias(&target.name, name)
            .await
            .map_err(|err| alias_error(err, scope, &target))?;
        self.inner.qualified.invalidate(&target.name);
        self.reprovision(&target.name).await?;
        self.forget_event_invoke_config(&target.name, name).await?;
        tracing::info!(function = %target.name, alias = name, "deleted alias");
        Ok(())
    }

    /// ListAliases: at most 50 a page, by name, optionally only those pointing at
    /// `function_version`.
    pub async fn list_aliases(
        &self,
        scope: &Scope,
        function_name: &str,
        function_version: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<AliasPage, ControlError> {
        let target = resolve::unqualified(scope, function_name)?;
        if let Some(version) = function_version {
            check_version("functionVersion", version)?;
        }
        let limit = crate::functions::page_size(max_items)?;
        let after = marker.map(decode_marker).transpose()?;
        self.stored(scope, &target).await?;
        let mut aliases = self
            .inner
            .store
            .list_aliases(&target.name, function_version, after.as_deref(), limit + 1)
            .await
            .map_err(ControlError::Store)?;
        let next_marker = marker::next_page(&mut aliases, limit, |a| a.name.clone());
        Ok(AliasPage {
            aliases,
            next_marker,
        })
    }

    /// Every alias of a function, for provisioning and status.
    pub(crate) async fn all_aliases(&self, function: &str) -> Result<Vec<Alias>, ControlError> {
        self.inner
            .store
            .list_aliases(function, None, None, usize::MAX)
            .await
            .map_err(ControlError::Store)
    }

    /// The alias `name` of the target's function, read from the store.
    pub(crate) async fn stored_alias(
        &self,
        scope: &Scope,
        target: &Target,
        name: &str,
    ) -> Result<Alias, ControlError> {
        let alias = self
            .inner
            .store
            .get_alias(&target.name, name)
            .await
            .map_err(ControlError::Store)?;
        match alias {
            Some(alias) => Ok(alias),
            None => {
                // Lambda tells a missing function from a missing alias.
                let function = Target {
                    name: target.name.clone(),
                    qualifier: None,
                };
                self.stored(scope, &function).await?;
                Err(ControlError::AliasNotFound {
                    arn: scope.qualified_arn(&target.name, name),
                })
            }
        }
    }

    /// The alias an invocation names, from the cache when it can; a missing alias is a missing
    /// function, as Invoke words it.
    pub(crate) async fn cached_alias(
        &self,
        scope: &Scope,
        target: &Target,
        name: &str,
    ) -> Result<Arc<Alias>, ControlError> {
        let seen = match self.inner.qualified.alias(&target.name, name) {
            Ok(alias) => return Ok(alias),
            Err(seen) => seen,
        };
        let alias = self
            .inner
            .store
            .get_alias(&target.name, name)
            .await
            .map_err(ControlError::Store)?
            .ok_or_else(|| ControlError::FunctionNotFound {
                arn: target.arn(scope),
            })?;
        let alias = Arc::new(alias);
        self.inner.qualified.fill_alias(Arc::clone(&alias), seen);
        Ok(alias)
    }
}

fn check_name(name: &str) -> Result<(), ValidationError> {
    if is_alias_name(name) {
        Ok(())
    } else {
        Err(model_error(
            "name",
            name,
            &format!("{NAME_PATTERN}, Member must have length less than or equal to 128"),
        ))
    }
}

fn check_version(field: &str, version: &str) -> Result<(), ValidationError> {
    if is_version(version) {
        Ok(())
    } else {
        Err(model_error(field, version, VERSION_PATTERN))
    }
}

/// Provisioned environments are never kept for `$LATEST`, so an alias with a provisioned
/// concurrency configuration may not move there: Lambda refuses it as it refuses the
/// configuration on an alias of `$LATEST`.
fn check_provisioned_version(
    alias_arn: &str,
    function_version: &str,
    provisioned: bool,
) -> Result<(), ValidationError> {
    if provisioned && function_version == LATEST {
        Err(validate::invalid(format!(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions: alias {alias_arn} has one, so it cannot point to {LATEST}."
        )))
    } else {
        Ok(())
    }
}

/// The additional version of `weights`, checked against the alias's `primary` version as
/// Lambda checks `RoutingConfig`. No weights, or none, is no routing.
fn routing_of(
    primary: &str,
    weights: Option<&VersionWeights>,
) -> Result<Option<AdditionalVersion>, ValidationError> {
    let Some(weights) = weights.filter(|w| !w.is_empty()) else {
        return Ok(None);
    };
    let pairs: Vec<(String, f64)> = weights.iter().map(|(v, w)| (v.clone(), *w)).collect();
    let described = || {
        let entries: Vec<String> = weights.iter().map(|(v, w)| format!("{v}={w}")).collect();
        format!("{{{}}}", entries.join(", "))
    };
    routing::validate(primary, &pairs).map_err(|err| match err {
        RoutingError::TooManyVersions => validate::invalid(
            "Number of items in AdditionalVersionWeights cannot be greater than 1",
        ),
        RoutingError::WeightOutOfRange => model_error(
            "routingConfig.additionalVersionWeights",
            &described(),
            "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
        ),
        RoutingError::SameVersion => validate::invalid(format!(
            "Invalid function version {primary}. Function version {primary} is already included in routing configuration."
        )),
        RoutingError::LatestWithRouting => {
            validate::invalid("$LATEST is not supported for an alias pointing to more than 1 version")
        }
        RoutingError::NotPublished => model_error(
            "routingConfig.additionalVersionWeights",
            &described(),
            "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+, Member must not be null]",
        ),
    })?;
    Ok(pairs
        .into_iter()
        .next()
        .map(|(version, weight)| AdditionalVersion { version, weight }))
}

/// A store refusal of an alias write, worded as Lambda words it.
fn alias_error(err: StoreError, scope: &Scope, target: &Target) -> ControlError {
    match err {
        StoreError::FunctionNotFound { .. } => ControlError::FunctionNotFound {
            arn: target.arn(scope),
        },
        StoreError::VersionNotFound { version, .. } => ControlError::FunctionNotFound {
            arn: scope.qualified_arn(&target.name, &version),
        },
        StoreError::AliasExists { alias, .. } => ControlError::AliasExists {
            arn: scope.qualified_arn(&target.name, &alias),
        },
        StoreError::AliasNotFound { alias, .. } => ControlError::AliasNotFound {
            arn: scope.qualified_arn(&target.name, &alias),
        },
        StoreError::AliasRevisionMismatch {
            name,
            alias,
            expected,
            ..
        } => ControlError::RevisionMismatch {
            name: format!("{name}:{alias}"),
            expected,
        },
        other => ControlError::Store(other),
    }
}

fn decode_marker(marker: &str) -> Result<String, ControlError> {
    marker::decode_key(marker, is_alias_name).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use model::ValidationKind;

    use super::*;

    /// Checks `weights` for an alias of `primary`: the additional version, or the error's
    /// family and a fragment of its message.
    #[track_caller]
    fn check(
        primary: &str,
        weights: &[(&str, f64)],
        expect: Result<Option<&str>, (ValidationKind, &str)>,
    ) {
        let weights: VersionWeights = weights.iter().map(|(v, w)| (v.to_string(), *w)).collect();
        let got = routing_of(primary, Some(&weights));
        match (got, expect) {
            (Ok(got), Ok(want)) => {
                assert_eq!(got.as_ref().map(|a| a.version.as_str()), want)
            }
            (Err(err), Err((kind, fragment))) => {
                assert_eq!(err.kind, kind, "{}", err.message);
                assert!(err.message.contains(fragment), "{}", err.message);
            }
            (got, expect) => panic!("got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn routing_configurations_are_checked_as_lambda_does() {
        use ValidationKind::{InvalidParameter, Model};
        check("1", &[], Ok(None));
        check("1", &[("2", 0.3)], Ok(Some("2")));
        check(
            "1",
            &[("2", 1.5)],
            Err((
                Model,
                "Value '{2=1.5}' at 'routingConfig.additionalVersionWeights'",
            )),
        );
        check(
            "1",
            &[("2", 0.1), ("3", 0.1)],
            Err((InvalidParameter, "cannot be greater than 1")),
        );
        check(
            "1",
            &[("1", 0.5)],
            Err((InvalidParameter, "Function version 1 is already included")),
        );
        check(
            "$LATEST",
            &[("2", 0.5)],
            Err((InvalidParameter, "$LATEST is not supported")),
        );
        check(
            "1",
            &[("live", 0.5)],
            Err((Model, "Map keys must satisfy constraint")),
        );
        check(
            "1",
            &[("$LATEST", 0.5)],
            Err((Model, "regular expression pattern: [0-9]+")),
        );
    }

    #[test]
    fn a_provisioned_alias_cannot_move_to_latest() {
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:f:live";
        assert!(check_provisioned_version(arn, "2", true).is_ok());
        assert!(check_provisioned_version(arn, LATEST, false).is_ok());
        let err = check_provisioned_version(arn, LATEST, true).unwrap_err();
        assert_eq!(err.kind, ValidationKind::InvalidParameter);
        assert!(
            err.message
                .starts_with("Provisioned Concurrency Configs cannot be applied to unpublished"),
            "{}",
            err.message
        );
        assert!(err.message.contains(arn), "{}", err.message);
        assert!(err.message.contains("$LATEST"), "{}", err.message);
    }

    #[test]
    fn alias_names_and_versions() {
        assert!(check_name("live").is_ok());
        let numeric = check_name("1").unwrap_err();
        assert_eq!(numeric.kind, ValidationKind::Model);
        assert!(
            numeric.message.contains("Value '1' at 'name'"),
            "{}",
            numeric.message
        );
        assert!(check_version("functionVersion", "$LATEST").is_ok());
        assert!(check_version("functionVersion", "12").is_ok());
        assert!(check_version("functionVersion", "live").is_err());
    }

    #[test]
    fn markers_name_the_last_alias() {
        let marker = marker::encode("live");
        assert_eq!(decode_marker(&marker).unwrap(), "live");
        assert!(decode_marker("!!").is_err());
    }
}
