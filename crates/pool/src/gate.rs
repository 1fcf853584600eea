//! The question the pool asks before a cold start: may this function start another execution
//! environment now? The pool is the one that knows an invocation needs a new environment; the
//! answer (Lambda's scaling rate) belongs to whoever enforces it.

/// Decides whether a function may start a new environment for an invocation. Asked only when
/// no warm or provisioned environment of the version is idle; environments started for
/// provisioned concurrency do not ask.
pub trait ColdStartGate: Send + Sync + std::fmt::Debug {
    /// `true` lets the cold start happen (and counts it); `false` throttles the invocation.
    fn allow_cold_start(&self, function: &str) -> bool;

    /// A cold start allowed by [`ColdStartGate::allow_cold_start`] did not happen after all
    /// (an environment went idle while the invocation waited for its sandbox): it must not
    /// count.
    fn cold_start_not_needed(&self, function: &str);
}
