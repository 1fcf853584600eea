//! The Extensions API (2020-01-01) and the Telemetry / Logs API subscriptions, over HTTP.

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use serde::Deserialize;

use crate::endpoint::{Endpoint, SubscribeRefusal};
use crate::extensions::ExtensionRefusal;
use crate::routes::{accepted, api_error, read_limited};
use crate::telemetry::{self, Api};

const NAME_HEADER: &str = "lambda-extension-name";
const IDENTIFIER_HEADER: &str = "lambda-extension-identifier";
const ERROR_TYPE_HEADER: &str = "lambda-extension-function-error-type";
const ACCEPT_FEATURE_HEADER: &str = "lambda-extension-accept-feature";

pub(crate) fn routes() -> Router {
    Router::new()
        .route("/2020-01-01/extension/register", post(register))
        .route("/2020-01-01/extension/event/next", get(next))
        .route("/2020-01-01/extension/init/error", post(init_error))
        .route("/2020-01-01/extension/exit/error", post(exit_error))
        .route("/2022-07-01/telemetry", put(subscribe_telemetry))
        .route("/2020-08-15/logs", put(subscribe_logs))
}

#[derive(Debug, Deserialize)]
struct RegisterBody {
    #[serde(default)]
    events: Vec<String>,
    #[serde(rename = "configurationKeys")]
    configuration_keys: Option<serde_json::Value>,
}

async fn register(
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let name = header_text(&headers, NAME_HEADER).unwrap_or_default();
    let parsed: RegisterBody = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(error) => {
            return api_error(
                StatusCode::FORBIDDEN,
                "InvalidRequestFormat",
                &format!("invalid register body: {error}"),
            );
        }
    };
    if parsed.configuration_keys.is_some() {
        return api_error(
            StatusCode::FORBIDDEN,
            "InvalidRequestFormat",
            "configurationKeys is no longer supported",
        );
    }
    let with_account = header_text(&headers, ACCEPT_FEATURE_HEADER)
        .is_some_and(|f| f.split(',').any(|f| f.trim() == "accountId"));
    match endpoint.register_extension(&name, &parsed.events, with_account) {
        Ok((id, body)) => {
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(IDENTIFIER_HEADER, value);
            }
            response
        }
        Err(refusal) => refused(&refusal),
    }
}

async fn next(Extension(endpoint): Extension<Endpoint>, headers: HeaderMap) -> Response {
    let id = match identifier(&headers) {
        Ok(id) => id,
        Err(refusal) => return refused(&refusal),
    };
    match endpoint.extension_next(&id).await {
        Ok(event) => {
            let mut response = Response::new(Body::from(event));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
                response
                    .headers_mut()
                    .insert("lambda-extension-event-identifier", value);
            }
            response
        }
        Err(refusal) => refused(&refusal),
    }
}

async fn init_error(
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    extension_error(endpoint, headers, body, true).await
}

async fn exit_error(
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    extension_error(endpoint, headers, body, false).await
}

async fn extension_error(
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
    init: bool,
) -> Response {
    let id = match identifier(&headers) {
        Ok(id) => id,
        Err(refusal) => return refused(&refusal),
    };
    let Some(error_type) = header_text(&headers, ERROR_TYPE_HEADER) else {
        return api_error(
            StatusCode::FORBIDDEN,
            "Extension.MissingHeader",
            "Missing Lambda-Extension-Function-Error-Type header",
        );
    };
    let _ = read_limited(body).await;
    match endpoint.extension_error(&id, error_type, init) {
        Ok(()) => accepted(),
        Err(refusal) => refused(&refusal),
    }
}

async fn subscribe_telemetry(
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    subscribe(endpoint, headers, body, Api::Telemetry)
}

async fn subscribe_logs(
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    subscribe(endpoint, headers, body, Api::Logs)
}

fn subscribe(endpoint: Endpoint, headers: HeaderMap, body: Bytes, api: Api) -> Response {
    let id = match identifier(&headers) {
        Ok(id) => id,
        Err(refusal) => return refused(&refusal),
    };
    let subscription = match telemetry::subscription::parse(api, &body) {
        Ok(subscription) => subscription,
        Err(invalid) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                invalid.error_type,
                &invalid.message,
            );
        }
    };
    match endpoint.subscribe(&id, subscription) {
        Ok(()) => (StatusCode::OK, "OK").into_response(),
        Err(SubscribeRefusal::Extension(refusal)) => refused(&refusal),
        Err(SubscribeRefusal::Closed) => {
            let error_type = match api {
                Api::Telemetry => "Telemetry.SubscriptionClosed",
                Api::Logs => "Logs.SubscriptionClosed",
            };
            api_error(
                StatusCode::FORBIDDEN,
                error_type,
                "Subscriptions are accepted during the Init phase only",
            )
        }
    }
}

fn identifier(headers: &HeaderMap) -> Result<String, ExtensionRefusal> {
    header_text(headers, IDENTIFIER_HEADER).ok_or(ExtensionRefusal::MissingExtensionIdentifier)
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|v| !v.is_empty())
}

fn refused(refusal: &ExtensionRefusal) -> Response {
    api_error(
        StatusCode::FORBIDDEN,
        refusal.error_type(),
        &refusal.message(),
    )
}
