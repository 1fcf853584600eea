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

    /// The layer version does not exist (or was deleted).
    #[error("layer version {arn} not found")]
    LayerVersionNotFound { arn: String },

    /// A function names a layer version that does not exist.
    #[error("layer version {arn} does not exist")]
    UnknownFunctionLayer { arn: String },

    /// The layer version has no policy (or no statements left).
    #[error("layer version {arn} has no policy")]
    LayerPolicyNotFound { arn: String },

    /// RemoveLayerVersionPermission named a statement the policy does not have.
    #[error("statement {statement_id} is not in the policy of layer version {arn}")]
    LayerStatementNotFound { arn: String, statement_id: String },

    /// AddLayerVersionPermission named a statement id the policy already has.
    #[error("statement {statement_id} already exists in the policy of layer version {arn}")]
    LayerStatementExists { arn: String, statement_id: String },

    /// A `RevisionId` precondition on a layer version policy did not hold.
    #[error("policy of layer version {arn} is not at revision {expected}")]
    LayerPolicyRevisionMismatch { arn: String, expected: String },

    /// GetAlias, UpdateAlias, DeleteAlias or a provisioned concurrency request named an alias
    /// that does not exist.
    #[error("alias {arn} not found")]
    AliasNotFound { arn: String },

    /// CreateAlias named an alias that exists.
    #[error("alias {arn} already exists")]
    AliasExists { arn: String },

    /// DeleteFunction named a version that aliases still point at.
    #[error("version {arn} is used by aliases {aliases:?}")]
    VersionInUse { arn: String, aliases: Vec<String> },

    /// Admission or the scaling rate refused an invocation.
    #[error(transparent)]
    Throttled(#[from] crate::admission::Throttled),

    /// The version or alias has no provisioned concurrency configuration.
    #[error("no provisioned concurrency configuration")]
    ProvisionedConfigNotFound,

    /// The function, version or alias (`arn`, qualified) has no event invoke configuration.
    #[error("{arn} has no event invoke configuration")]
    EventInvokeConfigNotFound { arn: String },

    /// A request conflicts with the state of the function; `message` is meant for the caller.
    #[error("conflict: {message}")]
    Conflict { message: String },

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
