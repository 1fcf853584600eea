//! Layers: PublishLayerVersion, GetLayerVersion (by name or by ARN), ListLayerVersions,
//! ListLayers, DeleteLayerVersion and the permission policy of a layer version, plus what
//! functions need of layers: resolving the `Layers` they name.

use model::layer::{self, LayerPermission, LayerRef, LayerVersion, LayerVersionArn};
use model::{Scope, ValidationError, ids, validate};
use store::{LayerPolicy, NewLayerVersion, StoreError};

use crate::marker;
use crate::spec::model_error;
use crate::{ControlError, ControlPlane};

/// Where the content of a layer comes from, as the caller gave it (`Content`).
#[derive(Debug, Clone, Default)]
pub struct LayerContent {
    /// The layer archive, already base64-decoded.
    pub zip_file: Option<Vec<u8>>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub s3_object_version: Option<String>,
}

/// A PublishLayerVersion request.
#[derive(Debug, Clone, Default)]
pub struct LayerSpec {
    pub description: Option<String>,
    /// `None` when the request has no `Content` at all.
    pub content: Option<LayerContent>,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
}

/// The filters and page of ListLayers and ListLayerVersions.
#[derive(Debug, Clone, Default)]
pub struct LayerListing {
    pub compatible_runtime: Option<String>,
    pub compatible_architecture: Option<String>,
    pub marker: Option<String>,
    pub max_items: Option<i64>,
}

/// One page of ListLayerVersions, newest version first.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerVersionPage {
    pub versions: Vec<LayerVersion>,
    pub next_marker: Option<String>,
}

/// One page of ListLayers: the newest matching version of each layer, by layer name.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPage {
    pub layers: Vec<LayerVersion>,
    pub next_marker: Option<String>,
}

/// A policy statement or a whole policy as JSON text, with the policy's revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    pub json: String,
    pub revision_id: String,
}

/// What flint says when asked for layer content from S3.
const CONTENT_AS_ZIP_ONLY: &str = "flint takes layer content as a ZipFile (a base64-encoded zip in the request); S3 locations are not supported.";

/// Lambda's largest page of layers or layer versions.
const LAYER_PAGE_MAX: i64 = 50;

impl ControlPlane {
    /// PublishLayerVersion: checks the request, stores the archive, then the version.
    pub async fn publish_layer_version(
        &self,
        scope: &Scope,
        layer_name: &str,
        spec: LayerSpec,
    ) -> Result<LayerVersion, ControlError> {
        let name = self.own_layer_name(layer_name)?;
        let content = spec
            .content
            .ok_or_else(|| model_error("content", "null", "Member must not be null"))?;
        if content.s3_bucket.is_some()
            || content.s3_key.is_some()
            || content.s3_object_version.is_some()
        {
            return Err(ControlError::unsupported(CONTENT_AS_ZIP_ONLY));
        }
        let description = spec.description.unwrap_or_default();
        layer::publish_fields(
            &description,
            &spec.compatible_runtimes,
            &spec.compatible_architectures,
            spec.license_info.as_deref(),
        )?;
        let zip = content.zip_file.ok_or_else(|| {
            validate::invalid("Please provide a source for the layer content: Content.ZipFile.")
        })?;
        let code = self.store_layer_package(zip).await?;
        let version = self
            .inner
            .layers
            .publish_layer_version(&NewLayerVersion {
                name,
                description,
                compatible_runtimes: spec.compatible_runtimes,
                compatible_architectures: spec.compatible_architectures,
                license_info: spec.license_info,
                code,
                created: self.inner.clock.now(),
            })
            .await
            .map_err(ControlError::Store)?;
        tracing::info!(
            layer = %version.name,
            version = version.version,
            arn = %scope.layer_version_arn(&version.name, version.version),
            "published layer version"
        );
        Ok(version)
    }

    /// GetLayerVersion.
    pub async fn get_layer_version(
        &self,
        scope: &Scope,
        layer_name: &str,
        version: u64,
    ) -> Result<LayerVersion, ControlError> {
        let name = self.known_layer_name(layer_name)?;
        self.stored_layer_version(scope, &name, version).await
    }

