//! The AWS wire layer: the Lambda REST-JSON API (control plane and Invoke) and the CloudWatch
//! Logs JSON 1.1 API, on one router.
//!
//! Invariant: this is the only crate that knows AWS wire shapes, header names and the error
//! table. It turns requests into calls of the `control` crate and answers into AWS JSON;
//! every error, from any layer, leaves through [`ApiError`]'s one `IntoResponse` (or the Logs
//! protocol's own error shape), and every response carries `x-amzn-RequestId`.
//!
//! [`app`] builds the router without a socket, so tests drive it with `tower::ServiceExt`.

mod account;
mod error;
mod functions;
mod invoke;
mod logs_api;
mod request;
mod shapes;
mod tags;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use control::ControlPlane;

pub use error::{ApiError, ERROR_TYPE, ErrorCode, MessageMember};

/// The header that carries the request id (`x-amzn-RequestId`).
pub const REQUEST_ID: &str = "x-amzn-requestid";

/// How the API presents itself.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The region of requests that are not signed.
    pub default_region: String,
    /// The base URL clients reach this server at (`http://host:port`), for links such as
    /// GetFunction's `Code.Location`. `None`: taken from each request's `Host` header.
    pub public_url: Option<String>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            default_region: "us-east-1".to_string(),
            public_url: None,
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) control: ControlPlane,
    pub(crate) settings: Arc<ApiSettings>,
}

/// The whole API as one router. Routes are the full paths of Lambda's service model; both the
/// forms with and without a trailing slash are served where SDKs use either.
pub fn app(control: ControlPlane, settings: ApiSettings) -> Router {
    let state = AppState {
        control,
        settings: Arc::new(settings),
    };
    let functions = get(functions::list).post(functions::create);
    let account_settings = get(account::account_settings);
    Router::new()
        .route("/2015-03-31/functions", functions.clone())
        .route("/2015-03-31/functions/", functions)
        .route(
            "/2015-03-31/functions/{name}",
            get(functions::get).delete(functions::delete),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(functions::get_configuration).put(functions::update_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            put(functions::update_code),
        )
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::invoke),
        )
        .route("/2016-08-19/account-settings", account_settings.clone())
        .route("/2016-08-19/account-settings/", account_settings)
        .route(
            "/2017-03-31/tags/{resource}",
            get(tags::list).post(tags::tag).delete(tags::untag),
        )
        .route(
            &format!("{}{{sha256}}", functions::CODE_PATH),
            get(functions::download_code),
        )
        .route("/", post(logs_api::dispatch))
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .layer(middleware::from_fn(with_request_id))
        .with_state(state)
}

/// Gives every request an id, for handlers (Invoke hands it to the function) and for the
/// `x-amzn-RequestId` header of every response.
async fn with_request_id(mut request: Request, next: Next) -> Response {
    let id = model::ids::request_id();
    let header = HeaderValue::from_str(&id).ok();
    request.extensions_mut().insert(request::RequestId(id));
    let mut response = next.run(request).await;
    if let Some(header) = header {
        response.headers_mut().insert(REQUEST_ID, header);
    }
    response
}

/// Any method and path that is not one of flint's operations.
async fn unknown_operation(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownOperation,
        format!(
            "Unknown operation {method} {}: flint does not implement it",
            uri.path()
        ),
    )
}
