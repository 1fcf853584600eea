//! The isolating launcher: every environment in its own namespaces, cgroup, root file system,
//! identity and seccomp filter, built by the jailer (`flint-jail`, see `jail.rs`).
//!
//! As root it is the whole sandbox. Without root, where unprivileged user namespaces are
//! enabled, it is rootless: each environment's namespaces belong to a user namespace of its
//! own in which the server's user is the sandbox user, so the same root file system, pid, ipc,
//! uts and network namespaces, identity, `no_new_privs` and seccomp filter apply; what needs
//! root on the host is left out and said at start: cgroups (no memory or CPU limits, no
//! freezer, Max Memory Used is the runtime's own peak) and outbound connections (no veth pair).

use std::ffi::CString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::unix::pipe;

use crate::ahead::Ahead;
use crate::cgroup::{self, Cgroup, Cgroups};
use crate::exit::ExitReason;
use crate::jail::{JailBase, JailLaunch};
use crate::mount_plan::{FunctionMounts, HostEntry, RootSpec};
use crate::network::{self, EgressPlan};
use crate::{
    Inside, LaunchSpec, Launcher, Mounts, Network, Prepared, Sandbox, SandboxError, egress,
    service, spawn,
};

/// The sandbox user, as on Lambda.
const SANDBOX_USER: &str = "sbx_user1051";
const SANDBOX_UID: u32 = 993;
const SANDBOX_GID: u32 = 990;
/// Every environment's host name; `sandbox.localdomain` resolves to the environment itself.
const HOSTNAME: &str = "sandbox";
/// Bytes the reader of a jail's status lines (`ready`, `exit 9`, ...) reads at once.
const STATUS_BUFFER: usize = 128;
/// How long the jail may take to build the sandbox and execute the runtime.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The host's system directories every environment sees read-only, when they exist.
const SYSTEM_DIRS: [&str; 7] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// The parts of the host's `/etc` runtimes need; nothing else of it is visible.
const ETC_ENTRIES: [&str; 11] = [
    "/etc/ld.so.cache",
    "/etc/nsswitch.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/alternatives",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/pki",
];

/// How the isolated launcher is set up.
#[derive(Debug, Clone)]
pub struct IsolationSettings {
    /// The jailer program, `flint-jail`.
    pub jail: PathBuf,
    /// An empty directory each environment's root is mounted on, inside the environment's own
    /// mount namespace only (created when missing). The generated `/etc` files every root
    /// binds are written to `sandbox-etc` beside it.
    pub root_mount_point: PathBuf,
    /// flint's API as the server reaches it; environments reach it at `AWS_ENDPOINT_URL`
    /// through a forwarder inside their network namespace.
    pub api: SocketAddr,
    /// Outbound connections: the link-local range (`169.254.x.y/n`) the environments' veth
    /// pairs take their /30 subnets from, or `None` for no egress.
    pub egress_range: Option<(std::net::Ipv4Addr, u8)>,
    /// Network namespaces kept ready ahead of cold starts.
    pub warm_namespaces: usize,
}

impl IsolationSettings {
    /// Defaults: `flint-jail` next to the running program, egress in 169.254.128.0/17, eight
    /// namespaces ready.
    pub fn new(api: SocketAddr) -> IsolationSettings {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("flint-jail")))
            .unwrap_or_else(|| PathBuf::from("flint-jail"));
        IsolationSettings {
            jail: beside,
            root_mount_point: PathBuf::from("/run/flint/root"),
            api,
            egress_range: Some((std::net::Ipv4Addr::new(169, 254, 128, 0), 17)),
            warm_namespaces: 8,
        }
    }
}

/// Runs every environment in a sandbox of its own.
#[derive(Debug)]
pub struct IsolatedLauncher {
    shared: Arc<Shared>,
    ready: Ahead<Ready>,
    maker: Arc<Maker>,
    api: SocketAddr,
    egress: Result<String, String>,
}

/// What the launcher and its sandboxes share; the last one to go removes the cgroups.
#[derive(Debug)]
struct Shared {
    /// `None` in a rootless sandbox.
    cgroups: Option<Cgroups>,
    /// Cgroups of ended environments whose tasks were still exiting.
    graveyard: Mutex<Vec<Cgroup>>,
    /// Ends this instance's environments if the server dies without doing it (declared last:
    /// it is released only after `Drop` cleaned up).
    _reaper: Option<crate::reaper::Reaper>,
}

