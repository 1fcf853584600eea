//! Every refusal answers with Lambda's error code, status, message member and a request id, and
//! leaves the server healthy.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::{TestApi, base64, create_body, zip_with, zip_with_bootstrap};

/// One request and the error it must get: status, `x-amzn-ErrorType`, and a fragment of the
/// message (read from `message` or `Message`, whichever the code uses).
struct Case {
    method: Method,
    uri: String,
    body: Option<Body>,
    status: u16,
    code: &'static str,
    message: &'static str,
}

fn case(
    method: Method,
    uri: &str,
    body: Option<Value>,
    status: u16,
    code: &'static str,
    message: &'static str,
) -> Case {
    Case {
        method,
        uri: uri.to_string(),
        body: body.map(|b| Body::from(b.to_string())),
        status,
        code,
        message,
    }
}

fn create_with(extra: Value) -> Option<Value> {
    let mut body = create_body("other", &zip_with_bootstrap("#!/bin/sh\n"));
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    Some(body)
}

#[track_caller]
fn check_message_member(code: &str, body: &Value) -> String {
    let member = if ["ResourceNotFoundException", "ServiceException"].contains(&code) {
        "Message"
    } else {
        "message"
    };
    assert_eq!(body["Type"], "User", "{body}");
    body[member]
        .as_str()
        .unwrap_or_else(|| panic!("{code} has no {member} member: {body}"))
        .to_string()
}

