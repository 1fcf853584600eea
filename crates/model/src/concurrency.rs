//! Concurrency settings that are stored: provisioned concurrency per version or alias.
//! (Reserved concurrency is one number per function.)

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A provisioned concurrency configuration: how many environments of a published version, or
/// of the version(s) an alias points at, are kept initialised ahead of invocations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedConcurrency {
    /// The function's name.
    pub function: String,
    /// A version number or an alias name; never `$LATEST`.
    pub qualifier: String,
    /// `RequestedProvisionedConcurrentExecutions`, at least 1.
    pub requested: u32,
    pub last_modified: Timestamp,
}
