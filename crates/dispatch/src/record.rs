//! The invocation record that destinations receive, byte for byte as Lambda writes it:
//!
//! ```json
//! {"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z",
//!  "requestContext":{"requestId":"…","functionArn":"arn:…:function:f:$LATEST",
//!                    "condition":"RetriesExhausted","approximateInvokeCount":3},
//!  "requestPayload":{…},
//!  "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
//!  "responsePayload":{…}}
//! ```
//!
//! Payloads that are JSON are embedded as the caller and the function wrote them; anything else
//! becomes a JSON string. `responseContext` and `responsePayload` describe the attempt that ended
//! the event, so a record whose last decision followed no attempt of the function (the event aged
//! out before it ran, or reserved concurrency is 0) has neither: there is no response to show,
//! and an invented one would claim a status the function never returned.

use std::borrow::Cow;

use bytes::Bytes;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::policy::Condition;
use crate::seams::FunctionResponse;

/// The facts a record states.
#[derive(Debug, Clone, Copy)]
pub struct InvocationRecord<'a> {
    /// When the record was written.
    pub timestamp: Timestamp,
    pub request_id: &'a str,
    /// The function's ARN qualified with the version that ran (or the qualifier invoked, when
    /// nothing ran).
    pub function_arn: &'a str,
    pub condition: Condition,
    /// Attempts that ran the function.
    pub approximate_invoke_count: u32,
    /// The event as the caller sent it.
    pub request_payload: &'a [u8],
    /// The response of the attempt that ended the event, if one did.
    pub response: Option<&'a FunctionResponse>,
}

impl InvocationRecord<'_> {
    /// The record as compact JSON.
    pub fn to_json(&self) -> Result<Bytes, serde_json::Error> {
        let wire = Wire {
            version: "1.0",
            timestamp: model::clock::iso_millis(self.timestamp),
            request_context: RequestContext {
                request_id: self.request_id,
                function_arn: self.function_arn,
                condition: self.condition.as_str(),
                approximate_invoke_count: self.approximate_invoke_count,
            },
            request_payload: Payload::of(self.request_payload),
            response_context: self.response.map(|response| ResponseContext {
                status_code: 200,
                executed_version: &response.executed_version,
                function_error: response.function_error.as_deref(),
            }),
            response_payload: self.response.map(|response| Payload::of(&response.body)),
        };
        serde_json::to_vec(&wire).map(Bytes::from)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    version: &'static str,
    timestamp: String,
    request_context: RequestContext<'a>,
    request_payload: Payload<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_context: Option<ResponseContext<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_payload: Option<Payload<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext<'a> {
    request_id: &'a str,
    function_arn: &'a str,
    condition: &'static str,
    approximate_invoke_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseContext<'a> {
    status_code: u16,
    executed_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_error: Option<&'a str>,
}

