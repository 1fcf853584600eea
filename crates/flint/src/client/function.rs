//! The Lambda API paths and the function shape the client reads.

use serde::Deserialize;

use crate::client::http::encode;

/// The path of one function's resource, `suffix` being `""`, `/code`, `/configuration` or
/// `/invocations`.
pub(crate) fn function_path(name: &str, suffix: &str) -> String {
    format!("/2015-03-31/functions/{}{suffix}", encode(name))
}

/// The path of ListFunctions, starting after `marker` when one is given.
pub(crate) fn list_path(marker: Option<&str>) -> String {
    match marker {
        Some(marker) => format!("/2015-03-31/functions?Marker={}", encode(marker)),
        None => "/2015-03-31/functions".to_owned(),
    }
}

/// The members of `FunctionConfiguration` the client shows; the others are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct FunctionConfiguration {
    pub(crate) function_name: String,
    pub(crate) runtime: Option<String>,
    pub(crate) handler: Option<String>,
    pub(crate) code_size: u64,
    pub(crate) code_sha256: String,
    pub(crate) memory_size: Option<u32>,
    pub(crate) timeout: Option<u32>,
    pub(crate) last_modified: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) last_update_status: Option<String>,
}

impl FunctionConfiguration {
    /// Whether the function has finished its last change: not `Pending` and no update in
    /// progress. A missing state counts as settled, since ListFunctions omits it.
    pub(crate) fn is_settled(&self) -> bool {
        self.state.as_deref() != Some("Pending")
            && self.last_update_status.as_deref() != Some("InProgress")
    }
}

/// The answer of GetFunction; only its configuration is used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetFunctionOutput {
    pub(crate) configuration: FunctionConfiguration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_function_name() {
        assert_eq!(function_path("hello", ""), "/2015-03-31/functions/hello");
        assert_eq!(
            function_path("hello", "/code"),
            "/2015-03-31/functions/hello/code"
        );
        assert_eq!(
            function_path("hello:$LATEST", "/invocations"),
            "/2015-03-31/functions/hello%3A%24LATEST/invocations"
        );
        assert_eq!(list_path(None), "/2015-03-31/functions");
        assert_eq!(
            list_path(Some("a b+c")),
            "/2015-03-31/functions?Marker=a%20b%2Bc"
        );
    }

    #[test]
    fn reads_a_configuration_and_ignores_unknown_members() {
        let json = r#"{"FunctionName":"hello","FunctionArn":"arn:aws:lambda:us-east-1:000000000000:function:hello",
            "Runtime":"provided.al2023","Handler":"bootstrap","CodeSize":1234,"CodeSha256":"abc=",
            "MemorySize":128,"Timeout":3,"LastModified":"2020-04-10T19:06:32.563+0000","State":"Active",
            "Environment":{"Variables":{"A":"1"}}}"#;
        let config: FunctionConfiguration = serde_json::from_str(json).unwrap();
        assert_eq!(config.function_name, "hello");
        assert_eq!(config.code_size, 1234);
        assert_eq!(config.state.as_deref(), Some("Active"));
        assert_eq!(config.memory_size, Some(128));
    }

    #[test]
    fn settled_means_not_pending_and_not_updating() {
        let check = |state: Option<&str>, update: Option<&str>, expect: bool| {
            let config = FunctionConfiguration {
                state: state.map(str::to_owned),
                last_update_status: update.map(str::to_owned),
                ..FunctionConfiguration::default()
            };
            assert_eq!(config.is_settled(), expect, "{state:?} {update:?}");
        };
        check(Some("Active"), Some("Successful"), true);
        check(None, None, true);
        check(Some("Failed"), Some("Failed"), true);
        check(Some("Pending"), None, false);
        check(Some("Active"), Some("InProgress"), false);
    }
}
