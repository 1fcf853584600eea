//! Filter patterns of `FilterLogEvents`, the unstructured kind: every term must occur in the
//! message, case-sensitively. Terms are separated by spaces; a term in double quotes may hold
//! spaces and other punctuation (`"Task timed out"`). An empty pattern matches every event.

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    terms: Vec<String>,
}

impl Pattern {
    pub(crate) fn parse(pattern: &str) -> Self {
        let mut terms = Vec::new();
        let mut rest = pattern.trim_start();
        while !rest.is_empty() {
            let (term, after) = match rest.strip_prefix('"') {
                Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
                None => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
            };
            if !term.is_empty() {
                terms.push(term.to_owned());
            }
            rest = after.trim_start();
        }
        Pattern { terms }
    }

    pub(crate) fn matches(&self, message: &str) -> bool {
        self.terms
            .iter()
            .all(|term| message.contains(term.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, message: &str, expect: bool) {
        assert_eq!(
            Pattern::parse(pattern).matches(message),
            expect,
            "{pattern:?} on {message:?}"
        );
    }

    #[test]
    fn matches_like_cloudwatch_terms() {
        check("", "anything", true);
        check("   ", "anything", true);
        check("\"\"", "anything", true);
        check("ERROR", "an ERROR here", true);
        check("ERROR", "an error here", false);
        check("ERROR timeout", "timeout after ERROR", true);
        check("ERROR timeout", "ERROR only", false);
        check(
            "\"Task timed out\"",
            "2024 Task timed out after 3.00 seconds",
            true,
        );
        check("\"Task timed out\"", "Task was timed out", false);
        check("\"a b\" c", "c then a b", true);
        check("\"unterminated quote", "has unterminated quote", true);
        check("RequestId:", "START RequestId: 1 Version: $LATEST", true);
    }
}
