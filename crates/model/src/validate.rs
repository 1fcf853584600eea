//! The control plane's validation rules. Each failure says which of Lambda's two families it
//! belongs to: a constraint of the service model (`ValidationException`) or a rule of the
//! service (`InvalidParameterValueException`).

use std::collections::BTreeMap;
use std::fmt;

use crate::arn::is_plain_name;
use crate::limits::*;
use crate::runtime::{Runtime, RuntimeParseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationKind {
    /// A constraint of the service model was broken (AWS: `ValidationException`).
    Model,
    /// A value is well-formed but not acceptable (AWS: `InvalidParameterValueException`).
    InvalidParameter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub kind: ValidationKind,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

pub(crate) fn model(field: &str, value: impl fmt::Display, constraint: &str) -> ValidationError {
    ValidationError {
        kind: ValidationKind::Model,
        message: format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ),
    }
}

pub fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError {
        kind: ValidationKind::InvalidParameter,
        message: message.into(),
    }
}

/// Environment variable names Lambda sets itself and refuses from users.
pub const RESERVED_ENV_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
];

pub fn function_name(name: &str) -> Result<(), ValidationError> {
    if is_plain_name(name) {
        Ok(())
    } else {
        Err(model(
            "functionName",
            name,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length between 1 and 64",
        ))
    }
}

pub fn runtime(name: &str) -> Result<Runtime, ValidationError> {
    name.parse().map_err(|e| match e {
        RuntimeParseError::Unsupported(name) => invalid(format!(
            "The runtime parameter of {name} is not supported by flint. Supported runtimes: {}.",
            Runtime::supported_names().join(", ")
        )),
        RuntimeParseError::Unknown(name) => model(
            "runtime",
            name,
            &format!(
                "Member must satisfy enum value set: [{}]",
                Runtime::supported_names().join(", ")
            ),
        ),
    })
}

pub fn memory_size(mb: i64) -> Result<u32, ValidationError> {
    if mb < i64::from(MEMORY_MIN_MB) {
        return Err(model(
            "memorySize",
            mb,
            "Member must have value greater than or equal to 128",
        ));
    }
    if mb > i64::from(MEMORY_MAX_MB) {
        return Err(model(
            "memorySize",
            mb,
            "Member must have value less than or equal to 10240",
        ));
    }
    Ok(mb as u32)
}

pub fn timeout(seconds: i64) -> Result<u32, ValidationError> {
    if seconds < i64::from(TIMEOUT_MIN_S) {
        return Err(model(
            "timeout",
            seconds,
            "Member must have value greater than or equal to 1",
        ));
    }
    if seconds > i64::from(TIMEOUT_MAX_S) {
        return Err(invalid(format!(
            "Timeout value {seconds} is out of range. Allowed range: {TIMEOUT_MIN_S}-{TIMEOUT_MAX_S} seconds."
        )));
    }
    Ok(seconds as u32)
}

pub fn ephemeral_storage(mb: i64) -> Result<u32, ValidationError> {
    if !(i64::from(EPHEMERAL_MIN_MB)..=i64::from(EPHEMERAL_MAX_MB)).contains(&mb) {
        return Err(model(
            "ephemeralStorage.size",
            mb,
            "Member must have value between 512 and 10240",
        ));
    }
    Ok(mb as u32)
}

pub fn description(text: &str) -> Result<(), ValidationError> {
    if text.chars().count() > DESCRIPTION_MAX {
        return Err(model(
            "description",
            text,
            "Member must have length less than or equal to 256",
        ));
    }
    Ok(())
}

pub fn handler(text: &str) -> Result<(), ValidationError> {
    if text.is_empty() || text.len() > HANDLER_MAX || text.chars().any(char::is_whitespace) {
        return Err(model(
            "handler",
            text,
            "Member must satisfy regular expression pattern: [^\\s]+ and have length between 1 and 128",
        ));
    }
    Ok(())
}

pub fn role(arn: &str) -> Result<(), ValidationError> {
    let ok = arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":iam::"))
        .and_then(|(_, rest)| rest.split_once(":role/"))
        .is_some_and(|(account, name)| {
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
        });
    if ok {
        Ok(())
    } else {
        Err(model(
            "role",
            arn,
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
        ))
    }
}

