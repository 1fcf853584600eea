//! The one table of AWS Lambda error codes flint answers with, and their rendering.
//!
//! Lambda's REST-JSON errors carry the code in the `x-amzn-ErrorType` header and a body
//! `{"Type": "User"|"Service", "message"|"Message": "..."}`, where the casing of the message
//! member is the service model's, per error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use control::ControlError;
use model::ValidationKind;

/// The header that carries the error code (`x-amzn-ErrorType`; HTTP/1 header names are
/// case-insensitive and sent in lower case).
pub const ERROR_TYPE: &str = "x-amzn-errortype";

/// An AWS error code flint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
    ResourceNotFound,
    ResourceConflict,
    PreconditionFailed,
    TooManyRequests,
    Service,
    Validation,
    UnknownOperation,
    ProvisionedConcurrencyConfigNotFound,
}

/// How the message member of an error body is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageMember {
    /// `message`
    Lower,
    /// `Message`
    Upper,
}

impl MessageMember {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageMember::Lower => "message",
            MessageMember::Upper => "Message",
        }
    }
}

impl ErrorCode {
    /// Every code, for tests that walk the table.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidParameterValue,
        ErrorCode::InvalidRequestContent,
        ErrorCode::RequestTooLarge,
        ErrorCode::ResourceNotFound,
        ErrorCode::ResourceConflict,
        ErrorCode::PreconditionFailed,
        ErrorCode::TooManyRequests,
        ErrorCode::Service,
        ErrorCode::Validation,
        ErrorCode::UnknownOperation,
        ErrorCode::ProvisionedConcurrencyConfigNotFound,
    ];

    /// The table: the code's name, its HTTP status and the casing of its message member, as in
    /// Lambda's service model.
    pub fn describe(self) -> (&'static str, StatusCode, MessageMember) {
        use MessageMember::{Lower, Upper};
        match self {
            ErrorCode::InvalidParameterValue => (
                "InvalidParameterValueException",
                StatusCode::BAD_REQUEST,
                Lower,
            ),
            ErrorCode::InvalidRequestContent => (
                "InvalidRequestContentException",
                StatusCode::BAD_REQUEST,
                Lower,
            ),
            ErrorCode::RequestTooLarge => (
                "RequestTooLargeException",
                StatusCode::PAYLOAD_TOO_LARGE,
                Lower,
            ),
            ErrorCode::ResourceNotFound => {
                ("ResourceNotFoundException", StatusCode::NOT_FOUND, Upper)
            }
            ErrorCode::ResourceConflict => {
                ("ResourceConflictException", StatusCode::CONFLICT, Lower)
            }
            ErrorCode::PreconditionFailed => (
                "PreconditionFailedException",
                StatusCode::PRECONDITION_FAILED,
                Lower,
            ),
            ErrorCode::TooManyRequests => (
                "TooManyRequestsException",
                StatusCode::TOO_MANY_REQUESTS,
                Lower,
            ),
            ErrorCode::Service => ("ServiceException", StatusCode::INTERNAL_SERVER_ERROR, Upper),
            ErrorCode::Validation => ("ValidationException", StatusCode::BAD_REQUEST, Lower),
            ErrorCode::UnknownOperation => {
                ("UnknownOperationException", StatusCode::NOT_FOUND, Lower)
            }
            ErrorCode::ProvisionedConcurrencyConfigNotFound => (
                "ProvisionedConcurrencyConfigNotFoundException",
                StatusCode::NOT_FOUND,
                Lower,
            ),
        }
    }

    pub fn name(self) -> &'static str {
        self.describe().0
    }

    pub fn status(self) -> StatusCode {
        self.describe().1
    }
}

/// An error answer of the Lambda API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The `Reason` member of a `TooManyRequestsException`; its answer then also carries
    /// `Retry-After`.
    pub reason: Option<&'static str>,
}

