//! Layer versions (PublishLayerVersion and its siblings) and their permission policies.
//!
//! A layer's versions are numbered from 1 and a number is never given out twice, not even after
//! every version was deleted. Deleting a version removes it from the store; the functions that
//! use it keep its digest in their configurations, and [`LayerStore::referenced_layer_code`]
//! keeps its package from garbage collection for as long as they do.

use jiff::Timestamp;
use model::CodeRef;
use model::layer::LayerVersion;

use crate::StoreError;

/// A PublishLayerVersion, checked; the store gives it its number.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLayerVersion {
    pub name: String,
    pub description: String,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
    pub code: CodeRef,
    pub created: Timestamp,
}

impl NewLayerVersion {
    /// The version this becomes as number `version`.
    pub(crate) fn numbered(self, version: u64) -> LayerVersion {
        LayerVersion {
            name: self.name,
            version,
            description: self.description,
            compatible_runtimes: self.compatible_runtimes,
            compatible_architectures: self.compatible_architectures,
            license_info: self.license_info,
            code: self.code,
            created: self.created,
        }
    }
}

/// The resource-based policy of a layer version: its statements, as IAM JSON objects, and the
/// revision that AddLayerVersionPermission and RemoveLayerVersionPermission check.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPolicy {
    pub revision_id: String,
    pub statements: Vec<serde_json::Value>,
}

/// Where layer versions are kept. Every call is one transaction.
#[async_trait::async_trait]
pub trait LayerStore: Send + Sync + std::fmt::Debug {
    /// Stores `layer` as the next version of its layer and returns it with its number.
    async fn publish_layer_version(
        &self,
        layer: &NewLayerVersion,
    ) -> Result<LayerVersion, StoreError>;

    /// Version `version` of layer `name`, or `None` if there is none (or it was deleted).
    async fn get_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError>;

    /// The versions of layer `name`, or of every layer when `name` is `None`, ordered by layer
    /// name and then from the newest version to the oldest.
    async fn list_layer_versions(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<LayerVersion>, StoreError>;

    /// Deletes a version; deleting one that does not exist does nothing, as on Lambda.
    async fn delete_layer_version(&self, name: &str, version: u64) -> Result<(), StoreError>;

    /// The policy of a version, or `None` if it has none; `LayerVersionNotFound` if the version
    /// does not exist.
    async fn get_layer_version_policy(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerPolicy>, StoreError>;

    /// Replaces the policy of a version. With `expected_revision`, fails with
    /// `LayerPolicyRevisionMismatch` unless the stored policy has that revision.
    /// `LayerVersionNotFound` if the version does not exist.
    async fn put_layer_version_policy(
        &self,
        name: &str,
        version: u64,
        policy: &LayerPolicy,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Every layer code digest (sha256 hex) that must be kept: those of stored layer versions
    /// and those that any function version names in its layers. Sorted, each digest once.
    async fn referenced_layer_code(&self) -> Result<Vec<String>, StoreError>;
}
