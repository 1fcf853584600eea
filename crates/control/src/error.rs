//! What can go wrong in a control-plane operation. Each variant names what failed; the `api`
//! crate decides which AWS error family and HTTP status it becomes.

use model::ValidationError;

/// Why a control-plane operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A parameter broke a rule; `ValidationError::kind` tells the AWS family.
    #[error(transparent)]
    Validation(#[from] ValidationError),

    /// The function, or the version or alias named by a qualifier, does not exist.
    #[error("function {arn} not found")]
    FunctionNotFound { arn: String },

    /// `CreateFunction` named a function that exists.
    #[error("function {name} already exists")]
    FunctionExists { name: String },

    /// A `RevisionId` precondition did not hold.
    #[error("function {name} is not at revision {expected}")]
    RevisionMismatch { name: String, expected: String },

    /// The deployment package cannot be used; `message` is meant for the caller.
    #[error("deployment package refused: {message}")]
    InvalidZip { message: String },

    /// The deployment package is larger than a direct upload may be.
    #[error("deployment package of {size} bytes exceeds the {limit} byte limit")]
    ZipTooLarge { size: usize, limit: usize },

    /// An Invoke payload is larger than the synchronous limit.
    #[error("invoke payload of {size} bytes exceeds the {limit} byte limit")]
    PayloadTooLarge { size: usize, limit: usize },

    /// An Invoke payload is not JSON; `reason` is the parser's message.
    #[error("invoke payload is not json: {reason}")]
    PayloadNotJson { reason: String },

    /// A feature of Lambda flint does not offer (yet); `message` is meant for the caller.
    #[error("unsupported request: {message}")]
    Unsupported { message: String },

    /// The interpreter or runtime client of a managed runtime cannot be had on this host.
    #[error("runtime {runtime} is not available on this host: {source}")]
    RuntimeUnavailable {
        runtime: String,
        #[source]
        source: runtimes::RuntimeError,
    },

    /// A package could not be read for a reason that is not the caller's fault.
    #[error("failed to inspect deployment package")]
    InspectPackage(#[source] package::PackageError),

    /// No deployment package with this digest is stored.
    #[error("code {digest} not found")]
    CodeNotFound { digest: String },

    /// The durable store failed.
    #[error("store operation failed")]
    Store(#[source] store::StoreError),

    /// The environment pool could not run the invocation at all.
    #[error("could not invoke function {function}")]
    Invoke {
        function: String,
        #[source]
        source: pool::PoolError,
    },

    /// A blocking task (hashing, writing or extracting a package) did not complete.
    #[error("background task for {action} failed")]
    BackgroundTask {
        action: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl ControlError {
    /// An `InvalidParameterValueException`-family refusal of something flint does not offer.
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        ControlError::Unsupported {
            message: message.into(),
        }
    }
}