impl Shared {
    /// Removes the cgroups of ended environments that are empty by now.
    fn sweep(&self) -> usize {
        let mut graveyard = self
            .graveyard
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        graveyard.retain(|cgroup| cgroup.remove().is_err());
        graveyard.len()
    }

    fn bury(&self, cgroup: Cgroup) {
        if cgroup.remove().is_err() {
            self.graveyard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(cgroup);
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        for _ in 0..100 {
            if self.sweep() == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(cgroups) = &self.cgroups
            && !cgroups.remove_instance()
        {
            tracing::warn!(
                "could not remove every cgroup of this server; the next start cleans them"
            );
        }
    }
}

/// Makes environments ready ahead of time.
#[derive(Debug)]
struct Maker {
    shared: Arc<Shared>,
    jail: CString,
    base: RootSpec,
    egress: Option<EgressPlan>,
    next_slot: AtomicU32,
    /// Without root: the id maps of every environment's user namespace.
    rootless: Option<spawn::IdMaps>,
    /// `flint-init`'s memory file, which jails become once their program runs.
    init: Option<OwnedFd>,
}

/// An environment made ahead of time: its network namespace with the Runtime API and
/// forwarding listeners bound, and a jail waiting for the function.
#[derive(Debug)]
struct Ready {
    inside: Inside,
    runtime_api: std::net::TcpListener,
    /// The Runtime API listener's place in the loopback shortcut, when installed.
    shortcut: Option<crate::loopback::Admission>,
    endpoint: std::net::TcpListener,
    jail: PendingJail,
}

/// A jail that joined its cgroup and built the shared part of the root, waiting for its
/// function (the second configuration line). Killed and collected if never used.
#[derive(Debug)]
pub(crate) struct PendingJail {
    parts: Option<(spawn::Spawned, Arc<EnvironmentCgroup>)>,
}

impl PendingJail {
    fn take(mut self) -> Option<(spawn::Spawned, Arc<EnvironmentCgroup>)> {
        self.parts.take()
    }

    /// Ends a jail that failed to get ready and says why: what it reported, else `error`.
    fn failure(mut self, error: std::io::Error) -> String {
        let Some((spawned, _cgroup)) = self.parts.take() else {
            return error.to_string();
        };
        abandon(&spawned.pidfd);
        let mut reported = String::new();
        let _ =
            std::io::Read::read_to_string(&mut std::fs::File::from(spawned.status), &mut reported);
        match reported.lines().next() {
            Some(line) => format!(
                "the jail failed: {}",
                line.strip_prefix("setup ").unwrap_or(line)
            ),
            None => format!("the jail failed: {error}"),
        }
    }
}

impl Drop for PendingJail {
    fn drop(&mut self) {
        if let Some((spawned, _cgroup)) = self.parts.take() {
            abandon(&spawned.pidfd);
        }
    }
}

/// The cgroup of one environment. Every process of the environment (its extensions and its
/// runtime) runs in it, as on Lambda: MemorySize limits them together, the CPU share is the
/// environment's, the freezer stops them all, and REPORT's Max Memory Used counts them all.
/// When the last of them and the environment's network are gone, whatever is left in it is
/// killed and the cgroup removed.
#[derive(Debug)]
pub(crate) struct EnvironmentCgroup {
    cgroup: Option<Cgroup>,
    shared: Arc<Shared>,
}

impl EnvironmentCgroup {
    fn get(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }
}

impl Drop for EnvironmentCgroup {
    fn drop(&mut self) {
        if let Some(cgroup) = self.cgroup.take() {
            cgroup.kill_all();
            self.shared.bury(cgroup);
        }
    }
}

impl Maker {
    fn ready(&self) -> std::io::Result<Ready> {
        if let Some(maps) = &self.rootless {
            return self.ready_rootless(maps);
        }
        let (netns, runtime_api, endpoint) = network::create_namespace()?;
        if let Some(plan) = &self.egress
            && let Err(error) = network::connect(&netns, plan, &self.next_slot)
        {
            tracing::warn!(%error, "an environment starts without egress");
        }
        let jail = self.first_jail(&netns)?;
        let shortcut = crate::loopback::admit(runtime_api.as_fd());
        Ok(Ready {
            inside: Inside::Namespace(netns),
            runtime_api,
            shortcut,
            endpoint,
            jail,
        })
    }

    /// A rootless environment: its first jail makes the namespaces and hands the listeners
    /// over (see `service.rs`).
    fn ready_rootless(&self, maps: &spawn::IdMaps) -> std::io::Result<Ready> {
        let (server_end, jail_end) = service::pair()?;
        let start = spawn::Start::Rootless {
            service: jail_end.as_fd(),
            maps,
        };
        let jail = self.start_jail(start, self.new_cgroup()?, false)?;
        drop(jail_end);
        let listeners = match service::receive(&server_end, 2) {
            Ok(listeners) => listeners,
            Err(error) => return Err(std::io::Error::other(jail.failure(error))),
        };
        let [runtime_api, endpoint] = <[OwnedFd; 2]>::try_from(listeners)
            .map_err(|_| std::io::Error::other("two listeners expected"))?;
        Ok(Ready {
            inside: Inside::Service(server_end),
            runtime_api: runtime_api.into(),
            // Rootless servers cannot install the shortcut.
            shortcut: None,
            endpoint: endpoint.into(),
            jail,
        })
    }

    fn new_cgroup(&self) -> std::io::Result<Arc<EnvironmentCgroup>> {
        let cgroup = match &self.shared.cgroups {
            Some(cgroups) => Some(cgroups.create().map_err(std::io::Error::other)?),
            None => None,
        };
        Ok(Arc::new(EnvironmentCgroup {
            cgroup,
            shared: Arc::clone(&self.shared),
        }))
    }

    /// Starts an environment's first jail in `netns` (as root) in a new cgroup.
    fn first_jail(&self, netns: &OwnedFd) -> std::io::Result<PendingJail> {
        let start = spawn::Start::Privileged {
            netns: netns.as_fd(),
            pids: spawn::Pids::New,
        };
        self.start_jail(start, self.new_cgroup()?, false)
    }

    /// Starts a jail in the environment's `cgroup` that starts its program in the namespaces
    /// of the environment's first jail (`first`, its pidfd).
    fn joining_jail(
        &self,
        inside: &Inside,
        cgroup: Arc<EnvironmentCgroup>,
        first: BorrowedFd<'_>,
    ) -> std::io::Result<PendingJail> {
        let start = match inside {
            Inside::Namespace(netns) => spawn::Start::Privileged {
                netns: netns.as_fd(),
                pids: spawn::Pids::Joining(first),
            },
            Inside::Service(_) => spawn::Start::RootlessJoining { first },
        };
        self.start_jail(start, cgroup, true)
    }

    /// Starts a jail as `start` says and hands it the shared part of the root.
    fn start_jail(
        &self,
        start: spawn::Start<'_>,
        cgroup: Arc<EnvironmentCgroup>,
        join: bool,
    ) -> std::io::Result<PendingJail> {
        let base = JailBase {
            root: self.base.clone(),
            cgroup_procs: cgroup.get().map(Cgroup::procs_files).unwrap_or_default(),
            join,
            user_namespace: self.rootless.is_some(),
        };
        let mut line = serde_json::to_vec(&base).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let spawned = spawn::spawn(&self.jail, start, self.init.as_ref().map(AsFd::as_fd))?;
        let pending = PendingJail {
            parts: Some((spawned, cgroup)),
        };
        // The pipe holds 64 KiB and the jail reads at once; a configuration is a few KiB.
        if let Some((spawned, _)) = &pending.parts {
            write_all(&spawned.config, &line)?;
        }
        Ok(pending)
    }
}

impl IsolatedLauncher {
    /// Checks the host, removes what a previous server left behind and starts preparing
    /// environments ahead of time.
    pub fn start(settings: IsolationSettings) -> Result<IsolatedLauncher, SandboxError> {
        let support = crate::support::probe(&settings.jail);
        IsolatedLauncher::start_with(settings, &support)
    }

    /// [`IsolatedLauncher::start`] on what a caller already found about this host (probing
    /// starts processes: a user namespace test, `ip`, `iptables`).
    pub fn start_with(
        settings: IsolationSettings,
        support: &crate::HostSupport,
    ) -> Result<IsolatedLauncher, SandboxError> {
        if let Some(blocker) = support.isolation_blocker() {
            return Err(SandboxError::Unsupported(blocker));
        }
        let rootless = !support.root;
        let cgroups = if rootless {
            None
        } else {
            Some(open_cgroups(support)?)
        };
        std::fs::create_dir_all(&settings.root_mount_point).map_err(|source| {
            SandboxError::Prepare {
                what: format!("the mount point {}", settings.root_mount_point.display()),
                source,
            }
        })?;
        let egress = match settings.egress_range {
            _ if rootless => Err("outbound connections need root".to_string()),
            None => Err("egress is turned off".to_string()),
            Some((base, prefix)) => egress::enable(&format!("{base}/{prefix}"))
                .map(|()| format!("outbound connections through NAT from {base}/{prefix}")),
        };
        let plan = match (&egress, settings.egress_range) {
            (Ok(_), Some((base, prefix))) => Some(EgressPlan {
                base,
                slots: 1 << (32 - u32::from(prefix)).saturating_sub(2).min(20),
            }),
            _ => None,
        };
        let jail = CString::new(settings.jail.as_os_str().as_bytes())
            .map_err(|_| SandboxError::Unsupported("the jail path contains a NUL byte".into()))?;
        let reaper = cgroups
            .iter()
            .flat_map(Cgroups::instance_dirs)
            .next()
            .and_then(|dir| dir.file_name())
            .map(|name| crate::reaper::start(&settings.jail, &name.to_string_lossy()));
        let reaper = match reaper {
            Some(Ok(reaper)) => Some(reaper),
            Some(Err(error)) => {
                tracing::warn!(%error, "could not start the reaper; environments of a killed server stay until the next start");
                None
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            cgroups,
            graveyard: Mutex::default(),
            _reaper: reaper,
        });
        let maker = Arc::new(Maker {
            shared: Arc::clone(&shared),
            jail,
            base: root_template(&settings.root_mount_point, rootless).map_err(|source| {
                SandboxError::Prepare {
                    what: "the generated /etc files".into(),
                    source,
                }
            })?,
            egress: plan,
            next_slot: AtomicU32::new(0),
            rootless: rootless.then(|| spawn::IdMaps::for_server(SANDBOX_UID, SANDBOX_GID)),
            init: crate::init::memory_file().unwrap_or_else(|error| {
                // A host may forbid executable memory files (vm.memfd_noexec = 2): jails then
                // stay resident themselves, which costs memory, not function.
                tracing::warn!(%error, "flint-init is unavailable; jails stay resident");
                None
            }),
        });
        let refill = Arc::clone(&maker);
        let ready = Ahead::start(
            "flint-sandboxes",
            settings.warm_namespaces,
            Box::new(move || refill.ready()),
        )
        .map_err(|source| SandboxError::Prepare {
            what: "environments ahead of time".into(),
            source,
        })?;
        Ok(IsolatedLauncher {
            shared,
            ready,
            maker,
            api: settings.api,
            egress,
        })
    }

    /// This launcher's cgroups, one directory per hierarchy (environments are subdirectories).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.shared
            .cgroups
            .iter()
            .flat_map(|cgroups| cgroups.instance_dirs().to_vec())
            .collect()
    }

    /// One line on what isolation is in effect, for the server's start message.
    pub fn describe(&self) -> String {
        let egress = match &self.egress {
            Ok(how) => how.clone(),
            Err(why) => format!("no egress ({why})"),
        };
        match &self.shared.cgroups {
            Some(cgroups) => format!(
                "full isolation: namespaces, cgroup v{}, seccomp, uid {SANDBOX_UID}; {egress}",
                cgroups.layout().version()
            ),
            None => format!(
                "rootless isolation: a user namespace per environment with mount, pid, ipc, uts and network namespaces, seccomp, uid {SANDBOX_UID}; no memory or CPU limits and no freezing (cgroups need root); {egress}"
            ),
        }
    }
}

impl Drop for IsolatedLauncher {
    fn drop(&mut self) {
        self.ready.close();
    }
}

/// Opens this launcher's cgroups and removes those of servers that no longer run.
fn open_cgroups(support: &crate::HostSupport) -> Result<Cgroups, SandboxError> {
    let layout = support.cgroups.clone().map_err(SandboxError::Unsupported)?;
    static LAUNCHERS: AtomicU32 = AtomicU32::new(0);
    let n = LAUNCHERS.fetch_add(1, Ordering::Relaxed);
    let cgroups = Cgroups::open(
        layout,
        Arc::new(cgroup::HostCgroupSys),
        std::process::id(),
        n,
    )
    .map_err(|e| SandboxError::Unsupported(e.to_string()))?;
    let stale = cgroups.clean_stale(|pid| Path::new(&format!("/proc/{pid}")).exists());
    if stale > 0 {
        tracing::info!(stale, "removed the cgroups of servers that no longer run");
    }
    Ok(cgroups)
}

/// The parts of every environment's root that do not depend on the function; a rootless one
/// binds the host's device nodes instead of making them. The generated `/etc` files are
/// written to `sandbox-etc` beside the mount point, once.
fn root_template(mount_point: &Path, rootless: bool) -> std::io::Result<RootSpec> {
    let mut host = Vec::new();
    for path in SYSTEM_DIRS.iter().chain(ETC_ENTRIES.iter()).map(Path::new) {
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(target) = std::fs::read_link(path) {
                host.push(HostEntry::Symlink {
                    path: path.to_path_buf(),
                    target,
                });
            }
        } else if meta.is_dir() {
            host.push(HostEntry::Dir(path.to_path_buf()));
        } else {
            host.push(HostEntry::File(path.to_path_buf()));
        }
    }
    // The host's resolver configuration, copied so that a symlink into /run still works.
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let generated = vec![
        (PathBuf::from("/etc/resolv.conf"), resolv),
        (
            PathBuf::from("/etc/hosts"),
            format!("127.0.0.1\tlocalhost sandbox.localdomain {HOSTNAME}\n::1\tlocalhost\n"),
        ),
        (PathBuf::from("/etc/hostname"), format!("{HOSTNAME}\n")),
        (
            PathBuf::from("/etc/passwd"),
            format!(
                "root:x:0:0:root:/root:/sbin/nologin\n{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_GID}::/tmp:/sbin/nologin\n"
            ),
        ),
        (
            PathBuf::from("/etc/group"),
            format!("root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_GID}:\n"),
        ),
    ];
    let dir = mount_point.with_file_name("sandbox-etc");
    std::fs::create_dir_all(&dir)?;
    for (path, contents) in generated {
        let name = path.file_name().unwrap_or_default();
        let source = dir.join(name);
        // Servers sharing a host (and launchers sharing a process) write the same files: each
        // replaces them whole, from a partial file of its own.
        static PARTIALS: AtomicU32 = AtomicU32::new(0);
        let partial = dir.join(format!(
            ".{}.{}.{}",
            name.to_string_lossy(),
            std::process::id(),
            PARTIALS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&partial, contents)?;
        std::fs::set_permissions(
            &partial,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )?;
        std::fs::rename(&partial, &source)?;
        host.push(HostEntry::FileAt { source, path });
    }
    Ok(RootSpec {
        new_root: mount_point.to_path_buf(),
        host,
        hostname: HOSTNAME.into(),
        bind_devices: rootless,
    })
}

/// The installation an interpreter outside the system directories belongs to (a pyenv or nvm
/// install: `<prefix>/bin/python3` gives `<prefix>`), to be shown read-only at the same path.
/// Never a home directory itself, never `/`.
pub(crate) fn interpreter_root(program: &Path) -> Option<PathBuf> {
    let inside = [
        "/var/task",
        "/opt",
        "/var/runtime",
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
    ];
    if !program.is_absolute() || inside.iter().any(|dir| program.starts_with(dir)) {
        return None;
    }
    let dir = program.parent()?;
    let root = if dir.file_name().is_some_and(|name| name == "bin") {
        dir.parent()?
    } else {
        dir
    };
    let depth = root.components().count();
    let is_home = root == Path::new("/root") || (root.starts_with("/home") && depth <= 3);
    (depth >= 3 && !is_home).then(|| root.to_path_buf())
}

#[async_trait::async_trait]
impl Launcher for IsolatedLauncher {
    fn inside(&self, _mounts: &Mounts) -> Mounts {
        Mounts {
            task_root: PathBuf::from("/var/task"),
            opt: PathBuf::from("/opt"),
            runtime_dir: PathBuf::from("/var/runtime"),
        }
    }

