//! Subscriptions of the Telemetry API (2022-07-01) and the Logs API (2020-08-15): the request
//! body, its validation with Lambda's bounds, and which events each subscriber receives. Pure.

use serde::Deserialize;

/// Which API a subscription came through; they differ in event shapes and error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Telemetry,
    Logs,
}

impl Api {
    fn validation_error(self) -> &'static str {
        match self {
            Api::Telemetry => "ValidationError",
            Api::Logs => "Logs.ValidationError",
        }
    }
}

/// A kind of event a subscriber can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Platform,
    Function,
    Extension,
}

impl Category {
    pub fn title(self) -> &'static str {
        match self {
            Category::Platform => "Platform",
            Category::Function => "Function",
            Category::Extension => "Extension",
        }
    }
}

/// How a subscriber wants its events batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffering {
    pub max_items: usize,
    pub max_bytes: usize,
    pub timeout_ms: u64,
}

/// A validated subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub api: Api,
    pub schema_version: String,
    pub categories: Vec<Category>,
    pub buffering: Buffering,
    /// Port of the listener inside the environment (`sandbox.localdomain:<port>`).
    pub port: u16,
    /// Path and query of the destination URI.
    pub path: String,
}

impl Subscription {
    pub fn wants(&self, category: Category) -> bool {
        self.categories.contains(&category)
    }

    /// `[Platform, Function]`, as the `TELEMETRY` log line lists the types.
    pub fn types_title(&self) -> String {
        let titles: Vec<&str> = self.categories.iter().map(|c| c.title()).collect();
        format!("[{}]", titles.join(", "))
    }

    /// The types in lower case, as the `platform.telemetrySubscription` record lists them.
    pub fn types_lower(&self) -> Vec<String> {
        self.categories
            .iter()
            .map(|c| c.title().to_lowercase())
            .collect()
    }
}

/// A refused subscription: Lambda's error type and message (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub error_type: &'static str,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    schema_version: Option<String>,
    types: Option<Vec<String>>,
    buffering: Option<BufferingBody>,
    destination: Option<Destination>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BufferingBody {
    max_items: Option<i64>,
    max_bytes: Option<i64>,
    timeout_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Destination {
    protocol: Option<String>,
    #[serde(rename = "URI")]
    uri: Option<String>,
}

/// The Runtime API's own port, which listeners may not use.
const RESERVED_PORT: u16 = 9001;

/// Parses and validates a subscription request body.
pub fn parse(api: Api, body: &[u8]) -> Result<Subscription, Invalid> {
    let invalid = |message: String| Invalid {
        error_type: api.validation_error(),
        message,
    };
    let body: Body =
        serde_json::from_slice(body).map_err(|e| invalid(format!("invalid request body: {e}")))?;

    let (known_schemas, default_schema): (&[&str], &str) = match api {
        Api::Telemetry => (&["2022-07-01", "2022-12-13", "2025-01-29"], "2022-07-01"),
        Api::Logs => (&["2020-08-15", "2021-03-18"], "2020-08-15"),
    };
    let schema_version = body
        .schema_version
        .unwrap_or_else(|| default_schema.to_string());
    if !known_schemas.contains(&schema_version.as_str()) {
        return Err(invalid(format!("unknown schemaVersion {schema_version}")));
    }

    let types = body.types.unwrap_or_default();
    if types.is_empty() {
        return Err(invalid(
            "types must list at least one of platform, function, extension".into(),
        ));
    }
    let mut categories = Vec::new();
    for name in &types {
        let category = match name.as_str() {
            "platform" => Category::Platform,
            "function" => Category::Function,
            "extension" => Category::Extension,
            other => return Err(invalid(format!("unknown type {other}"))),
        };
        if !categories.contains(&category) {
            categories.push(category);
        }
    }

    let default_items = if api == Api::Logs { 10_000 } else { 1_000 };
    let buffering = body.buffering.unwrap_or(BufferingBody {
        max_items: None,
        max_bytes: None,
        timeout_ms: None,
    });
    let max_items = within(
        "maxItems",
        buffering.max_items,
        default_items,
        1_000,
        10_000,
    )
    .map_err(invalid)?;
    let max_bytes =
        within("maxBytes", buffering.max_bytes, 262_144, 262_144, 1_048_576).map_err(invalid)?;
    let timeout_ms =
        within("timeoutMs", buffering.timeout_ms, 1_000, 25, 30_000).map_err(invalid)?;

    let destination = body
        .destination
        .ok_or_else(|| invalid("destination is required".into()))?;
    if destination.protocol.as_deref() != Some("HTTP") {
        return Err(invalid("destination.protocol must be HTTP".into()));
    }
    let uri = destination
        .uri
        .ok_or_else(|| invalid("destination.URI is required".into()))?;
    let (port, path) = parse_uri(&uri).ok_or_else(|| {
        invalid(format!(
            "destination.URI {uri} must be http://sandbox.localdomain:<port>/<path>"
        ))
    })?;
    if port == RESERVED_PORT {
        return Err(invalid(format!(
            "port {RESERVED_PORT} is reserved for the Runtime API"
        )));
    }

    Ok(Subscription {
        api,
        schema_version,
        categories,
        buffering: Buffering {
            max_items: max_items as usize,
            max_bytes: max_bytes as usize,
            timeout_ms: timeout_ms as u64,
        },
        port,
        path,
    })
}

fn within(
    field: &str,
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, String> {
    let value = value.unwrap_or(default);
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "buffering.{field} must be between {min} and {max}, got {value}"
        ))
    }
}

