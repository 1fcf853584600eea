//! Published versions and qualifiers: what a qualifier names, and the immutable snapshot of
//! `$LATEST` that PublishVersion makes.

use jiff::Timestamp;

use crate::function::{FunctionConfig, LATEST};

/// What a qualifier (`?Qualifier=`, `name:qualifier`) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier<'a> {
    /// `$LATEST`, the mutable version.
    Latest,
    /// A published version number, as written (`"3"`).
    Version(&'a str),
    /// An alias name: anything that is neither `$LATEST` nor all digits.
    Alias(&'a str),
}

impl<'a> Qualifier<'a> {
    /// Sorts a qualifier into its kind; well-formedness is checked when the name is parsed.
    pub fn of(qualifier: &'a str) -> Self {
        if qualifier == LATEST {
            Qualifier::Latest
        } else if is_version_number(qualifier) {
            Qualifier::Version(qualifier)
        } else {
            Qualifier::Alias(qualifier)
        }
    }
}

/// True for a published version number: one or more ASCII digits.
pub fn is_version_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// True for a version an alias may point at: `$LATEST` or a version number.
pub fn is_version(text: &str) -> bool {
    text == LATEST || is_version_number(text)
}

/// The configuration of version `number`, published from `latest`: the same code and settings,
/// its own version, revision and timestamp. `description` overrides the function's description,
/// as PublishVersion's `Description` does.
pub fn snapshot(
    latest: &FunctionConfig,
    number: u64,
    description: Option<&str>,
    revision_id: String,
    now: Timestamp,
) -> FunctionConfig {
    FunctionConfig {
        version: number.to_string(),
        description: description.map_or_else(|| latest.description.clone(), str::to_owned),
        revision_id,
        last_modified: now,
        ..latest.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::CodeRef;

    fn latest() -> FunctionConfig {
        FunctionConfig {
            handler: "h".into(),
            description: "the function".into(),
            environment: [("A".to_string(), "1".to_string())].into(),
            code: CodeRef {
                sha256_hex: "ab".repeat(32),
                size: 10,
                unzipped_size: 20,
            },
            last_modified: "2026-01-15T10:00:00Z".parse().unwrap(),
            revision_id: "rev-latest".into(),
            ..FunctionConfig::example("f")
        }
    }

    #[track_caller]
    fn check(qualifier: &str, expect: Qualifier<'_>) {
        assert_eq!(Qualifier::of(qualifier), expect, "{qualifier}");
    }

    #[test]
    fn qualifiers_sort_into_kinds() {
        check("$LATEST", Qualifier::Latest);
        check("1", Qualifier::Version("1"));
        check("0042", Qualifier::Version("0042"));
        check("live", Qualifier::Alias("live"));
        check("v1", Qualifier::Alias("v1"));
        check("1-canary", Qualifier::Alias("1-canary"));
        assert!(is_version("$LATEST") && is_version("7"));
        assert!(!is_version("live") && !is_version(""));
    }

    #[test]
    fn a_snapshot_keeps_everything_but_identity() {
        let now: Timestamp = "2026-02-01T08:00:00Z".parse().unwrap();
        let published = snapshot(&latest(), 3, None, "rev-3".into(), now);
        assert_eq!(published.version, "3");
        assert_eq!(published.revision_id, "rev-3");
        assert_eq!(published.last_modified, now);
        assert_eq!(published.description, "the function");
        assert_eq!(
            FunctionConfig {
                version: LATEST.into(),
                revision_id: "rev-latest".into(),
                last_modified: latest().last_modified,
                ..published
            },
            latest()
        );
        let described = snapshot(&latest(), 4, Some("release 4"), "rev-4".into(), now);
        assert_eq!(described.description, "release 4");
    }
}
