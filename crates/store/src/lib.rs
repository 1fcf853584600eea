//! flint's durable state: function configurations and metadata in a database behind the `Store`
//! trait, the queue of asynchronous invocations behind `EventQueue`, their settings behind
//! `EventInvokeConfigStore`, and deployment packages in a content-addressed `CodeStore` on disk.
//!
//! Invariant: the control plane and the dispatcher reach the database only through these traits.
//! SQL and connection handling specific to SQLite live in the `sqlite` module, so a PostgreSQL
//! backend can follow without touching callers; the conformance suites (`conformance::run_all`,
//! `run_event_queue`, `run_event_invoke_configs`) state the behaviour every implementation must
//! share.

mod code_store;
mod concurrency;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod digest;
mod error;
mod event_config;
mod layers;
mod queue;
mod record;
mod sqlite;
mod versions;

use model::FunctionConfig;
use model::function::FunctionMeta;

pub use code_store::CodeStore;
pub use concurrency::ConcurrencyStore;
pub use error::{BoxError, StoreError};
pub use event_config::{EventInvokeConfig, EventInvokeConfigStore};
pub use layers::{LayerPolicy, LayerStore, NewLayerVersion};
pub use queue::{Claim, ClaimedEvent, EventQueue, NewEvent, NextAttempt, QueueStats};
pub use sqlite::SqliteStore;
pub use versions::{Publication, PublishRequest, VersionStore};

/// A function as the store holds it: its `$LATEST` configuration and function-level metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFunction {
    pub latest: FunctionConfig,
    pub meta: FunctionMeta,
}

/// What the functions of the store use, as `GetAccountSettings` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Number of functions.
    pub function_count: u64,
    /// Sum of the zip sizes of every version of every function.
    pub total_code_size: u64,
}

/// The durable state of the control plane. Every call is one transaction: it either happens
/// entirely and survives a crash once it returns `Ok`, or not at all. A `Store` also keeps the
/// function's published versions, aliases and concurrency settings.
#[async_trait::async_trait]
pub trait Store: VersionStore + ConcurrencyStore + Send + Sync + std::fmt::Debug {
    /// Creates a function with its $LATEST configuration; `StoreError::FunctionExists` if taken.
    async fn create_function(
        &self,
        latest: &FunctionConfig,
        meta: &FunctionMeta,
    ) -> Result<(), StoreError>;

    /// Replaces $LATEST. With `expected_revision`, fails with `RevisionMismatch` unless the stored
    /// $LATEST has that revision id (checked and written in one transaction).
    async fn update_latest(
        &self,
        latest: &FunctionConfig,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError>;

    /// The function called `name`, or `None` if there is none.
    async fn get_function(&self, name: &str) -> Result<Option<StoredFunction>, StoreError>;

    /// Functions ordered by name, names strictly greater than `after`, at most `limit`.
    async fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredFunction>, StoreError>;

    /// Replaces the function-level metadata; `FunctionNotFound` if absent.
    async fn put_meta(&self, name: &str, meta: &FunctionMeta) -> Result<(), StoreError>;

    /// Deletes the function and all its versions; `FunctionNotFound` if absent.
    async fn delete_function(&self, name: &str) -> Result<(), StoreError>;

    /// Counts functions and sums code sizes over all versions.
    async fn usage(&self) -> Result<Usage, StoreError>;

    /// Every code digest (sha256 hex) referenced by any version, for code garbage collection.
    /// Sorted, each digest once.
    async fn referenced_code(&self) -> Result<Vec<String>, StoreError>;
}