    async fn prepare(&self) -> Result<Prepared, SandboxError> {
        self.shared.sweep();
        let ready = self
            .ready
            .take()
            .await
            .map_err(|source| SandboxError::Prepare {
                what: "an environment".into(),
                source,
            })?;
        let listener = tokio::net::TcpListener::from_std(ready.runtime_api)
            .map_err(SandboxError::BindRuntimeApi)?;
        let forwarder = crate::forward::start(ready.endpoint, self.api)
            .map_err(SandboxError::BindRuntimeApi)?;
        Ok(Prepared {
            listener,
            runtime_api: network::RUNTIME_API.to_string(),
            local_addr: SocketAddr::V4(network::RUNTIME_API),
            endpoint_url: Some(format!("http://{}", network::ENDPOINT)),
            network: Some(Arc::new(Network {
                inside: ready.inside,
                forwarder,
                jail: Mutex::new(Some(ready.jail)),
                first: Mutex::new(None),
            })),
            shortcut: ready.shortcut,
        })
    }

    async fn launch(&self, spec: LaunchSpec) -> Result<Box<dyn Sandbox>, SandboxError> {
        let network = spec.network.ok_or_else(|| SandboxError::Prepare {
            what: "the environment's network".into(),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        let setup = |source| SandboxError::Prepare {
            what: "the jail".into(),
            source,
        };
        // The environment's first process takes the jail made ahead: its cgroup and namespaces
        // become the environment's. More processes (external extensions start first, the
        // runtime last) get a jail of their own now, in the same network and cgroup, which
        // starts them in the first jail's mount, pid, uts and ipc namespaces.
        let pending = network
            .jail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let pending = match pending {
            Some(pending) => pending,
            None => {
                let first = network.first.lock().unwrap_or_else(PoisonError::into_inner);
                match (&*first, &network.inside) {
                    (Some((cgroup, pidfd)), inside) => {
                        self.maker
                            .joining_jail(inside, Arc::clone(cgroup), pidfd.as_fd())
                    }
                    (None, Inside::Namespace(netns)) => self.maker.first_jail(netns),
                    (None, Inside::Service(_)) => Err(std::io::Error::other(
                        "the environment's first jail is gone",
                    )),
                }
                .map_err(setup)?
            }
        };
        let Some((spawned, cgroup)) = pending.take() else {
            return Err(setup(std::io::ErrorKind::NotFound.into()));
        };
        {
            let mut first = network.first.lock().unwrap_or_else(PoisonError::into_inner);
            if first.is_none() {
                let pidfd = spawned.pidfd.try_clone().map_err(setup)?;
                *first = Some((Arc::clone(&cgroup), pidfd));
            }
        }
        let inside = self.inside(&spec.mounts);
        let mut binds = vec![
            (spec.mounts.task_root.clone(), inside.task_root),
            (spec.mounts.opt.clone(), inside.opt),
            (spec.mounts.runtime_dir.clone(), inside.runtime_dir),
        ];
        // The root is the environment's: built by its first process (an extension, when the
        // function has any) for every later one, the runtime included.
        for program in [&spec.program, &spec.runtime_program] {
            if let Some(installation) = interpreter_root(program)
                && !binds.iter().any(|(source, _)| *source == installation)
            {
                binds.push((installation.clone(), installation));
            }
        }
        let config = JailLaunch {
            mounts: FunctionMounts {
                binds,
                tmp_mb: spec.ephemeral_storage_mb,
            },
            program: spec.program.clone(),
            args: spec.args,
            env: spec.env,
            cwd: spec.cwd,
            uid: SANDBOX_UID,
            gid: SANDBOX_GID,
        };
        let limited = match cgroup.get() {
            Some(cgroup) => cgroup
                .limit(spec.memory_mb)
                .map_err(|e| SandboxError::Cgroup(e.to_string())),
            None => Ok(()),
        };
        let started = limited.and_then(|()| hand_over(spawned, &config).map_err(setup))?;
        let sandbox = IsolatedSandbox {
            pid: started.pid,
            pidfd: started.pidfd,
            output: Mutex::new(Some((started.stdout, started.stderr))),
            status: tokio::sync::Mutex::new(started.status),
            cgroup,
            memory_mb: spec.memory_mb,
            cpu_limited: AtomicBool::new(false),
            runtime_status: None,
            _network: network,
        };
        match tokio::time::timeout(START_TIMEOUT, sandbox.next_status()).await {
            Ok(Some(line)) if line == "ready" => {
                let mut sandbox = sandbox;
                if sandbox.cgroup().is_none() {
                    sandbox.runtime_status = runtime_status(sandbox.pid);
                }
                Ok(Box::new(sandbox))
            }
            Ok(Some(line)) => {
                sandbox.kill();
                Err(
                    match line.strip_prefix("exec ").and_then(|n| n.parse().ok()) {
                        Some(errno) => {
                            spawn_error(&spec.program, std::io::Error::from_raw_os_error(errno))
                        }
                        None => SandboxError::Setup(
                            line.strip_prefix("setup ").unwrap_or(&line).to_string(),
                        ),
                    },
                )
            }
            Ok(None) => {
                sandbox.kill();
                Err(SandboxError::Setup(
                    "the jail ended before starting the runtime".into(),
                ))
            }
            Err(_) => {
                sandbox.kill();
                Err(SandboxError::Setup(
                    "the jail did not start the runtime in time".into(),
                ))
            }
        }
    }
}

fn spawn_error(program: &Path, source: std::io::Error) -> SandboxError {
    SandboxError::Spawn {
        program: program.to_path_buf(),
        source,
    }
}

type StatusLines = tokio::io::Lines<BufReader<pipe::Receiver>>;

/// A jail that was handed its function.
struct Started {
    pid: libc::pid_t,
    pidfd: AsyncFd<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
    status: StatusLines,
}

/// Writes all of `bytes` to a pipe.
fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let written = nix::unistd::write(fd, bytes).map_err(std::io::Error::from)?;
        bytes = &bytes[written..];
    }
    Ok(())
}

/// Hands a waiting jail its function; from here on the jail's status is read asynchronously.
fn hand_over(spawned: spawn::Spawned, config: &JailLaunch) -> std::io::Result<Started> {
    let mut line = serde_json::to_vec(config).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let handed = std::fs::File::from(spawned.config)
        .write_all(&line)
        .and_then(|()| pipe::Receiver::from_owned_fd(spawned.status));
    let status = match handed {
        Ok(status) => status,
        Err(error) => {
            abandon(&spawned.pidfd);
            return Err(error);
        }
    };
    // SAFETY: the pidfd is owned by the AsyncFd from here on and closed only when it drops.
    let pidfd = match unsafe { AsyncFd::register(spawned.pidfd) } {
        Ok(pidfd) => pidfd,
        Err(failed) => {
            let (pidfd, error) = failed.into_parts();
            abandon(&pidfd);
            return Err(error);
        }
    };
    Ok(Started {
        pid: spawned.pid,
        pidfd,
        stdout: spawned.stdout,
        stderr: spawned.stderr,
        // Status lines are a few bytes each.
        status: BufReader::with_capacity(STATUS_BUFFER, status).lines(),
    })
}

/// Kills a jail and collects it, so no zombie is left.
fn abandon(pidfd: &OwnedFd) {
    send_kill(pidfd);
    // SAFETY: siginfo_t is plain data that waitid fills in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: P_PIDFD with a live pidfd and a valid out-pointer; the child was just killed, so
    // the wait is short.
    unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED,
        )
    };
}

