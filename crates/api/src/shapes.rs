//! Lambda's JSON shapes, as the service model spells them, and their conversion from and to the
//! control plane's types.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig, general_purpose};
use control::{AccountSettings, CodeInput, CodeUpdate, ConfigUpdate, FunctionSpec};
use model::clock::lambda_timestamp;
use model::{FunctionConfig, Scope};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Base64 as SDKs send blobs: standard alphabet, padding optional.
const BLOB: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A `ZipFile` member, decoded from base64 while the body is parsed (on a blocking thread for
/// a large body: a 50 MB package takes tens of milliseconds to decode).
#[derive(Debug, Default)]
pub(crate) struct ZipFile(pub(crate) Vec<u8>);

impl<'de> Deserialize<'de> for ZipFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        BLOB.decode(text.trim()).map(ZipFile).map_err(|err| {
            serde::de::Error::custom(format_args!("ZipFile is not valid base64: {err}"))
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EnvironmentShape {
    #[serde(default)]
    variables: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TracingConfigShape {
    mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EphemeralStorageShape {
    size: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FunctionCodeShape {
    zip_file: Option<ZipFile>,
    s3_bucket: Option<String>,
    s3_key: Option<String>,
    image_uri: Option<String>,
}

impl FunctionCodeShape {
    fn into_input(self) -> CodeInput {
        CodeInput {
            zip_file: self.zip_file.map(|zip| zip.0),
            s3_bucket: self.s3_bucket,
            s3_key: self.s3_key,
            image_uri: self.image_uri,
        }
    }
}

/// The body of CreateFunction.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateFunctionRequest {
    function_name: Option<String>,
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    code: Option<FunctionCodeShape>,
    description: Option<String>,
    timeout: Option<i64>,
    memory_size: Option<i64>,
    publish: Option<bool>,
    package_type: Option<String>,
    environment: Option<EnvironmentShape>,
    tracing_config: Option<TracingConfigShape>,
    tags: Option<BTreeMap<String, String>>,
    layers: Option<Vec<String>>,
    architectures: Option<Vec<String>>,
    ephemeral_storage: Option<EphemeralStorageShape>,
    dead_letter_config: Option<DeadLetterConfigShape>,
}

/// `DeadLetterConfig` of CreateFunction and UpdateFunctionConfiguration.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeadLetterConfigShape {
    target_arn: Option<String>,
}

impl CreateFunctionRequest {
    pub(crate) fn into_spec(self) -> Result<FunctionSpec, ApiError> {
        let function_name = self.function_name.ok_or_else(|| {
            ApiError::validation("functionName", "null", "Member must not be null")
        })?;
        let code = self
            .code
            .ok_or_else(|| ApiError::validation("code", "null", "Member must not be null"))?;
        Ok(FunctionSpec {
            function_name,
            runtime: self.runtime,
            role: self.role,
            handler: self.handler,
            description: self.description,
            timeout: self.timeout,
            memory_size: self.memory_size,
            ephemeral_storage: self.ephemeral_storage.and_then(|s| s.size),
            environment: self.environment.map(|e| e.variables.unwrap_or_default()),
            architectures: self.architectures,
            tracing_mode: self.tracing_config.and_then(|t| t.mode),
            tags: self.tags.unwrap_or_default(),
            layers: self.layers.unwrap_or_default(),
            package_type: self.package_type,
            publish: self.publish.unwrap_or(false),
            code: code.into_input(),
            dead_letter_target: self.dead_letter_config.and_then(|d| d.target_arn),
        })
    }
}

/// The body of UpdateFunctionCode.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateFunctionCodeRequest {
    zip_file: Option<ZipFile>,
    s3_bucket: Option<String>,
    s3_key: Option<String>,
    image_uri: Option<String>,
    architectures: Option<Vec<String>>,
    publish: Option<bool>,
    dry_run: Option<bool>,
    revision_id: Option<String>,
}

impl UpdateFunctionCodeRequest {
    pub(crate) fn into_update(self) -> Result<CodeUpdate, ApiError> {
        let code = FunctionCodeShape {
            zip_file: self.zip_file,
            s3_bucket: self.s3_bucket,
            s3_key: self.s3_key,
            image_uri: self.image_uri,
        };
        Ok(CodeUpdate {
            code: code.into_input(),
            architectures: self.architectures,
            publish: self.publish.unwrap_or(false),
            dry_run: self.dry_run.unwrap_or(false),
            revision_id: self.revision_id,
        })
    }
}

/// The body of UpdateFunctionConfiguration.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateFunctionConfigurationRequest {
    role: Option<String>,
    handler: Option<String>,
    description: Option<String>,
    timeout: Option<i64>,
    memory_size: Option<i64>,
    environment: Option<EnvironmentShape>,
    runtime: Option<String>,
    tracing_config: Option<TracingConfigShape>,
    revision_id: Option<String>,
    layers: Option<Vec<String>>,
    ephemeral_storage: Option<EphemeralStorageShape>,
    dead_letter_config: Option<DeadLetterConfigShape>,
}

impl UpdateFunctionConfigurationRequest {
    pub(crate) fn into_update(self) -> ConfigUpdate {
        ConfigUpdate {
            role: self.role,
            handler: self.handler,
            description: self.description,
            timeout: self.timeout,
            memory_size: self.memory_size,
            ephemeral_storage: self.ephemeral_storage.and_then(|s| s.size),
            environment: self.environment.map(|e| e.variables.unwrap_or_default()),
            runtime: self.runtime,
            tracing_mode: self.tracing_config.and_then(|t| t.mode),
            layers: self.layers,
            revision_id: self.revision_id,
            dead_letter_target: self.dead_letter_config.and_then(|d| d.target_arn),
        }
    }
}

/// The body of TagResource.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagResourceRequest {
    pub(crate) tags: Option<BTreeMap<String, String>>,
}

/// `FunctionConfiguration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FunctionConfiguration<'a> {
    function_name: &'a str,
    function_arn: String,
    runtime: String,
    role: &'a str,
    handler: &'a str,
    code_size: u64,
    description: &'a str,
    timeout: u32,
    memory_size: u32,
    last_modified: String,
    code_sha256: String,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<EnvironmentOut<'a>>,
    tracing_config: TracingConfigOut<'a>,
    revision_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_update_status: Option<&'static str>,
    package_type: &'static str,
    architectures: &'a [String],
    ephemeral_storage: EphemeralStorageOut,
    logging_config: LoggingConfigOut,
    snap_start: SnapStartOut,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    layers: Vec<LayerOut<'a>>,
}

