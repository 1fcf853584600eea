//! What can go wrong in the store, with the function, path or digest it went wrong for.

use std::path::PathBuf;

/// The error of a database backend, boxed so `StoreError` does not depend on one backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store or code store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("function {name} already exists")]
    FunctionExists { name: String },

    #[error("function {name} not found")]
    FunctionNotFound { name: String },

    #[error("function {name} is at revision {actual}, not the expected {expected}")]
    RevisionMismatch {
        name: String,
        expected: String,
        actual: String,
    },

    /// A configuration given as `$LATEST` named another version: a caller bug, refused rather
    /// than stored under the wrong key.
    #[error("configuration of function {name} given as $LATEST is for version {version}")]
    NotLatest { name: String, version: String },

    #[error("failed to open database {}", path.display())]
    OpenDatabase {
        path: PathBuf,
        #[source]
        source: BoxError,
    },

    #[error("failed to migrate database {} to schema version {version}", path.display())]
    MigrateSchema {
        path: PathBuf,
        version: u32,
        #[source]
        source: BoxError,
    },

    #[error(
        "database {} has schema version {found}, newer than version {supported} this flint knows",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("failed to create function {name}")]
    CreateFunction {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to update $LATEST of function {name}")]
    UpdateLatest {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to read function {name}")]
    GetFunction {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to list functions")]
    ListFunctions {
        #[source]
        source: BoxError,
    },

    #[error("failed to store metadata of function {name}")]
    PutMeta {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to delete function {name}")]
    DeleteFunction {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to compute usage")]
    ReadUsage {
        #[source]
        source: BoxError,
    },

    #[error("failed to list referenced code")]
    ReadReferencedCode {
        #[source]
        source: BoxError,
    },

    #[error("failed to encode {record} of function {name}")]
    EncodeRecord {
        name: String,
        record: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("stored {record} of function {name} is corrupt")]
    CorruptRecord {
        name: String,
        record: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("code digest {digest:?} is not 64 lower-case hex characters")]
    InvalidDigest { digest: String },

    #[error("package given as {expected} has digest {actual}")]
    DigestMismatch { expected: String, actual: String },

    #[error("code {digest} not found")]
    CodeNotFound { digest: String },

    #[error("failed to create code directory {}", path.display())]
    CreateCodeDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to write package {}", path.display())]
    WriteZip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to read package {}", path.display())]
    ReadZip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to extract package {digest}")]
    ExtractZip {
        digest: String,
        #[source]
        source: package::PackageError,
    },

    #[error("failed to list code directory {}", path.display())]
    ListCode {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to remove code {}", path.display())]
    RemoveCode {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
