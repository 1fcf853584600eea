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
mod cache;
mod code;
mod error;
mod functions;
mod invoke;
mod marker;
mod resolve;
mod spec;
mod tags;

use std::sync::Arc;

use model::{Clock, Scope};

pub use account::{AccountLimits, AccountSettings, AccountUsage};
pub use error::ControlError;
pub use functions::{FunctionDetails, FunctionPage};
pub use invoke::{InvocationType, InvokeInput, InvokeOutcome};
pub use pool::InvokeResult;
pub use spec::{CodeInput, CodeUpdate, ConfigUpdate, FunctionSpec};

/// Everything the control plane works with, handed over once by the server.
#[derive(Debug)]
pub struct ControlParts {
    pub store: Arc<dyn store::Store>,
    pub code: store::CodeStore,
    pub pool: pool::Pool,
    pub runtimes: runtimes::Runtimes,
    pub logs: logs::LogStore,
    pub clock: Arc<dyn Clock>,
    /// The one account every function belongs to (12 digits).
    pub account_id: String,
}

/// The control plane, shared by every request handler (cloning is cheap).
#[derive(Debug, Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn store::Store>,
    code: Arc<store::CodeStore>,
    pool: pool::Pool,
    runtimes: runtimes::Runtimes,
    logs: logs::LogStore,
    clock: Arc<dyn Clock>,
    account_id: String,
    latest: cache::LatestCache,
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
                code: Arc::new(parts.code),
                pool: parts.pool,
                runtimes: parts.runtimes,
                logs: parts.logs,
                clock: parts.clock,
                account_id: parts.account_id,
                latest: cache::LatestCache::default(),
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
