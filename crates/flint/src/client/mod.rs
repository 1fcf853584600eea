//! The client commands (`deploy`, `invoke`, `ls`, `logs`, `rm`, `status`): they talk to a
//! running flint over the AWS Lambda REST API and the CloudWatch Logs JSON protocol, like the
//! AWS CLI would, and to flint's own status endpoint for what Lambda has no API for.
//!
//! Each command keeps its pure parts (argument parsing, request bodies, output formatting) in
//! functions of its own module, tested there; `http` holds the one place that sends requests
//! and turns AWS error answers into errors.

pub(crate) mod deploy;
mod function;
mod http;
pub(crate) mod invoke;
pub(crate) mod list;
pub(crate) mod logs;
mod output;
pub(crate) mod remove;
pub(crate) mod status;

pub(crate) use http::Flint;

/// Where the client commands find flint unless `--endpoint` or `FLINT_ENDPOINT` says otherwise:
/// the default listen address of `flint serve`.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9000";