fn send_kill(pidfd: &OwnedFd) {
    // SAFETY: pidfd_send_signal with a live pidfd and no siginfo.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

/// A running isolated environment.
#[derive(Debug)]
struct IsolatedSandbox {
    /// The jail's pid on the host (the environment's init).
    pid: libc::pid_t,
    pidfd: AsyncFd<OwnedFd>,
    output: Mutex<Option<(OwnedFd, OwnedFd)>>,
    status: tokio::sync::Mutex<StatusLines>,
    cgroup: Arc<EnvironmentCgroup>,
    memory_mb: u32,
    /// Whether the CPU share was applied (at the first freeze).
    cpu_limited: AtomicBool,
    /// Without a cgroup (rootless): `/proc/<pid>/status` of the runtime, for its peak
    /// resident set.
    runtime_status: Option<std::fs::File>,
    _network: Arc<Network>,
}

impl IsolatedSandbox {
    async fn next_status(&self) -> Option<String> {
        self.status.lock().await.next_line().await.ok().flatten()
    }

    fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.get()
    }

    /// Waits for the jail to end and collects its own wait status.
    async fn reap(&self) -> Option<i32> {
        loop {
            if let Some(status) = waitid(self.pidfd.get_ref()) {
                return Some(status);
            }
            let mut ready = self.pidfd.readable().await.ok()?;
            ready.clear_ready();
        }
    }
}

