//! The inputs of the write operations and the pure rules that turn them into configurations.
//! Nothing here does I/O: time and revision ids come in as arguments.

use std::collections::BTreeMap;

use jiff::Timestamp;
use model::function::LATEST;
use model::layer;
use model::limits::{EPHEMERAL_DEFAULT_MB, MEMORY_DEFAULT_MB, TIMEOUT_DEFAULT_S};
use model::validate;
use model::{CodeRef, FunctionConfig, FunctionState, Runtime, ValidationError, ValidationKind};

use crate::ControlError;

/// Where the code of a function comes from, as the caller gave it (`Code` of CreateFunction,
/// the body of UpdateFunctionCode).
#[derive(Debug, Clone, Default)]
pub struct CodeInput {
    /// The deployment package, already base64-decoded.
    pub zip_file: Option<Vec<u8>>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub image_uri: Option<String>,
}

/// A CreateFunction request. Unset fields take Lambda's defaults.
#[derive(Debug, Clone, Default)]
pub struct FunctionSpec {
    /// `FunctionName` as given: a name or an ARN without qualifier.
    pub function_name: String,
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub ephemeral_storage: Option<i64>,
    pub environment: Option<BTreeMap<String, String>>,
    pub architectures: Option<Vec<String>>,
    /// `TracingConfig.Mode`.
    pub tracing_mode: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub layers: Vec<String>,
    pub package_type: Option<String>,
    pub publish: bool,
    pub code: CodeInput,
    /// `DeadLetterConfig.TargetArn`; only an empty one is accepted (see `DEAD_LETTER_REFUSED`).
    pub dead_letter_target: Option<String>,
}

/// An UpdateFunctionConfiguration request: only the fields that are set change.
#[derive(Debug, Clone, Default)]
pub struct ConfigUpdate {
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub ephemeral_storage: Option<i64>,
    pub environment: Option<BTreeMap<String, String>>,
    pub runtime: Option<String>,
    pub tracing_mode: Option<String>,
    pub layers: Option<Vec<String>>,
    /// Update only if $LATEST is at this revision.
    pub revision_id: Option<String>,
    /// `DeadLetterConfig.TargetArn`; only an empty one is accepted (see `DEAD_LETTER_REFUSED`).
    pub dead_letter_target: Option<String>,
}

/// An UpdateFunctionCode request.
#[derive(Debug, Clone, Default)]
pub struct CodeUpdate {
    pub code: CodeInput,
    pub architectures: Option<Vec<String>>,
    pub publish: bool,
    /// Validate the request without changing the function.
    pub dry_run: bool,
    /// Update only if $LATEST is at this revision.
    pub revision_id: Option<String>,
}

/// A validated CreateFunction request, waiting for its code.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewFunction {
    pub(crate) name: String,
    pub(crate) runtime: Runtime,
    pub(crate) role: String,
    pub(crate) handler: String,
    pub(crate) description: String,
    pub(crate) timeout_s: u32,
    pub(crate) memory_mb: u32,
    pub(crate) ephemeral_storage_mb: u32,
    pub(crate) environment: BTreeMap<String, String>,
    pub(crate) architectures: Vec<String>,
    pub(crate) tracing_mode: String,
    pub(crate) tags: BTreeMap<String, String>,
}

/// Lambda's message when a request names no code at all.
const NO_CODE_SOURCE: &str = "Please provide a source for function code.";

impl FunctionSpec {
    /// Checks every field and fills in the defaults. `name` is the function name already parsed
    /// out of `function_name`.
    pub(crate) fn validate(&self, name: String) -> Result<NewFunction, ControlError> {
        refuse_image_package(self.package_type.as_deref())?;
        refuse_unsupported_code(&self.code)?;
        refuse_dead_letter_target(self.dead_letter_target.as_deref())?;
        layer::function_layers(&self.layers)?;
        let (Some(runtime), Some(handler)) = (self.runtime.as_deref(), self.handler.as_deref())
        else {
            return Err(validate::invalid(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
            )
            .into());
        };
        let role = self.role.as_deref().ok_or_else(|| missing("role"))?;
        validate::role(role)?;
        let runtime = validate::runtime(runtime)?;
        validate::handler(handler)?;
        let description = self.description.clone().unwrap_or_default();
        validate::description(&description)?;
        let timeout_s = self.timeout.map(validate::timeout).transpose()?;
        let memory_mb = self.memory_size.map(validate::memory_size).transpose()?;
        let ephemeral_storage_mb = self
            .ephemeral_storage
            .map(validate::ephemeral_storage)
            .transpose()?;
        let environment = self.environment.clone().unwrap_or_default();
        validate::environment(&environment)?;
        let architectures = self
            .architectures
            .clone()
            .unwrap_or_else(|| vec!["x86_64".to_string()]);
        validate::architectures(&architectures)?;
        let tracing_mode = self.tracing_mode.as_deref().unwrap_or("PassThrough");
        tracing_mode_value(tracing_mode)?;
        validate::tags(&self.tags)?;
        if self.code.zip_file.is_none() {
            return Err(validate::invalid(NO_CODE_SOURCE).into());
        }
        Ok(NewFunction {
            name,
            runtime,
            role: role.to_string(),
            handler: handler.to_string(),
            description,
            timeout_s: timeout_s.unwrap_or(TIMEOUT_DEFAULT_S),
            memory_mb: memory_mb.unwrap_or(MEMORY_DEFAULT_MB),
            ephemeral_storage_mb: ephemeral_storage_mb.unwrap_or(EPHEMERAL_DEFAULT_MB),
            environment,
            architectures,
            tracing_mode: tracing_mode.to_string(),
            tags: self.tags.clone(),
        })
    }
}

