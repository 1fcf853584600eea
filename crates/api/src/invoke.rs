//! Invoke (`POST /2015-03-31/functions/{FunctionName}/invocations`): headers in, payload through,
//! the function's answer out. The payload stays `Bytes` from the socket to the pool and back.

use axum::body::Body;
use axum::extract::{FromRequestParts as _, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use control::{InvocationType, InvokeInput, InvokeOutcome};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::request::{Caller, Label, Query, read_body};
use crate::shapes::{base64, decode_client_context};

/// Longest `X-Amz-Client-Context`, base64-encoded.
const CLIENT_CONTEXT_MAX: usize = 3583;

/// Handles one Invoke. It takes the request apart itself rather than through extractors, so the
/// headers are read in place instead of copied.
pub(crate) async fn invoke(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &state).await?;
    let Label(name) = Label::from_request_parts(&mut parts, &state).await?;
    let query = parts.uri.query().map(Query::parse).unwrap_or_default();
    let headers = &parts.headers;
    let invocation_type = invocation_type(headers)?;
    let want_tail = wants_tail(headers)?;
    let client_context = client_context(headers)?;
    let trace_id = text_header(headers, "x-amzn-trace-id").map(str::to_string);
    let payload = read_body(body, invocation_type.payload_limit(), "InvokeFunction").await?;
    let input = InvokeInput {
        function_name: &name,
        qualifier: query.get("Qualifier"),
        invocation_type,
        request_id: caller.request_id,
        payload,
        trace_id,
        client_context,
        want_tail,
    };
    let result = match state.control.invoke(&caller.scope, input).await? {
        InvokeOutcome::DryRun => return Ok(StatusCode::NO_CONTENT.into_response()),
        // The request id header, added to every response, is the one the function will see.
        InvokeOutcome::Accepted => return Ok(StatusCode::ACCEPTED.into_response()),
        InvokeOutcome::Completed(result) => result,
    };
    let mut response = Response::new(Body::from(result.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(version) = HeaderValue::from_str(&result.executed_version) {
        headers.insert("x-amz-executed-version", version);
    }
    if let Some(error) = result.function_error {
        headers.insert("x-amz-function-error", HeaderValue::from_static(error));
    }
    if let Some(tail) = result.log_tail
        && let Ok(encoded) = HeaderValue::from_str(&base64(tail.as_bytes()))
    {
        headers.insert("x-amz-log-result", encoded);
    }
    Ok(response)
}

fn text_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn invocation_type(headers: &HeaderMap) -> Result<InvocationType, ApiError> {
    match text_header(headers, "x-amz-invocation-type") {
        None | Some("RequestResponse") => Ok(InvocationType::RequestResponse),
        Some("Event") => Ok(InvocationType::Event),
        Some("DryRun") => Ok(InvocationType::DryRun),
        Some(other) => Err(ApiError::validation(
            "invocationType",
            other,
            "Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
        )),
    }
}

fn wants_tail(headers: &HeaderMap) -> Result<bool, ApiError> {
    match text_header(headers, "x-amz-log-type") {
        None | Some("None") => Ok(false),
        Some("Tail") => Ok(true),
        Some(other) => Err(ApiError::validation(
            "logType",
            other,
            "Member must satisfy enum value set: [None, Tail]",
        )),
    }
}

fn client_context(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(encoded) = text_header(headers, "x-amz-client-context") else {
        return Ok(None);
    };
    if encoded.len() > CLIENT_CONTEXT_MAX {
        return Err(ApiError::new(
            ErrorCode::InvalidRequestContent,
            format!("Client context must be at most {CLIENT_CONTEXT_MAX} bytes, base64-encoded."),
        ));
    }
    decode_client_context(encoded).map(Some).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequestContent,
            "Client context must be a valid Base64-encoded JSON object.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn invoke_headers() {
        assert_eq!(
            invocation_type(&headers(&[])).unwrap(),
            InvocationType::RequestResponse
        );
        assert_eq!(
            invocation_type(&headers(&[("x-amz-invocation-type", "DryRun")])).unwrap(),
            InvocationType::DryRun
        );
        assert!(invocation_type(&headers(&[("x-amz-invocation-type", "Later")])).is_err());
        assert!(!wants_tail(&headers(&[("x-amz-log-type", "None")])).unwrap());
        assert!(wants_tail(&headers(&[("x-amz-log-type", "Tail")])).unwrap());
        assert!(wants_tail(&headers(&[("x-amz-log-type", "All")])).is_err());
        let context = client_context(&headers(&[("x-amz-client-context", "eyJhIjoxfQ==")]));
        assert_eq!(context.unwrap().as_deref(), Some(r#"{"a":1}"#));
        let bad = client_context(&headers(&[("x-amz-client-context", "%%%")])).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidRequestContent);
    }
}
