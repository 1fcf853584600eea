//! The CloudWatch Logs API (AWS JSON 1.1 protocol) over the functions' logs: `POST /` with
//! `X-Amz-Target: Logs_20140328.<Operation>`, for `aws logs` and `flint logs`.
//!
//! This protocol has its own error shape: status 400 (500 for service faults), the code in
//! `x-amzn-ErrorType` and in the body's `__type`, and a lower-case `message`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logs::{FilterQuery, LogError, LogEvent, LogStore, StreamQuery};
use model::Scope;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ERROR_TYPE;
use crate::request::{Caller, read_body};

/// The prefix of `X-Amz-Target` for CloudWatch Logs.
const TARGET_PREFIX: &str = "Logs_20140328.";
/// Largest request body of this protocol (requests are small JSON documents).
const BODY_MAX: usize = 1024 * 1024;
/// Most streams or groups a Describe page holds, as in CloudWatch Logs.
const DESCRIBE_PAGE_MAX: usize = 50;
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A CloudWatch Logs error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogsError {
    code: &'static str,
    status: StatusCode,
    message: String,
}

impl LogsError {
    fn user(code: &'static str, message: impl Into<String>) -> Self {
        LogsError {
            code,
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        LogsError::user("InvalidParameterException", message)
    }
}

impl IntoResponse for LogsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(ERROR_TYPE, HeaderValue::from_static(self.code));
        response
    }
}

impl From<LogError> for LogsError {
    fn from(err: LogError) -> Self {
        match err {
            LogError::GroupNotFound { .. } => LogsError::user(
                "ResourceNotFoundException",
                "The specified log group does not exist.",
            ),
            LogError::StreamNotFound { .. } => LogsError::user(
                "ResourceNotFoundException",
                "The specified log stream does not exist.",
            ),
            LogError::InvalidName { .. } | LogError::InvalidToken { .. } => {
                LogsError::invalid(err.to_string())
            }
            other => {
                tracing::error!(error = %other, "log store failed");
                service_error(other.to_string())
            }
        }
    }
}

/// Answers `POST /`: a CloudWatch Logs operation named by `X-Amz-Target`.
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&state, &caller.scope, &headers, body).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn run(
    state: &AppState,
    scope: &Scope,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, LogsError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(unknown_operation(target));
    };
    let bytes = read_body(body, BODY_MAX, operation)
        .await
        .map_err(|err| LogsError::user("InvalidParameterException", err.message))?;
    let logs = state.control.logs().clone();
    let scope = scope.clone();
    let operation = operation.to_string();
    let answer = tokio::task::spawn_blocking(move || answer(&logs, &scope, &operation, &bytes))
        .await
        .map_err(|err| service_error(format!("log query failed: {err}")))??;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        answer,
    )
        .into_response())
}

fn unknown_operation(target: &str) -> LogsError {
    LogsError::user(
        "UnknownOperationException",
        format!("flint does not implement the operation {target:?}"),
    )
}

/// Runs one operation on the log store (blocking file I/O).
fn answer(
    logs: &LogStore,
    scope: &Scope,
    operation: &str,
    body: &[u8],
) -> Result<Vec<u8>, LogsError> {
    match operation {
        "FilterLogEvents" => to_json(filter_log_events(logs, parse(body)?)?),
        "GetLogEvents" => to_json(get_log_events(logs, parse(body)?)?),
        "DescribeLogStreams" => to_json(describe_log_streams(logs, scope, parse(body)?)?),
        "DescribeLogGroups" => to_json(describe_log_groups(logs, scope, parse(body)?)?),
        _ => Err(unknown_operation(&format!("{TARGET_PREFIX}{operation}"))),
    }
}

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, LogsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|err| LogsError::user("SerializationException", err.to_string()))
}

fn to_json(value: impl Serialize) -> Result<Vec<u8>, LogsError> {
    serde_json::to_vec(&value).map_err(|err| service_error(format!("encode response: {err}")))
}

fn service_error(message: String) -> LogsError {
    LogsError {
        code: "ServiceUnavailableException",
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message,
    }
}

