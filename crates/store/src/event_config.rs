//! Event invoke configurations (`PutFunctionEventInvokeConfig` and its siblings): retry and age
//! limits and destinations of asynchronous invocations, one per function and qualifier.

use jiff::Timestamp;

use crate::StoreError;

/// The asynchronous invocation settings of one function qualifier. A field left `None` was not
/// given, so Lambda's default applies and `Get` does not show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInvokeConfig {
    /// The function's name.
    pub function: String,
    /// `$LATEST` (also for a request without a qualifier), a version number or an alias name.
    pub qualifier: String,
    /// `MaximumRetryAttempts`, 0 to 2.
    pub maximum_retry_attempts: Option<u32>,
    /// `MaximumEventAgeInSeconds`, 60 to 21600.
    pub maximum_event_age_s: Option<u32>,
    /// `DestinationConfig.OnSuccess.Destination`: an ARN.
    pub on_success: Option<String>,
    /// `DestinationConfig.OnFailure.Destination`: an ARN.
    pub on_failure: Option<String>,
    pub last_modified: Timestamp,
}

/// Where event invoke configurations are kept. Every call is one transaction. Deleting a function
/// deletes its configurations; deleting a version or an alias does not, so the control plane
/// deletes that qualifier's configuration itself.
#[async_trait::async_trait]
pub trait EventInvokeConfigStore: Send + Sync + std::fmt::Debug {
    /// Creates or replaces the configuration of `config.function` and `config.qualifier`;
    /// `FunctionNotFound` if there is no such function.
    async fn put_event_invoke_config(&self, config: &EventInvokeConfig) -> Result<(), StoreError>;

    /// The configuration of `function` and `qualifier`, or `None`.
    async fn get_event_invoke_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<EventInvokeConfig>, StoreError>;

    /// Deletes the configuration; `EventInvokeConfigNotFound` if there is none.
    async fn delete_event_invoke_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<(), StoreError>;

    /// The configurations of `function` ordered by qualifier, qualifiers strictly greater than
    /// `after`, at most `limit`.
    async fn list_event_invoke_configs(
        &self,
        function: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventInvokeConfig>, StoreError>;
}