/// `/proc/<pid>/status` of the program a jail started (the jail's only child once it reported
/// `ready`), kept open so that it can never describe a process that reuses the pid.
fn runtime_status(jail: libc::pid_t) -> Option<std::fs::File> {
    let children = std::fs::read_to_string(format!("/proc/{jail}/task/{jail}/children")).ok()?;
    let runtime = children.split_whitespace().next()?;
    std::fs::File::open(format!("/proc/{runtime}/status")).ok()
}

/// Collects an exited child through its pidfd; `None` while it runs.
fn waitid(pidfd: &OwnedFd) -> Option<i32> {
    // SAFETY: siginfo_t is plain data that waitid fills in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: P_PIDFD with a live pidfd and a valid out-pointer.
    let rc = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    // SAFETY: after a successful waitid the pid and status fields of the union are set.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if rc != 0 || pid == 0 {
        return None;
    }
    let raw = if info.si_code == libc::CLD_EXITED {
        (status & 0xff) << 8
    } else {
        status & 0x7f
    };
    Some(raw)
}

#[async_trait::async_trait]
impl Sandbox for IsolatedSandbox {
    fn pid(&self) -> Option<u32> {
        u32::try_from(self.pid).ok()
    }

    fn take_output(&self) -> Option<(tokio::process::ChildStdout, tokio::process::ChildStderr)> {
        let (stdout, stderr) = self
            .output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        let stdout =
            tokio::process::ChildStdout::from_std(std::process::ChildStdout::from(stdout)).ok()?;
        let stderr =
            tokio::process::ChildStderr::from_std(std::process::ChildStderr::from(stderr)).ok()?;
        Some((stdout, stderr))
    }