    /// GetLayerVersionByArn.
    pub async fn get_layer_version_by_arn(
        &self,
        scope: &Scope,
        arn: &str,
    ) -> Result<LayerVersion, ControlError> {
        let parsed = LayerVersionArn::parse(arn).ok_or_else(|| {
            model_error(
                "arn",
                arn,
                "Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+",
            )
        })?;
        if parsed.account != self.inner.account_id {
            return Err(ControlError::LayerVersionNotFound {
                arn: arn.to_string(),
            });
        }
        self.stored_layer_version(scope, &parsed.name, parsed.version)
            .await
    }

    /// ListLayerVersions: the versions of one layer, newest first, at most 50 a page.
    pub async fn list_layer_versions(
        &self,
        layer_name: &str,
        listing: LayerListing,
    ) -> Result<LayerVersionPage, ControlError> {
        let filter = Filter::of(&listing)?;
        let after = listing
            .marker
            .as_deref()
            .map(|m| decode_marker(m).and_then(|text| version_marker(m, &text)))
            .transpose()?;
        let name = self.known_layer_name(layer_name)?;
        let mut versions: Vec<LayerVersion> = self
            .inner
            .layers
            .list_layer_versions(Some(&name))
            .await
            .map_err(ControlError::Store)?
            .into_iter()
            .filter(|v| after.is_none_or(|after| v.version < after))
            .filter(|v| filter.matches(v))
            .collect();
        let next_marker = marker::next_page(&mut versions, filter.limit, |v| v.version.to_string());
        Ok(LayerVersionPage {
            versions,
            next_marker,
        })
    }

    /// ListLayers: every layer with a version matching the filters, by name, each with its
    /// newest matching version, at most 50 a page.
    pub async fn list_layers(&self, listing: LayerListing) -> Result<LayerPage, ControlError> {
        let filter = Filter::of(&listing)?;
        let after = listing
            .marker
            .as_deref()
            .map(|m| decode_marker(m).and_then(|text| name_marker(m, text)))
            .transpose()?;
        let all = self
            .inner
            .layers
            .list_layer_versions(None)
            .await
            .map_err(ControlError::Store)?;
        // Versions come by name, newest first: the first match of each name is its newest.
        let mut layers: Vec<LayerVersion> = Vec::new();
        for version in all {
            let seen = layers.last().is_some_and(|l| l.name == version.name);
            let past_marker = after
                .as_deref()
                .is_none_or(|after| version.name.as_str() > after);
            if !seen && past_marker && filter.matches(&version) {
                layers.push(version);
            }
        }
        let next_marker = marker::next_page(&mut layers, filter.limit, |l| l.name.clone());
        Ok(LayerPage {
            layers,
            next_marker,
        })
    }

    /// DeleteLayerVersion. Functions that use the version keep running with it; deleting a
    /// version that does not exist succeeds, as on Lambda.
    pub async fn delete_layer_version(
        &self,
        scope: &Scope,
        layer_name: &str,
        version: u64,
    ) -> Result<(), ControlError> {
        let name = self.known_layer_name(layer_name)?;
        let _write = self.inner.writes.lock().await;
        self.inner
            .layers
            .delete_layer_version(&name, version)
            .await
            .map_err(ControlError::Store)?;
        tracing::info!(arn = %scope.layer_version_arn(&name, version), "deleted layer version");
        Ok(())
    }

    /// AddLayerVersionPermission: adds a statement and returns it with the new revision.
    pub async fn add_layer_version_permission(
        &self,
        scope: &Scope,
        layer_name: &str,
        version: u64,
        permission: LayerPermission,
        revision_id: Option<&str>,
    ) -> Result<PolicyDocument, ControlError> {
        let name = self.known_layer_name(layer_name)?;
        permission.validate()?;
        let arn = scope.layer_version_arn(&name, version);
        let statement = permission.statement(&arn);
        let _write = self.inner.writes.lock().await;
        let current = self.layer_policy(scope, &name, version).await?;
        let mut statements = current.map(|p| p.statements).unwrap_or_default();
        if statements
            .iter()
            .any(|s| s["Sid"] == permission.statement_id.as_str())
        {
            return Err(ControlError::LayerStatementExists {
                arn,
                statement_id: permission.statement_id,
            });
        }
        statements.push(statement.clone());
        let policy = LayerPolicy {
            revision_id: ids::revision_id(),
            statements,
        };
        self.put_layer_policy(scope, &name, version, &policy, revision_id)
            .await?;
        Ok(PolicyDocument {
            json: statement.to_string(),
            revision_id: policy.revision_id,
        })
    }