/// Seconds a throttled caller is told to wait (`Retry-After`).
const THROTTLE_RETRY_AFTER_S: u32 = 1;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            reason: None,
        }
    }

    /// A `TooManyRequestsException` with Lambda's `Reason`.
    pub fn throttled(reason: &'static str) -> Self {
        ApiError {
            reason: Some(reason),
            ..ApiError::new(ErrorCode::TooManyRequests, "Rate Exceeded.")
        }
    }

    /// A `ValidationException` in the wording of Lambda's model checks.
    pub fn validation(field: &str, value: &str, constraint: &str) -> Self {
        ApiError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
            ),
        )
    }

    /// The request body is not the JSON the operation takes.
    pub fn unparseable_body(reason: impl std::fmt::Display) -> Self {
        ApiError::new(
            ErrorCode::InvalidRequestContent,
            format!("Could not parse request body into json: {reason}"),
        )
    }

    /// A body larger than `limit` bytes for `operation`.
    pub fn body_too_large(limit: usize, operation: &str) -> Self {
        ApiError::new(
            ErrorCode::RequestTooLarge,
            format!("Request must be smaller than {limit} bytes for the {operation} operation"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (name, status, member) = self.code.describe();
        let fault = if status.is_server_error() {
            "Service"
        } else {
            "User"
        };
        let mut body = serde_json::Map::with_capacity(3);
        if let Some(reason) = self.reason {
            body.insert("Reason".into(), reason.into());
        }
        body.insert("Type".into(), fault.into());
        body.insert(member.as_str().into(), self.message.into());
        let mut response = (status, serde_json::Value::Object(body).to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(ERROR_TYPE, HeaderValue::from_static(name));
        if self.reason.is_some() {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(THROTTLE_RETRY_AFTER_S),
            );
        }
        response
    }
}

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        use ErrorCode::*;
        match err {
            ControlError::Validation(e) => match e.kind {
                ValidationKind::Model => ApiError::new(Validation, e.message),
                ValidationKind::InvalidParameter => ApiError::new(InvalidParameterValue, e.message),
            },
            ControlError::FunctionNotFound { arn } => {
                ApiError::new(ResourceNotFound, format!("Function not found: {arn}"))
            }
            ControlError::FunctionExists { name } => {
                ApiError::new(ResourceConflict, format!("Function already exist: {name}"))
            }
            ControlError::RevisionMismatch { .. } => ApiError::new(
                PreconditionFailed,
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ),
            ControlError::InvalidZip { message } | ControlError::Unsupported { message } => {
                ApiError::new(InvalidParameterValue, message)
            }
            ControlError::ZipTooLarge { limit, .. } => ApiError::new(
                RequestTooLarge,
                format!("Zipped size must be smaller than {limit} bytes"),
            ),
            ControlError::PayloadTooLarge { limit, .. } => {
                ApiError::body_too_large(limit, "InvokeFunction")
            }
            ControlError::PayloadNotJson { reason } => ApiError::new(
                InvalidRequestContent,
                format!(
                    "Could not parse request body into json: Could not parse payload into json: {reason}"
                ),
            ),
            ControlError::RuntimeUnavailable { runtime, source } => ApiError::new(
                InvalidParameterValue,
                format!("The runtime {runtime} cannot run on this flint server: {source}"),
            ),
            ControlError::CodeNotFound { digest } => {
                ApiError::new(ResourceNotFound, format!("Code not found: {digest}"))
            }
            ControlError::LayerVersionNotFound { .. } => ApiError::new(
                ResourceNotFound,
                "The resource you requested does not exist.",
            ),
            ControlError::UnknownFunctionLayer { arn } => ApiError::new(
                InvalidParameterValue,
                format!("Layer version {arn} does not exist."),
            ),
            ControlError::LayerPolicyNotFound { .. } => ApiError::new(
                ResourceNotFound,
                "No policy is associated with the given resource.",
            ),
            ControlError::LayerStatementNotFound { statement_id, .. } => ApiError::new(
                ResourceNotFound,
                format!("Statement {statement_id} is not found in resource policy."),
            ),
            ControlError::LayerStatementExists { statement_id, .. } => ApiError::new(
                ResourceConflict,
                format!(
                    "The statement id ({statement_id}) provided already exists. Please provide a new statement id, or remove the existing statement."
                ),
            ),
            ControlError::LayerPolicyRevisionMismatch { .. } => ApiError::new(
                PreconditionFailed,
                "The Revision Id provided does not match the latest Revision Id. Call the GetLayerVersionPolicy API to retrieve the latest Revision Id",
            ),
            ControlError::AliasNotFound { arn } => {
                ApiError::new(ResourceNotFound, format!("Cannot find alias arn: {arn}"))
            }
            ControlError::AliasExists { arn } => {
                ApiError::new(ResourceConflict, format!("Alias already exists: {arn}"))
            }
            ControlError::VersionInUse { aliases, .. } => ApiError::new(
                ResourceConflict,
                format!(
                    "Unable to delete version because the following aliases reference it: [{}]",
                    aliases.join(", ")
                ),
            ),
            ControlError::Throttled(throttled) => ApiError::throttled(throttled.reason.reason()),
            ControlError::ProvisionedConfigNotFound => ApiError::new(
                ProvisionedConcurrencyConfigNotFound,
                "No Provisioned Concurrency Config found for this function",
            ),
            ControlError::EventInvokeConfigNotFound { arn } => ApiError::new(
                ResourceNotFound,
                format!("The function {arn} doesn't have an EventInvokeConfig"),
            ),
            ControlError::Conflict { message } => ApiError::new(ResourceConflict, message),
            internal @ (ControlError::Store(_)
            | ControlError::Invoke { .. }
            | ControlError::BackgroundTask { .. }
            | ControlError::InspectPackage(_)) => {
                let chain = error_chain(&internal);
                tracing::error!(error = %chain, "request failed");
                ApiError::new(Service, chain)
            }
        }
    }
}

