//! Execution environments: the pool of warm environments per function version, cold starts,
//! dispatching one invocation at a time to an environment's Runtime API, timeouts, crashes,
//! idle reaping, and the `START` / `END` / `REPORT` lines of every invocation.

mod api;

pub use api::*;