/// A payload embedded as JSON when it is JSON, else as a string.
#[derive(Serialize)]
#[serde(untagged)]
enum Payload<'a> {
    Json(&'a RawValue),
    Text(Cow<'a, str>),
}

impl<'a> Payload<'a> {
    fn of(bytes: &'a [u8]) -> Self {
        match serde_json::from_slice::<&RawValue>(bytes) {
            Ok(json) => Payload::Json(json),
            Err(_) => Payload::Text(String::from_utf8_lossy(bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST";
    const REQUEST_ID: &str = "e4b46cbf-b738-xmpl-8880-a18cdf61200e";

    fn response(body: &str, function_error: Option<&str>) -> FunctionResponse {
        FunctionResponse {
            executed_version: "$LATEST".to_owned(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            function_error: function_error.map(str::to_owned),
            error_type: function_error.map(|_| "Runtime.ExitError".to_owned()),
        }
    }

    #[track_caller]
    fn check(
        condition: Condition,
        approximate_invoke_count: u32,
        request_payload: &str,
        response: Option<&FunctionResponse>,
        expect: &str,
    ) {
        let record = InvocationRecord {
            timestamp: "2019-11-14T18:16:05.568Z".parse().unwrap(),
            request_id: REQUEST_ID,
            function_arn: ARN,
            condition,
            approximate_invoke_count,
            request_payload: request_payload.as_bytes(),
            response,
        };
        let json = record.to_json().unwrap();
        assert_eq!(std::str::from_utf8(&json).unwrap(), expect);
    }

    #[test]
    fn a_failure_after_retries_carries_the_last_response() {
        check(
            Condition::RetriesExhausted,
            3,
            r#"{ "ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"] }"#,
            Some(&response(
                r#"{"errorMessage":"RequestId: e4b46cbf Process exited before completing request"}"#,
                Some("Unhandled"),
            )),
            concat!(
                r#"{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z","#,
                r#""requestContext":{"requestId":"e4b46cbf-b738-xmpl-8880-a18cdf61200e","#,
                r#""functionArn":"arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST","#,
                r#""condition":"RetriesExhausted","approximateInvokeCount":3},"#,
                r#""requestPayload":{ "ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"] },"#,
                r#""responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"#,
                r#""responsePayload":{"errorMessage":"RequestId: e4b46cbf Process exited before completing request"}}"#,
            ),
        );
    }

    #[test]
    fn a_success_has_no_function_error() {
        check(
            Condition::Success,
            1,
            r#"{"a":1}"#,
            Some(&response(r#"[1,"two",null]"#, None)),
            concat!(
                r#"{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z","#,
                r#""requestContext":{"requestId":"e4b46cbf-b738-xmpl-8880-a18cdf61200e","#,
                r#""functionArn":"arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST","#,
                r#""condition":"Success","approximateInvokeCount":1},"#,
                r#""requestPayload":{"a":1},"#,
                r#""responseContext":{"statusCode":200,"executedVersion":"$LATEST"},"#,
                r#""responsePayload":[1,"two",null]}"#,
            ),
        );
    }

    #[test]
    fn a_failure_without_an_attempt_has_no_response() {
        let expect = |condition: &str, count: u32| {
            format!(
                concat!(
                    r#"{{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z","#,
                    r#""requestContext":{{"requestId":"e4b46cbf-b738-xmpl-8880-a18cdf61200e","#,
                    r#""functionArn":"arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST","#,
                    r#""condition":"{}","approximateInvokeCount":{}}},"#,
                    r#""requestPayload":"hello"}}"#,
                ),
                condition, count
            )
        };
        check(
            Condition::EventAgeExceeded,
            0,
            r#""hello""#,
            None,
            &expect("EventAgeExceeded", 0),
        );
        check(
            Condition::ZeroReservedConcurrency,
            2,
            r#""hello""#,
            None,
            &expect("ZeroReservedConcurrency", 2),
        );
    }

    #[test]
    fn payloads_that_are_not_json_become_strings() {
        check(
            Condition::Success,
            1,
            "not json \"quoted\"",
            Some(&response("", None)),
            concat!(
                r#"{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z","#,
                r#""requestContext":{"requestId":"e4b46cbf-b738-xmpl-8880-a18cdf61200e","#,
                r#""functionArn":"arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST","#,
                r#""condition":"Success","approximateInvokeCount":1},"#,
                r#""requestPayload":"not json \"quoted\"","#,
                r#""responseContext":{"statusCode":200,"executedVersion":"$LATEST"},"#,
                r#""responsePayload":""}"#,
            ),
        );
    }

    #[test]
    fn records_parse_as_the_documented_shape() {
        let response = response(r#"{"ok":true}"#, None);
        let record = InvocationRecord {
            timestamp: "2024-02-03T04:05:06.7891Z".parse().unwrap(),
            request_id: REQUEST_ID,
            function_arn: ARN,
            condition: Condition::Success,
            approximate_invoke_count: 1,
            request_payload: b"  {\"n\": [1, 2]}\n",
            response: Some(&response),
        };
        let json: serde_json::Value = serde_json::from_slice(&record.to_json().unwrap()).unwrap();
        assert_eq!(json["timestamp"], "2024-02-03T04:05:06.789Z");
        assert_eq!(json["requestPayload"], serde_json::json!({"n": [1, 2]}));
        assert_eq!(json["responsePayload"], serde_json::json!({"ok": true}));
    }
}
