//! The control plane: creating, reading, changing and deleting functions, their tags and code,
//! and resolving an Invoke to the configuration and code the pool runs.
//!
//! Operations take plain Rust inputs and return model types; they know nothing of HTTP or of
//! AWS JSON (the `api` crate does). Errors are [`ControlError`]s that name what failed; `api`
//! maps each to its AWS error type.
//!
//! Invariants:
//! - every change of code or configuration gives $LATEST a new `RevisionId` and `LastModified`,
//!   invalidates the cached configuration and retires the function's environments;
//! - a package is stored (and extracted) before the database names it, so a configuration never
//!   points at code that is not there;
//! - a warm invoke reads no database: $LATEST configurations are cached until the next write.

mod account;
mod admission;
mod aliases;
mod all_versions;
mod async_invoke;
mod cache;
mod code;
mod concurrency;
mod error;
mod event_invoke_config;
mod functions;
mod invoke;
mod layers;
mod marker;
mod qualified;
mod resolve;
mod scaling;
mod spec;
mod status;
mod tags;
mod versions;

use std::sync::Arc;

use model::{Clock, Scope};

pub use ::admission::concurrency::{AccountLimits as ConcurrencyLimits, Throttle};
pub use ::admission::scaling::ScalingRate;
pub use account::{AccountLimits, AccountSettings, AccountUsage};
pub use admission::{FunctionConcurrency, InvocationPermit, ThrottleCounts, Throttled};
pub use aliases::{AliasPage, AliasSpec, AliasUpdate, VersionWeights};
pub use async_invoke::AsyncEventStatus;
pub use concurrency::{ProvisionedPage, ProvisionedView, Restored};
pub use dispatch::MetricsSnapshot as AsyncMetricsSnapshot;
pub use error::ControlError;
pub use event_invoke_config::{DestinationsInput, EventInvokeConfigInput, EventInvokeConfigPage};
pub use functions::{FunctionDetails, FunctionPage};
pub use invoke::{InvocationType, InvokeInput, InvokeOutcome};
pub use layers::{
    LayerContent, LayerListing, LayerPage, LayerSpec, LayerVersionPage, PolicyDocument,
};
pub use model::alias::Alias;
pub use pool::InvokeResult;
pub use pool::{ProvisionedState, VersionActivity};
pub use scaling::ScalingGate;
pub use spec::{CodeInput, CodeUpdate, ConfigUpdate, FunctionSpec};
pub use status::FunctionStatus;
pub use store::EventInvokeConfig;
pub use versions::{PublishInput, VersionPage};

/// Everything the control plane works with, handed over once by the server.
#[derive(Debug)]
pub struct ControlParts {
    pub store: Arc<dyn store::Store>,
    /// Layer versions; usually the same database as `store`.
    pub layers: Arc<dyn store::LayerStore>,
    pub code: store::CodeStore,
    pub pool: pool::Pool,
    pub runtimes: runtimes::Runtimes,
    pub logs: logs::LogStore,
    pub clock: Arc<dyn Clock>,
    /// The one account every function belongs to (12 digits).
    pub account_id: String,
    /// The account's concurrency limit and the part reservations must leave.
    pub concurrency: ConcurrencyLimits,
    /// The queue of asynchronous invocations (`InvocationType=Event`, destinations).
    pub queue: dispatch::AsyncQueue,
    /// Event invoke configurations; usually the same database as `store`.
    pub event_configs: Arc<dyn store::EventInvokeConfigStore>,
}

/// The control plane, shared by every request handler (cloning is cheap).
#[derive(Debug, Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn store::Store>,
    layers: Arc<dyn store::LayerStore>,
    code: Arc<store::CodeStore>,
    pool: pool::Pool,
    runtimes: runtimes::Runtimes,
    logs: logs::LogStore,
    clock: Arc<dyn Clock>,
    account_id: String,
    latest: cache::LatestCache,
    /// Published versions and aliases, for invokes.
    qualified: qualified::QualifiedCache,
    /// What every function runs now, for admission.
    ledger: admission::Ledger,
    queue: dispatch::AsyncQueue,
    event_configs: Arc<dyn store::EventInvokeConfigStore>,
    /// Serialises this node's writes, so read-modify-write updates (configuration, tags) never
    /// lose a concurrent change. Slow preparation (hashing and extracting a package, installing
    /// a runtime) happens before it is taken.
    writes: tokio::sync::Mutex<()>,
}

impl ControlPlane {
    pub fn new(parts: ControlParts) -> Self {
        ControlPlane {
            inner: Arc::new(Inner {
                store: parts.store,
                layers: parts.layers,
                code: Arc::new(parts.code),
                pool: parts.pool,
                runtimes: parts.runtimes,
                logs: parts.logs,
                clock: parts.clock,
                account_id: parts.account_id,
                latest: cache::LatestCache::default(),
                qualified: qualified::QualifiedCache::default(),
                ledger: admission::Ledger::new(parts.concurrency),
                queue: parts.queue,
                event_configs: parts.event_configs,
                writes: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The account every function belongs to.
    pub fn account_id(&self) -> &str {
        &self.inner.account_id
    }

    /// The scope of a request made in `region`.
    pub fn scope(&self, region: &str) -> Scope {
        Scope {
            region: region.to_string(),
            account: self.inner.account_id.clone(),
        }
    }

    /// The functions' logs, for the CloudWatch Logs API.
    pub fn logs(&self) -> &logs::LogStore {
        &self.inner.logs
    }

    /// Stops every execution environment; called once when the server stops.
    pub async fn shutdown(&self) {
        self.inner.pool.shutdown().await;
    }
}