/// One of `FunctionConfiguration.Layers`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LayerOut<'a> {
    arn: &'a str,
    code_size: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EnvironmentOut<'a> {
    variables: &'a BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TracingConfigOut<'a> {
    mode: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EphemeralStorageOut {
    size: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LoggingConfigOut {
    log_format: &'static str,
    log_group: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SnapStartOut {
    apply_on: &'static str,
    optimization_status: &'static str,
}

/// Whether the state members are shown: ListFunctions leaves them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateMembers {
    Shown,
    Omitted,
}

impl<'a> FunctionConfiguration<'a> {
    /// The configuration of `config`; `qualifier` is the one the caller named, if any.
    pub(crate) fn new(
        config: &'a FunctionConfig,
        scope: &Scope,
        qualifier: Option<&str>,
        state: StateMembers,
    ) -> Self {
        let function_arn = match qualifier {
            Some(q) => scope.qualified_arn(&config.name, q),
            None => scope.function_arn(&config.name),
        };
        let shown = state == StateMembers::Shown;
        FunctionConfiguration {
            function_name: &config.name,
            function_arn,
            runtime: config.runtime.to_string(),
            role: &config.role,
            handler: &config.handler,
            code_size: config.code.size,
            description: &config.description,
            timeout: config.timeout_s,
            memory_size: config.memory_mb,
            last_modified: lambda_timestamp(config.last_modified),
            code_sha256: config.code.code_sha256(),
            version: &config.version,
            environment: (!config.environment.is_empty()).then_some(EnvironmentOut {
                variables: &config.environment,
            }),
            tracing_config: TracingConfigOut {
                mode: &config.tracing_mode,
            },
            revision_id: &config.revision_id,
            state: shown.then_some(config.state.as_str()),
            // Every update completes before its response, so the last one always succeeded.
            last_update_status: shown.then_some("Successful"),
            package_type: "Zip",
            architectures: &config.architectures,
            ephemeral_storage: EphemeralStorageOut {
                size: config.ephemeral_storage_mb,
            },
            logging_config: LoggingConfigOut {
                log_format: "Text",
                log_group: format!("/aws/lambda/{}", config.name),
            },
            snap_start: SnapStartOut {
                apply_on: "None",
                optimization_status: "Off",
            },
            layers: config
                .layers
                .iter()
                .map(|layer| LayerOut {
                    arn: &layer.arn,
                    code_size: layer.code.size,
                })
                .collect(),
        }
    }
}

/// The response of GetFunction.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetFunctionResponse<'a> {
    pub(crate) configuration: FunctionConfiguration<'a>,
    pub(crate) code: CodeLocation,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) tags: &'a BTreeMap<String, String>,
    /// Present when the function has a reserved concurrency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) concurrency: Option<crate::concurrency::ConcurrencyShape>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CodeLocation {
    pub(crate) repository_type: &'static str,
    pub(crate) location: String,
}

