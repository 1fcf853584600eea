//! flint's own read-only view of runtime state, which Lambda has no API for:
//! `GET /_flint/status` (every function) and `GET /_flint/status/{FunctionName}` (one), used by
//! `flint status` and `flint ls`. The shape is flint's, in the PascalCase of Lambda's shapes:
//!
//! ```text
//! {"FunctionName": "f",
//!  "Versions": [{"Version": "$LATEST", "CodeSha256": "...", "Description": "", "LastModified": "..."}],
//!  "Aliases": [{"Name": "live", "FunctionVersion": "1", "AdditionalVersionWeights": {"2": 0.1}}],
//!  "Concurrency": {"ReservedConcurrentExecutions": 5, "InFlight": 1, "Provisioned": 2},
//!  "Throttles": {"Total": 3, "ReservedFunctionConcurrentInvocationLimitExceeded": 3,
//!                "ConcurrentInvocationLimitExceeded": 0, "FunctionInvocationRateLimitExceeded": 0},
//!  "Environments": [{"Version": "1", "Idle": 0, "Busy": 1, "ProvisionedIdle": 2, "ProvisionedBusy": 0}],
//!  "ProvisionedConcurrency": [{"Qualifier": "live", "Requested": 2, "Allocated": 2,
//!                              "Available": 2, "Status": "READY"}],
//!  "Async": {"Queued": 4, "InFlight": 1, "Failed": 0, "OldestAgeSeconds": 2.5}}
//! ```
//!
//! The whole list is `{"Functions": [<one function as above>, ...]}`, by name.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use control::FunctionStatus;
use model::clock::lambda_timestamp;
use serde::Serialize;

use crate::AppState;
use crate::concurrency::status_name;
use crate::error::ApiError;
use crate::request::{Caller, Label};

/// Where the status routes live.
pub(crate) const STATUS_PATH: &str = "/_flint/status";

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AllStatus {
    functions: Vec<StatusShape>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatusShape {
    function_name: String,
    versions: Vec<VersionShape>,
    aliases: Vec<AliasShape>,
    concurrency: ConcurrencyShape,
    throttles: ThrottlesShape,
    environments: Vec<EnvironmentsShape>,
    provisioned_concurrency: Vec<ProvisionedShape>,
    #[serde(rename = "Async")]
    async_events: AsyncShape,
}

/// The function's asynchronous invocations: in the queue now, and failed since the start.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AsyncShape {
    queued: u64,
    in_flight: u64,
    failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_age_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct VersionShape {
    version: String,
    code_sha256: String,
    description: String,
    last_modified: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AliasShape {
    name: String,
    function_version: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    additional_version_weights: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyShape {
    reserved_concurrent_executions: Option<u32>,
    in_flight: u32,
    provisioned: u32,
}

#[derive(Debug, Serialize)]
struct ThrottlesShape {
    #[serde(rename = "Total")]
    total: u64,
    #[serde(rename = "ReservedFunctionConcurrentInvocationLimitExceeded")]
    reserved: u64,
    #[serde(rename = "ConcurrentInvocationLimitExceeded")]
    account: u64,
    #[serde(rename = "FunctionInvocationRateLimitExceeded")]
    rate: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EnvironmentsShape {
    version: String,
    idle: u32,
    busy: u32,
    provisioned_idle: u32,
    provisioned_busy: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProvisionedShape {
    qualifier: String,
    requested: u32,
    allocated: u32,
    available: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
}

impl StatusShape {
    fn new(function_name: String, status: FunctionStatus) -> Self {
        let throttles = status.concurrency.throttles;
        StatusShape {
            function_name,
            versions: status
                .versions
                .into_iter()
                .map(|config| VersionShape {
                    code_sha256: config.code.code_sha256(),
                    last_modified: lambda_timestamp(config.last_modified),
                    version: config.version,
                    description: config.description,
                })
                .collect(),
            aliases: status
                .aliases
                .into_iter()
                .map(|alias| AliasShape {
                    additional_version_weights: alias
                        .additional_version
                        .map(|a| (a.version, a.weight))
                        .into_iter()
                        .collect(),
                    name: alias.name,
                    function_version: alias.function_version,
                })
                .collect(),
            concurrency: ConcurrencyShape {
                reserved_concurrent_executions: status.concurrency.reserved,
                in_flight: status.concurrency.in_flight,
                provisioned: status.concurrency.provisioned,
            },
            throttles: ThrottlesShape {
                total: throttles.total(),
                reserved: throttles.reserved,
                account: throttles.account,
                rate: throttles.rate,
            },
            environments: status
                .environments
                .into_iter()
                .map(|activity| EnvironmentsShape {
                    version: activity.version,
                    idle: activity.idle,
                    busy: activity.busy,
                    provisioned_idle: activity.provisioned.idle,
                    provisioned_busy: activity.provisioned_busy,
                })
                .collect(),
            provisioned_concurrency: status
                .provisioned
                .into_iter()
                .map(|view| ProvisionedShape {
                    status: status_name(view.state),
                    qualifier: view.qualifier,
                    requested: view.requested,
                    allocated: view.allocated,
                    available: view.available,
                    status_reason: view.reason,
                })
                .collect(),
            async_events: AsyncShape {
                queued: status.async_events.queued,
                in_flight: status.async_events.in_flight,
                failed: status.async_events.failed,
                oldest_age_seconds: status.async_events.oldest_age.map(|age| age.as_secs_f64()),
            },
        }
    }
}

/// `GET /_flint/status`
pub(crate) async fn all(State(state): State<AppState>) -> Result<Response, ApiError> {
    let functions = state
        .control
        .all_status()
        .await?
        .into_iter()
        .map(|(name, status)| StatusShape::new(name, status))
        .collect();
    Ok(Json(AllStatus { functions }).into_response())
}

/// `GET /_flint/status/{FunctionName}`
pub(crate) async fn function(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
) -> Result<Response, ApiError> {
    let status = state.control.function_status(&caller.scope, &name).await?;
    let name = status
        .versions
        .first()
        .map_or(name, |latest| latest.name.clone());
    Ok(Json(StatusShape::new(name, status)).into_response())
}
