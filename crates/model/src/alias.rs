//! Aliases: named pointers to a version of a function, optionally sending a share of the
//! invocations to a second version.

use serde::{Deserialize, Serialize};

/// One alias of a function, as flint stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    /// The function's name.
    pub function: String,
    /// The alias's name: never all digits, so it cannot be mistaken for a version.
    pub name: String,
    /// The version the alias points at: `$LATEST` or a version number.
    pub function_version: String,
    pub description: String,
    /// `RoutingConfig.AdditionalVersionWeights`: at most one other version with its share.
    pub additional_version: Option<AdditionalVersion>,
    /// Changes on every update of the alias.
    pub revision_id: String,
}

/// The second version of a weighted alias and the share of invocations it gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditionalVersion {
    pub version: String,
    /// In [0, 1].
    pub weight: f64,
}

impl Alias {
    /// Every version the alias may run: its own, then the additional one.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.function_version.as_str())
            .chain(self.additional_version.iter().map(|a| a.version.as_str()))
    }

    /// True if the alias runs `version`, as its own version or the additional one.
    pub fn references(&self, version: &str) -> bool {
        self.versions().any(|v| v == version)
    }
}

/// True for a well-formed alias name: 1 to 128 characters of `[a-zA-Z0-9-_]`, not all digits.
pub fn is_alias_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names() {
        for good in ["live", "v1", "1-canary", "PROD_2", &"a".repeat(128)] {
            assert!(is_alias_name(good), "{good}");
        }
        for bad in [
            "",
            "1",
            "0042",
            "has space",
            "a:b",
            "$LATEST",
            &"a".repeat(129),
        ] {
            assert!(!is_alias_name(bad), "{bad}");
        }
    }

    #[test]
    fn an_alias_references_both_of_its_versions() {
        let alias = Alias {
            function: "f".into(),
            name: "live".into(),
            function_version: "1".into(),
            description: String::new(),
            additional_version: Some(AdditionalVersion {
                version: "2".into(),
                weight: 0.1,
            }),
            revision_id: "r".into(),
        };
        assert_eq!(alias.versions().collect::<Vec<_>>(), ["1", "2"]);
        assert!(alias.references("1") && alias.references("2"));
        assert!(!alias.references("3"));
    }
}
