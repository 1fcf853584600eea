//! The HTTP connection to a running flint: URLs, requests and AWS error responses.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

/// Characters left as they are in a path label or a query value: the unreserved set of RFC 3986,
/// which is also what AWS SDKs leave unencoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path label or query value (`$LATEST` becomes `%24LATEST`).
pub(crate) fn encode(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// An error answer of the AWS API, as clients read it: the error type and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub(crate) struct AwsError {
    pub(crate) error_type: String,
    pub(crate) message: String,
}

impl AwsError {
    /// Whether the answer says the function, log group or other resource does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        self.error_type == "ResourceNotFoundException"
    }
}

/// Why a call to flint failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("cannot reach flint at {endpoint}: is `flint serve` running?")]
    Unreachable { endpoint: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("request to {url} failed")]
    Send { url: String, source: reqwest::Error },
    #[error("cannot read the answer of {url}")]
    ReadBody { url: String, source: reqwest::Error },
    #[error("unexpected answer from {url}")]
    Decode {
        url: String,
        source: serde_json::Error,
    },
}

impl CallError {
    /// The AWS error the server answered with, if that is what happened.
    pub(crate) fn aws(&self) -> Option<&AwsError> {
        match self {
            CallError::Aws(error) => Some(error),
            _ => None,
        }
    }
}

/// A client of one flint endpoint. Requests are sent unsigned: flint accepts them.
#[derive(Debug, Clone)]
pub(crate) struct Flint {
    http: reqwest::Client,
    /// The endpoint without its trailing slash, so that API paths can be appended.
    endpoint: String,
}

impl Flint {
    /// A client of the flint at `endpoint` (`http://host:port`).
    pub(crate) fn new(endpoint: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(endpoint)
            .map_err(|error| anyhow::anyhow!("invalid endpoint {endpoint:?}: {error}"))?;
        // The client is built without TLS: flint serves plain HTTP.
        if url.scheme() != "http" {
            anyhow::bail!("invalid endpoint {endpoint:?}: flint speaks http://");
        }
        let http = reqwest::Client::builder().build()?;
        let endpoint = url.as_str().trim_end_matches('/').to_owned();
        Ok(Flint { http, endpoint })
    }

    /// The endpoint as the user would write it.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A JSON request to `path` (which starts with `/` and is already percent-encoded).
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.endpoint))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
    }

    /// A request of the AWS JSON 1.1 protocol (the one of CloudWatch Logs), which flint serves
    /// at `/` on the same endpoint; `target` names the operation
    /// (`Logs_20140328.FilterLogEvents`).
    pub(crate) fn json_rpc(&self, target: &str) -> RequestBuilder {
        self.http
            .post(format!("{}/", self.endpoint))
            .header("X-Amz-Target", target)
            .header(reqwest::header::CONTENT_TYPE, "application/x-amz-json-1.1")
    }

    /// Sends `request` and returns the response if its status is a success; an error status
    /// becomes the [`AwsError`] the body describes.
    pub(crate) async fn send(&self, request: RequestBuilder) -> Result<Response, CallError> {
        let response = request.send().await.map_err(|source| {
            if source.is_connect() {
                CallError::Unreachable {
                    endpoint: self.endpoint.clone(),
                }
            } else {
                let url = source
                    .url()
                    .map_or_else(|| self.endpoint.clone(), |url| url.to_string());
                CallError::Send { url, source }
            }
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let url = response.url().to_string();
        let body = response
            .bytes()
            .await
            .map_err(|source| CallError::ReadBody { url, source })?;
        Err(CallError::Aws(parse_aws_error(
            status,
            error_type.as_deref(),
            &body,
        )))
    }

    /// Sends `request` and decodes its JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, CallError> {
        let response = self.send(request).await?;
        let url = response.url().to_string();
        let body = response
            .bytes()
            .await
            .map_err(|source| CallError::ReadBody {
                url: url.clone(),
                source,
            })?;
        serde_json::from_slice(&body).map_err(|source| CallError::Decode { url, source })
    }
}

/// Reads an AWS error answer the way botocore does: the type from the `x-amzn-ErrorType` header
/// (without what follows a `:`), else from the body's `code`, `Code` or `__type` (after a `#`);
/// the message from the body's `message` or `Message`.
pub(crate) fn parse_aws_error(
    status: StatusCode,
    error_type_header: Option<&str>,
    body: &[u8],
) -> AwsError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| {
        names.iter().find_map(|name| {
            json.as_ref()?
                .get(name)?
                .as_str()
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        })
    };
    let error_type = error_type_header
        .map(|header| header.split(':').next().unwrap_or_default().to_owned())
        .filter(|header| !header.is_empty())
        .or_else(|| field(&["code", "Code"]))
        .or_else(|| {
            field(&["__type"]).map(|kind| kind.rsplit('#').next().unwrap_or_default().to_owned())
        })
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let message = field(&["message", "Message"])
        .or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            (json.is_none() && !text.is_empty()).then_some(text)
        })
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no message")
                .to_lowercase()
        });
    AwsError {
        error_type,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, header: Option<&str>, body: &str, expect: &str) {
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(
            parse_aws_error(status, header, body.as_bytes()).to_string(),
            expect
        );
    }

    #[test]
    fn reads_aws_errors_like_botocore() {
        check(
            404,
            Some("ResourceNotFoundException"),
            r#"{"Type":"User","Message":"Function not found: foo"}"#,
            "ResourceNotFoundException: Function not found: foo",
        );
        check(
            429,
            Some("TooManyRequestsException:http://internal.amazon.com/x"),
            r#"{"Reason":"X","Type":"User","message":"Rate Exceeded."}"#,
            "TooManyRequestsException: Rate Exceeded.",
        );
        check(
            400,
            None,
            r#"{"__type":"com.amazonaws.logs#ResourceNotFoundException","message":"no group"}"#,
            "ResourceNotFoundException: no group",
        );
        check(400, None, r#"{"code":"Bad","message":"m"}"#, "Bad: m");
        check(502, None, "upstream down", "HTTP 502: upstream down");
        check(
            500,
            Some("ServiceException"),
            "",
            "ServiceException: internal server error",
        );
    }

    #[test]
    fn not_found_is_recognised_by_type() {
        let error = parse_aws_error(
            StatusCode::NOT_FOUND,
            Some("ResourceNotFoundException"),
            b"",
        );
        assert!(error.is_not_found());
        let error = parse_aws_error(StatusCode::NOT_FOUND, None, b"");
        assert!(!error.is_not_found());
    }

    #[test]
    fn encodes_labels_like_sdks() {
        assert_eq!(encode("my-fn_1.x~"), "my-fn_1.x~");
        assert_eq!(encode("$LATEST"), "%24LATEST");
        assert_eq!(
            encode("arn:aws:lambda:us-east-1:000000000000:function:f"),
            "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af"
        );
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn endpoint_loses_its_trailing_slash() {
        assert_eq!(
            Flint::new("http://127.0.0.1:9000/").unwrap().endpoint(),
            "http://127.0.0.1:9000"
        );
        assert!(Flint::new("127.0.0.1:9000").is_err());
        assert!(Flint::new("https://127.0.0.1:9000").is_err());
        assert!(Flint::new("not a url").is_err());
    }
}
