//! PublishVersion and ListVersionsByFunction (`/2015-03-31/functions/{FunctionName}/versions`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use control::PublishInput;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{Caller, Label, Query, json_body};
use crate::shapes::{FunctionConfiguration, StateMembers};

/// The body of PublishVersion.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PublishVersionRequest {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

/// The response of ListVersionsByFunction.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListVersionsResponse<'a> {
    versions: Vec<FunctionConfiguration<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// `POST /2015-03-31/functions/{FunctionName}/versions`
pub(crate) async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PublishVersionRequest = json_body(body, "PublishVersion").await?;
    let input = PublishInput {
        code_sha256: request.code_sha256,
        description: request.description,
        revision_id: request.revision_id,
    };
    let config = state
        .control
        .publish_version(&caller.scope, &name, input)
        .await?;
    let shape = FunctionConfiguration::new(
        &config,
        &caller.scope,
        Some(&config.version),
        StateMembers::Shown,
    );
    Ok((StatusCode::CREATED, Json(shape)).into_response())
}

/// `GET /2015-03-31/functions/{FunctionName}/versions`
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
) -> Result<Response, ApiError> {
    let max_items = query.integer("MaxItems", "maxItems")?;
    let page = state
        .control
        .list_versions(&caller.scope, &name, query.get("Marker"), max_items)
        .await?;
    let response = ListVersionsResponse {
        versions: page
            .versions
            .iter()
            .map(|config| {
                FunctionConfiguration::new(
                    config,
                    &caller.scope,
                    Some(&config.version),
                    StateMembers::Omitted,
                )
            })
            .collect(),
        next_marker: page.next_marker,
    };
    Ok(Json(response).into_response())
}
