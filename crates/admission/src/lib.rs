//! Scheduling decisions, as pure code: whether an invocation may run now (account, reserved and
//! provisioned concurrency), whether a function may start another environment (Lambda's scaling
//! rate), and which version an alias with weights sends an invocation to.
//!
//! Invariant: nothing here reads a clock, a random number generator or a socket; callers pass
//! the time and the dice. That is what lets the rules be tested as tables.

pub mod concurrency;
pub mod routing;
pub mod scaling;
