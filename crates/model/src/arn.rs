//! Function names, qualifiers and ARNs, in every form the Lambda API accepts them.

use std::fmt;

/// The region and account a request acts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub region: String,
    pub account: String,
}

impl Scope {
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account
        )
    }

    pub fn qualified_arn(&self, name: &str, qualifier: &str) -> String {
        format!("{}:{qualifier}", self.function_arn(name))
    }
}

/// A function named by a request: a plain name, `name:qualifier`, a partial ARN
/// (`123456789012:function:name[:qualifier]`) or a full ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<String>,
    /// The account named in an ARN form, if any.
    pub account: Option<String>,
    /// The region named in a full ARN, if any.
    pub region: Option<String>,
}

/// Why a function name could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFunctionName(pub String);

impl fmt::Display for BadFunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid function name {:?}", self.0)
    }
}

/// True for a plain function name: 1 to 64 characters of `[a-zA-Z0-9-_]`.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True for a qualifier: `$LATEST`, a version number or an alias name.
pub fn is_qualifier(q: &str) -> bool {
    q == "$LATEST"
        || (!q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

impl FunctionRef {
    /// Parses any accepted form of `FunctionName`.
    pub fn parse(input: &str) -> Result<Self, BadFunctionName> {
        let bad = || BadFunctionName(input.to_string());
        let parts: Vec<&str> = input.split(':').collect();
        let (account, region, name, qualifier) = match parts.as_slice() {
            [name] => (None, None, *name, None),
            [name, q] => (None, None, *name, Some(*q)),
            [account, "function", name] => (Some(*account), None, *name, None),
            [account, "function", name, q] => (Some(*account), None, *name, Some(*q)),
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "function",
                name,
            ] if !partition.is_empty() => (Some(*account), Some(*region), *name, None),
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "function",
                name,
                q,
            ] if !partition.is_empty() => (Some(*account), Some(*region), *name, Some(*q)),
            _ => return Err(bad()),
        };
        if !is_plain_name(name) || qualifier.is_some_and(|q| !is_qualifier(q)) {
            return Err(bad());
        }
        if account.is_some_and(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad());
        }
        Ok(FunctionRef {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
            account: account.map(str::to_string),
            region: region.map(str::to_string),
        })
    }

    /// Merges a `?Qualifier=` query parameter into the reference. Lambda refuses two different
    /// qualifiers.
    pub fn with_query_qualifier(mut self, query: Option<&str>) -> Result<Self, String> {
        match (self.qualifier.as_deref(), query) {
            (_, None) => Ok(self),
            (None, Some(q)) => {
                if !is_qualifier(q) {
                    return Err(format!("invalid qualifier {q:?}"));
                }
                self.qualifier = Some(q.to_string());
                Ok(self)
            }
            (Some(a), Some(b)) if a == b => Ok(self),
            (Some(_), Some(_)) => Err(
                "The derived qualifier from the function name does not match the specified qualifier."
                    .to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: Option<(&str, Option<&str>)>) {
        let got = FunctionRef::parse(input).ok();
        let got = got
            .as_ref()
            .map(|r| (r.name.as_str(), r.qualifier.as_deref()));
        assert_eq!(got, expect, "{input}");
    }

    #[test]
    fn parses_every_form() {
        check("hello", Some(("hello", None)));
        check("hello:$LATEST", Some(("hello", Some("$LATEST"))));
        check("hello:live", Some(("hello", Some("live"))));
        check("123456789012:function:hello", Some(("hello", None)));
        check("123456789012:function:hello:3", Some(("hello", Some("3"))));
        check(
            "arn:aws:lambda:us-east-1:123456789012:function:hello",
            Some(("hello", None)),
        );
        check(
            "arn:aws:lambda:eu-west-1:123456789012:function:hello:7",
            Some(("hello", Some("7"))),
        );
    }

    #[test]
    fn refuses_malformed_names() {
        check("", None);
        check("has space", None);
        check(&"x".repeat(65), None);
        check("a:b:c", None);
        check("12345:function:hello", None);
        check("arn:aws:s3:us-east-1:123456789012:function:hello", None);
        check("hello:bad qualifier", None);
    }

    #[test]
    fn query_qualifier_must_agree() {
        let r = FunctionRef::parse("hello:1").unwrap();
        assert!(r.clone().with_query_qualifier(Some("1")).is_ok());
        assert!(r.with_query_qualifier(Some("2")).is_err());
        let r = FunctionRef::parse("hello")
            .unwrap()
            .with_query_qualifier(Some("$LATEST"))
            .unwrap();
        assert_eq!(r.qualifier.as_deref(), Some("$LATEST"));
    }

    #[test]
    fn builds_arns() {
        let scope = Scope {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        };
        assert_eq!(
            scope.function_arn("f"),
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        assert_eq!(
            scope.qualified_arn("f", "$LATEST"),
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
        );
    }
}
