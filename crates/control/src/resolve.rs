//! From a `FunctionName` (any of its forms) and an optional `?Qualifier=` to the function and
//! version a request acts on.

use model::{FunctionRef, Scope, ValidationError, validate};

use crate::ControlError;
use crate::spec::model_error;

/// Lambda's pattern for `FunctionName`, quoted in its validation message.
const FUNCTION_NAME_PATTERN: &str = "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?";

/// A function named by a request, with the qualifier it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) qualifier: Option<String>,
}

impl Target {
    /// The function's ARN as the caller named it: qualified if a qualifier was given.
    pub(crate) fn arn(&self, scope: &Scope) -> String {
        match &self.qualifier {
            Some(q) => scope.qualified_arn(&self.name, q),
            None => scope.function_arn(&self.name),
        }
    }
}

/// Parses `function_name` and merges `query_qualifier` into it. A function of another account
/// does not exist here.
pub(crate) fn target(
    scope: &Scope,
    function_name: &str,
    query_qualifier: Option<&str>,
) -> Result<Target, ControlError> {
    let parsed = FunctionRef::parse(function_name)
        .map_err(|_| model_error("functionName", function_name, FUNCTION_NAME_PATTERN))?
        .with_query_qualifier(query_qualifier)
        .map_err(validate::invalid)?;
    let target = Target {
        name: parsed.name,
        qualifier: parsed.qualifier,
    };
    if let Some(account) = parsed.account.filter(|a| *a != scope.account) {
        let foreign = Scope {
            region: scope.region.clone(),
            account,
        };
        return Err(ControlError::FunctionNotFound {
            arn: target.arn(&foreign),
        });
    }
    Ok(target)
}

/// The function an operation on the whole function names (versions, aliases, concurrency): a
/// name or ARN without qualifier.
pub(crate) fn unqualified(scope: &Scope, function_name: &str) -> Result<Target, ControlError> {
    Ok(Target {
        name: new_function_name(scope, function_name)?,
        qualifier: None,
    })
}

/// The function a CreateFunction names: a name or ARN, never with a qualifier.
pub(crate) fn new_function_name(
    scope: &Scope,
    function_name: &str,
) -> Result<String, ControlError> {
    let target = target(scope, function_name, None)?;
    if target.qualifier.is_some() {
        return Err(qualifier_not_allowed(function_name).into());
    }
    Ok(target.name)
}

fn qualifier_not_allowed(function_name: &str) -> ValidationError {
    model_error(
        "functionName",
        function_name,
        "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        }
    }

    /// Resolves and renders the outcome: the target's ARN, or the error.
    #[track_caller]
    fn check(name: &str, qualifier: Option<&str>, expect: &str) {
        let got = match target(&scope(), name, qualifier) {
            Ok(t) => t.arn(&scope()),
            Err(ControlError::FunctionNotFound { arn }) => format!("not found {arn}"),
            Err(ControlError::Validation(e)) => format!("invalid {:?}", e.kind),
            Err(other) => format!("{other:?}"),
        };
        assert_eq!(got, expect, "{name} {qualifier:?}");
    }

    #[test]
    fn resolves_every_form() {
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:hello";
        check("hello", None, arn);
        check(arn, None, arn);
        check("000000000000:function:hello", None, arn);
        check("hello", Some("$LATEST"), &format!("{arn}:$LATEST"));
        check("hello:$LATEST", Some("$LATEST"), &format!("{arn}:$LATEST"));
        check("hello:1", Some("2"), "invalid InvalidParameter");
        check("bad name", None, "invalid Model");
        check(
            "123456789012:function:hello",
            None,
            "not found arn:aws:lambda:us-east-1:123456789012:function:hello",
        );
    }

    #[test]
    fn create_refuses_qualified_names() {
        assert_eq!(new_function_name(&scope(), "hello").unwrap(), "hello");
        assert!(new_function_name(&scope(), "hello:1").is_err());
        assert_eq!(unqualified(&scope(), "hello").unwrap().qualifier, None);
        assert!(unqualified(&scope(), "hello:live").is_err());
    }
}