/// The response of ListFunctions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListFunctionsResponse<'a> {
    pub(crate) functions: Vec<FunctionConfiguration<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_marker: Option<String>,
}

/// The response of ListTags.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListTagsResponse {
    pub(crate) tags: BTreeMap<String, String>,
}

/// The response of GetAccountSettings.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AccountSettingsResponse {
    account_limit: AccountLimitOut,
    account_usage: AccountUsageOut,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccountLimitOut {
    total_code_size: u64,
    code_size_unzipped: u64,
    code_size_zipped: u64,
    concurrent_executions: u32,
    unreserved_concurrent_executions: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccountUsageOut {
    total_code_size: u64,
    function_count: u64,
}

impl From<AccountSettings> for AccountSettingsResponse {
    fn from(settings: AccountSettings) -> Self {
        AccountSettingsResponse {
            account_limit: AccountLimitOut {
                total_code_size: settings.limits.total_code_size,
                code_size_unzipped: settings.limits.code_size_unzipped,
                code_size_zipped: settings.limits.code_size_zipped,
                concurrent_executions: settings.limits.concurrent_executions,
                unreserved_concurrent_executions: settings.limits.unreserved_concurrent_executions,
            },
            account_usage: AccountUsageOut {
                total_code_size: settings.usage.total_code_size,
                function_count: settings.usage.function_count,
            },
        }
    }
}

/// Base64 of bytes, as Lambda encodes `X-Amz-Log-Result`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    general_purpose::STANDARD.encode(bytes)
}

/// Decodes `X-Amz-Client-Context`.
pub(crate) fn decode_client_context(text: &str) -> Option<String> {
    BLOB.decode(text.trim())
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_decode_with_or_without_padding() {
        let decode = |text: &str| serde_json::from_value::<ZipFile>(serde_json::json!(text));
        assert_eq!(decode("UEsFBg==").unwrap().0, b"PK\x05\x06");
        assert_eq!(decode(" UEsFBg ").unwrap().0, b"PK\x05\x06");
        let err = decode("not*base64").unwrap_err().to_string();
        assert!(err.contains("ZipFile is not valid base64"), "{}", err);
    }

    #[test]
    fn create_request_requires_name_and_code() {
        let missing_name: CreateFunctionRequest = serde_json::from_str(r#"{"Code":{}}"#).unwrap();
        let err = missing_name.into_spec().unwrap_err();
        assert!(err.message.contains("'functionName'"), "{}", err.message);
        let missing_code: CreateFunctionRequest =
            serde_json::from_str(r#"{"FunctionName":"f"}"#).unwrap();
        let err = missing_code.into_spec().unwrap_err();
        assert!(err.message.contains("'code'"), "{}", err.message);
    }

    #[test]
    fn environment_and_nested_members_reach_the_spec() {
        let request: CreateFunctionRequest = serde_json::from_value(serde_json::json!({
            "FunctionName": "f",
            "Code": {"ZipFile": "UEsFBg=="},
            "Environment": {"Variables": {"A1": "x"}},
            "TracingConfig": {"Mode": "Active"},
            "EphemeralStorage": {"Size": 1024},
            "Tags": {"team": "a"},
        }))
        .unwrap();
        let spec = request.into_spec().unwrap();
        assert_eq!(spec.environment.unwrap()["A1"], "x");
        assert_eq!(spec.tracing_mode.as_deref(), Some("Active"));
        assert_eq!(spec.ephemeral_storage, Some(1024));
        assert_eq!(spec.tags["team"], "a");
        assert_eq!(spec.code.zip_file.unwrap(), b"PK\x05\x06");
    }
}
