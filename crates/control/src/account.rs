//! GetAccountSettings: Lambda's account quotas and what the functions use of them.

use model::limits::{TOTAL_CODE_SIZE_MAX, UNZIPPED_MAX, ZIP_FILE_MAX};

use crate::{ControlError, ControlPlane};

/// The quotas of the account, in bytes and environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    pub total_code_size: u64,
    pub code_size_unzipped: u64,
    pub code_size_zipped: u64,
    pub concurrent_executions: u32,
    pub unreserved_concurrent_executions: u32,
}

/// What the account's functions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountUsage {
    pub total_code_size: u64,
    pub function_count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    pub limits: AccountLimits,
    pub usage: AccountUsage,
}

impl ControlPlane {
    /// GetAccountSettings.
    pub async fn account_settings(&self) -> Result<AccountSettings, ControlError> {
        let usage = self
            .inner
            .store
            .usage()
            .await
            .map_err(ControlError::Store)?;
        let ledger = &self.inner.ledger;
        Ok(AccountSettings {
            limits: AccountLimits {
                total_code_size: TOTAL_CODE_SIZE_MAX,
                code_size_unzipped: UNZIPPED_MAX,
                code_size_zipped: ZIP_FILE_MAX as u64,
                concurrent_executions: ledger.limits().concurrency,
                unreserved_concurrent_executions: admission::concurrency::unreserved(
                    ledger.limits(),
                    ledger.taken_by_others(None),
                ),
            },
            usage: AccountUsage {
                total_code_size: usage.total_code_size,
                function_count: usage.function_count,
            },
        })
    }
}
