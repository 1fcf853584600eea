//! Published versions and aliases. A published version is a row like `$LATEST`, written once
//! and never changed; an alias points at one or two versions of its function.

use jiff::Timestamp;
use model::FunctionConfig;
use model::alias::Alias;

use crate::StoreError;

/// A PublishVersion, checked by the caller against the `$LATEST` it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    pub function: String,
    /// The revision of `$LATEST` the caller checked its preconditions against; the store refuses
    /// with `RevisionMismatch` if `$LATEST` changed since.
    pub latest_revision: String,
    /// Overrides the function's description in the version.
    pub description: Option<String>,
    /// The new version's revision id.
    pub revision_id: String,
    pub now: Timestamp,
}

/// What PublishVersion did.
#[derive(Debug, Clone, PartialEq)]
pub enum Publication {
    /// A new version, numbered one above every number the function ever had.
    Published(FunctionConfig),
    /// `$LATEST` did not change since the last published version, which is returned instead.
    Unchanged(FunctionConfig),
}

impl Publication {
    /// The version's configuration, new or not.
    pub fn into_config(self) -> FunctionConfig {
        match self {
            Publication::Published(config) | Publication::Unchanged(config) => config,
        }
    }
}

/// Where versions and aliases are kept. Every call is one transaction. Deleting a function
/// deletes its versions, aliases and version counter.
#[async_trait::async_trait]
pub trait VersionStore: Send + Sync + std::fmt::Debug {
    /// Publishes `$LATEST` as the next version number, or returns the last published version if
    /// `$LATEST` is still at the revision it was published from. Numbers are never reused, not
    /// even after the highest version was deleted. `FunctionNotFound`, `RevisionMismatch`.
    async fn publish_version(&self, request: &PublishRequest) -> Result<Publication, StoreError>;

    /// The configuration of `version` (`$LATEST` or a number) of `function`, or `None`.
    async fn get_version(
        &self,
        function: &str,
        version: &str,
    ) -> Result<Option<FunctionConfig>, StoreError>;

    /// The published versions of `function` numbered above `after`, in ascending order, at most
    /// `limit`. `$LATEST` is not among them.
    async fn list_versions(
        &self,
        function: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError>;

    /// Deletes a published version and its provisioned concurrency configuration; `false` if
    /// there was no such version. `VersionInUse` while an alias points at it.
    async fn delete_version(&self, function: &str, version: &str) -> Result<bool, StoreError>;

    /// Creates an alias. `FunctionNotFound`, `VersionNotFound` for a version it names that does
    /// not exist, `AliasExists`.
    async fn create_alias(&self, alias: &Alias) -> Result<(), StoreError>;

    /// The alias `name` of `function`, or `None`.
    async fn get_alias(&self, function: &str, name: &str) -> Result<Option<Alias>, StoreError>;

    /// Replaces an alias. With `expected_revision`, fails with `AliasRevisionMismatch` unless the
    /// stored alias has that revision id. `AliasNotFound`, `VersionNotFound`.
    async fn update_alias(
        &self,
        alias: &Alias,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Deletes an alias and its provisioned concurrency configuration; `AliasNotFound`.
    async fn delete_alias(&self, function: &str, name: &str) -> Result<(), StoreError>;

    /// The aliases of `function` ordered by name, names strictly greater than `after`, only
    /// those pointing at `function_version` when given, at most `limit`.
    async fn list_aliases(
        &self,
        function: &str,
        function_version: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Alias>, StoreError>;
}
