//! The launcher seam: every execution environment is started through a [`Launcher`], so the
//! scheduler never knows whether a function runs as a plain process or inside namespaces,
//! cgroups and a seccomp filter.
//!
//! Two launchers: [`ProcessLauncher`] (isolation off: a plain child process) and
//! [`IsolatedLauncher`] (Lambda's inner sandbox without the microVM: mount, pid, ipc, uts and
//! network namespaces, a read-only root, cgroup limits, an unprivileged uid without
//! capabilities, `no_new_privs` and a seccomp filter). The isolated launcher follows the jailer
//! pattern: privileged set-up happens in the small `flint-jail` program ([`jail_main`]), which
//! then executes the runtime.
//!
//! Invariant: this is the only crate allowed to contain `unsafe`, each block with a
//! `// SAFETY:` comment.
//!
//! Invariant: the namespace, mount and cgroup logic is data first (a mount plan, cgroup file
//! writes) carried out through a syscall seam, so it is tested without root; the privileged
//! tests (`RUN_PRIVILEGED_TESTS=1`) run it for real.

#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod ahead;
mod cgroup;
mod egress;
mod exit;
mod forward;
mod init;
mod isolated;
mod jail;
pub mod loopback;
mod mount_plan;
mod network;
mod process;
mod reaper;
mod seccomp;
mod service;
mod spawn;
mod support;
mod syscalls;

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

pub use exit::ExitReason;
pub use isolated::{IsolatedLauncher, IsolationSettings};
pub use jail::main as jail_main;
pub use process::ProcessLauncher;
pub use support::{Finding, HostSupport, probe};

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
#[derive(Debug)]
pub struct LaunchSpec {
    /// Program path as seen inside the environment.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment; nothing of the server's own environment leaks in.
    pub env: Vec<(String, String)>,
    /// Working directory as seen inside (the task root).
    pub cwd: PathBuf,
    pub mounts: Mounts,
    /// The environment's runtime program as seen inside (the same for every process of an
    /// environment): the environment's first process builds the root every later one shares,
    /// so the root must show what the runtime needs even when an extension starts first.
    pub runtime_program: PathBuf,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
    /// The network [`Launcher::prepare`] made for this environment, if the launcher makes one;
    /// every process of the environment (runtime and extensions) is launched into it.
    pub network: Option<Arc<Network>>,
}

/// A new environment's Runtime API listener, bound before the runtime starts.
#[derive(Debug)]
pub struct Prepared {
    pub listener: tokio::net::TcpListener,
    /// `AWS_LAMBDA_RUNTIME_API` as the runtime must use it (`host:port`).
    pub runtime_api: String,
    /// The address the listener is bound to, in the environment's network.
    pub local_addr: SocketAddr,
    /// `AWS_ENDPOINT_URL` as reachable from inside this environment, when the launcher gives
    /// environments their own way to flint's API (else the pool's setting applies).
    pub endpoint_url: Option<String>,
    /// The environment's network, to be handed to [`Launcher::launch`] in the [`LaunchSpec`].
    pub network: Option<Arc<Network>>,
    /// The listener's admission to the loopback shortcut (when installed): keep it while the
    /// environment lives.
    pub shortcut: Option<loopback::Admission>,
}

/// An environment's own network namespace (with the listeners in it), the relay to flint's API
/// and the sandbox prepared for it; released when dropped.
#[derive(Debug)]
pub struct Network {
    inside: Inside,
    forwarder: tokio::task::JoinHandle<()>,
    /// The jail made ahead for the environment's first process.
    jail: std::sync::Mutex<Option<isolated::PendingJail>>,
    /// The environment's cgroup and a pidfd of its first process's jail, once that process
    /// started: every later one joins both.
    first: std::sync::Mutex<Option<(Arc<isolated::EnvironmentCgroup>, OwnedFd)>>,
}

impl Network {
    /// Connects to `127.0.0.1:port` inside the environment (`sandbox.localdomain:port`), as
    /// the platform does to push telemetry to an extension's listener.
    pub async fn connect_inside(&self, port: u16) -> std::io::Result<tokio::net::TcpStream> {
        let stream = match &self.inside {
            Inside::Namespace(netns) => {
                let netns = netns.try_clone()?;
                tokio::task::spawn_blocking(move || network::connect_inside(&netns, port)).await
            }
            Inside::Service(service) => {
                let service = service.try_clone()?;
                tokio::task::spawn_blocking(move || service::connect_inside(&service, port)).await
            }
        }
        .map_err(std::io::Error::other)??;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        tokio::net::TcpStream::from_std(stream)
    }
}

/// How the server acts inside an environment's network namespace.
#[derive(Debug)]
enum Inside {
    /// As root: the namespace itself, which a thread of the server enters.
    Namespace(OwnedFd),
    /// Rootless: the service socket of the environment's first jail, which makes sockets in
    /// the namespace for the server (see `service.rs`). Requests may interleave: every answer
    /// is the same, a fresh socket.
    Service(OwnedFd),
}

impl Drop for Network {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
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
    /// Process id of the runtime (or of the environment's init), as seen by the host.
    fn pid(&self) -> Option<u32>;
    /// Takes the runtime's standard output and error (once).
    fn take_output(&self) -> Option<(tokio::process::ChildStdout, tokio::process::ChildStderr)>;
    /// Waits for the runtime process to exit. Meant for one supervising task; other holders kill.
    async fn wait(&self) -> ExitReason;
    /// Kills the whole process tree at once.
    fn kill(&self);
    /// Peak memory of the environment in bytes, if the platform can tell.
    fn peak_memory_bytes(&self) -> Option<u64>;
    /// Stops every process of the environment until [`Sandbox::thaw`], as Lambda freezes idle
    /// environments. Does nothing where the launcher cannot freeze.
    fn freeze(&self) {}
    /// Lets a frozen environment run again.
    fn thaw(&self) {}
    /// Whether every process of the environment is frozen.
    fn is_frozen(&self) -> bool {
        false
    }
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
    #[error("isolation is not possible on this host: {0}")]
    Unsupported(String),
    #[error("could not prepare {what}: {source}")]
    Prepare {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not set up the environment's cgroup: {0}")]
    Cgroup(String),
    #[error("could not build the sandbox: {0}")]
    Setup(String),
}