    /// RemoveLayerVersionPermission.
    pub async fn remove_layer_version_permission(
        &self,
        scope: &Scope,
        layer_name: &str,
        version: u64,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ControlError> {
        let name = self.known_layer_name(layer_name)?;
        layer::statement_id(statement_id)?;
        let arn = scope.layer_version_arn(&name, version);
        let _write = self.inner.writes.lock().await;
        let mut statements = self
            .layer_policy(scope, &name, version)
            .await?
            .map(|p| p.statements)
            .unwrap_or_default();
        let before = statements.len();
        statements.retain(|s| s["Sid"] != statement_id);
        if statements.len() == before {
            return Err(ControlError::LayerStatementNotFound {
                arn,
                statement_id: statement_id.to_string(),
            });
        }
        let policy = LayerPolicy {
            revision_id: ids::revision_id(),
            statements,
        };
        self.put_layer_policy(scope, &name, version, &policy, revision_id)
            .await
    }

    /// GetLayerVersionPolicy: the whole policy as JSON text.
    pub async fn get_layer_version_policy(
        &self,
        scope: &Scope,
        layer_name: &str,
        version: u64,
    ) -> Result<PolicyDocument, ControlError> {
        let name = self.known_layer_name(layer_name)?;
        let policy = self
            .layer_policy(scope, &name, version)
            .await?
            .filter(|p| !p.statements.is_empty())
            .ok_or_else(|| ControlError::LayerPolicyNotFound {
                arn: scope.layer_version_arn(&name, version),
            })?;
        let document = serde_json::json!({
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": policy.statements,
        });
        Ok(PolicyDocument {
            json: document.to_string(),
            revision_id: policy.revision_id,
        })
    }

    /// The layers a function names (`Layers`), looked up: each must be a version of this
    /// account and region that exists now.
    pub(crate) async fn resolve_layers(
        &self,
        scope: &Scope,
        arns: &[String],
    ) -> Result<Vec<LayerRef>, ControlError> {
        let parsed = layer::function_layers(arns)?;
        let mut layers = Vec::with_capacity(parsed.len());
        for (arn, layer) in arns.iter().zip(parsed) {
            if layer.region != scope.region {
                return Err(validate::invalid(format!(
                    "Layers are not in the same region as the function. Layers are expected to be in region {}.",
                    scope.region
                ))
                .into());
            }
            let stored = if layer.account == self.inner.account_id {
                self.inner
                    .layers
                    .get_layer_version(&layer.name, layer.version)
                    .await
                    .map_err(ControlError::Store)?
            } else {
                None
            };
            let Some(stored) = stored else {
                return Err(ControlError::UnknownFunctionLayer { arn: arn.clone() });
            };
            layers.push(LayerRef {
                arn: arn.clone(),
                code: stored.code,
            });
        }
        Ok(layers)
    }

    async fn stored_layer_version(
        &self,
        scope: &Scope,
        name: &str,
        version: u64,
    ) -> Result<LayerVersion, ControlError> {
        self.inner
            .layers
            .get_layer_version(name, version)
            .await
            .map_err(ControlError::Store)?
            .ok_or_else(|| ControlError::LayerVersionNotFound {
                arn: scope.layer_version_arn(name, version),
            })
    }

    async fn layer_policy(
        &self,
        scope: &Scope,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerPolicy>, ControlError> {
        self.inner
            .layers
            .get_layer_version_policy(name, version)
            .await
            .map_err(|err| layer_store_error(err, scope))
    }

    async fn put_layer_policy(
        &self,
        scope: &Scope,
        name: &str,
        version: u64,
        policy: &LayerPolicy,
        expected_revision: Option<&str>,
    ) -> Result<(), ControlError> {
        self.inner
            .layers
            .put_layer_version_policy(name, version, policy, expected_revision)
            .await
            .map_err(|err| layer_store_error(err, scope))
    }

    /// The layer name of a request that publishes: a layer ARN must name this account.
    fn own_layer_name(&self, layer_name: &str) -> Result<String, ControlError> {
        let (name, account) = layer::parse_layer_name(layer_name)?;
        match account {
            Some(account) if account != self.inner.account_id => Err(validate::invalid(format!(
                "The layer ARN names account {account}; this flint server's account is {}.",
                self.inner.account_id
            ))
            .into()),
            _ => Ok(name),
        }
    }

    /// The layer name of a request that reads or changes a version: a layer of another account
    /// cannot exist here.
    fn known_layer_name(&self, layer_name: &str) -> Result<String, ControlError> {
        let (name, account) = layer::parse_layer_name(layer_name)?;
        match account {
            Some(account) if account != self.inner.account_id => {
                Err(ControlError::LayerVersionNotFound {
                    arn: layer_name.to_string(),
                })
            }
            _ => Ok(name),
        }
    }
}

fn layer_store_error(err: StoreError, scope: &Scope) -> ControlError {
    match err {
        StoreError::LayerVersionNotFound { name, version } => ControlError::LayerVersionNotFound {
            arn: scope.layer_version_arn(&name, version),
        },
        StoreError::LayerPolicyRevisionMismatch {
            name,
            version,
            expected,
        } => ControlError::LayerPolicyRevisionMismatch {
            arn: scope.layer_version_arn(&name, version),
            expected,
        },
        other => ControlError::Store(other),
    }
}

/// The checked filters of a listing and its page size.
struct Filter {
    runtime: Option<String>,
    architecture: Option<String>,
    limit: usize,
}

impl Filter {
    fn of(listing: &LayerListing) -> Result<Self, ValidationError> {
        if let Some(runtime) = &listing.compatible_runtime {
            layer::runtime_filter(runtime)?;
        }
        if let Some(architecture) = &listing.compatible_architecture {
            layer::architecture_filter(architecture)?;
        }
        let limit = match listing.max_items {
            None => LAYER_PAGE_MAX,
            Some(n) if n < 1 => {
                return Err(model_error(
                    "maxItems",
                    &n.to_string(),
                    "Member must have value greater than or equal to 1",
                ));
            }
            Some(n) if n > LAYER_PAGE_MAX => {
                return Err(model_error(
                    "maxItems",
                    &n.to_string(),
                    "Member must have value less than or equal to 50",
                ));
            }
            Some(n) => n,
        };
        Ok(Filter {
            runtime: listing.compatible_runtime.clone(),
            architecture: listing.compatible_architecture.clone(),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        })
    }

    fn matches(&self, version: &LayerVersion) -> bool {
        version.matches(self.runtime.as_deref(), self.architecture.as_deref())
    }
}

fn decode_marker(marker: &str) -> Result<String, ValidationError> {
    marker::decode_key(marker, |_| true)
}

/// A ListLayerVersions marker continues below the version it names.
fn version_marker(marker: &str, text: &str) -> Result<u64, ValidationError> {
    text.parse()
        .map_err(|_| validate::invalid(format!("Invalid marker: {marker}")))
}

/// A ListLayers marker continues after the layer it names.
fn name_marker(marker: &str, text: String) -> Result<String, ValidationError> {
    if layer::is_layer_name(&text) {
        Ok(text)
    } else {
        Err(validate::invalid(format!("Invalid marker: {marker}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_limit(max_items: Option<i64>, expect: Option<usize>) {
        let listing = LayerListing {
            max_items,
            ..LayerListing::default()
        };
        assert_eq!(
            Filter::of(&listing).ok().map(|f| f.limit),
            expect,
            "{max_items:?}"
        );
    }

    #[test]
    fn pages_hold_one_to_fifty() {
        check_limit(None, Some(50));
        check_limit(Some(1), Some(1));
        check_limit(Some(50), Some(50));
        check_limit(Some(0), None);
        check_limit(Some(51), None);
    }

    #[test]
    fn filters_are_checked() {
        let listing = |runtime: Option<&str>, architecture: Option<&str>| LayerListing {
            compatible_runtime: runtime.map(str::to_string),
            compatible_architecture: architecture.map(str::to_string),
            ..LayerListing::default()
        };
        assert!(Filter::of(&listing(Some("python3.12"), Some("arm64"))).is_ok());
        assert!(Filter::of(&listing(Some("cobol"), None)).is_err());
        assert!(Filter::of(&listing(None, Some("sparc"))).is_err());
    }

    #[test]
    fn markers_round_trip_and_refuse_foreign_text() {
        let marker = marker::encode("7");
        assert_eq!(
            version_marker(&marker, &decode_marker(&marker).unwrap()).unwrap(),
            7
        );
        let marker = marker::encode("my-layer");
        assert_eq!(
            name_marker(&marker, decode_marker(&marker).unwrap()).unwrap(),
            "my-layer"
        );
        assert!(decode_marker("not base64!").is_err());
        let spaced = marker::encode("has space");
        assert!(name_marker(&spaced, decode_marker(&spaced).unwrap()).is_err());
        assert!(version_marker(&spaced, "has space").is_err());
    }
}
