//! The Lambda Runtime API (2018-06-01) of one execution environment.
//!
//! Each environment gets its own endpoint: the runtime long-polls `/next`, the pool hands it one
//! invocation at a time through an [`Endpoint`], and the runtime's `/response` or `/error`
//! completes that invocation. The rules of which call is allowed when live in [`state`], as
//! pure code.

mod endpoint;
mod routes;
pub mod state;

pub use endpoint::{Endpoint, EndpointEvent, Invocation, Outcome};
pub use routes::serve;
