//! Reading requests: who asks and where (request id, region), path labels, query strings, and
//! bodies within their size limits.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use model::Scope;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// Largest control-plane request body: a 50 MB zip, base64-encoded, as Lambda counts it.
pub(crate) const CONTROL_BODY_MAX: usize = 69_905_067;

/// The request id of the current request, set by the request-id layer for every request and
/// taken out by [`Caller`].
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// Who is asking: the request's id and the scope (region, account) it acts in.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) request_id: String,
    pub(crate) scope: Scope,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request_id = parts
            .extensions
            .remove::<RequestId>()
            .map_or_else(model::ids::request_id, |id| id.0);
        let region = region(&parts.headers).unwrap_or(&state.settings.default_region);
        Ok(Caller {
            request_id,
            scope: state.control.scope(region),
        })
    }
}

/// The region of a SigV4-signed request: the third part of the `Authorization` header's
/// credential scope (`Credential=AKID/20260115/us-west-2/lambda/aws4_request`). Unsigned
/// requests have none.
pub(crate) fn region(headers: &HeaderMap) -> Option<&str> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = authorization.split("Credential=").nth(1)?;
    let credential = credential.split([',', ' ']).next()?;
    let region = credential.split('/').nth(2)?;
    let well_formed = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    well_formed.then_some(region)
}

/// The single label of a path (`{FunctionName}`, `{Resource}`), percent-decoded.
#[derive(Debug)]
pub(crate) struct Label(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Label {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(label)| Label(label))
            .map_err(|rejection| {
                ApiError::new(
                    ErrorCode::InvalidRequestContent,
                    format!("Could not read the path: {}", rejection.body_text()),
                )
            })
    }
}

/// The query string's parameters, percent-decoded, in order; keys may repeat (`tagKeys`).
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: &str) -> Query {
        let decode = |text: &str| {
            let spaced = text.replace('+', " ");
            percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
        };
        Query(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(key), decode(value))
                })
                .collect(),
        )
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// An integer parameter; `field` names it in the error as Lambda's model does.
    pub(crate) fn integer(&self, key: &str, field: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|text| {
                text.parse()
                    .map_err(|_| ApiError::validation(field, text, "Member must be a number"))
            })
            .transpose()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.uri.query().map(Query::parse).unwrap_or_default())
    }
}

/// Reads a whole body of at most `limit` bytes; `operation` names the operation in Lambda's
/// message for a larger one.
pub(crate) async fn read_body(
    body: Body,
    limit: usize,
    operation: &str,
) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::body_too_large(limit, operation))
        }
        Err(err) => Err(ApiError::new(
            ErrorCode::InvalidRequestContent,
            format!("Could not read the request body: {err}"),
        )),
    }
}

/// Bodies up to this size are parsed on the event loop; larger ones (a deployment package
/// takes tens of milliseconds) on a blocking thread, so the loop's other connections (invokes
/// among them) do not wait for them.
const PARSE_INLINE_MAX: usize = 64 * 1024;

/// Reads a control-plane JSON body; an empty body is an empty object.
pub(crate) async fn json_body<T: DeserializeOwned + Default + Send + 'static>(
    body: Body,
    operation: &str,
) -> Result<T, ApiError> {
    let bytes = read_body(body, CONTROL_BODY_MAX, operation).await?;
    let inline = bytes.len() <= PARSE_INLINE_MAX;
    let parse = move || {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        serde_json::from_slice(&bytes).map_err(ApiError::unparseable_body)
    };
    if inline {
        return parse();
    }
    tokio::task::spawn_blocking(parse).await.map_err(|error| {
        ApiError::new(
            ErrorCode::Service,
            format!("Could not parse the request body: {error}"),
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_region(authorization: Option<&str>, expect: Option<&str>) {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        }
        assert_eq!(region(&headers), expect, "{authorization:?}");
    }

    #[test]
    fn region_comes_from_the_credential_scope() {
        check_region(
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260115/us-west-2/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
            ),
            Some("us-west-2"),
        );
        check_region(
            Some(
                "AWS4-HMAC-SHA256 Credential=test/20260115/eu-central-1/lambda/aws4_request,SignedHeaders=host",
            ),
            Some("eu-central-1"),
        );
        check_region(None, None);
        check_region(Some("Bearer token"), None);
        check_region(Some("AWS4-HMAC-SHA256 Credential=AKID/20260115"), None);
        check_region(
            Some("AWS4-HMAC-SHA256 Credential=AKID/20260115/<script>/lambda/aws4_request"),
            None,
        );
    }

    #[test]
    fn query_keeps_repeated_keys_and_decodes() {
        let query = Query::parse("tagKeys=a&tagKeys=b%20c&Qualifier=%24LATEST&x=1+2&flag");
        assert_eq!(query.all("tagKeys"), vec!["a", "b c"]);
        assert_eq!(query.get("Qualifier"), Some("$LATEST"));
        assert_eq!(query.get("x"), Some("1 2"));
        assert_eq!(query.get("flag"), Some(""));
        assert_eq!(query.get("missing"), None);
        assert_eq!(
            Query::parse("MaxItems=7")
                .integer("MaxItems", "maxItems")
                .unwrap(),
            Some(7)
        );
        let err = Query::parse("MaxItems=seven")
            .integer("MaxItems", "maxItems")
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation);
    }
}
