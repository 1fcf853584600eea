//! The launcher seam: every execution environment is started through a [`Launcher`], so the
//! scheduler never knows whether a function runs as a plain process or inside namespaces,
//! cgroups and a seccomp filter.
//!
//! Invariant: this is the only crate allowed to contain `unsafe` (none yet: the isolation-off
//! launcher uses safe wrappers only).

mod exit;
mod process;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use exit::ExitReason;
pub use process::ProcessLauncher;

/// Host directories an environment sees, and where it sees them.
#[derive(Debug, Clone)]
pub struct Mounts {
    /// The extracted code (`/var/task` inside).
    pub task_root: PathBuf,
    /// Merged layers (`/opt` inside).
    pub opt: PathBuf,
    /// The managed runtime's files (`/var/runtime` inside).
    pub runtime_dir: PathBuf,
}

/// What to run in a new environment.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// Program path as seen inside the environment.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment; nothing of the server's own environment leaks in.
    pub env: Vec<(String, String)>,
    /// Working directory as seen inside (the task root).
    pub cwd: PathBuf,
    pub mounts: Mounts,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
}

/// A new environment's Runtime API listener, bound before the runtime starts.
#[derive(Debug)]
pub struct Prepared {
    pub listener: tokio::net::TcpListener,
    /// `AWS_LAMBDA_RUNTIME_API` as the runtime must use it (`host:port`).
    pub runtime_api: String,
    /// The address the listener is bound to, as seen by the server.
    pub local_addr: SocketAddr,
}

/// Starts environments.
#[async_trait::async_trait]
pub trait Launcher: Send + Sync + std::fmt::Debug {
    /// How the environment sees the host directories it is given.
    fn inside(&self, mounts: &Mounts) -> Mounts;

    /// Binds the Runtime API listener of a new environment.
    async fn prepare(&self) -> Result<Prepared, SandboxError>;

    /// Starts the runtime process of an environment.
    async fn launch(&self, spec: LaunchSpec) -> Result<Box<dyn Sandbox>, SandboxError>;
}

/// A running environment's process tree.
#[async_trait::async_trait]
pub trait Sandbox: Send + Sync + std::fmt::Debug {
    /// Process id of the runtime, as seen by the host.
    fn pid(&self) -> Option<u32>;
    /// Takes the runtime's standard output and error (once).
    fn take_output(&self) -> Option<(tokio::process::ChildStdout, tokio::process::ChildStderr)>;
    /// Waits for the runtime process to exit. Meant for one supervising task; other holders kill.
    async fn wait(&self) -> ExitReason;
    /// Kills the whole process tree at once.
    fn kill(&self);
    /// Peak memory of the environment in bytes, if the platform can tell.
    fn peak_memory_bytes(&self) -> Option<u64>;
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not bind the runtime api listener: {0}")]
    BindRuntimeApi(#[source] std::io::Error),
    #[error("could not start {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
