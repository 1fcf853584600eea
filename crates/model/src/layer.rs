//! Layers: their names and ARNs, a published layer version as flint stores it, a function's
//! reference to one, and the rules PublishLayerVersion and AddLayerVersionPermission check.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::arn::Scope;
use crate::function::CodeRef;
use crate::runtime::{Runtime, RuntimeParseError};
use crate::validate::{ValidationError, invalid, model};

/// Longest layer name, layer ARN or layer version ARN (the model's `max: 140`).
pub const LAYER_ARN_MAX: usize = 140;
/// Most runtimes a layer version may name (`CompatibleRuntimes`).
pub const COMPATIBLE_RUNTIMES_MAX: usize = 15;
/// Longest `LicenseInfo`.
pub const LICENSE_INFO_MAX: usize = 512;
/// Longest statement id of a layer version policy.
pub const STATEMENT_ID_MAX: usize = 100;
/// The only action a layer version policy grants.
pub const GET_LAYER_VERSION_ACTION: &str = "lambda:GetLayerVersion";

/// The pattern Lambda's model gives a layer version ARN in `Layers`, quoted in its refusals.
const LAYER_VERSION_ARN_PATTERN: &str = "(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)";

/// One published version of a layer. Versions never change; deleting one hides it from the
/// API, while functions that use it keep its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerVersion {
    pub name: String,
    /// Numbered from 1 per layer; a number is never given out twice.
    pub version: u64,
    pub description: String,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
    pub code: CodeRef,
    pub created: Timestamp,
}

impl LayerVersion {
    /// Whether the version lists `runtime` and `architecture` among its compatible ones (an
    /// unset filter matches every version), as ListLayers and ListLayerVersions filter.
    pub fn matches(&self, runtime: Option<&str>, architecture: Option<&str>) -> bool {
        runtime.is_none_or(|r| self.compatible_runtimes.iter().any(|c| c == r))
            && architecture.is_none_or(|a| self.compatible_architectures.iter().any(|c| c == a))
    }
}

/// A layer as a function configuration names it: the version ARN it was given and the content
/// that ARN stood for then, which the function keeps even if the version is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// The layer version ARN (`Layers[].Arn`).
    pub arn: String,
    pub code: CodeRef,
}

/// A layer version ARN taken apart: `arn:<partition>:lambda:<region>:<account>:layer:<name>:<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersionArn {
    pub region: String,
    pub account: String,
    pub name: String,
    pub version: u64,
}

impl LayerVersionArn {
    /// Parses a layer version ARN; `None` if it is not one.
    pub fn parse(arn: &str) -> Option<Self> {
        if arn.len() > LAYER_ARN_MAX {
            return None;
        }
        match arn.split(':').collect::<Vec<_>>().as_slice() {
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "layer",
                name,
                version,
            ] if is_arn_word(partition)
                && is_arn_word(region)
                && is_account(account)
                && is_layer_name(name)
                && !version.is_empty()
                && version.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(LayerVersionArn {
                    region: region.to_string(),
                    account: account.to_string(),
                    name: name.to_string(),
                    version: version.parse().ok()?,
                })
            }
            _ => None,
        }
    }
}

/// A `LayerName` as a request gives it: a plain name or a layer ARN. Returns the name and the
/// account of an ARN.
pub fn parse_layer_name(input: &str) -> Result<(String, Option<String>), ValidationError> {
    let refused = || {
        model(
            "layerName",
            input,
            "Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+",
        )
    };
    if input.is_empty() || input.len() > LAYER_ARN_MAX {
        return Err(refused());
    }
    if is_layer_name(input) {
        return Ok((input.to_string(), None));
    }
    match input.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", partition, "lambda", region, account, "layer", name]
            if is_arn_word(partition)
                && is_arn_word(region)
                && is_account(account)
                && is_layer_name(name) =>
        {
            Ok((name.to_string(), Some(account.to_string())))
        }
        _ => Err(refused()),
    }
}

