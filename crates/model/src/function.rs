//! A function version's configuration, as flint stores it.

use std::collections::BTreeMap;

use base64::Engine as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::layer::LayerRef;
use crate::runtime::Runtime;

/// The version name of the mutable, unpublished version.
pub const LATEST: &str = "$LATEST";

/// Everything that defines one version of a function. `$LATEST` changes in place; published
/// versions never change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub name: String,
    pub version: String,
    pub runtime: Runtime,
    pub role: String,
    pub handler: String,
    pub description: String,
    pub timeout_s: u32,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
    pub environment: BTreeMap<String, String>,
    pub architectures: Vec<String>,
    pub tracing_mode: String,
    pub code: CodeRef,
    /// The layers merged into `/opt`, in order. Records stored before layers existed have none.
    #[serde(default)]
    pub layers: Vec<LayerRef>,
    pub last_modified: Timestamp,
    pub revision_id: String,
    pub state: FunctionState,
}

#[cfg(any(test, feature = "testing"))]
impl FunctionConfig {
    /// A valid `$LATEST` of a `provided.al2023` function named `name` (128 MB, 3 s, no code
    /// digest), for tests to adjust with struct update syntax.
    pub fn example(name: &str) -> FunctionConfig {
        FunctionConfig {
            name: name.into(),
            version: LATEST.into(),
            runtime: Runtime::Provided(crate::runtime::ProvidedFlavour::Al2023),
            role: "arn:aws:iam::000000000000:role/x".into(),
            handler: "x".into(),
            description: String::new(),
            timeout_s: 3,
            memory_mb: 128,
            ephemeral_storage_mb: 512,
            environment: BTreeMap::new(),
            architectures: vec!["x86_64".into()],
            tracing_mode: "PassThrough".into(),
            code: CodeRef {
                sha256_hex: String::new(),
                size: 0,
                unzipped_size: 0,
            },
            layers: Vec::new(),
            last_modified: Timestamp::UNIX_EPOCH,
            revision_id: "rev-1".into(),
            state: FunctionState::Active,
        }
    }
}

/// The deployment package of a version: the zip's digest and sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRef {
    /// Lower-case hex SHA-256 of the zip; also its file name in the code store.
    pub sha256_hex: String,
    /// Size of the zip in bytes (`CodeSize`).
    pub size: u64,
    /// Size of the extracted files in bytes.
    pub unzipped_size: u64,
}

impl CodeRef {
    /// `CodeSha256` as Lambda reports it: base64 of the raw digest.
    pub fn code_sha256(&self) -> String {
        let raw: Vec<u8> = (0..self.sha256_hex.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(self.sha256_hex.get(i..i + 2)?, 16).ok())
            .collect();
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

/// `State` of a function version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FunctionState {
    Pending,
    Active,
    Failed,
}

impl FunctionState {
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionState::Pending => "Pending",
            FunctionState::Active => "Active",
            FunctionState::Failed => "Failed",
        }
    }
}

/// Function-level data shared by all versions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FunctionMeta {
    pub tags: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sha256_is_base64_of_the_digest() {
        // sha256("") = e3b0c442...b855, base64 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
        let code = CodeRef {
            sha256_hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            size: 0,
            unzipped_size: 0,
        };
        assert_eq!(
            code.code_sha256(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