/// `logGroupName`, or the name inside `logGroupIdentifier` (a name or a log group ARN).
fn group_name(name: Option<String>, identifier: Option<String>) -> Result<String, LogsError> {
    if let Some(name) = name {
        return Ok(name);
    }
    let identifier = identifier.ok_or_else(|| {
        LogsError::invalid("Either logGroupName or logGroupIdentifier must be specified.")
    })?;
    Ok(match identifier.split_once(":log-group:") {
        Some((_, rest)) => rest.trim_end_matches(":*").to_string(),
        None => identifier,
    })
}

fn limit(value: Option<i64>) -> Result<Option<usize>, LogsError> {
    value
        .map(|n| {
            usize::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| LogsError::invalid(format!("limit must be at least 1, not {n}")))
        })
        .transpose()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEventsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FilteredEvent {
    log_stream_name: String,
    timestamp: i64,
    message: String,
    ingestion_time: i64,
    event_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEventsResponse {
    events: Vec<FilteredEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn filter_log_events(
    logs: &LogStore,
    request: FilterLogEventsRequest,
) -> Result<FilterLogEventsResponse, LogsError> {
    let group = group_name(request.log_group_name, request.log_group_identifier)?;
    let query = FilterQuery {
        start_ms: request.start_time,
        end_ms: request.end_time,
        stream_names: request.log_stream_names.unwrap_or_default(),
        stream_name_prefix: request.log_stream_name_prefix,
        pattern: request.filter_pattern,
        limit: limit(request.limit)?,
        next_token: request.next_token,
    };
    let page = logs.filter(&group, &query)?;
    Ok(FilterLogEventsResponse {
        events: page
            .events
            .into_iter()
            .map(|event: LogEvent| FilteredEvent {
                log_stream_name: event.stream,
                timestamp: event.timestamp_ms,
                message: event.message,
                ingestion_time: event.ingestion_ms,
                event_id: event.event_id,
            })
            .collect(),
        next_token: page.next_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputEvent {
    timestamp: i64,
    message: String,
    ingestion_time: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsResponse {
    events: Vec<OutputEvent>,
    next_forward_token: String,
    next_backward_token: String,
}

fn get_log_events(
    logs: &LogStore,
    request: GetLogEventsRequest,
) -> Result<GetLogEventsResponse, LogsError> {
    let group = group_name(request.log_group_name, request.log_group_identifier)?;
    let stream = request
        .log_stream_name
        .ok_or_else(|| LogsError::invalid("logStreamName must be specified."))?;
    let query = StreamQuery {
        start_ms: request.start_time,
        end_ms: request.end_time,
        limit: limit(request.limit)?,
        start_from_head: request.start_from_head.unwrap_or(false),
        next_token: request.next_token,
    };
    let page = logs.stream_events(&group, &stream, &query)?;
    Ok(GetLogEventsResponse {
        events: page
            .events
            .into_iter()
            .map(|event| OutputEvent {
                timestamp: event.timestamp_ms,
                message: event.message,
                ingestion_time: event.ingestion_ms,
            })
            .collect(),
        next_forward_token: page.next_forward_token,
        next_backward_token: page.next_backward_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogStreamsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogStreamOut {
    log_stream_name: String,
    creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_ingestion_time: Option<i64>,
    arn: String,
    stored_bytes: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogStreamsResponse {
    log_streams: Vec<LogStreamOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn group_arn(scope: &Scope, group: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{group}",
        scope.region, scope.account
    )
}

fn describe_log_streams(
    logs: &LogStore,
    scope: &Scope,
    request: DescribeLogStreamsRequest,
) -> Result<DescribeLogStreamsResponse, LogsError> {
    let group = group_name(request.log_group_name, request.log_group_identifier)?;
    let mut streams = logs.streams(&group)?;
    let by_time = match request.order_by.as_deref() {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(LogsError::invalid(format!(
                "orderBy must be LogStreamName or LastEventTime, not {other}"
            )));
        }
    };
    if by_time && request.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    if let Some(prefix) = &request.log_stream_name_prefix {
        streams.retain(|s| s.name.starts_with(prefix.as_str()));
    }
    if by_time {
        streams.sort_by_key(|s| (s.last_event_ms, s.creation_ms));
    } else {
        streams.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if request.descending.unwrap_or(false) {
        streams.reverse();
    }
    let (streams, next_token) = page(streams, request.next_token.as_deref(), request.limit)?;
    let arn = group_arn(scope, &group);
    Ok(DescribeLogStreamsResponse {
        log_streams: streams
            .into_iter()
            .map(|s| LogStreamOut {
                arn: format!("{arn}:log-stream:{}", s.name),
                log_stream_name: s.name,
                creation_time: s.creation_ms,
                first_event_timestamp: s.first_event_ms,
                last_event_timestamp: s.last_event_ms,
                last_ingestion_time: s.last_ingestion_ms,
                stored_bytes: s.stored_bytes,
            })
            .collect(),
        next_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogGroupsRequest {
    log_group_name_prefix: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogGroupOut {
    log_group_name: String,
    creation_time: i64,
    metric_filter_count: u32,
    arn: String,
    log_group_arn: String,
    stored_bytes: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogGroupsResponse {
    log_groups: Vec<LogGroupOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn describe_log_groups(
    logs: &LogStore,
    scope: &Scope,
    request: DescribeLogGroupsRequest,
) -> Result<DescribeLogGroupsResponse, LogsError> {
    let mut groups = logs.groups()?;
    if let Some(prefix) = &request.log_group_name_prefix {
        groups.retain(|g| g.name.starts_with(prefix.as_str()));
    }
    let (groups, next_token) = page(groups, request.next_token.as_deref(), request.limit)?;
    Ok(DescribeLogGroupsResponse {
        log_groups: groups
            .into_iter()
            .map(|g| {
                let arn = group_arn(scope, &g.name);
                LogGroupOut {
                    log_group_name: g.name,
                    creation_time: g.creation_ms,
                    metric_filter_count: 0,
                    arn: format!("{arn}:*"),
                    log_group_arn: arn,
                    stored_bytes: g.stored_bytes,
                }
            })
            .collect(),
        next_token,
    })
}

/// One page of a Describe listing; the token is the offset of the next page.
fn page<T>(
    items: Vec<T>,
    token: Option<&str>,
    limit: Option<i64>,
) -> Result<(Vec<T>, Option<String>), LogsError> {
    let size = self::limit(limit)?.map_or(DESCRIBE_PAGE_MAX, |n| n.min(DESCRIBE_PAGE_MAX));
    let start = match token {
        Some(token) => token.parse::<usize>().map_err(|_| {
            LogsError::invalid(format!("The specified nextToken is invalid: {token}"))
        })?,
        None => 0,
    };
    let total = items.len();
    let end = start.saturating_add(size).min(total);
    let next = (end < total).then(|| end.to_string());
    Ok((
        items
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect(),
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_listing() {
        let items: Vec<u32> = (0..120).collect();
        let (first, token) = page(items.clone(), None, None).unwrap();
        assert_eq!(first.len(), 50);
        assert_eq!(token.as_deref(), Some("50"));
        let (second, token) = page(items.clone(), token.as_deref(), Some(100)).unwrap();
        assert_eq!(second[0], 50);
        let (third, token) = page(items.clone(), token.as_deref(), None).unwrap();
        assert_eq!(third, (100..120).collect::<Vec<_>>());
        assert_eq!(token, None);
        assert!(page(items, Some("x"), None).is_err());
    }

    #[test]
    fn group_names_come_from_names_or_arns() {
        assert_eq!(
            group_name(Some("/aws/lambda/f".into()), None).unwrap(),
            "/aws/lambda/f"
        );
        assert_eq!(
            group_name(
                None,
                Some("arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f:*".into())
            )
            .unwrap(),
            "/aws/lambda/f"
        );
        assert!(group_name(None, None).is_err());
    }
}
