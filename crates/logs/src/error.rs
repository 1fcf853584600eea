//! The one error type of the crate. Each variant names what failed and carries the path or the
//! log names involved.

use std::io;
use std::path::PathBuf;

/// A failed log store operation.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("create log directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("open log file {}", path.display())]
    OpenFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write log file {}", path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("read log file {}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("list log directory {}", path.display())]
    ListDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("remove log data {}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("log group {group} does not exist")]
    GroupNotFound { group: String },
    #[error("log stream {stream} of log group {group} does not exist")]
    StreamNotFound { group: String, stream: String },
    #[error("invalid log name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid pagination token {token:?}")]
    InvalidToken { token: String },
}