    async fn wait(&self) -> ExitReason {
        let mut runtime_status = None;
        while let Some(line) = self.next_status().await {
            if let Some(status) = line.strip_prefix("exit ").and_then(|s| s.parse().ok()) {
                runtime_status = Some(status);
            }
        }
        let jail_status = self.reap().await;
        let reason = match runtime_status.or(jail_status) {
            Some(status) => ExitReason::from_wait_status(status),
            None => ExitReason::Unknown,
        };
        let oom = self.cgroup().is_some_and(|cgroup| cgroup.oom_kills() > 0);
        if oom && reason == ExitReason::Signal(libc::SIGKILL) {
            ExitReason::OutOfMemory
        } else {
            reason
        }
    }

    fn kill(&self) {
        // The jail is the namespace's init: when it dies the kernel kills everything in it.
        send_kill(self.pidfd.get_ref());
        // Frozen tasks die only once thawed. The rest of the environment shares the cgroup and
        // thaws with it; what must end with the environment is killed when its cgroup goes.
        if let Some(cgroup) = self.cgroup()
            && cgroup.is_frozen()
            && let Err(error) = cgroup.thaw()
        {
            tracing::debug!(%error, "could not thaw an environment to end a process");
        }
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        match self.cgroup() {
            Some(cgroup) => cgroup.peak_bytes(),
            None => crate::process::peak_resident(self.runtime_status.as_ref()?),
        }
    }