/// True for a layer name: `[a-zA-Z0-9-_]+`, at most 140 characters.
pub fn is_layer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= LAYER_ARN_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_arn_word(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_account(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

impl Scope {
    /// `arn:aws:lambda:<region>:<account>:layer:<name>`
    pub fn layer_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{name}",
            self.region, self.account
        )
    }

    /// `arn:aws:lambda:<region>:<account>:layer:<name>:<version>`
    pub fn layer_version_arn(&self, name: &str, version: u64) -> String {
        format!("{}:{version}", self.layer_arn(name))
    }
}

/// Checks the `Layers` of CreateFunction and UpdateFunctionConfiguration without looking them
/// up: their form, their number and that no layer appears in two versions.
pub fn function_layers(arns: &[String]) -> Result<Vec<LayerVersionArn>, ValidationError> {
    let parsed = arns
        .iter()
        .map(|arn| {
            LayerVersionArn::parse(arn).ok_or_else(|| {
                model(
                    "layers",
                    format!("[{}]", arns.join(", ")),
                    &format!(
                        "Member must satisfy constraint: [Member must have length less than or equal to 140, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}, Member must not be null]"
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if parsed.len() > crate::limits::LAYERS_PER_FUNCTION_MAX {
        return Err(invalid("Cannot reference more than 5 layers."));
    }
    for (i, later) in parsed.iter().enumerate() {
        if let Some(earlier) = parsed[..i]
            .iter()
            .position(|p| p.name == later.name && p.account == later.account)
        {
            return Err(invalid(format!(
                "Two different versions of the same layer are not allowed to be referenced in the same function. {} and {} are versions of the same layer.",
                arns[earlier], arns[i]
            )));
        }
    }
    Ok(parsed)
}

/// Checks the members of PublishLayerVersion besides the content.
pub fn publish_fields(
    description: &str,
    compatible_runtimes: &[String],
    compatible_architectures: &[String],
    license_info: Option<&str>,
) -> Result<(), ValidationError> {
    crate::validate::description(description)?;
    if compatible_runtimes.len() > COMPATIBLE_RUNTIMES_MAX {
        return Err(model(
            "compatibleRuntimes",
            format!("[{}]", compatible_runtimes.join(", ")),
            "Member must have length less than or equal to 15",
        ));
    }
    for name in compatible_runtimes {
        if let Err(RuntimeParseError::Unknown(_)) = name.parse::<Runtime>() {
            return Err(model(
                "compatibleRuntimes",
                format!("[{}]", compatible_runtimes.join(", ")),
                "Member must satisfy constraint: [Member must satisfy enum value set: [a runtime of Lambda's model]]",
            ));
        }
    }
    compatible_architecture_list(compatible_architectures)?;
    if license_info.is_some_and(|text| text.chars().count() > LICENSE_INFO_MAX) {
        return Err(model(
            "licenseInfo",
            license_info.unwrap_or_default(),
            "Member must have length less than or equal to 512",
        ));
    }
    Ok(())
}

/// `CompatibleArchitectures`: at most two of `x86_64` and `arm64`.
fn compatible_architecture_list(list: &[String]) -> Result<(), ValidationError> {
    if list.len() > 2 {
        return Err(model(
            "compatibleArchitectures",
            format!("[{}]", list.join(", ")),
            "Member must have length less than or equal to 2",
        ));
    }
    for architecture in list {
        architecture_filter(architecture).map_err(|_| {
            model(
                "compatibleArchitectures",
                format!("[{}]", list.join(", ")),
                "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
            )
        })?;
    }
    Ok(())
}

/// The `CompatibleArchitecture` filter of ListLayers and ListLayerVersions.
pub fn architecture_filter(architecture: &str) -> Result<(), ValidationError> {
    match architecture {
        "x86_64" | "arm64" => Ok(()),
        other => Err(model(
            "compatibleArchitecture",
            other,
            "Member must satisfy enum value set: [x86_64, arm64]",
        )),
    }
}

/// The `CompatibleRuntime` filter of ListLayers and ListLayerVersions: any runtime of the model.
pub fn runtime_filter(runtime: &str) -> Result<(), ValidationError> {
    match runtime.parse::<Runtime>() {
        Err(RuntimeParseError::Unknown(_)) => Err(model(
            "compatibleRuntime",
            runtime,
            "Member must satisfy enum value set: [a runtime of Lambda's model]",
        )),
        _ => Ok(()),
    }
}

/// One statement of AddLayerVersionPermission, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPermission {
    pub statement_id: String,
    pub action: String,
    pub principal: String,
    pub organization_id: Option<String>,
}

impl LayerPermission {
    /// Checks each member against the model's patterns.
    pub fn validate(&self) -> Result<(), ValidationError> {
        statement_id(&self.statement_id)?;
        if self.action != GET_LAYER_VERSION_ACTION {
            return Err(model(
                "action",
                &self.action,
                "Member must satisfy regular expression pattern: lambda:GetLayerVersion",
            ));
        }
        if !is_layer_principal(&self.principal) {
            return Err(model(
                "principal",
                &self.principal,
                "Member must satisfy regular expression pattern: \\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root",
            ));
        }
        if let Some(org) = &self.organization_id {
            let well_formed = org.strip_prefix("o-").is_some_and(|rest| {
                (10..=32).contains(&rest.len())
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            if !well_formed {
                return Err(model(
                    "organizationId",
                    org,
                    "Member must satisfy regular expression pattern: o-[a-z0-9]{10,32}",
                ));
            }
            if self.principal != "*" {
                return Err(invalid(
                    "OrganizationId can only be specified when the principal is '*'.",
                ));
            }
        }
        Ok(())
    }

    /// The IAM statement Lambda adds to the layer version's policy for this permission.
    pub fn statement(&self, layer_version_arn: &str) -> serde_json::Value {
        let principal = if self.principal == "*" {
            serde_json::json!("*")
        } else if is_account(&self.principal) {
            serde_json::json!({"AWS": format!("arn:aws:iam::{}:root", self.principal)})
        } else {
            serde_json::json!({"AWS": self.principal})
        };
        let mut statement = serde_json::json!({
            "Sid": self.statement_id,
            "Effect": "Allow",
            "Principal": principal,
            "Action": self.action,
            "Resource": layer_version_arn,
        });
        if let Some(org) = &self.organization_id {
            statement["Condition"] =
                serde_json::json!({"StringEquals": {"aws:PrincipalOrgID": org}});
        }
        statement
    }
}

/// A statement id: 1 to 100 characters of `[a-zA-Z0-9-_]`.
pub fn statement_id(sid: &str) -> Result<(), ValidationError> {
    let well_formed = !sid.is_empty()
        && sid.len() <= STATEMENT_ID_MAX
        && sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(model(
            "statementId",
            sid,
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
        ))
    }
}

fn is_layer_principal(principal: &str) -> bool {
    if principal == "*" || is_account(principal) {
        return true;
    }
    principal
        .strip_prefix("arn:aws")
        .and_then(|rest| rest.split_once(":iam::"))
        .is_some_and(|(partition, rest)| {
            partition
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'-')
                && rest.strip_suffix(":root").is_some_and(is_account)
        })
}

/// Checks that a function's code and its layers fit in 250 MB unzipped.
pub fn combined_size(code: &CodeRef, layers: &[LayerRef]) -> Result<(), ValidationError> {
    let actual = layers.iter().fold(code.unzipped_size, |sum, layer| {
        sum.saturating_add(layer.code.unzipped_size)
    });
    if actual > crate::limits::UNZIPPED_MAX {
        return Err(invalid(format!(
            "Function code combined with layers exceeds the maximum allowed size of {} bytes. The actual size is {actual} bytes.",
            crate::limits::UNZIPPED_MAX
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::ValidationKind;

    fn kind<T>(result: Result<T, ValidationError>) -> Option<ValidationKind> {
        result.err().map(|e| e.kind)
    }

    #[track_caller]
    fn check_arn(arn: &str, expect: Option<(&str, &str, u64)>) {
        let got = LayerVersionArn::parse(arn);
        let got = got
            .as_ref()
            .map(|a| (a.region.as_str(), a.name.as_str(), a.version));
        assert_eq!(got, expect, "{arn}");
    }

    #[test]
    fn layer_version_arns() {
        check_arn(
            "arn:aws:lambda:us-east-1:000000000000:layer:deps:3",
            Some(("us-east-1", "deps", 3)),
        );
        check_arn(
            "arn:aws-cn:lambda:cn-north-1:123456789012:layer:my_layer-2:12",
            Some(("cn-north-1", "my_layer-2", 12)),
        );
        check_arn("arn:aws:lambda:us-east-1:000000000000:layer:deps", None);
        check_arn("arn:aws:lambda:us-east-1:000000000000:layer:deps:x", None);
        check_arn("arn:aws:lambda:us-east-1:0000:layer:deps:1", None);
        check_arn("arn:aws:lambda:us-east-1:000000000000:function:f:1", None);
        check_arn("deps:1", None);
        let long = format!(
            "arn:aws:lambda:us-east-1:000000000000:layer:{}:1",
            "n".repeat(100)
        );
        check_arn(&long, None);
    }

    #[test]
    fn layer_names_may_be_arns() {
        assert_eq!(parse_layer_name("deps").unwrap(), ("deps".into(), None));
        assert_eq!(
            parse_layer_name("arn:aws:lambda:eu-west-1:123456789012:layer:deps").unwrap(),
            ("deps".into(), Some("123456789012".into()))
        );
        assert_eq!(kind(parse_layer_name("")), Some(ValidationKind::Model));
        assert_eq!(kind(parse_layer_name("a b")), Some(ValidationKind::Model));
        assert_eq!(
            kind(parse_layer_name(
                "arn:aws:lambda:eu-west-1:123456789012:layer:deps:1"
            )),
            Some(ValidationKind::Model)
        );
    }

    #[test]
    fn function_layer_lists() {
        let arn =
            |name: &str, v: u64| format!("arn:aws:lambda:us-east-1:000000000000:layer:{name}:{v}");
        let five: Vec<String> = (1..=5).map(|i| arn(&format!("l{i}"), 1)).collect();
        assert_eq!(function_layers(&five).unwrap().len(), 5);
        let six: Vec<String> = (1..=6).map(|i| arn(&format!("l{i}"), 1)).collect();
        let err = function_layers(&six).unwrap_err();
        assert_eq!(err.kind, ValidationKind::InvalidParameter);
        assert_eq!(err.message, "Cannot reference more than 5 layers.");
        let err = function_layers(&[arn("a", 1), arn("b", 1), arn("a", 2)]).unwrap_err();
        assert!(
            err.message
                .starts_with("Two different versions of the same layer"),
            "{}",
            err.message
        );
        let err = function_layers(&["not-an-arn".into()]).unwrap_err();
        assert_eq!(err.kind, ValidationKind::Model);
        assert!(err.message.contains("at 'layers'"), "{}", err.message);
    }

    #[test]
    fn publish_rules() {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            publish_fields(
                "d",
                &strings(&["python3.12", "java21"]),
                &strings(&["x86_64", "arm64"]),
                Some("MIT")
            )
            .is_ok()
        );
        assert_eq!(
            kind(publish_fields("", &strings(&["cobol"]), &[], None)),
            Some(ValidationKind::Model)
        );
        assert_eq!(
            kind(publish_fields("", &[], &strings(&["sparc"]), None)),
            Some(ValidationKind::Model)
        );
        assert_eq!(
            kind(publish_fields(
                "",
                &[],
                &strings(&["x86_64", "arm64", "x86_64"]),
                None
            )),
            Some(ValidationKind::Model)
        );
        let sixteen = vec!["python3.12".to_string(); 16];
        assert_eq!(
            kind(publish_fields("", &sixteen, &[], None)),
            Some(ValidationKind::Model)
        );
        assert_eq!(
            kind(publish_fields("", &[], &[], Some(&"l".repeat(513)))),
            Some(ValidationKind::Model)
        );
        assert_eq!(
            kind(publish_fields(&"d".repeat(257), &[], &[], None)),
            Some(ValidationKind::Model)
        );
    }

    #[test]
    fn permissions_and_their_statements() {
        let permission = |principal: &str, org: Option<&str>| LayerPermission {
            statement_id: "xaccount".into(),
            action: GET_LAYER_VERSION_ACTION.into(),
            principal: principal.into(),
            organization_id: org.map(str::to_string),
        };
        let arn = "arn:aws:lambda:us-east-1:000000000000:layer:deps:1";
        let account = permission("210987654321", None);
        account.validate().unwrap();
        assert_eq!(
            account.statement(arn),
            serde_json::json!({"Sid": "xaccount", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "lambda:GetLayerVersion", "Resource": arn})
        );
        let org = permission("*", Some("o-abcdefghij"));
        org.validate().unwrap();
        assert_eq!(org.statement(arn)["Principal"], "*");
        assert_eq!(
            org.statement(arn)["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
            "o-abcdefghij"
        );
        permission("arn:aws:iam::210987654321:root", None)
            .validate()
            .unwrap();
        assert_eq!(
            kind(permission("someone", None).validate()),
            Some(ValidationKind::Model)
        );
        assert_eq!(
            kind(permission("*", Some("org")).validate()),
            Some(ValidationKind::Model)
        );
        assert_eq!(
            kind(permission("210987654321", Some("o-abcdefghij")).validate()),
            Some(ValidationKind::InvalidParameter)
        );
        let bad_action = LayerPermission {
            action: "lambda:*".into(),
            ..account.clone()
        };
        assert_eq!(kind(bad_action.validate()), Some(ValidationKind::Model));
        let bad_sid = LayerPermission {
            statement_id: "has space".into(),
            ..account
        };
        assert_eq!(kind(bad_sid.validate()), Some(ValidationKind::Model));
    }

    #[test]
    fn code_and_layers_share_250_megabytes() {
        let code = |unzipped: u64| CodeRef {
            sha256_hex: "00".repeat(32),
            size: 1,
            unzipped_size: unzipped,
        };
        let layer = |unzipped: u64| LayerRef {
            arn: "arn:aws:lambda:us-east-1:000000000000:layer:l:1".into(),
            code: code(unzipped),
        };
        assert!(
            combined_size(&code(62_144_000), &[layer(100_000_000), layer(100_000_000)]).is_ok()
        );
        let err = combined_size(&code(62_144_001), &[layer(100_000_000), layer(100_000_000)])
            .unwrap_err();
        assert_eq!(err.kind, ValidationKind::InvalidParameter);
        assert_eq!(
            err.message,
            "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is 262144001 bytes."
        );
    }

    #[test]
    fn filters_match_compatible_lists() {
        let version = LayerVersion {
            name: "l".into(),
            version: 1,
            description: String::new(),
            compatible_runtimes: vec!["python3.12".into()],
            compatible_architectures: vec!["arm64".into()],
            license_info: None,
            code: CodeRef {
                sha256_hex: "00".repeat(32),
                size: 1,
                unzipped_size: 1,
            },
            created: "2026-01-15T10:00:00Z".parse().unwrap(),
        };
        assert!(version.matches(None, None));
        assert!(version.matches(Some("python3.12"), Some("arm64")));
        assert!(!version.matches(Some("nodejs22.x"), None));
        assert!(!version.matches(None, Some("x86_64")));
        assert!(runtime_filter("java21").is_ok());
        assert!(runtime_filter("cobol").is_err());
        assert!(architecture_filter("arm64").is_ok());
        assert!(architecture_filter("sparc").is_err());
    }
}
