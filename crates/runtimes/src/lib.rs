//! How flint starts each managed runtime of Lambda on this host.
//!
//! An execution environment runs one program: the function's own `bootstrap`, or an
//! interpreter of the host with a runtime interface client. This crate knows which program, with
//! which arguments and variables ([`LaunchPlan`]), and makes sure the host can run it
//! ([`Runtimes::prepare`]). It never starts environments: the pool and the sandbox do.
//!
//! # What each runtime needs from the host
//!
//! | Runtime | The host needs | Runtime directory (`/var/runtime`) |
//! |---|---|---|
//! | `provided*` | nothing | `<root>/provided`, empty |
//! | `python3.9` to `python3.14` | `python3`; once, `pip` and PyPI | `<root>/python/<X.Y>` |
//! | `nodejs18.x` to `nodejs24.x` | `node` 18 or newer | `<root>/node` |
//!
//! `<root>` is the `runtimes` directory in flint's data directory.
//!
//! - **provided**: the function's `bootstrap` is the program, from the code (`/var/task`) or
//!   else from a layer (`/opt`). It must be executable and built for this host (a static
//!   binary or a script whose interpreter the host has).
//! - **python**: every `python3.x` function runs on the host's one python3: `/usr/bin/python3`
//!   when it works (it lives under `/usr`, which every environment sees), else the first
//!   `python3` on `PATH`. flint says so when the function asks for another version. The first
//!   Python function installs Lambda's official runtime interface client, `awslambdaric`, with
//!   that interpreter's pip (it has a compiled extension, so the interpreter that installs it is
//!   the one that runs it). On a host without network access, install it yourself with the same
//!   python3 (`python3 -m pip install --target DIR awslambdaric`) and start `flint serve` with
//!   `--python-client-dir DIR`.
//! - **nodejs**: every `nodejs*` function runs on the host's `node` (the first on `PATH`),
//!   with flint's own small runtime client, shipped inside flint and written to the runtime
//!   directory. It loads CommonJS and ES module handlers, async and callback style, as Lambda's
//!   Node.js runtime does.
//!
//! The interpreter is started at its host path: an isolated environment must see the directory
//! it lives in (`/usr` does; a pyenv or nvm install in a home directory must be mounted too).
//!
//! Invariant: a half-written runtime directory is never used. Installs happen under a partial
//! name and are renamed into place once complete (and, for Python, once the client imports).

mod error;
mod files;
mod host;
mod node;
mod provided;
mod python;
#[cfg(test)]
mod test_api;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use model::Runtime;
use tokio::sync::OnceCell;

pub use error::RuntimeError;

/// Where runtimes live and what the user prepared for them.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// flint's own runtime directory (data dir + "/runtimes").
    pub root: PathBuf,
    /// A directory the user prepared that already contains `awslambdaric` (for offline hosts),
    /// used instead of installing it.
    pub python_client_dir: Option<PathBuf>,
}

/// Paths of one execution environment. The same struct describes the paths as seen on the host
/// and as seen by the function (they differ once environments run in their own mount namespace:
/// /var/task, /opt, /var/runtime inside).
#[derive(Debug, Clone)]
pub struct EnvPaths {
    /// The function's extracted code (`/var/task`, `LAMBDA_TASK_ROOT`).
    pub task_root: PathBuf,
    /// The function's merged layers (`/opt`).
    pub opt: PathBuf,
    /// The runtime's own files (`/var/runtime`, `LAMBDA_RUNTIME_DIR`).
    pub runtime_dir: PathBuf,
}

/// How to start a runtime.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    /// The program, as seen inside the environment.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Runtime-specific variables (`PYTHONPATH`, `NODE_PATH`, a `PATH` with the interpreter's
    /// directory first, ...), meant to override the platform's defaults and to be overridden
    /// by the function's own variables, as on Lambda.
    pub env: Vec<(String, String)>,
}

/// The managed runtimes of this host; cheap to clone, shared by every environment.
#[derive(Debug, Clone)]
pub struct Runtimes {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    settings: RuntimeSettings,
    provided: OnceCell<PathBuf>,
    python: OnceCell<python::Python>,
    node: OnceCell<node::Node>,
    /// Runtimes whose version difference from the host's interpreter was already reported.
    announced: Mutex<HashSet<Runtime>>,
}

impl Runtimes {
    /// Knows the runtimes; looks at the host only when a runtime is first prepared.
    pub fn new(settings: RuntimeSettings) -> Self {
        let shared = Shared {
            settings,
            provided: OnceCell::new(),
            python: OnceCell::new(),
            node: OnceCell::new(),
            announced: Mutex::new(HashSet::new()),
        };
        Runtimes {
            shared: Arc::new(shared),
        }
    }

