//! InvokeAsync (`POST /2014-11-13/functions/{FunctionName}/invoke-async`), Lambda's deprecated
//! way to queue an event: the same as Invoke with `X-Amz-Invocation-Type: Event`. It answers 202
//! with an empty body; SDKs read its `Status` member from the status code.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use control::{InvocationType, InvokeInput};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{Caller, Label, read_body};

/// `POST /2014-11-13/functions/{FunctionName}/invoke-async`
pub(crate) async fn invoke_async(
    State(state): State<AppState>,
    caller: Caller,
    Label(name): Label,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let invocation_type = InvocationType::Event;
    let payload = read_body(body, invocation_type.payload_limit(), "InvokeAsync").await?;
    let trace_id = headers
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let input = InvokeInput {
        function_name: &name,
        qualifier: None,
        invocation_type,
        request_id: caller.request_id,
        payload,
        trace_id,
        client_context: None,
        want_tail: false,
    };
    state.control.invoke(&caller.scope, input).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
