//! The HTTP side of the Runtime API: paths, headers, status codes and error bodies as Lambda's.

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use model::limits::RESPONSE_PAYLOAD_MAX;

use crate::endpoint::{Endpoint, Outcome};
use crate::state::Refusal;

const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
const RESPONSE_MODE_HEADER: &str = "lambda-runtime-function-response-mode";

/// The Runtime and Extensions API routes; handlers find their [`Endpoint`] in the request.
pub(crate) fn shared_router() -> &'static Router {
    static ROUTER: std::sync::OnceLock<Router> = std::sync::OnceLock::new();
    ROUTER.get_or_init(|| {
        Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/2018-06-01/ping", get(|| async { "pong" }))
            .merge(crate::extension_routes::routes())
            .fallback(|| async { api_error(StatusCode::NOT_FOUND, "InvalidRequest", "Not found") })
    })
}

async fn next(Extension(endpoint): Extension<Endpoint>) -> Response {
    next_invocation(&endpoint).await
}

/// `GET /runtime/invocation/next`: waits for the environment's next invocation.
pub(crate) async fn next_invocation(endpoint: &Endpoint) -> Response {
    let invocation = match endpoint.next().await {
        Ok(invocation) => invocation,
        Err(refusal) => return refused(refusal),
    };
    let mut response = Response::new(Body::from(invocation.payload));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert(
        headers,
        "lambda-runtime-aws-request-id",
        &invocation.request_id,
    );
    insert(
        headers,
        "lambda-runtime-deadline-ms",
        &invocation.deadline_ms.to_string(),
    );
    insert(
        headers,
        "lambda-runtime-invoked-function-arn",
        &invocation.invoked_function_arn,
    );
    insert(headers, "lambda-runtime-trace-id", &invocation.trace_id);
    if let Some(context) = &invocation.client_context {
        insert(headers, "lambda-runtime-client-context", context);
    }
    if let Some(identity) = &invocation.cognito_identity {
        insert(headers, "lambda-runtime-cognito-identity", identity);
    }
    response
}

async fn response(
    Extension(endpoint): Extension<Endpoint>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    invocation_response(&endpoint, &id, &headers, body).await
}

/// `POST /runtime/invocation/{id}/response`: the runtime's answer to invocation `id`.
pub(crate) async fn invocation_response(
    endpoint: &Endpoint,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    if let Err(refusal) = endpoint.is_outstanding(id) {
        return refused(refusal);
    }
    if let Some(mode) = headers.get(RESPONSE_MODE_HEADER)
        && mode.as_bytes() != b"streaming"
    {
        let outcome = platform_error(
            "Runtime.InvalidResponseModeHeader",
            "Invalid function response mode",
        );
        let _ = endpoint.complete(id, outcome);
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidFunctionResponseMode",
            "Invalid function response mode",
        );
    }
    match read_limited(body).await {
        Ok(bytes) => match endpoint.complete(id, Outcome::Response(bytes)) {
            Ok(()) => accepted(),
            Err(refusal) => refused(refusal),
        },
        Err(BodyError::TooLarge) => {
            let message = format!(
                "Response payload size exceeded maximum allowed payload size ({RESPONSE_PAYLOAD_MAX} bytes)."
            );
            let _ = endpoint.complete(
                id,
                platform_error("Function.ResponseSizeTooLarge", &message),
            );
            api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({RESPONSE_PAYLOAD_MAX} bytes)."),
            )
        }
        Err(BodyError::Truncated) => {
            let _ = endpoint.complete(
                id,
                platform_error(
                    "Runtime.TruncatedResponse",
                    "HTTP request detected as truncated",
                ),
            );
            api_error(
                StatusCode::BAD_REQUEST,
                "TruncatedHTTPRequest",
                "HTTP request detected as truncated",
            )
        }
    }
}

async fn error(
    Extension(endpoint): Extension<Endpoint>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refusal) = endpoint.is_outstanding(&id) {
        return refused(refusal);
    }
    let body = read_limited(body).await.unwrap_or_default();
    let (error_type, body) = error_document(&headers, body);
    match endpoint.complete(&id, Outcome::Error { error_type, body }) {
        Ok(()) => accepted(),
        Err(refusal) => refused(refusal),
    }
}

async fn init_error(
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = read_limited(body).await.unwrap_or_default();
    let (error_type, body) = error_document(&headers, body);
    match endpoint.init_error(error_type, body) {
        Ok(()) => accepted(),
        Err(refusal) => refused(refusal),
    }
}

/// The error type (header first, then the document's `errorType`) and the document returned to
/// the caller: the runtime's own when it sent one, else one made from the type.
fn error_document(headers: &HeaderMap, body: Bytes) -> (String, Bytes) {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let error_type = headers
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            parsed
                .as_ref()?
                .get("errorType")?
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Unhandled".to_string());
    if parsed.as_ref().is_some_and(serde_json::Value::is_object) {
        return (error_type, body);
    }
    let message = String::from_utf8_lossy(&body).into_owned();
    let document = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    (error_type, Bytes::from(document.to_string()))
}

/// An error the platform reports on the runtime's behalf.
fn platform_error(error_type: &str, message: &str) -> Outcome {
    let document = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    Outcome::Error {
        error_type: error_type.to_string(),
        body: Bytes::from(document.to_string()),
    }
}

pub(crate) enum BodyError {
    TooLarge,
    Truncated,
}

pub(crate) async fn read_limited(body: Body) -> Result<Bytes, BodyError> {
    match Limited::new(body, RESPONSE_PAYLOAD_MAX).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge)
        }
        Err(_) => Err(BodyError::Truncated),
    }
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

pub(crate) fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::InvalidRequestId => api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        ),
        Refusal::InvalidState { from, to } => api_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            &format!(
                "State transition from {from} to {to} failed for runtime. Error: State transition is not allowed"
            ),
        ),
    }
}

pub(crate) fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod extension_tests;
#[cfg(test)]
mod tests;
