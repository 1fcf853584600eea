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
mod aliases;
mod concurrency;
mod error;
mod event_invoke_config;
mod functions;
mod invoke;
mod invoke_async;
mod layers;
mod logs_api;
mod metrics;
mod request;
mod shapes;
mod status;
mod tags;
#[cfg(test)]
mod tests;
mod versions;

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
        .route(
            "/2014-11-13/functions/{name}/invoke-async",
            post(invoke_async::invoke_async),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            get(event_invoke_config::get)
                .put(event_invoke_config::put)
                .post(event_invoke_config::update)
                .delete(event_invoke_config::delete),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(event_invoke_config::list),
        )
        .route(
            "/2015-03-31/functions/{name}/versions",
            get(versions::list).post(versions::publish),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases",
            get(aliases::list).post(aliases::create),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(aliases::get)
                .put(aliases::update)
                .delete(aliases::delete),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(concurrency::put_reserved).delete(concurrency::delete_reserved),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(concurrency::get_reserved),
        )
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            get(concurrency::get_or_list_provisioned)
                .put(concurrency::put_provisioned)
                .delete(concurrency::delete_provisioned),
        )
        .route("/2016-08-19/account-settings", account_settings.clone())
        .route("/2016-08-19/account-settings/", account_settings)
        .route(
            "/2017-03-31/tags/{resource}",
            get(tags::list).post(tags::tag).delete(tags::untag),
        )
        .route("/2018-10-31/layers", get(layers::list_or_find))
        .route(
            "/2018-10-31/layers/{layer}/versions",
            get(layers::list_versions).post(layers::publish),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}",
            get(layers::get).delete(layers::delete),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}/policy",
            get(layers::get_policy).post(layers::add_permission),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}/policy/{statement}",
            axum::routing::delete(layers::remove_permission),
        )
        .route(
            &format!("{}{{sha256}}", functions::CODE_PATH),
            get(functions::download_code),
        )
        .route(status::STATUS_PATH, get(status::all))
        .route(
            &format!("{}/{{name}}", status::STATUS_PATH),
            get(status::function),
        )
        .route(metrics::METRICS_PATH, get(metrics::metrics))
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
