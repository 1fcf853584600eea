//! Concurrency settings: reserved concurrency per function and provisioned concurrency per
//! version or alias. Only the requested numbers are durable; how many environments are ready is
//! runtime state, rebuilt when the server starts.

use model::concurrency::ProvisionedConcurrency;

use crate::StoreError;

/// Where concurrency settings are kept. Every call is one transaction. Deleting a function deletes
/// its settings; deleting a version or alias deletes its provisioned concurrency.
#[async_trait::async_trait]
pub trait ConcurrencyStore: Send + Sync + std::fmt::Debug {
    /// Sets the reserved concurrency of `function`; `FunctionNotFound`.
    async fn put_reserved_concurrency(
        &self,
        function: &str,
        reserved: u32,
    ) -> Result<(), StoreError>;

    /// Removes the reserved concurrency of `function`, if it has one.
    async fn delete_reserved_concurrency(&self, function: &str) -> Result<(), StoreError>;

    /// Every function with a reserved concurrency, ordered by name.
    async fn list_reserved_concurrency(&self) -> Result<Vec<(String, u32)>, StoreError>;

    /// Creates or replaces a provisioned concurrency configuration; `FunctionNotFound`.
    async fn put_provisioned_concurrency(
        &self,
        config: &ProvisionedConcurrency,
    ) -> Result<(), StoreError>;

    /// Deletes the provisioned concurrency of `function` and `qualifier`; `false` if there was
    /// none.
    async fn delete_provisioned_concurrency(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<bool, StoreError>;

    /// The provisioned concurrency configurations of `function`, or of every function when
    /// `None`, ordered by function and qualifier.
    async fn list_provisioned_concurrency(
        &self,
        function: Option<&str>,
    ) -> Result<Vec<ProvisionedConcurrency>, StoreError>;
}
