//! Why a runtime cannot be prepared or started, and the Lambda error type each reason maps to.

use std::io;
use std::path::PathBuf;

use model::Runtime;

/// What a user can do when no Python runtime can be set up; part of every Python error.
const PYTHON_HELP: &str = "install python3 and pip, or start flint serve with \
                           --python-client-dir DIR containing awslambdaric";

/// Why a runtime cannot be prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Neither the function nor its layers contain a `bootstrap`; the message is Lambda's own.
    #[error("Couldn't find valid bootstrap(s): [{}]", join_paths(candidates))]
    BootstrapNotFound { candidates: Vec<PathBuf> },

    /// The `bootstrap` exists but is not executable; the message is Lambda's own.
    #[error("fork/exec {}: permission denied", path.display())]
    BootstrapNotExecutable { path: PathBuf },

    #[error("failed to inspect bootstrap {}", path.display())]
    InspectBootstrap {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("no python3 found (looked for /usr/bin/python3 and python3 on PATH): {PYTHON_HELP}")]
    PythonNotFound,

    /// Interpreters exist, but none has a working pip to install awslambdaric with.
    #[error("no python3 with a working pip found (tried {tried}): {PYTHON_HELP}")]
    PipNotFound { tried: String },

    #[error(
        "failed to install awslambdaric with {} into {}: {output}; {PYTHON_HELP}",
        python.display(),
        dir.display()
    )]
    InstallPythonClient {
        python: PathBuf,
        dir: PathBuf,
        output: String,
    },

    /// A directory meant to hold awslambdaric does not import with the host's python3.
    #[error(
        "awslambdaric in {} does not import with the host's python3 (tried {tried}); \
         install it there with the same python3 that runs it, or remove the directory \
         so flint installs it again",
        dir.display()
    )]
    PythonClientUnusable { dir: PathBuf, tried: String },

    #[error(
        "node not found (looked for node on PATH, /usr/local/bin/node and /usr/bin/node): \
         install Node.js 18 or newer to run nodejs functions"
    )]
    NodeNotFound,

    #[error("node at {} does not work ({problem}): install Node.js 18 or newer", path.display())]
    NodeUnusable { path: PathBuf, problem: String },

    #[error(
        "node at {} is version {version}: nodejs functions need Node.js 18 or newer",
        path.display()
    )]
    NodeTooOld { path: PathBuf, version: String },

    #[error("failed to create runtime directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("failed to make runtime directory {} readable by functions", path.display())]
    ShareDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("failed to write runtime file {}", path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("failed to run {}", program.display())]
    RunProgram {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A caller asked for a runtime's directory or plan before [`crate::Runtimes::prepare`]
    /// succeeded for it.
    #[error("runtime {runtime} is not prepared")]
    NotPrepared { runtime: Runtime },
}

impl RuntimeError {
    /// The Lambda error type an invocation reports when the runtime cannot start, e.g.
    /// "Runtime.InvalidEntrypoint".
    pub fn error_type(&self) -> &'static str {
        match self {
            RuntimeError::BootstrapNotFound { .. }
            | RuntimeError::BootstrapNotExecutable { .. }
            | RuntimeError::InspectBootstrap { .. }
            | RuntimeError::PythonNotFound
            | RuntimeError::PipNotFound { .. }
            | RuntimeError::InstallPythonClient { .. }
            | RuntimeError::PythonClientUnusable { .. }
            | RuntimeError::NodeNotFound
            | RuntimeError::NodeUnusable { .. }
            | RuntimeError::NodeTooOld { .. } => "Runtime.InvalidEntrypoint",
            RuntimeError::CreateDir { .. }
            | RuntimeError::ShareDir { .. }
            | RuntimeError::WriteFile { .. }
            | RuntimeError::RunProgram { .. }
            | RuntimeError::NotPrepared { .. } => "Runtime.Unknown",
        }
    }
}

/// Paths separated by spaces, as Go prints a slice (Lambda's init is written in Go).
fn join_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(error: RuntimeError, message: &str, error_type: &str) {
        assert_eq!(error.to_string(), message);
        assert_eq!(error.error_type(), error_type);
    }

    #[test]
    fn messages_say_what_to_do_and_types_follow_lambda() {
        check(
            RuntimeError::BootstrapNotFound {
                candidates: vec!["/var/task/bootstrap".into(), "/opt/bootstrap".into()],
            },
            "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
            "Runtime.InvalidEntrypoint",
        );
        check(
            RuntimeError::PipNotFound {
                tried: "/usr/bin/python3 -m pip: exit status: 1".into(),
            },
            "no python3 with a working pip found (tried /usr/bin/python3 -m pip: exit status: 1): \
             install python3 and pip, or start flint serve with --python-client-dir DIR \
             containing awslambdaric",
            "Runtime.InvalidEntrypoint",
        );
        check(
            RuntimeError::NodeTooOld {
                path: "/usr/bin/node".into(),
                version: "16.20.2".into(),
            },
            "node at /usr/bin/node is version 16.20.2: nodejs functions need Node.js 18 or newer",
            "Runtime.InvalidEntrypoint",
        );
        check(
            RuntimeError::WriteFile {
                path: "/data/runtimes/node/runtime.mjs".into(),
                source: io::Error::from(io::ErrorKind::StorageFull),
            },
            "failed to write runtime file /data/runtimes/node/runtime.mjs",
            "Runtime.Unknown",
        );
    }
}