    /// Makes sure the runtime can start: finds the interpreter, installs the runtime client the
    /// first time it is needed. Idempotent; concurrent callers wait for one install, and a
    /// failed attempt is tried again by the next call. Progress goes to `tracing::info!`.
    pub async fn prepare(&self, runtime: Runtime) -> Result<(), RuntimeError> {
        let shared = &self.shared;
        let root = &shared.settings.root;
        match runtime {
            Runtime::Provided(_) => {
                let empty = shared.provided.get_or_try_init(|| async {
                    let dir = root.join("provided");
                    files::create_shared_dir(&dir).await?;
                    Ok::<_, RuntimeError>(dir)
                });
                empty.await?;
            }
            Runtime::Python { minor } => {
                let python = shared
                    .python
                    .get_or_try_init(|| python::prepare(&shared.settings));
                let host = python.await?.interpreter.version;
                if host.minor != minor {
                    self.announce_once(runtime, &format!("the host's Python {host}"));
                }
            }
            Runtime::Node { major } => {
                let node = shared.node.get_or_try_init(|| node::prepare(root)).await?;
                if node.major != major {
                    self.announce_once(runtime, &format!("the host's Node.js {}", node.major));
                }
            }
        }
        Ok(())
    }

    /// The host directory to expose as the environment's runtime dir (LAMBDA_RUNTIME_DIR,
    /// /var/runtime): for Python the directory holding awslambdaric; for Node the directory with
    /// flint's runtime client; for provided runtimes an empty directory under root.
    pub fn runtime_dir(&self, runtime: Runtime) -> Result<PathBuf, RuntimeError> {
        let shared = &self.shared;
        let dir = match runtime {
            Runtime::Provided(_) => shared.provided.get(),
            Runtime::Python { .. } => shared.python.get().map(|python| &python.client_dir),
            Runtime::Node { .. } => shared.node.get().map(|node| &node.client_dir),
        };
        dir.cloned().ok_or(RuntimeError::NotPrepared { runtime })
    }

    /// How to start `runtime` with `handler`. `host` paths are used to check files exist,
    /// the returned plan uses `inside` paths.
    pub fn launch_plan(
        &self,
        runtime: Runtime,
        handler: &str,
        host: &EnvPaths,
        inside: &EnvPaths,
    ) -> Result<LaunchPlan, RuntimeError> {
        let not_prepared = RuntimeError::NotPrepared { runtime };
        match runtime {
            Runtime::Provided(_) => provided::launch_plan(host, inside),
            Runtime::Python { minor } => {
                let python = self.shared.python.get().ok_or(not_prepared)?;
                Ok(python::launch_plan(python, minor, handler, inside))
            }
            Runtime::Node { major } => {
                let node = self.shared.node.get().ok_or(not_prepared)?;
                Ok(node::launch_plan(node, major, handler, inside))
            }
        }
    }

    /// Says once per runtime that its functions run on an interpreter of another version.
    fn announce_once(&self, runtime: Runtime, host_interpreter: &str) {
        let mut announced = self
            .shared
            .announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if announced.insert(runtime) {
            tracing::warn!("{runtime} functions run on {host_interpreter}");
        }
    }
}

/// Lambda's `PATH` for managed runtimes, with the interpreter's directory where Lambda has
/// `/var/lang/bin`, so a function that starts `python3` or `node` gets the same interpreter.
fn lambda_path(interpreter: &Path, opt: &Path) -> String {
    let layer_bin = opt.join("bin");
    match interpreter.parent() {
        Some(dir) => format!(
            "{}:/usr/local/bin:/usr/bin/:/bin:{}",
            dir.display(),
            layer_bin.display()
        ),
        None => format!("/usr/local/bin:/usr/bin/:/bin:{}", layer_bin.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_puts_the_interpreter_first_and_layers_last() {
        assert_eq!(
            lambda_path(Path::new("/usr/bin/python3"), Path::new("/opt")),
            "/usr/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
        );
        assert_eq!(
            lambda_path(
                Path::new("/home/u/.nvm/versions/node/v22.1.0/bin/node"),
                Path::new("/l")
            ),
            "/home/u/.nvm/versions/node/v22.1.0/bin:/usr/local/bin:/usr/bin/:/bin:/l/bin"
        );
    }

    #[tokio::test]
    async fn provided_runtimes_get_an_empty_runtime_dir_once_prepared() {
        let root = tempfile::tempdir().unwrap();
        let runtimes = Runtimes::new(RuntimeSettings {
            root: root.path().join("runtimes"),
            python_client_dir: None,
        });
        let runtime: Runtime = "provided.al2023".parse().unwrap();
        let error = runtimes.runtime_dir(runtime).unwrap_err();
        assert_eq!(error.to_string(), "runtime provided.al2023 is not prepared");
        assert_eq!(error.error_type(), "Runtime.Unknown");

        runtimes.prepare(runtime).await.unwrap();
        runtimes.prepare(runtime).await.unwrap();

        let dir = runtimes.runtime_dir(runtime).unwrap();
        assert_eq!(dir, root.path().join("runtimes/provided"));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn managed_runtimes_need_prepare_before_a_plan() {
        let runtimes = Runtimes::new(RuntimeSettings {
            root: PathBuf::from("/nonexistent"),
            python_client_dir: None,
        });
        let paths = EnvPaths {
            task_root: PathBuf::from("/var/task"),
            opt: PathBuf::from("/opt"),
            runtime_dir: PathBuf::from("/var/runtime"),
        };
        for name in ["python3.12", "nodejs22.x"] {
            let runtime: Runtime = name.parse().unwrap();
            let error = runtimes
                .launch_plan(runtime, "index.handler", &paths, &paths)
                .unwrap_err();
            assert!(matches!(error, RuntimeError::NotPrepared { .. }), "{error}");
        }
    }
}
