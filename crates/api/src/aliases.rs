//! The alias operations (`/2015-03-31/functions/{FunctionName}/aliases[/{Name}]`): CreateAlias,
//! GetAlias, UpdateAlias, DeleteAlias and ListAliases, with the `AliasConfiguration` shape.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use control::{Alias, AliasSpec, AliasUpdate};
use model::Scope;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::request::{Caller, Label, Query, json_body};

/// The `{FunctionName}` and `{Name}` labels of an alias's path, percent-decoded.
#[derive(Debug)]
pub(crate) struct AliasPath {
    function: String,
    alias: String,
}

impl<S: Send + Sync> FromRequestParts<S> for AliasPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((function, alias)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::new(
                    ErrorCode::InvalidRequestContent,
                    format!("Could not read the path: {}", rejection.body_text()),
                )
            })?;
        Ok(AliasPath { function, alias })
    }
}

/// `RoutingConfig`, in and out.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoutingConfigShape {
    #[serde(default)]
    additional_version_weights: Option<BTreeMap<String, f64>>,
}

/// The body of CreateAlias.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateAliasRequest {
    name: Option<String>,
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingConfigShape>,
}

/// The body of UpdateAlias.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateAliasRequest {
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingConfigShape>,
    revision_id: Option<String>,
}

/// `AliasConfiguration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AliasConfiguration<'a> {
    alias_arn: String,
    name: &'a str,
    function_version: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing_config: Option<RoutingConfigShape>,
    revision_id: &'a str,
}

impl<'a> AliasConfiguration<'a> {
    fn new(alias: &'a Alias, scope: &Scope) -> Self {
        AliasConfiguration {
            alias_arn: scope.qualified_arn(&alias.function, &alias.name),
            name: &alias.name,
            function_version: &alias.function_version,
            description: &alias.description,
            routing_config: alias.additional_version.as_ref().map(|additional| {
                RoutingConfigShape {
                    additional_version_weights: Some(
                        [(additional.version.clone(), additional.weight)].into(),
                    ),
                }
            }),
            revision_id: &alias.revision_id,
        }
    }
}

/// The response of ListAliases.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliasesResponse<'a> {
    aliases: Vec<AliasConfiguration<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

fn weights(routing: Option<RoutingConfigShape>) -> Option<BTreeMap<String, f64>> {
    routing.map(|r| r.additional_version_weights.unwrap_or_default())
}

/// `POST /2015-03-31/functions/{FunctionName}/aliases`
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Label(function): Label,
    body: Body,
) -> Result<Response, ApiError> {
    let request: CreateAliasRequest = json_body(body, "CreateAlias").await?;
    let name = request
        .name
        .ok_or_else(|| ApiError::validation("name", "null", "Member must not be null"))?;
    let function_version = request.function_version.ok_or_else(|| {
        ApiError::validation("functionVersion", "null", "Member must not be null")
    })?;
    let spec = AliasSpec {
        name,
        function_version,
        description: request.description,
        weights: weights(request.routing_config),
    };
    let alias = state
        .control
        .create_alias(&caller.scope, &function, spec)
        .await?;
    let shape = AliasConfiguration::new(&alias, &caller.scope);
    Ok((StatusCode::CREATED, Json(shape)).into_response())
}

/// `GET /2015-03-31/functions/{FunctionName}/aliases/{Name}`
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    path: AliasPath,
) -> Result<Response, ApiError> {
    let alias = state
        .control
        .get_alias(&caller.scope, &path.function, &path.alias)
        .await?;
    Ok(Json(AliasConfiguration::new(&alias, &caller.scope)).into_response())
}

/// `PUT /2015-03-31/functions/{FunctionName}/aliases/{Name}`
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    path: AliasPath,
    body: Body,
) -> Result<Response, ApiError> {
    let request: UpdateAliasRequest = json_body(body, "UpdateAlias").await?;
    let update = AliasUpdate {
        function_version: request.function_version,
        description: request.description,
        weights: weights(request.routing_config),
        revision_id: request.revision_id,
    };
    let alias = state
        .control
        .update_alias(&caller.scope, &path.function, &path.alias, update)
        .await?;
    Ok(Json(AliasConfiguration::new(&alias, &caller.scope)).into_response())
}

/// `DELETE /2015-03-31/functions/{FunctionName}/aliases/{Name}`
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    path: AliasPath,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_alias(&caller.scope, &path.function, &path.alias)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /2015-03-31/functions/{FunctionName}/aliases`
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Label(function): Label,
    query: Query,
) -> Result<Response, ApiError> {
    let max_items = query.integer("MaxItems", "maxItems")?;
    let page = state
        .control
        .list_aliases(
            &caller.scope,
            &function,
            query.get("FunctionVersion"),
            query.get("Marker"),
            max_items,
        )
        .await?;
    let response = ListAliasesResponse {
        aliases: page
            .aliases
            .iter()
            .map(|alias| AliasConfiguration::new(alias, &caller.scope))
            .collect(),
        next_marker: page.next_marker,
    };
    Ok(Json(response).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_config_round_trips_its_weights() {
        let request: UpdateAliasRequest = serde_json::from_value(serde_json::json!({
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}},
        }))
        .unwrap();
        let weights = weights(request.routing_config).unwrap();
        assert_eq!(weights["2"], 0.25);
        let emptied: UpdateAliasRequest =
            serde_json::from_value(serde_json::json!({"RoutingConfig": {}})).unwrap();
        assert_eq!(weights_of(emptied), Some(BTreeMap::new()));
        let untouched: UpdateAliasRequest = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(weights_of(untouched), None);
    }

    fn weights_of(request: UpdateAliasRequest) -> Option<BTreeMap<String, f64>> {
        weights(request.routing_config)
    }
}
