//! The layer operations (`/2018-10-31/layers...`): PublishLayerVersion, GetLayerVersion,
//! GetLayerVersionByArn, ListLayerVersions, ListLayers, DeleteLayerVersion,
//! AddLayerVersionPermission, RemoveLayerVersionPermission and GetLayerVersionPolicy, with
//! their JSON shapes.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use control::{LayerContent, LayerListing, LayerSpec};
use model::Scope;
use model::clock::lambda_timestamp;
use model::layer::{LayerPermission, LayerVersion};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::functions::CODE_PATH;
use crate::request::{Caller, Label, Query, json_body};
use crate::shapes::ZipFile;

/// The `{LayerName}` and `{VersionNumber}` labels of a layer version's path, percent-decoded.
#[derive(Debug)]
pub(crate) struct VersionPath {
    layer: String,
    version: u64,
    /// `{StatementId}`, on the path of RemoveLayerVersionPermission.
    statement_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(labels) = Path::<Vec<String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::new(
                    ErrorCode::InvalidRequestContent,
                    format!("Could not read the path: {}", rejection.body_text()),
                )
            })?;
        let [layer, version, rest @ ..] = labels.as_slice() else {
            return Err(ApiError::new(
                ErrorCode::InvalidRequestContent,
                "Could not read the path: a layer name and a version number are required",
            ));
        };
        let version = version.parse().map_err(|_| {
            ApiError::validation("versionNumber", version, "Member must be a number")
        })?;
        Ok(VersionPath {
            layer: layer.clone(),
            version,
            statement_id: rest.first().cloned(),
        })
    }
}

/// The body of PublishLayerVersion.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PublishLayerVersionRequest {
    description: Option<String>,
    content: Option<LayerContentShape>,
    compatible_runtimes: Option<Vec<String>>,
    compatible_architectures: Option<Vec<String>>,
    license_info: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LayerContentShape {
    zip_file: Option<ZipFile>,
    s3_bucket: Option<String>,
    s3_key: Option<String>,
    s3_object_version: Option<String>,
}

impl PublishLayerVersionRequest {
    fn into_spec(self) -> Result<LayerSpec, ApiError> {
        let content = self.content.map(|content| LayerContent {
            zip_file: content.zip_file.map(|zip| zip.0),
            s3_bucket: content.s3_bucket,
            s3_key: content.s3_key,
            s3_object_version: content.s3_object_version,
        });
        Ok(LayerSpec {
            description: self.description,
            content,
            compatible_runtimes: self.compatible_runtimes.unwrap_or_default(),
            compatible_architectures: self.compatible_architectures.unwrap_or_default(),
            license_info: self.license_info,
        })
    }
}

/// The body of AddLayerVersionPermission.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AddLayerVersionPermissionRequest {
    statement_id: Option<String>,
    action: Option<String>,
    principal: Option<String>,
    organization_id: Option<String>,
}

impl AddLayerVersionPermissionRequest {
    fn into_permission(self) -> Result<LayerPermission, ApiError> {
        let required = |value: Option<String>, field: &str| {
            value.ok_or_else(|| ApiError::validation(field, "null", "Member must not be null"))
        };
        Ok(LayerPermission {
            statement_id: required(self.statement_id, "statementId")?,
            action: required(self.action, "action")?,
            principal: required(self.principal, "principal")?,
            organization_id: self.organization_id,
        })
    }
}

/// `GetLayerVersionResponse` and `PublishLayerVersionResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LayerVersionOut<'a> {
    content: ContentOut,
    layer_arn: String,
    layer_version_arn: String,
    description: &'a str,
    created_date: String,
    version: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    compatible_runtimes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    license_info: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    compatible_architectures: &'a [String],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContentOut {
    location: String,
    code_sha256: String,
    code_size: u64,
}

impl<'a> LayerVersionOut<'a> {
    fn new(version: &'a LayerVersion, scope: &Scope, base_url: &str) -> Self {
        LayerVersionOut {
            content: ContentOut {
                location: format!("{base_url}{CODE_PATH}{}", version.code.sha256_hex),
                code_sha256: version.code.code_sha256(),
                code_size: version.code.size,
            },
            layer_arn: scope.layer_arn(&version.name),
            layer_version_arn: scope.layer_version_arn(&version.name, version.version),
            description: &version.description,
            created_date: lambda_timestamp(version.created),
            version: version.version,
            compatible_runtimes: &version.compatible_runtimes,
            license_info: version.license_info.as_deref(),
            compatible_architectures: &version.compatible_architectures,
        }
    }
}

/// `LayerVersionsListItem`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LayerVersionItem<'a> {
    layer_version_arn: String,
    version: u64,
    description: &'a str,
    created_date: String,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    compatible_runtimes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    license_info: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    compatible_architectures: &'a [String],
}

