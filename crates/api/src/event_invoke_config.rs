//! The event invoke configuration operations on
//! `/2019-09-25/functions/{FunctionName}/event-invoke-config`: PUT replaces
//! (PutFunctionEventInvokeConfig), POST merges (UpdateFunctionEventInvokeConfig), GET and DELETE,
//! and GET `.../list` (ListFunctionEventInvokeConfigs).
//!
//! `FunctionEventInvokeConfig` answers with `LastModified` as epoch seconds (a JSON number, the
//! `Date` shape of rest-json), a qualified `FunctionArn`, and a `DestinationConfig` whose
//! `OnSuccess` and `OnFailure` are always present, empty when unset, as Lambda answers.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use control::{DestinationsInput, EventInvokeConfig, EventInvokeConfigInput};
use model::Scope;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{Caller, Label, Query, json_body};

/// The body of Put and UpdateFunctionEventInvokeConfig.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigRequest {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
    destination_config: Option<DestinationConfigShape>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationConfigShape {
    #[serde(default)]
    on_success: DestinationShape,
    #[serde(default)]
    on_failure: DestinationShape,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
}

impl ConfigRequest {
    fn into_input(self) -> EventInvokeConfigInput {
        EventInvokeConfigInput {
            maximum_retry_attempts: self.maximum_retry_attempts,
            maximum_event_age_s: self.maximum_event_age_in_seconds,
            destinations: self.destination_config.map(|d| DestinationsInput {
                on_success: d.on_success.destination,
                on_failure: d.on_failure.destination,
            }),
        }
    }
}

/// `FunctionEventInvokeConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigShape {
    last_modified: f64,
    function_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum_retry_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum_event_age_in_seconds: Option<u32>,
    destination_config: DestinationConfigShape,
}

impl ConfigShape {
    fn new(config: EventInvokeConfig, scope: &Scope) -> Self {
        ConfigShape {
            last_modified: epoch_seconds(config.last_modified.as_millisecond()),
            function_arn: scope.qualified_arn(&config.function, &config.qualifier),
            maximum_retry_attempts: config.maximum_retry_attempts,
            maximum_event_age_in_seconds: config.maximum_event_age_s,
            destination_config: DestinationConfigShape {
                on_success: DestinationShape {
                    destination: config.on_success,
                },
                on_failure: DestinationShape {
                    destination: config.on_failure,
                },
            },
        }
    }
}

/// Milliseconds since the epoch as rest-json's `Date`: seconds, with the milliseconds as
/// fraction.
fn epoch_seconds(milliseconds: i64) -> f64 {
    milliseconds as f64 / 1000.0
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListResponse {
    function_event_invoke_configs: Vec<ConfigShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// `PUT /2019-09-25/functions/{FunctionName}/event-invoke-config`
pub(crate) async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ConfigRequest = json_body(body, "PutFunctionEventInvokeConfig").await?;
    let config = state
        .control
        .put_event_invoke_config(
            &caller.scope,
            &name,
            query.get("Qualifier"),
            request.into_input(),
        )
        .await?;
    Ok(Json(ConfigShape::new(config, &caller.scope)).into_response())
}

/// `POST /2019-09-25/functions/{FunctionName}/event-invoke-config`
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ConfigRequest = json_body(body, "UpdateFunctionEventInvokeConfig").await?;
    let config = state
        .control
        .update_event_invoke_config(
            &caller.scope,
            &name,
            query.get("Qualifier"),
            request.into_input(),
        )
        .await?;
    Ok(Json(ConfigShape::new(config, &caller.scope)).into_response())
}

/// `GET /2019-09-25/functions/{FunctionName}/event-invoke-config`
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
) -> Result<Response, ApiError> {
    let config = state
        .control
        .get_event_invoke_config(&caller.scope, &name, query.get("Qualifier"))
        .await?;
    Ok(Json(ConfigShape::new(config, &caller.scope)).into_response())
}

/// `DELETE /2019-09-25/functions/{FunctionName}/event-invoke-config`
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
) -> Result<Response, ApiError> {
    state
        .control
        .delete_event_invoke_config(&caller.scope, &name, query.get("Qualifier"))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /2019-09-25/functions/{FunctionName}/event-invoke-config/list`
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    query: Query,
) -> Result<Response, ApiError> {
    let max_items = query.integer("MaxItems", "maxItems")?;
    let page = state
        .control
        .list_event_invoke_configs(&caller.scope, &name, query.get("Marker"), max_items)
        .await?;
    let response = ListResponse {
        function_event_invoke_configs: page
            .configs
            .into_iter()
            .map(|config| ConfigShape::new(config, &caller.scope))
            .collect(),
        next_marker: page.next_marker,
    };
    Ok(Json(response).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            region: "us-east-2".into(),
            account: "123456789012".into(),
        }
    }

    fn config(on_failure: Option<&str>) -> EventInvokeConfig {
        EventInvokeConfig {
            function: "my-function".into(),
            qualifier: "$LATEST".into(),
            maximum_retry_attempts: Some(1),
            maximum_event_age_s: None,
            on_success: None,
            on_failure: on_failure.map(str::to_owned),
            last_modified: jiff::Timestamp::from_millisecond(1_577_824_396_653).unwrap(),
        }
    }

    #[test]
    fn configurations_render_as_lambda_answers() {
        let json = serde_json::to_value(ConfigShape::new(config(None), &scope())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "LastModified": 1_577_824_396.653,
                "FunctionArn": "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST",
                "MaximumRetryAttempts": 1,
                "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}},
            })
        );
        let text = serde_json::to_string(&ConfigShape::new(config(None), &scope())).unwrap();
        assert!(
            text.starts_with(r#"{"LastModified":1577824396.653,"#),
            "{text}"
        );

        let dest = "arn:aws:lambda:us-east-2:123456789012:function:dest";
        let json = serde_json::to_value(ConfigShape::new(config(Some(dest)), &scope())).unwrap();
        assert_eq!(json["DestinationConfig"]["OnFailure"]["Destination"], dest);
    }

    #[test]
    fn requests_keep_what_they_set() {
        let request: ConfigRequest = serde_json::from_str(
            r#"{"MaximumEventAgeInSeconds": 60, "DestinationConfig": {"OnFailure": {"Destination": "arn:x"}}}"#,
        )
        .unwrap();
        let input = request.into_input();
        assert_eq!(input.maximum_retry_attempts, None);
        assert_eq!(input.maximum_event_age_s, Some(60));
        let destinations = input.destinations.unwrap();
        assert_eq!(destinations.on_success, None);
        assert_eq!(destinations.on_failure.as_deref(), Some("arn:x"));

        let empty: ConfigRequest = serde_json::from_str("{}").unwrap();
        assert!(empty.into_input().destinations.is_none());
    }
}
