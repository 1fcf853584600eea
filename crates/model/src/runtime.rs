//! Lambda runtime identifiers and what flint does with each.

use std::fmt;
use std::str::FromStr;

/// A runtime flint can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `provided`, `provided.al2`, `provided.al2023`: a `bootstrap` executable.
    Provided(ProvidedFlavour),
    /// `python3.<minor>` on the host's python3 with the official runtime interface client.
    Python { minor: u8 },
    /// `nodejs<major>.x` on the host's node with flint's runtime client.
    Node { major: u8 },
}

/// Which of the OS-only runtime names was used; they run the same way here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProvidedFlavour {
    Provided,
    Al2,
    Al2023,
}

/// The families, for code that only cares how a runtime is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeFamily {
    Provided,
    Python,
    Node,
}

/// The Python minors flint accepts (`python3.9` to `python3.14`).
pub const PYTHON_MINORS: std::ops::RangeInclusive<u8> = 9..=14;
/// The Node majors flint accepts (`nodejs18.x` to `nodejs24.x`, even majors only, as Lambda).
pub const NODE_MAJORS: [u8; 4] = [18, 20, 22, 24];

/// Runtime names of Lambda's model that flint recognises but cannot run.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs26.x",
    "java8",
    "java8.al2",
    "java8.al2023",
    "java11",
    "java11.al2023",
    "java17",
    "java17.al2023",
    "java21",
    "java25",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.15",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet8",
    "dotnet10",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "ruby4.0",
    "custom",
];

/// Why a runtime name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeParseError {
    /// A name of Lambda's model that flint does not run.
    Unsupported(String),
    /// Not a Lambda runtime name at all.
    Unknown(String),
}

impl Runtime {
    pub fn family(self) -> RuntimeFamily {
        match self {
            Runtime::Provided(_) => RuntimeFamily::Provided,
            Runtime::Python { .. } => RuntimeFamily::Python,
            Runtime::Node { .. } => RuntimeFamily::Node,
        }
    }

    /// The value of `AWS_EXECUTION_ENV`; Lambda does not set it for OS-only runtimes.
    pub fn execution_env(self) -> Option<String> {
        match self {
            Runtime::Provided(_) => None,
            other => Some(format!("AWS_Lambda_{other}")),
        }
    }

    /// Every runtime name flint accepts, for error messages and `flint doctor`.
    pub fn supported_names() -> Vec<String> {
        let mut names = vec![
            "provided".to_string(),
            "provided.al2".to_string(),
            "provided.al2023".to_string(),
        ];
        names.extend(PYTHON_MINORS.map(|m| format!("python3.{m}")));
        names.extend(NODE_MAJORS.iter().map(|m| format!("nodejs{m}.x")));
        names
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runtime::Provided(ProvidedFlavour::Provided) => f.write_str("provided"),
            Runtime::Provided(ProvidedFlavour::Al2) => f.write_str("provided.al2"),
            Runtime::Provided(ProvidedFlavour::Al2023) => f.write_str("provided.al2023"),
            Runtime::Python { minor } => write!(f, "python3.{minor}"),
            Runtime::Node { major } => write!(f, "nodejs{major}.x"),
        }
    }
}

impl FromStr for Runtime {
    type Err = RuntimeParseError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let parsed = match name {
            "provided" => Some(Runtime::Provided(ProvidedFlavour::Provided)),
            "provided.al2" => Some(Runtime::Provided(ProvidedFlavour::Al2)),
            "provided.al2023" => Some(Runtime::Provided(ProvidedFlavour::Al2023)),
            _ => name
                .strip_prefix("python3.")
                .and_then(|m| m.parse::<u8>().ok())
                .filter(|m| PYTHON_MINORS.contains(m))
                .map(|minor| Runtime::Python { minor })
                .or_else(|| {
                    name.strip_prefix("nodejs")
                        .and_then(|m| m.strip_suffix(".x"))
                        .and_then(|m| m.parse::<u8>().ok())
                        .filter(|m| NODE_MAJORS.contains(m))
                        .map(|major| Runtime::Node { major })
                }),
        };
        match parsed {
            Some(runtime) => Ok(runtime),
            None if KNOWN_UNSUPPORTED.contains(&name) => {
                Err(RuntimeParseError::Unsupported(name.to_string()))
            }
            None => Err(RuntimeParseError::Unknown(name.to_string())),
        }
    }
}

impl serde::Serialize for Runtime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Runtime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown runtime {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(name: &str, expect: Result<&str, RuntimeParseError>) {
        let got = name.parse::<Runtime>().map(|r| r.to_string());
        assert_eq!(got, expect.map(str::to_string), "{name}");
    }

    #[test]
    fn parses_every_supported_name_and_round_trips() {
        for name in Runtime::supported_names() {
            check(&name, Ok(&name));
        }
    }

    #[test]
    fn refuses_unsupported_and_unknown_names() {
        check(
            "java21",
            Err(RuntimeParseError::Unsupported("java21".into())),
        );
        check(
            "python3.8",
            Err(RuntimeParseError::Unsupported("python3.8".into())),
        );
        check(
            "nodejs16.x",
            Err(RuntimeParseError::Unsupported("nodejs16.x".into())),
        );
        check("cobol", Err(RuntimeParseError::Unknown("cobol".into())));
        check(
            "nodejs19.x",
            Err(RuntimeParseError::Unknown("nodejs19.x".into())),
        );
    }

    #[test]
    fn execution_env_is_absent_for_os_only_runtimes() {
        assert_eq!(
            "provided.al2023"
                .parse::<Runtime>()
                .unwrap()
                .execution_env(),
            None
        );
        assert_eq!(
            "python3.12"
                .parse::<Runtime>()
                .unwrap()
                .execution_env()
                .as_deref(),
            Some("AWS_Lambda_python3.12")
        );
    }
}
