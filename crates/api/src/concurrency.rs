//! Reserved concurrency (`/2017-10-31/.../concurrency`, and GetFunctionConcurrency on
//! `/2019-09-30/...`) and provisioned concurrency (`/2019-09-30/.../provisioned-concurrency`),
//! with their shapes.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use control::{ProvisionedState, ProvisionedView};
use model::Scope;
use model::clock::lambda_timestamp;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{Caller, Label, Query, json_body};

/// `Concurrency`: the body of PutFunctionConcurrency and the answer of it and of
/// GetFunctionConcurrency (empty without a reservation).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConcurrencyShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reserved_concurrent_executions: Option<i64>,
}

/// The body of PutProvisionedConcurrencyConfig.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutProvisionedRequest {
    provisioned_concurrent_executions: Option<i64>,
}

/// A provisioned concurrency configuration as Get and Put answer it; ListProvisioned... adds
/// `FunctionArn`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProvisionedShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    function_arn: Option<String>,
    requested_provisioned_concurrent_executions: u32,
    available_provisioned_concurrent_executions: u32,
    allocated_provisioned_concurrent_executions: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    last_modified: String,
}

impl ProvisionedShape {
    fn new(view: ProvisionedView, arn_in: Option<&Scope>) -> Self {
        ProvisionedShape {
            function_arn: arn_in.map(|scope| scope.qualified_arn(&view.function, &view.qualifier)),
            requested_provisioned_concurrent_executions: view.requested,
            available_provisioned_concurrent_executions: view.available,
            allocated_provisioned_concurrent_executions: view.allocated,
            status: status_name(view.state),
            status_reason: view.reason,
            last_modified: lambda_timestamp(view.last_modified),
        }
    }
}

/// `ProvisionedConcurrencyStatusEnum`.
pub(crate) fn status_name(state: ProvisionedState) -> &'static str {
    match state {
        ProvisionedState::InProgress => "IN_PROGRESS",
        ProvisionedState::Ready => "READY",
        ProvisionedState::Failed => "FAILED",
    }
}

/// The response of ListProvisionedConcurrencyConfigs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListProvisionedResponse {
    provisioned_concurrency_configs: Vec<ProvisionedShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// `PUT /2017-10-31/functions/{FunctionName}/concurrency`
pub(crate) async fn put_reserved(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ConcurrencyShape = json_body(body, "PutFunctionConcurrency").await?;
    let requested = request.reserved_concurrent_executions.ok_or_else(|| {
        ApiError::validation(
            "reservedConcurrentExecutions",
            "null",
            "Member must not be null",
        )
    })?;
    let reserved = state
        .control
        .put_function_concurrency(&caller.scope, &name, requested)
        .await?;
    Ok(Json(ConcurrencyShape {
        reserved_concurrent_executions: Some(i64::from(reserved)),
    })
    .into_response())
}

/// `GET /2019-09-30/functions/{FunctionName}/concurrency`
pub(crate) async fn get_reserved(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
) -> Result<Response, ApiError> {
    let reserved = state
        .control
        .get_function_concurrency(&caller.scope, &name)
        .await?;
    Ok(Json(ConcurrencyShape {
        reserved_concurrent_executions: reserved.map(i64::from),
    })
    .into_response())
}

/// `DELETE /2017-10-31/functions/{FunctionName}/concurrency`
pub(crate) async fn delete_reserved(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_function_concurrency(&caller.scope, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /2019-09-30/functions/{FunctionName}/provisioned-concurrency?Qualifier=`
pub(crate) async fn put_provisioned(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PutProvisionedRequest = json_body(body, "PutProvisionedConcurrencyConfig").await?;
    let requested = request.provisioned_concurrent_executions.ok_or_else(|| {
        ApiError::validation(
            "provisionedConcurrentExecutions",
            "null",
            "Member must not be null",
        )
    })?;
    let view = state
        .control
        .put_provisioned_concurrency(&caller.scope, &name, query.get("Qualifier"), requested)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ProvisionedShape::new(view, None)),
    )
        .into_response())
}

/// `GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency`: with `List=ALL` it is
/// ListProvisionedConcurrencyConfigs, otherwise GetProvisionedConcurrencyConfig.
pub(crate) async fn get_or_list_provisioned(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
) -> Result<Response, ApiError> {
    if query.get("List").is_some() {
        let max_items = query.integer("MaxItems", "maxItems")?;
        let page = state
            .control
            .list_provisioned_concurrency(&caller.scope, &name, query.get("Marker"), max_items)
            .await?;
        let response = ListProvisionedResponse {
            provisioned_concurrency_configs: page
                .configs
                .into_iter()
                .map(|view| ProvisionedShape::new(view, Some(&caller.scope)))
                .collect(),
            next_marker: page.next_marker,
        };
        return Ok(Json(response).into_response());
    }
    let view = state
        .control
        .get_provisioned_concurrency(&caller.scope, &name, query.get("Qualifier"))
        .await?;
    Ok(Json(ProvisionedShape::new(view, None)).into_response())
}

/// `DELETE /2019-09-30/functions/{FunctionName}/provisioned-concurrency?Qualifier=`
pub(crate) async fn delete_provisioned(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_provisioned_concurrency(&caller.scope, &name, query.get("Qualifier"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