#[tokio::test]
async fn refusals_take_lambdas_error_shapes() {
    let api = TestApi::new().await;
    api.create("hello", json!({})).await;
    let functions = "/2015-03-31/functions";
    let big_env = json!({"Environment": {"Variables": {"BIG": "x".repeat(5000)}}});
    let zip_slip = zip_with(&[("../evil", "x", 0o644)]);
    let cases = vec![
        case(
            Method::GET,
            "/2015-03-31/functions/nope",
            None,
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope",
        ),
        case(
            Method::GET,
            "/2015-03-31/functions/hello?Qualifier=7",
            None,
            404,
            "ResourceNotFoundException",
            "function:hello:7",
        ),
        case(
            Method::GET,
            "/2015-03-31/functions/bad%20name",
            None,
            400,
            "ValidationException",
            "at 'functionName'",
        ),
        case(
            Method::GET,
            "/2015-03-31/functions/hello:1?Qualifier=2",
            None,
            400,
            "InvalidParameterValueException",
            "does not match",
        ),
        case(
            Method::GET,
            "/2015-03-31/functions/hello/policy",
            None,
            404,
            "UnknownOperationException",
            "GET /2015-03-31/functions/hello/policy",
        ),
        case(
            Method::PATCH,
            functions,
            None,
            404,
            "UnknownOperationException",
            "flint does not implement it",
        ),
        case(
            Method::POST,
            functions,
            Some(json!({"FunctionName": 5})),
            400,
            "InvalidRequestContentException",
            "Could not parse request body into json",
        ),
        case(
            Method::POST,
            functions,
            Some(json!({"Code": {}})),
            400,
            "ValidationException",
            "'functionName' failed to satisfy constraint: Member must not be null",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"FunctionName": "hello"})),
            409,
            "ResourceConflictException",
            "Function already exist: hello",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"MemorySize": 64})),
            400,
            "ValidationException",
            "memorySize",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"Timeout": 901})),
            400,
            "InvalidParameterValueException",
            "Timeout value 901",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"Runtime": "java21"})),
            400,
            "InvalidParameterValueException",
            "not supported by flint",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"Code": {"S3Bucket": "b", "S3Key": "k"}})),
            400,
            "InvalidParameterValueException",
            "ZipFile",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"PackageType": "Image"})),
            400,
            "InvalidParameterValueException",
            "container images are not supported",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"Code": {"ZipFile": base64(b"not a zip")}})),
            400,
            "InvalidParameterValueException",
            "Could not unzip uploaded file",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"Code": {"ZipFile": base64(&zip_slip)}})),
            400,
            "InvalidParameterValueException",
            "unsafe path",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"Code": {"ZipFile": "***"}})),
            400,
            "InvalidRequestContentException",
            "ZipFile is not valid base64",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"Environment": {"Variables": {"AWS_REGION": "x"}}})),
            400,
            "InvalidParameterValueException",
            "reserved keys",
        ),
        case(
            Method::POST,
            functions,
            create_with(big_env),
            400,
            "InvalidParameterValueException",
            "exceeded the 4KB limit",
        ),
        case(
            Method::POST,
            functions,
            create_with(json!({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:l:1"]})),
            400,
            "InvalidParameterValueException",
            "Layer version arn:aws:lambda:us-east-1:000000000000:layer:l:1 does not exist.",
        ),
        case(
            Method::PUT,
            "/2015-03-31/functions/hello/configuration",
            Some(json!({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:l:1"]})),
            400,
            "InvalidParameterValueException",
            "Layer version arn:aws:lambda:us-east-1:000000000000:layer:l:1 does not exist.",
        ),
        case(
            Method::PUT,
            "/2015-03-31/functions/hello/configuration",
            Some(json!({"RevisionId": "stale"})),
            412,
            "PreconditionFailedException",
            "does not match the latest Revision Id",
        ),
        case(
            Method::PUT,
            "/2015-03-31/functions/nope/code",
            Some(json!({"ZipFile": base64(&zip_with_bootstrap("x"))})),
            404,
            "ResourceNotFoundException",
            "function:nope",
        ),
        case(
            Method::DELETE,
            "/2015-03-31/functions/hello?Qualifier=%24LATEST",
            None,
            400,
            "InvalidParameterValueException",
            "$LATEST version cannot be deleted without deleting the function.",
        ),
        case(
            Method::DELETE,
            "/2015-03-31/functions/missing?Qualifier=1",
            None,
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing",
        ),
        case(
            Method::GET,
            "/2015-03-31/functions/?MaxItems=0",
            None,
            400,
            "ValidationException",
            "maxItems",
        ),
        case(
            Method::GET,
            "/2015-03-31/functions/?MaxItems=many",
            None,
            400,
            "ValidationException",
            "maxItems",
        ),
        case(
            Method::GET,
            "/2015-03-31/functions/?Marker=%21%21",
            None,
            400,
            "InvalidParameterValueException",
            "Invalid marker",
        ),
        case(
            Method::GET,
            "/2017-03-31/tags/hello",
            None,
            400,
            "ValidationException",
            "at 'resource'",
        ),
        case(
            Method::GET,
            "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:nope",
            None,
            404,
            "ResourceNotFoundException",
            "function:nope",
        ),
        case(
            Method::POST,
            "/2015-03-31/functions/nope/invocations",
            None,
            404,
            "ResourceNotFoundException",
            "Function not found",
        ),
        case(
            Method::POST,
            "/2015-03-31/functions/hello/invocations?Qualifier=3",
            None,
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:hello:3",
        ),
        case(
            Method::GET,
            "/_flint/code/nothex",
            None,
            404,
            "ResourceNotFoundException",
            "Code not found",
        ),
    ];
    for case in cases {
        let label = format!("{} {}", case.method, case.uri);
        let request = Request::builder()
            .method(case.method)
            .uri(&case.uri)
            .body(case.body.unwrap_or_else(Body::empty))
            .unwrap();
        let answer = api.send(request).await;
        assert_eq!(
            answer.status.as_u16(),
            case.status,
            "{label}: {:?}",
            answer.body
        );
        assert_eq!(answer.error_type(), case.code, "{label}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{label}"
        );
        assert!(answer.header("x-amzn-requestid").is_some(), "{label}");
        let message = check_message_member(case.code, &answer.json());
        assert!(
            message.contains(case.message),
            "{label}: {message:?} lacks {:?}",
            case.message
        );
    }
    let healthy = api.call(Method::GET, "/2015-03-31/functions", None).await;
    assert_eq!(healthy.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_json_bodies_are_invalid_request_content() {
    let api = TestApi::new().await;
    for body in ["{", "[1,2]", "{\"FunctionName\": \"a\",}", "\u{0}"] {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/2015-03-31/functions")
            .body(Body::from(body))
            .unwrap();
        let answer = api.send(request).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(
            answer.error_type(),
            "InvalidRequestContentException",
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_the_operations_limit() {
    let api = TestApi::new().await;
    let huge = vec![b' '; 69_905_068];
    let request = Request::builder()
        .method(Method::POST)
        .uri("/2015-03-31/functions")
        .body(Body::from(huge))
        .unwrap();
    let answer = api.send(request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.error_type(), "RequestTooLargeException");
    assert_eq!(
        answer.json()["message"],
        "Request must be smaller than 69905067 bytes for the CreateFunction operation"
    );
}