impl NewFunction {
    /// The $LATEST configuration of the new function.
    pub(crate) fn into_config(
        self,
        code: CodeRef,
        now: Timestamp,
        revision_id: String,
    ) -> FunctionConfig {
        FunctionConfig {
            name: self.name,
            version: LATEST.to_string(),
            runtime: self.runtime,
            role: self.role,
            handler: self.handler,
            description: self.description,
            timeout_s: self.timeout_s,
            memory_mb: self.memory_mb,
            ephemeral_storage_mb: self.ephemeral_storage_mb,
            environment: self.environment,
            architectures: self.architectures,
            tracing_mode: self.tracing_mode,
            code,
            last_modified: now,
            revision_id,
            layers: Vec::new(),
            state: FunctionState::Active,
        }
    }
}

impl ConfigUpdate {
    /// The configuration after this update, with the same code, revision and timestamp as
    /// `current`; the caller stamps the new revision.
    pub(crate) fn apply(&self, current: &FunctionConfig) -> Result<FunctionConfig, ControlError> {
        refuse_dead_letter_target(self.dead_letter_target.as_deref())?;
        // The caller looks the layers up and sets them; only their form is checked here.
        if let Some(layers) = &self.layers {
            layer::function_layers(layers)?;
        }
        let mut next = current.clone();
        if let Some(role) = &self.role {
            validate::role(role)?;
            next.role.clone_from(role);
        }
        if let Some(handler) = &self.handler {
            validate::handler(handler)?;
            next.handler.clone_from(handler);
        }
        if let Some(description) = &self.description {
            validate::description(description)?;
            next.description.clone_from(description);
        }
        if let Some(timeout) = self.timeout {
            next.timeout_s = validate::timeout(timeout)?;
        }
        if let Some(memory) = self.memory_size {
            next.memory_mb = validate::memory_size(memory)?;
        }
        if let Some(storage) = self.ephemeral_storage {
            next.ephemeral_storage_mb = validate::ephemeral_storage(storage)?;
        }
        if let Some(environment) = &self.environment {
            validate::environment(environment)?;
            next.environment.clone_from(environment);
        }
        if let Some(runtime) = &self.runtime {
            next.runtime = validate::runtime(runtime)?;
        }
        if let Some(mode) = &self.tracing_mode {
            tracing_mode_value(mode)?;
            next.tracing_mode.clone_from(mode);
        }
        Ok(next)
    }
}

impl CodeUpdate {
    /// Checks what can be checked before the package is read.
    pub(crate) fn validate(&self) -> Result<(), ControlError> {
        refuse_unsupported_code(&self.code)?;
        if let Some(architectures) = &self.architectures {
            validate::architectures(architectures)?;
        }
        if self.code.zip_file.is_none() {
            return Err(validate::invalid(NO_CODE_SOURCE).into());
        }
        Ok(())
    }
}

fn refuse_image_package(package_type: Option<&str>) -> Result<(), ControlError> {
    match package_type {
        None | Some("Zip") => Ok(()),
        Some("Image") => Err(ControlError::unsupported(CODE_AS_ZIP_ONLY)),
        Some(other) => Err(model_error(
            "packageType",
            other,
            "Member must satisfy enum value set: [Zip, Image]",
        )
        .into()),
    }
}

/// What flint says when asked for code from S3 or a container image.
const CODE_AS_ZIP_ONLY: &str = "flint takes function code as a ZipFile (a base64-encoded zip in the request); S3 code locations and container images are not supported.";