impl<'a> LayerVersionItem<'a> {
    fn new(version: &'a LayerVersion, scope: &Scope) -> Self {
        LayerVersionItem {
            layer_version_arn: scope.layer_version_arn(&version.name, version.version),
            version: version.version,
            description: &version.description,
            created_date: lambda_timestamp(version.created),
            compatible_runtimes: &version.compatible_runtimes,
            license_info: version.license_info.as_deref(),
            compatible_architectures: &version.compatible_architectures,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListLayerVersionsResponse<'a> {
    layer_versions: Vec<LayerVersionItem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// `LayersListItem`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LayerItem<'a> {
    layer_name: &'a str,
    layer_arn: String,
    latest_matching_version: LayerVersionItem<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListLayersResponse<'a> {
    layers: Vec<LayerItem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AddLayerVersionPermissionResponse {
    statement: String,
    revision_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetLayerVersionPolicyResponse {
    policy: String,
    revision_id: String,
}

/// The base URL clients reach this server at, for download links.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            format!("http://{host}")
        }
    }
}

fn listing(query: &Query) -> Result<LayerListing, ApiError> {
    Ok(LayerListing {
        compatible_runtime: query.get("CompatibleRuntime").map(str::to_string),
        compatible_architecture: query.get("CompatibleArchitecture").map(str::to_string),
        marker: query.get("Marker").map(str::to_string),
        max_items: query.integer("MaxItems", "maxItems")?,
    })
}

/// `POST /2018-10-31/layers/{LayerName}/versions`
pub(crate) async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Label(layer): Label,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PublishLayerVersionRequest = json_body(body, "PublishLayerVersion").await?;
    let version = state
        .control
        .publish_layer_version(&caller.scope, &layer, request.into_spec()?)
        .await?;
    let shape = LayerVersionOut::new(&version, &caller.scope, &base_url(&state, &headers));
    Ok((StatusCode::CREATED, Json(shape)).into_response())
}

/// `GET /2018-10-31/layers/{LayerName}/versions`
pub(crate) async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    Label(layer): Label,
    query: Query,
) -> Result<Response, ApiError> {
    let page = state
        .control
        .list_layer_versions(&layer, listing(&query)?)
        .await?;
    let response = ListLayerVersionsResponse {
        layer_versions: page
            .versions
            .iter()
            .map(|v| LayerVersionItem::new(v, &caller.scope))
            .collect(),
        next_marker: page.next_marker,
    };
    Ok(Json(response).into_response())
}

/// `GET /2018-10-31/layers`: ListLayers, or GetLayerVersionByArn with `?find=LayerVersion`.
pub(crate) async fn list_or_find(
    State(state): State<AppState>,
    caller: Caller,
    query: Query,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match query.get("find") {
        Some("LayerVersion") => {
            let arn = query
                .get("Arn")
                .ok_or_else(|| ApiError::validation("arn", "null", "Member must not be null"))?;
            let version = state
                .control
                .get_layer_version_by_arn(&caller.scope, arn)
                .await?;
            let shape = LayerVersionOut::new(&version, &caller.scope, &base_url(&state, &headers));
            Ok(Json(shape).into_response())
        }
        Some(other) => Err(ApiError::new(
            ErrorCode::InvalidParameterValue,
            format!("Unsupported find value: {other}"),
        )),
        None => {
            let page = state.control.list_layers(listing(&query)?).await?;
            let response = ListLayersResponse {
                layers: page
                    .layers
                    .iter()
                    .map(|v| LayerItem {
                        layer_name: &v.name,
                        layer_arn: caller.scope.layer_arn(&v.name),
                        latest_matching_version: LayerVersionItem::new(v, &caller.scope),
                    })
                    .collect(),
                next_marker: page.next_marker,
            };
            Ok(Json(response).into_response())
        }
    }
}

/// `GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}`
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    path: VersionPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let version = state
        .control
        .get_layer_version(&caller.scope, &path.layer, path.version)
        .await?;
    let shape = LayerVersionOut::new(&version, &caller.scope, &base_url(&state, &headers));
    Ok(Json(shape).into_response())
}

/// `DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}`
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    path: VersionPath,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_layer_version(&caller.scope, &path.layer, path.version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy`
pub(crate) async fn add_permission(
    State(state): State<AppState>,
    caller: Caller,
    path: VersionPath,
    query: Query,
    body: Body,
) -> Result<Response, ApiError> {
    let request: AddLayerVersionPermissionRequest =
        json_body(body, "AddLayerVersionPermission").await?;
    let added = state
        .control
        .add_layer_version_permission(
            &caller.scope,
            &path.layer,
            path.version,
            request.into_permission()?,
            query.get("RevisionId"),
        )
        .await?;
    let response = AddLayerVersionPermissionResponse {
        statement: added.json,
        revision_id: added.revision_id,
    };
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

/// `DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy/{StatementId}`
pub(crate) async fn remove_permission(
    State(state): State<AppState>,
    caller: Caller,
    path: VersionPath,
    query: Query,
) -> Result<StatusCode, ApiError> {
    let statement_id = path.statement_id.unwrap_or_default();
    state
        .control
        .remove_layer_version_permission(
            &caller.scope,
            &path.layer,
            path.version,
            &statement_id,
            query.get("RevisionId"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy`
pub(crate) async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    path: VersionPath,
) -> Result<Response, ApiError> {
    let policy = state
        .control
        .get_layer_version_policy(&caller.scope, &path.layer, path.version)
        .await?;
    let response = GetLayerVersionPolicyResponse {
        policy: policy.json,
        revision_id: policy.revision_id,
    };
    Ok(Json(response).into_response())
}
