//! The Lambda Runtime API (2018-06-01) of one execution environment.
//!
//! Each environment gets its own endpoint: the runtime long-polls `/next`, the pool hands it one
//! invocation at a time through an [`Endpoint`], and the runtime's `/response` or `/error`
//! completes that invocation. The rules of which call is allowed when live in [`state`], as
//! pure code.
//!
//! The same endpoint serves the Extensions API (2020-01-01, [`extensions`]) and the Telemetry
//! and Logs APIs ([`telemetry`]).

mod endpoint;
mod extension_routes;
pub mod extensions;
mod routes;
mod server;
pub mod state;
pub mod telemetry;

pub use endpoint::{Endpoint, EndpointConfig, EndpointEvent, ExtensionInfo, Invocation, Outcome};
pub use server::serve;