fn refuse_unsupported_code(code: &CodeInput) -> Result<(), ControlError> {
    if code.s3_bucket.is_some() || code.s3_key.is_some() || code.image_uri.is_some() {
        return Err(ControlError::unsupported(CODE_AS_ZIP_ONLY));
    }
    Ok(())
}

/// What flint says to a `DeadLetterConfig` with a target.
const DEAD_LETTER_REFUSED: &str = "DeadLetterConfig needs an SQS queue or SNS topic, which flint does not have yet: leave TargetArn empty and send failed asynchronous invocations to a Lambda function with an OnFailure destination (PutFunctionEventInvokeConfig) instead.";

/// A dead-letter queue is an SQS queue or SNS topic; an empty `TargetArn` (no queue) is fine.
fn refuse_dead_letter_target(target: Option<&str>) -> Result<(), ControlError> {
    match target {
        Some(arn) if !arn.is_empty() => Err(ControlError::unsupported(DEAD_LETTER_REFUSED)),
        _ => Ok(()),
    }
}

fn tracing_mode_value(mode: &str) -> Result<(), ValidationError> {
    match mode {
        "Active" | "PassThrough" => Ok(()),
        other => Err(model_error(
            "tracingConfig.mode",
            other,
            "Member must satisfy enum value set: [Active, PassThrough]",
        )),
    }
}

fn missing(field: &str) -> ControlError {
    model_error(field, "null", "Member must not be null").into()
}