pub fn environment(vars: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    // Lambda names reserved keys before judging their form (`_HANDLER` is reserved, not
    // malformed).
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV_KEYS.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    for key in vars.keys() {
        let mut bytes = key.bytes();
        let well_formed = key.len() >= 2
            && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !well_formed {
            return Err(model(
                "environment.variables",
                key,
                "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
            ));
        }
    }
    let measured = serde_json::to_string(vars).unwrap_or_default();
    if measured.len() > ENVIRONMENT_MAX_BYTES {
        return Err(invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {}",
            truncate(&measured, 200)
        )));
    }
    Ok(())
}

pub fn architectures(list: &[String]) -> Result<(), ValidationError> {
    match list {
        [one] if one == "x86_64" || one == "arm64" => Ok(()),
        [_] => Err(model(
            "architectures",
            list.join(","),
            "Member must satisfy enum value set: [x86_64, arm64]",
        )),
        _ => Err(model(
            "architectures",
            list.len(),
            "Member must have length less than or equal to 1",
        )),
    }
}

pub fn tags(tags: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    if tags.len() > TAGS_PER_RESOURCE_MAX {
        return Err(invalid(format!(
            "A resource can have at most {TAGS_PER_RESOURCE_MAX} tags."
        )));
    }
    for (key, value) in tags {
        if key.is_empty() || key.len() > TAG_KEY_MAX || key.starts_with("aws:") {
            return Err(invalid(format!("Tag key {key:?} is not valid.")));
        }
        if value.len() > TAG_VALUE_MAX {
            return Err(invalid(format!(
                "Tag value for key {key:?} is longer than 256 characters."
            )));
        }
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind<T>(r: Result<T, ValidationError>) -> Option<ValidationKind> {
        r.err().map(|e| e.kind)
    }

    #[test]
    fn memory_and_timeout_ranges() {
        assert_eq!(memory_size(128).unwrap(), 128);
        assert_eq!(memory_size(10_240).unwrap(), 10_240);
        assert_eq!(kind(memory_size(127)), Some(ValidationKind::Model));
        assert_eq!(kind(memory_size(10_241)), Some(ValidationKind::Model));
        assert_eq!(timeout(900).unwrap(), 900);
        assert_eq!(kind(timeout(0)), Some(ValidationKind::Model));
        assert_eq!(kind(timeout(901)), Some(ValidationKind::InvalidParameter));
    }

    #[test]
    fn environment_rules() {
        let vars = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(environment(&vars(&[("GREETING", "hi"), ("A1_b", "")])).is_ok());
        assert_eq!(
            kind(environment(&vars(&[("1BAD", "x")]))),
            Some(ValidationKind::Model)
        );
        assert_eq!(
            kind(environment(&vars(&[("A", "x")]))),
            Some(ValidationKind::Model)
        );
        let reserved = environment(&vars(&[("AWS_REGION", "x")])).unwrap_err();
        let underscore = environment(&vars(&[("_HANDLER", "x")])).unwrap_err();
        assert_eq!(
            underscore.kind,
            ValidationKind::InvalidParameter,
            "{}",
            underscore.message
        );
        assert!(
            reserved
                .message
                .contains("Reserved keys used in this request: AWS_REGION")
        );
        let big = "x".repeat(5000);
        let too_big = environment(&vars(&[("BIG", &big)])).unwrap_err();
        assert!(
            too_big.message.contains("exceeded the 4KB limit"),
            "{}",
            too_big.message
        );
    }

    #[test]
    fn role_arns() {
        assert!(role("arn:aws:iam::000000000000:role/x").is_ok());
        assert!(role("arn:aws:iam::000000000000:role/service-role/my-role").is_ok());
        assert!(role("arn:aws:iam::0000:role/x").is_err());
        assert!(role("not-an-arn").is_err());
    }

    #[test]
    fn runtimes_split_into_two_error_families() {
        assert_eq!(
            kind(runtime("java21")),
            Some(ValidationKind::InvalidParameter)
        );
        assert_eq!(kind(runtime("nonsense")), Some(ValidationKind::Model));
        assert!(runtime("python3.12").is_ok());
    }

    #[test]
    fn handlers_and_descriptions() {
        assert!(handler("index.handler").is_ok());
        assert!(handler("has space").is_err());
        assert!(handler("").is_err());
        assert!(description(&"d".repeat(256)).is_ok());
        assert!(description(&"d".repeat(257)).is_err());
    }
}