    fn freeze(&self) {
        let Some(cgroup) = self.cgroup() else {
            return;
        };
        // The CPU share applies from the first time the environment goes idle: Init and the
        // first invocation run at full speed (Lambda boosts Init the same way).
        if !self.cpu_limited.swap(true, Ordering::Relaxed)
            && let Err(error) = cgroup.limit_cpu(self.memory_mb)
        {
            tracing::warn!(%error, "could not limit an environment's CPU");
        }
        if let Err(error) = cgroup.freeze() {
            tracing::debug!(%error, "could not freeze an environment");
        }
    }

    fn thaw(&self) {
        if let Some(Err(error)) = self.cgroup().map(Cgroup::thaw) {
            tracing::debug!(%error, "could not thaw an environment");
        }
    }

    fn is_frozen(&self) -> bool {
        self.cgroup().is_some_and(Cgroup::is_frozen)
    }
}

impl Drop for IsolatedSandbox {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(program: &str, expect: Option<&str>) {
        assert_eq!(
            interpreter_root(Path::new(program)),
            expect.map(PathBuf::from)
        );
    }

    #[test]
    fn interpreters_outside_the_system_bring_their_installation_only() {
        check(
            "/root/.pyenv/versions/3.11.7/bin/python3",
            Some("/root/.pyenv/versions/3.11.7"),
        );
        check(
            "/home/u/.nvm/versions/node/v22.1.0/bin/node",
            Some("/home/u/.nvm/versions/node/v22.1.0"),
        );
        check("/usr/bin/python3", None);
        check("/var/task/bootstrap", None);
        check("/opt/bootstrap", None);
        check("/root/bin/python3", None);
        check("/home/u/bin/node", None);
        check("/srv/python", None);
        check("/srv/py/3.12/python3", Some("/srv/py/3.12"));
    }
}