/// Port and path of `http://sandbox.localdomain:PORT/PATH` (loopback names are accepted too,
/// since they reach the same listener).
fn parse_uri(uri: &str) -> Option<(u16, String)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = authority.rsplit_once(':')?;
    if !matches!(
        host,
        "sandbox.localdomain" | "sandbox" | "localhost" | "127.0.0.1"
    ) {
        return None;
    }
    Some((port.parse().ok().filter(|p| *p != 0)?, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(api: Api, body: &str, expect: Result<(&[Category], u16, &str, Buffering), &str>) {
        let got = parse(api, body.as_bytes());
        match (got, expect) {
            (Ok(s), Ok((categories, port, path, buffering))) => {
                assert_eq!(
                    (
                        s.categories.as_slice(),
                        s.port,
                        s.path.as_str(),
                        s.buffering
                    ),
                    (categories, port, path, buffering)
                );
            }
            (Err(e), Err(fragment)) => assert!(e.message.contains(fragment), "{}", e.message),
            (got, _) => panic!("unexpected {got:?}"),
        }
    }

    const DEFAULTS: Buffering = Buffering {
        max_items: 1_000,
        max_bytes: 262_144,
        timeout_ms: 1_000,
    };

    #[test]
    fn telemetry_subscriptions() {
        use Category::*;
        check(
            Api::Telemetry,
            r#"{"schemaVersion":"2022-12-13","types":["platform","function"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:8080/lambda_logs"}}"#,
            Ok((&[Platform, Function], 8080, "/lambda_logs", DEFAULTS)),
        );
        check(
            Api::Telemetry,
            r#"{"schemaVersion":"2022-07-01","types":["extension"],"buffering":{"maxItems":5000,"maxBytes":300000,"timeoutMs":25},"destination":{"protocol":"HTTP","URI":"http://sandbox:4243"}}"#,
            Ok((
                &[Extension],
                4243,
                "/",
                Buffering {
                    max_items: 5000,
                    max_bytes: 300_000,
                    timeout_ms: 25,
                },
            )),
        );
    }

    #[test]
    fn refusals() {
        let dest = r#""destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:8080/"}"#;
        check(
            Api::Telemetry,
            &format!(r#"{{"types":[],{dest}}}"#),
            Err("at least one"),
        );
        check(
            Api::Telemetry,
            &format!(r#"{{"types":["bogus"],{dest}}}"#),
            Err("unknown type"),
        );
        check(
            Api::Telemetry,
            &format!(r#"{{"types":["platform"],"buffering":{{"maxItems":10}},{dest}}}"#),
            Err("maxItems"),
        );
        check(
            Api::Telemetry,
            &format!(r#"{{"types":["platform"],"buffering":{{"timeoutMs":10}},{dest}}}"#),
            Err("timeoutMs"),
        );
        check(
            Api::Telemetry,
            r#"{"types":["platform"],"destination":{"protocol":"TCP","URI":"x"}}"#,
            Err("HTTP"),
        );
        check(
            Api::Telemetry,
            r#"{"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://example.com:80/"}}"#,
            Err("sandbox.localdomain"),
        );
        check(
            Api::Telemetry,
            r#"{"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:9001/"}}"#,
            Err("reserved"),
        );
        check(Api::Telemetry, "not json", Err("invalid request body"));
        let error = parse(Api::Logs, b"{}").unwrap_err();
        assert_eq!(error.error_type, "Logs.ValidationError");
    }

    #[test]
    fn logs_api_defaults_to_ten_thousand_items() {
        let body = r#"{"types":["function"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1234/logs"}}"#;
        let subscription = parse(Api::Logs, body.as_bytes()).unwrap();
        assert_eq!(subscription.buffering.max_items, 10_000);
        assert_eq!(subscription.schema_version, "2020-08-15");
        assert_eq!(subscription.types_title(), "[Function]");
    }
}