/// A `ValidationException` in the wording of Lambda's model checks.
pub(crate) fn model_error(field: &str, value: &str, constraint: &str) -> ValidationError {
    ValidationError {
        kind: ValidationKind::Model,
        message: format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FunctionSpec {
        FunctionSpec {
            function_name: "hello".into(),
            runtime: Some("provided.al2023".into()),
            role: Some("arn:aws:iam::000000000000:role/x".into()),
            handler: Some("x".into()),
            code: CodeInput {
                zip_file: Some(b"zip".to_vec()),
                ..CodeInput::default()
            },
            ..FunctionSpec::default()
        }
    }

    fn code() -> CodeRef {
        CodeRef {
            sha256_hex: "ab".repeat(32),
            size: 3,
            unzipped_size: 10,
        }
    }

    /// Validates `spec` and returns the error's family and message, or `None` if it passed.
    #[track_caller]
    fn check_refused(spec: FunctionSpec, expect: Option<(&str, &str)>) {
        let got = match spec.validate("hello".into()) {
            Ok(_) => None,
            Err(ControlError::Validation(e)) => Some((
                match e.kind {
                    ValidationKind::Model => "model",
                    ValidationKind::InvalidParameter => "invalid",
                },
                e.message,
            )),
            Err(ControlError::Unsupported { message }) => Some(("unsupported", message)),
            Err(other) => panic!("unexpected error {other:?}"),
        };
        match (got, expect) {
            (None, None) => {}
            (Some((family, message)), Some((want_family, want_fragment))) => {
                assert_eq!(family, want_family, "{message}");
                assert!(
                    message.contains(want_fragment),
                    "{message:?} lacks {want_fragment:?}"
                );
            }
            (got, expect) => panic!("got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn defaults_fill_a_minimal_spec() {
        let now: Timestamp = "2026-01-15T10:00:00Z".parse().unwrap();
        let config =
            spec()
                .validate("hello".into())
                .unwrap()
                .into_config(code(), now, "rev-1".into());
        assert_eq!(config.version, "$LATEST");
        assert_eq!(config.timeout_s, 3);
        assert_eq!(config.memory_mb, 128);
        assert_eq!(config.ephemeral_storage_mb, 512);
        assert_eq!(config.architectures, vec!["x86_64".to_string()]);
        assert_eq!(config.tracing_mode, "PassThrough");
        assert_eq!(config.description, "");
        assert_eq!(config.state, FunctionState::Active);
        assert_eq!(config.last_modified, now);
        assert_eq!(config.revision_id, "rev-1");
        assert_eq!(config.code, code());
    }

    #[test]
    fn create_refusals() {
        check_refused(spec(), None);
        check_refused(
            FunctionSpec {
                package_type: Some("Image".into()),
                ..spec()
            },
            Some(("unsupported", "container images are not supported")),
        );
        check_refused(
            FunctionSpec {
                code: CodeInput {
                    s3_bucket: Some("b".into()),
                    s3_key: Some("k".into()),
                    ..CodeInput::default()
                },
                ..spec()
            },
            Some(("unsupported", "ZipFile")),
        );
        check_refused(
            FunctionSpec {
                code: CodeInput::default(),
                ..spec()
            },
            Some(("invalid", "Please provide a source for function code.")),
        );
        check_refused(
            FunctionSpec {
                publish: true,
                ..spec()
            },
            None,
        );
        check_refused(
            FunctionSpec {
                layers: (1..=6)
                    .map(|i| format!("arn:aws:lambda:us-east-1:000000000000:layer:l{i}:1"))
                    .collect(),
                ..spec()
            },
            Some(("invalid", "Cannot reference more than 5 layers.")),
        );
        check_refused(
            FunctionSpec {
                runtime: None,
                ..spec()
            },
            Some(("invalid", "Runtime and Handler are mandatory")),
        );
        check_refused(
            FunctionSpec {
                role: None,
                ..spec()
            },
            Some(("model", "Value 'null' at 'role'")),
        );
        check_refused(
            FunctionSpec {
                memory_size: Some(64),
                ..spec()
            },
            Some(("model", "memorySize")),
        );
        check_refused(
            FunctionSpec {
                timeout: Some(901),
                ..spec()
            },
            Some(("invalid", "Timeout value 901 is out of range")),
        );
        check_refused(
            FunctionSpec {
                tracing_mode: Some("Sometimes".into()),
                ..spec()
            },
            Some(("model", "tracingConfig.mode")),
        );
        check_refused(
            FunctionSpec {
                runtime: Some("java21".into()),
                ..spec()
            },
            Some(("invalid", "not supported by flint")),
        );
        check_refused(
            FunctionSpec {
                dead_letter_target: Some("arn:aws:sqs:us-east-1:000000000000:dlq".into()),
                ..spec()
            },
            Some(("unsupported", "OnFailure destination")),
        );
        check_refused(
            FunctionSpec {
                dead_letter_target: Some(String::new()),
                ..spec()
            },
            None,
        );
    }

    #[test]
    fn config_update_refuses_a_dead_letter_queue() {
        let now: Timestamp = "2026-01-15T10:00:00Z".parse().unwrap();
        let current =
            spec()
                .validate("hello".into())
                .unwrap()
                .into_config(code(), now, "rev-1".into());
        let with_target = ConfigUpdate {
            dead_letter_target: Some("arn:aws:sns:us-east-1:000000000000:t".into()),
            ..ConfigUpdate::default()
        };
        assert!(matches!(
            with_target.apply(&current),
            Err(ControlError::Unsupported { message }) if message.contains("SQS queue or SNS topic")
        ));
        let empty = ConfigUpdate {
            dead_letter_target: Some(String::new()),
            ..ConfigUpdate::default()
        };
        assert_eq!(empty.apply(&current).unwrap(), current);
    }

    #[test]
    fn config_update_changes_only_what_is_set() {
        let now: Timestamp = "2026-01-15T10:00:00Z".parse().unwrap();
        let current =
            spec()
                .validate("hello".into())
                .unwrap()
                .into_config(code(), now, "rev-1".into());
        let update = ConfigUpdate {
            memory_size: Some(512),
            environment: Some([("GREETING".to_string(), "hi".to_string())].into()),
            ..ConfigUpdate::default()
        };
        let next = update.apply(&current).unwrap();
        assert_eq!(next.memory_mb, 512);
        assert_eq!(next.environment["GREETING"], "hi");
        assert_eq!(
            FunctionConfig {
                memory_mb: current.memory_mb,
                environment: current.environment.clone(),
                ..next
            },
            current
        );
    }

    #[test]
    fn config_update_checks_the_form_of_layers_only() {
        let now: Timestamp = "2026-01-15T10:00:00Z".parse().unwrap();
        let current =
            spec()
                .validate("hello".into())
                .unwrap()
                .into_config(code(), now, "rev-1".into());
        let empty = ConfigUpdate {
            layers: Some(Vec::new()),
            ..ConfigUpdate::default()
        };
        assert_eq!(empty.apply(&current).unwrap(), current);
        let some = ConfigUpdate {
            layers: Some(vec![
                "arn:aws:lambda:us-east-1:000000000000:layer:l:1".into(),
            ]),
            ..ConfigUpdate::default()
        };
        assert_eq!(
            some.apply(&current).unwrap(),
            current,
            "the caller sets the layers it looked up"
        );
        let malformed = ConfigUpdate {
            layers: Some(vec!["layer-one".into()]),
            ..ConfigUpdate::default()
        };
        assert!(matches!(
            malformed.apply(&current),
            Err(ControlError::Validation(e)) if e.kind == ValidationKind::Model
        ));
    }
}
