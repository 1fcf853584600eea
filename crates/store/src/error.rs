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

    #[error("failed to enqueue event {request_id} for function {function}")]
    EnqueueEvent {
        function: String,
        request_id: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to claim due events")]
    ClaimEvents {
        #[source]
        source: BoxError,
    },

    #[error("failed to complete event {id}")]
    CompleteEvent {
        id: i64,
        #[source]
        source: BoxError,
    },

    #[error("failed to reschedule event {id}")]
    RetryEvent {
        id: i64,
        #[source]
        source: BoxError,
    },

    #[error("failed to extend the leases of {count} events")]
    ExtendLeases {
        count: usize,
        #[source]
        source: BoxError,
    },

    /// The claim is no longer the event's newest: its lease ran out and another claim took the
    /// event, or the event is gone.
    #[error("event {id} was claimed again or is gone: claim {token} no longer holds it")]
    LeaseLost { id: i64, token: i64 },

    #[error("failed to count queued events")]
    ReadQueueStats {
        #[source]
        source: BoxError,
    },

    #[error("failed to find the next due event")]
    ReadNextDue {
        #[source]
        source: BoxError,
    },

    #[error("event invoke config of function {name} qualifier {qualifier} not found")]
    EventInvokeConfigNotFound { name: String, qualifier: String },

    #[error("failed to store event invoke config of function {name} qualifier {qualifier}")]
    PutEventInvokeConfig {
        name: String,
        qualifier: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to read event invoke config of function {name} qualifier {qualifier}")]
    GetEventInvokeConfig {
        name: String,
        qualifier: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to delete event invoke config of function {name} qualifier {qualifier}")]
    DeleteEventInvokeConfig {
        name: String,
        qualifier: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to list event invoke configs of function {name}")]
    ListEventInvokeConfigs {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("version {version} of function {name} not found")]
    VersionNotFound { name: String, version: String },

    #[error("version {version} of function {name} is used by aliases {aliases:?}")]
    VersionInUse {
        name: String,
        version: String,
        aliases: Vec<String>,
    },

    #[error("alias {alias} of function {name} already exists")]
    AliasExists { name: String, alias: String },

    #[error("alias {alias} of function {name} not found")]
    AliasNotFound { name: String, alias: String },

    #[error(
        "alias {alias} of function {name} is at revision {actual}, not the expected {expected}"
    )]
    AliasRevisionMismatch {
        name: String,
        alias: String,
        expected: String,
        actual: String,
    },

    #[error("failed to publish a version of function {name}")]
    PublishVersion {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to read version {version} of function {name}")]
    GetVersion {
        name: String,
        version: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to list versions of function {name}")]
    ListVersions {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to delete version {version} of function {name}")]
    DeleteVersion {
        name: String,
        version: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to store alias {alias} of function {name}")]
    PutAlias {
        name: String,
        alias: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to read alias {alias} of function {name}")]
    GetAlias {
        name: String,
        alias: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to delete alias {alias} of function {name}")]
    DeleteAlias {
        name: String,
        alias: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to list aliases of function {name}")]
    ListAliases {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to store the concurrency settings of function {name}")]
    PutConcurrency {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to read concurrency settings")]
    ReadConcurrency {
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

    #[error("failed to merge layers into {}", path.display())]
    MergeLayers {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("layer {name} version {version} not found")]
    LayerVersionNotFound { name: String, version: u64 },

    #[error("policy of layer {name} version {version} is not at revision {expected}")]
    LayerPolicyRevisionMismatch {
        name: String,
        version: u64,
        expected: String,
    },

    #[error("failed to publish a version of layer {name}")]
    PublishLayerVersion {
        name: String,
        #[source]
        source: BoxError,
    },

    #[error("failed to read layer {name} version {version}")]
    GetLayerVersion {
        name: String,
        version: u64,
        #[source]
        source: BoxError,
    },

    #[error("failed to list layer versions")]
    ListLayerVersions {
        #[source]
        source: BoxError,
    },

    #[error("failed to delete layer {name} version {version}")]
    DeleteLayerVersion {
        name: String,
        version: u64,
        #[source]
        source: BoxError,
    },

    #[error("failed to read the policy of layer {name} version {version}")]
    GetLayerPolicy {
        name: String,
        version: u64,
        #[source]
        source: BoxError,
    },

    #[error("failed to store the policy of layer {name} version {version}")]
    PutLayerPolicy {
        name: String,
        version: u64,
        #[source]
        source: BoxError,
    },

    #[error("failed to list referenced layer code")]
    ReadReferencedLayerCode {
        #[source]
        source: BoxError,
    },

    #[error("stored {record} of layer {name} version {version} is corrupt")]
    CorruptLayerRecord {
        name: String,
        version: u64,
        record: &'static str,
        #[source]
        source: BoxError,
    },
}
