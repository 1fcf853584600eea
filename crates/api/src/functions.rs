//! The function operations: CreateFunction, GetFunction, GetFunctionConfiguration,
//! ListFunctions, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, and the
//! download link of a function's code.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::concurrency::ConcurrencyShape;
use crate::error::{ApiError, ErrorCode};
use crate::request::{Caller, Label, Query, json_body};
use crate::shapes::{
    CodeLocation, CreateFunctionRequest, FunctionConfiguration, GetFunctionResponse,
    ListFunctionsResponse, StateMembers, UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
};

/// Path of the code download route, followed by the package's sha256 in hex.
pub(crate) const CODE_PATH: &str = "/_flint/code/";

/// The qualifier of a configuration answered with `Publish=true`: a published version's ARN
/// names its version.
fn published(config: &model::FunctionConfig) -> Option<&str> {
    (config.version != model::function::LATEST).then_some(config.version.as_str())
}

/// `POST /2015-03-31/functions`
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    let request: CreateFunctionRequest = json_body(body, "CreateFunction").await?;
    let config = state
        .control
        .create_function(&caller.scope, request.into_spec()?)
        .await?;
    let shape = FunctionConfiguration::new(
        &config,
        &caller.scope,
        published(&config),
        StateMembers::Shown,
    );
    Ok((StatusCode::CREATED, Json(shape)).into_response())
}

/// `GET /2015-03-31/functions/{FunctionName}`
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let details = state
        .control
        .get_function(&caller.scope, &name, query.get("Qualifier"))
        .await?;
    let base = match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            format!("http://{host}")
        }
    };
    let response = GetFunctionResponse {
        configuration: FunctionConfiguration::new(
            &details.config,
            &caller.scope,
            details.qualifier.as_deref(),
            StateMembers::Shown,
        ),
        code: CodeLocation {
            repository_type: "S3",
            location: format!("{base}{CODE_PATH}{}", details.config.code.sha256_hex),
        },
        tags: &details.meta.tags,
        concurrency: details
            .reserved_concurrency
            .map(|reserved| ConcurrencyShape {
                reserved_concurrent_executions: Some(i64::from(reserved)),
            }),
    };
    Ok(Json(response).into_response())
}

/// `GET /2015-03-31/functions/{FunctionName}/configuration`
pub(crate) async fn get_configuration(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
) -> Result<Response, ApiError> {
    let details = state
        .control
        .get_function(&caller.scope, &name, query.get("Qualifier"))
        .await?;
    let shape = FunctionConfiguration::new(
        &details.config,
        &caller.scope,
        details.qualifier.as_deref(),
        StateMembers::Shown,
    );
    Ok(Json(shape).into_response())
}

/// `GET /2015-03-31/functions`: the `$LATEST` of every function under its unqualified ARN or,
/// with `FunctionVersion=ALL`, every version of every function under its version's ARN
/// (`$LATEST` included, as Lambda shows it there).
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let max_items = query.integer("MaxItems", "maxItems")?;
    let all_versions = match query.get("FunctionVersion") {
        None => false,
        Some("ALL") => true,
        Some(other) => {
            return Err(ApiError::validation(
                "functionVersion",
                other,
                "Member must satisfy enum value set: [ALL]",
            ));
        }
    };
    if let Some(master_region) = query.get("MasterRegion") {
        // Lambda@Edge replicas are listed by the Region of their master function; flint runs
        // no Lambda@Edge, so there are none to list.
        check_master_region(master_region, all_versions)?;
        let none = ListFunctionsResponse {
            functions: Vec::new(),
            next_marker: None,
        };
        return Ok(Json(none).into_response());
    }
    let marker = query.get("Marker");
    let page = if all_versions {
        state.control.list_all_versions(marker, max_items).await?
    } else {
        state.control.list_functions(marker, max_items).await?
    };
    let response = ListFunctionsResponse {
        functions: page
            .functions
            .iter()
            .map(|config| {
                let qualifier = all_versions.then_some(config.version.as_str());
                FunctionConfiguration::new(config, &caller.scope, qualifier, StateMembers::Omitted)
            })
            .collect(),
        next_marker: page.next_marker,
    };
    Ok(Json(response).into_response())
}

/// `MasterRegion` as Lambda's model constrains it (`ALL|[a-z]{2}(-gov)?-[a-z]+-\d{1}`), and only
/// with `FunctionVersion=ALL`.
fn check_master_region(region: &str, all_versions: bool) -> Result<(), ApiError> {
    if region != "ALL" && !is_region_name(region) {
        return Err(ApiError::validation(
            "masterRegion",
            region,
            "Member must satisfy regular expression pattern: ALL|[a-z]{2}(-gov)?-[a-z]+-\\d{1}",
        ));
    }
    if !all_versions {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValue,
            "MasterRegion requires FunctionVersion to be set to ALL".to_owned(),
        ));
    }
    Ok(())
}

/// `[a-z]{2}(-gov)?-[a-z]+-\d`: `us-east-1`, `us-gov-west-1`.
fn is_region_name(text: &str) -> bool {
    let lower = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    let parts: Vec<&str> = text.split('-').collect();
    let (country, area, digit) = match parts.as_slice() {
        [country, area, digit] | [country, "gov", area, digit] => (*country, *area, *digit),
        _ => return false,
    };
    country.len() == 2
        && lower(country)
        && lower(area)
        && digit.len() == 1
        && digit.bytes().all(|b| b.is_ascii_digit())
}

/// `PUT /2015-03-31/functions/{FunctionName}/code`
pub(crate) async fn update_code(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    body: Body,
) -> Result<Response, ApiError> {
    let request: UpdateFunctionCodeRequest = json_body(body, "UpdateFunctionCode").await?;
    let config = state
        .control
        .update_function_code(&caller.scope, &name, request.into_update()?)
        .await?;
    let shape = FunctionConfiguration::new(
        &config,
        &caller.scope,
        published(&config),
        StateMembers::Shown,
    );
    Ok(Json(shape).into_response())
}

/// `PUT /2015-03-31/functions/{FunctionName}/configuration`
pub(crate) async fn update_configuration(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    body: Body,
) -> Result<Response, ApiError> {
    let request: UpdateFunctionConfigurationRequest =
        json_body(body, "UpdateFunctionConfiguration").await?;
    let config = state
        .control
        .update_function_configuration(&caller.scope, &name, request.into_update())
        .await?;
    let shape = FunctionConfiguration::new(&config, &caller.scope, None, StateMembers::Shown);
    Ok(Json(shape).into_response())
}

/// `DELETE /2015-03-31/functions/{FunctionName}`
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_function(&caller.scope, &name, query.get("Qualifier"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /_flint/code/{sha256}`: the `Code.Location` of GetFunction.
pub(crate) async fn download_code(
    State(state): State<AppState>,
    Label(sha256_hex): Label,
) -> Result<Response, ApiError> {
    let zip = state.control.code_zip(&sha256_hex).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        )],
        zip,
    )
        .into_response())
}
