//! The vocabulary of flint: functions, runtimes, ARNs, limits and the validation rules of
//! Lambda's control plane.
//!
//! Invariant: this crate never does I/O. Everything here is a value or a pure function of its
//! inputs (time included), so every rule is unit-tested without a server.

pub mod alias;
pub mod arn;
pub mod clock;
pub mod concurrency;
pub mod function;
pub mod ids;
pub mod layer;
pub mod limits;
pub mod runtime;
pub mod validate;
pub mod version;

pub use arn::{FunctionRef, Scope};
pub use clock::{Clock, SystemClock};
pub use function::{CodeRef, FunctionConfig, FunctionState};
pub use runtime::{Runtime, RuntimeFamily};
pub use validate::{ValidationError, ValidationKind};