/// An error and its sources, joined with `: `.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn render(err: ApiError) -> (StatusCode, String, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let code = response.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, code, serde_json::from_slice(&body).unwrap())
    }

    #[track_caller]
    fn check_row(code: ErrorCode, name: &str, status: u16, member: &str) {
        let (got_name, got_status, got_member) = code.describe();
        assert_eq!(
            (got_name, got_status.as_u16(), got_member.as_str()),
            (name, status, member)
        );
    }

    #[test]
    fn the_table_matches_the_service_model() {
        check_row(
            ErrorCode::InvalidParameterValue,
            "InvalidParameterValueException",
            400,
            "message",
        );
        check_row(
            ErrorCode::InvalidRequestContent,
            "InvalidRequestContentException",
            400,
            "message",
        );
        check_row(
            ErrorCode::RequestTooLarge,
            "RequestTooLargeException",
            413,
            "message",
        );
        check_row(
            ErrorCode::ResourceNotFound,
            "ResourceNotFoundException",
            404,
            "Message",
        );
        check_row(
            ErrorCode::ResourceConflict,
            "ResourceConflictException",
            409,
            "message",
        );
        check_row(
            ErrorCode::PreconditionFailed,
            "PreconditionFailedException",
            412,
            "message",
        );
        check_row(
            ErrorCode::TooManyRequests,
            "TooManyRequestsException",
            429,
            "message",
        );
        check_row(ErrorCode::Service, "ServiceException", 500, "Message");
        check_row(ErrorCode::Validation, "ValidationException", 400, "message");
        check_row(
            ErrorCode::UnknownOperation,
            "UnknownOperationException",
            404,
            "message",
        );
        check_row(
            ErrorCode::ProvisionedConcurrencyConfigNotFound,
            "ProvisionedConcurrencyConfigNotFoundException",
            404,
            "message",
        );
    }

    #[tokio::test]
    async fn throttles_carry_their_reason_and_retry_after() {
        let response = ApiError::throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
            .into_response();
        assert_eq!(response.headers()["retry-after"], "1");
        let (status, code, body) =
            render(ApiError::throttled("ConcurrentInvocationLimitExceeded")).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(code, "TooManyRequestsException");
        assert_eq!(
            body,
            serde_json::json!({"Reason": "ConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."})
        );
    }

    #[tokio::test]
    async fn every_code_renders_its_header_status_and_member() {
        for code in ErrorCode::ALL {
            let (name, status, member) = code.describe();
            let (got_status, got_name, body) = render(ApiError::new(code, "boom")).await;
            assert_eq!(got_status, status);
            assert_eq!(got_name, name);
            let fault = if status.is_server_error() {
                "Service"
            } else {
                "User"
            };
            assert_eq!(
                body,
                serde_json::json!({ "Type": fault, member.as_str(): "boom" }),
                "{name}"
            );
        }
    }

    #[test]
    fn control_errors_take_their_aws_family() {
        let cases: Vec<(ControlError, ErrorCode, &str)> = vec![
            (
                ControlError::FunctionNotFound {
                    arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
                },
                ErrorCode::ResourceNotFound,
                "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f",
            ),
            (
                ControlError::FunctionExists { name: "f".into() },
                ErrorCode::ResourceConflict,
                "Function already exist: f",
            ),
            (
                ControlError::RevisionMismatch {
                    name: "f".into(),
                    expected: "r".into(),
                },
                ErrorCode::PreconditionFailed,
                "The Revision Id provided does not match",
            ),
            (
                model::validate::memory_size(1).unwrap_err().into(),
                ErrorCode::Validation,
                "memorySize",
            ),
            (
                model::validate::timeout(1000).unwrap_err().into(),
                ErrorCode::InvalidParameterValue,
                "Timeout value 1000",
            ),
            (
                ControlError::PayloadTooLarge {
                    size: 7_000_000,
                    limit: 6_291_456,
                },
                ErrorCode::RequestTooLarge,
                "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
            ),
            (
                ControlError::PayloadNotJson {
                    reason: "expected value".into(),
                },
                ErrorCode::InvalidRequestContent,
                "Could not parse request body into json",
            ),
        ];
        for (err, code, fragment) in cases {
            let api = ApiError::from(err);
            assert_eq!(api.code, code, "{}", api.message);
            assert!(api.message.contains(fragment), "{}", api.message);
        }
    }
}
