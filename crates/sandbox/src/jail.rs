//! The jailer: the program the isolated launcher starts for every process of an environment
//! (`flint-jail`).
//!
//! The launcher starts the environment's first jail as the first process of new pid, mount, uts
//! and ipc namespaces, inside the environment's network namespace (see `spawn.rs`); every later
//! jail of the environment (external extensions start before the runtime) joins the first
//! one's namespaces instead of building a root ([`JailBase::join`]). Each gets:
//!
//! | fd | what |
//! |---|---|
//! | 0 | `/dev/null` |
//! | 1, 2 | the runtime's stdout and stderr pipes |
//! | 3 | its configuration: a [`JailBase`] line, later a [`JailLaunch`] line (JSON) |
//! | 4 | the status pipe it reports on, one line per event |
//! | 5 | a joining jail: a pidfd of the environment's first jail; a rootless first jail: its end of the service socket (`service.rs`) |
//! | 6 | `flint-init`'s memory file, where there is one (`init.rs`) |
//!
//! The work is split so that the slow part happens ahead of time, while the jail waits in a
//! pool of ready environments: with the first line it joins the environment's cgroup (a cgroup
//! v1 move waits for an RCU grace period per hierarchy, milliseconds in all) and builds the
//! shared part of the mount tree ([`mount_plan::plan_base`]). With the second line, on the cold
//! start, it adds the function's code, layers, runtime and `/tmp`, switches to the new root and
//! forks the runtime, which drops every privilege, installs the seccomp filter and execs the
//! function's program. End of file instead of the second line ends the jail quietly. The jail
//! then becomes the namespace's init: it executes `flint-init`, a program of a few pages that
//! reaps orphans and reports how the runtime ended, so that an idle environment does not keep
//! the jail's memory (where `flint-init` is missing, or the jail serves a rootless environment,
//! the jail does that itself). Being PID 1 has a second use: when it exits, the kernel kills
//! every process left in the namespace, so no process of a function outlives its environment.
//!
//! Without root ([`JailBase::user_namespace`]), the first jail starts in a user namespace of its
//! own (see `spawn.rs`), holds capabilities only there, binds the environment's listeners in its
//! new network namespace and hands them to the server over the service socket, whose requests
//! it keeps answering while it waits for the runtime. Joining jails enter that user namespace
//! and the network namespace with the others.
//!
//! Status lines: `ready` (the program was executed), `exec <errno>` (it could not be),
//! `setup <message>` (the sandbox could not be built), `exit <wait status>` (the runtime ended).
//!
//! Why the runtime is not PID 1 itself: PID 1 ignores signals it has no handler for (a runtime
//! that raises SIGABRT or SIGTERM on itself would not die) and inherits every orphan, which
//! runtimes do not reap. A tiny init costs one small process per environment.

use std::ffi::CString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::mount_plan::{self, FunctionMounts, RootSpec};
use crate::seccomp;
use crate::syscalls::{self, HostSyscalls};

/// The descriptor the configuration is read from.
pub(crate) const CONFIG_FD: i32 = 3;
/// The descriptor status lines are written to.
pub(crate) const STATUS_FD: i32 = 4;
/// A joining jail's pidfd of the environment's first jail.
pub(crate) const JOIN_FD: i32 = 5;
/// A rootless environment's first jail: its end of the service socket.
pub(crate) const SERVICE_FD: i32 = 5;
/// `flint-init`'s memory file.
pub(crate) const INIT_FD: i32 = 6;

/// What the jail prepares ahead of time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JailBase {
    pub(crate) root: RootSpec,
    /// `cgroup.procs` files to join before anything else.
    pub(crate) cgroup_procs: Vec<PathBuf>,
    /// Set for every process of an environment but the first: instead of building a root of
    /// its own, this jail joins the mount, uts and ipc namespaces of the first one (its pidfd
    /// is descriptor [`JOIN_FD`]) and starts its program in that jail's pid namespace. The
    /// function and its extensions so share `/tmp` and see each other's processes, as on
    /// Lambda.
    #[serde(default)]
    pub(crate) join: bool,
    /// A rootless environment: the jail runs in a user namespace of its own (or joins the
    /// first jail's) instead of being root on the host; the first jail makes the environment's
    /// listeners (see `service.rs`).
    #[serde(default)]
    pub(crate) user_namespace: bool,
}

/// What the jail runs, and the function's part of the root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JailLaunch {
    pub(crate) mounts: FunctionMounts,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: PathBuf,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// Lambda's limit on open files.
const NOFILE: u64 = 1024;

#[derive(Debug, thiserror::Error)]
enum JailError {
    #[error("could not read the configuration: {0}")]
    ReadConfig(#[source] std::io::Error),
    #[error("could not parse the configuration: {0}")]
    ParseConfig(#[source] serde_json::Error),
    #[error("could not join cgroup {path}: {source}")]
    JoinCgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not build the root: {0}")]
    Mount(#[from] syscalls::OpError),
    #[error("{0}")]
    Seccomp(#[from] seccomp::SeccompError),
    #[error("{action} failed: {source}")]
    Os {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("an argument or variable contains a NUL byte")]
    Nul,
}

fn os(action: &'static str) -> impl FnOnce(std::io::Error) -> JailError {
    move |source| JailError::Os { action, source }
}

fn last_os(action: &'static str) -> JailError {
    JailError::Os {
        action,
        source: std::io::Error::last_os_error(),
    }
}

/// The jail's entry point, called by `flint-jail`'s `main`.
pub fn main() -> ! {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(crate::reaper::FLAG) {
        std::process::exit(crate::reaper::run(&args.next().unwrap_or_default()));
    }
    // SAFETY: the launcher hands the jail descriptor 4 as the status pipe; nothing else owns it.
    let mut status = unsafe { File::from_raw_fd(STATUS_FD) };
    let code = match run(&mut status) {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(status, "setup {error}");
            1
        }
    };
    std::process::exit(code)
}

/// Builds the sandbox, starts the runtime and waits for it; returns the jail's exit code.
fn run(status: &mut File) -> Result<i32, JailError> {
    prepare_process()?;
    // SAFETY: the launcher hands the jail descriptor 3 as the configuration pipe.
    let mut config_pipe = BufReader::new(unsafe { File::from_raw_fd(CONFIG_FD) });
    let mut line = String::new();
    config_pipe
        .read_line(&mut line)
        .map_err(JailError::ReadConfig)?;
    let base: JailBase = serde_json::from_str(&line).map_err(JailError::ParseConfig)?;
    for path in &base.cgroup_procs {
        std::fs::write(path, "0").map_err(|source| JailError::JoinCgroup {
            path: path.clone(),
            source,
        })?;
    }
    let first_rootless = base.user_namespace && !base.join;
    if !base.cgroup_procs.is_empty() || first_rootless {
        // A cgroup namespace rooted at the environment's own cgroup hides the host's layout.
        // SAFETY: unshare takes flags only.
        if unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
            return Err(last_os("unshare(CLONE_NEWCGROUP)"));
        }
    }
    let service = if first_rootless {
        Some(listen_for_server()?)
    } else {
        None
    };
    if base.join {
        join_environment(base.user_namespace)?;
    } else {
        syscalls::run(&mount_plan::plan_base(&base.root), &mut HostSyscalls)?;
    }
    let filters = seccomp::filters()?;
    empty_bounding_set()?;

    line.clear();
    let read = config_pipe
        .read_line(&mut line)
        .map_err(JailError::ReadConfig)?;
    if read == 0 {
        // Never used: the launcher let go of this environment.
        return Ok(0);
    }
    drop(config_pipe);
    let config: JailLaunch = serde_json::from_str(&line).map_err(JailError::ParseConfig)?;
    if !base.join {
        let function = mount_plan::plan_function(&base.root.new_root, &config.mounts);
        syscalls::run(&function, &mut HostSyscalls)?;
    }
    let exec = Exec::new(&config)?;

    let (error_read, error_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| os("pipe2")(e.into()))?;
    let mut child = Child {
        config: &config,
        set_groups: !base.user_namespace,
        filters: &filters,
        exec: &exec,
        error: error_write.as_raw_fd(),
    };
    let mut stack = vec![0u8; CHILD_STACK];
    // Until the runtime was executed, the jail runs at the highest priority a process may
    // ask for: the runtime's exec wakes it up on a CPU the starting runtime is busy on, and the
    // cold start waits for its `ready` (at normal priority it waited up to 2 ms for the CPU).
    // The runtime goes back to normal priority first thing. Without root this is refused, and
    // nothing changes.
    // SAFETY: setpriority takes integers only.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -20) };
    // The runtime is started like vfork: it shares the jail's memory until it executes, so
    // no page tables are copied, and the jail waits on the same CPU instead of waking up on
    // another one (a cross-CPU wake-up can cost a scheduler tick, 4 ms, on small VMs).
    // SAFETY: the stack is ours and 16-byte aligned at its top; `child` and everything it
    // points to outlive the child's use of them because CLONE_VFORK suspends the jail until
    // the child has executed or exited; the child allocates nothing and takes no lock.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(CHILD_STACK);
        let top = top.sub(top as usize % 16);
        libc::clone(
            become_runtime,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut child as *mut Child).cast(),
        )
    };
    if pid < 0 {
        return Err(last_os("clone"));
    }
    drop(stack);
    drop(error_write);
    report_start(status, error_read)?;
    // SAFETY: setpriority takes integers only; back to normal priority.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 0) };
    drop((config, filters, exec, line, base));
    Ok(match service {
        Some(service) => {
            release_heap();
            serve_until_exit(status, pid, &service)
        }
        None => {
            become_init(pid);
            release_heap();
            reap_until_exit(status, pid)
        }
    })
}

/// Hands the heap's free pages back to the kernel. The jail stays alive, idle, for as long as
/// its environment; what it allocated to build the sandbox (the configuration, the mount plan,
/// the seccomp programs) is freed by now but malloc keeps the pages, about 100 KiB of every
/// idle environment's memory.
fn release_heap() {
    // SAFETY: malloc_trim only returns free memory of malloc's own arenas to the kernel.
    unsafe { libc::malloc_trim(0) };
}

const CHILD_STACK: usize = 64 * 1024;

/// What the runtime's child needs, prepared by the jail.
struct Child<'a> {
    config: &'a JailLaunch,
    /// Whether the runtime sets its supplementary groups (a rootless user namespace denies
    /// setgroups, and maps no group but the sandbox's anyway).
    set_groups: bool,
    filters: &'a [seccompiler::BpfProgram],
    exec: &'a Exec,
    error: libc::c_int,
}

/// Restores what the launcher blocked for the clone and sets the jail's own descriptors to
/// close when the runtime is executed.
fn prepare_process() -> Result<(), JailError> {
    // SAFETY: an empty signal set is plain data initialised by sigemptyset.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::umask(0o022);
    }
    for fd in [CONFIG_FD, STATUS_FD] {
        // SAFETY: fcntl on a descriptor number; a wrong one only returns EBADF.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(last_os("fcntl(FD_CLOEXEC)"));
        }
    }
    // Not the runtime's either; absent where there is no flint-init (EBADF is fine then).
    // SAFETY: fcntl on a descriptor number; a wrong one only returns EBADF.
    unsafe { libc::fcntl(INIT_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(())
}

/// Executes `flint-init` (descriptor [`INIT_FD`]) in the jail's place to wait for `runtime`,
/// keeping the status pipe. Returns only if that is impossible (no such program here), and
/// the jail then waits itself.
fn become_init(runtime: libc::pid_t) {
    let mut pid = [0u8; 16];
    let mut cursor = std::io::Cursor::new(&mut pid[..15]);
    if write!(cursor, "{runtime}").is_err() {
        return;
    }
    let argv: [*mut libc::c_char; 3] = [
        c"flint-init".as_ptr().cast_mut(),
        pid.as_mut_ptr().cast(),
        std::ptr::null_mut(),
    ];
    let envp: [*mut libc::c_char; 1] = [std::ptr::null_mut()];
    // The exec (which also frees the jail's memory) runs at idle priority, so that on a busy
    // host it never takes a CPU from the cold start it comes right after; flint-init goes back
    // to normal priority first thing.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: fcntl clears close-on-exec of the status pipe, which flint-init reports on;
    // sched_setscheduler reads a live sched_param; argv and envp are null-terminated arrays of
    // NUL-terminated strings alive across the call, which returns only on failure.
    unsafe {
        libc::fcntl(STATUS_FD, libc::F_SETFD, 0);
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        libc::execveat(
            INIT_FD,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
        libc::fcntl(STATUS_FD, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

/// Enters the namespaces of the environment's first jail (its pidfd is [`JOIN_FD`]): its mount
/// namespace (the root it built, `/tmp` included), uts and ipc, and its pid namespace for the
/// program this jail starts. A pidfd names that very process, so a pid reused since cannot
/// lead the jail elsewhere; if the first jail is gone, this fails.
/// A rootless jail also enters the first jail's user namespace (where it then holds the
/// capabilities it needs), its network namespace and its cgroup namespace.
fn join_environment(user_namespace: bool) -> Result<(), JailError> {
    let mut namespaces =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if user_namespace {
        namespaces |= libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWCGROUP;
    }
    // SAFETY: setns on the pidfd the launcher handed over; the jail is single-threaded.
    if unsafe { libc::setns(JOIN_FD, namespaces) } != 0 {
        return Err(last_os("setns into the environment"));
    }
    // SAFETY: close on a descriptor number the jail owns and no longer needs.
    unsafe { libc::close(JOIN_FD) };
    Ok(())
}

/// The program, arguments and environment as C strings, made before fork.
struct Exec {
    program: CString,
    /// The strings `argv` and `envp` point into.
    _args: Vec<CString>,
    _env: Vec<CString>,
    cwd: CString,
    /// Null-terminated pointers into `args` and `env`.
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl Exec {
    fn new(config: &JailLaunch) -> Result<Exec, JailError> {
        let c = |bytes: &[u8]| CString::new(bytes).map_err(|_| JailError::Nul);
        let program = c(config.program.as_os_str().as_bytes())?;
        let mut args = vec![program.clone()];
        for arg in &config.args {
            args.push(c(arg.as_bytes())?);
        }
        let env = config
            .env
            .iter()
            .map(|(k, v)| c(format!("{k}={v}").as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let pointers = |strings: &[CString]| -> Vec<*const libc::c_char> {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        Ok(Exec {
            argv: pointers(&args),
            envp: pointers(&env),
            program,
            _args: args,
            _env: env,
            cwd: c(config.cwd.as_os_str().as_bytes())?,
        })
    }
}

/// The runtime's child, before exec: drops every privilege, installs the filter and executes
/// the runtime. On failure it writes `<step> <errno>` to the error pipe and exits. It shares
/// the jail's memory, so it allocates nothing.
extern "C" fn become_runtime(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the jail's Child, alive while the jail is suspended by vfork.
    let child = unsafe { &*(arg as *const Child<'_>) };
    let exec = child.exec;
    let step: StepResult = drop_privileges(child, exec).and_then(|()| {
        seccomp::install(child.filters)
            .map_err(|_| ("seccomp", std::io::Error::last_os_error()))?;
        // SAFETY: argv and envp are null-terminated arrays of pointers to C strings that live
        // until execve returns (it returns only on failure).
        unsafe {
            libc::execve(
                exec.program.as_ptr(),
                exec.argv.as_ptr(),
                exec.envp.as_ptr(),
            )
        };
        Err(("exec", std::io::Error::last_os_error()))
    });
    if let Err((step, source)) = step {
        let mut message = [0u8; 64];
        let mut cursor = std::io::Cursor::new(&mut message[..]);
        let _ = write!(cursor, "{step} {}", source.raw_os_error().unwrap_or(0));
        let len = cursor.position() as usize;
        // SAFETY: writes `len` initialised bytes of `message` to the error pipe.
        unsafe { libc::write(child.error, message.as_ptr().cast(), len) };
    }
    // SAFETY: _exit ends the child without running the jail's exit handlers.
    unsafe { libc::_exit(127) }
}

type StepResult = Result<(), (&'static str, std::io::Error)>;

fn check(step: &'static str, rc: libc::c_int) -> StepResult {
    if rc == 0 {
        Ok(())
    } else {
        Err((step, std::io::Error::last_os_error()))
    }
}

/// Empties the jail's capability bounding set, which the runtime inherits, ahead of time: each
/// drop replaces the process's credentials (about 3 us, 41 times), too slow for the cold
/// start. The jail keeps the capabilities it holds (the bounding set only limits what an
/// exec can grant), and `flint-init`, executed by root with an empty bounding set, holds
/// none.
fn empty_bounding_set() -> Result<(), JailError> {
    let mut cap = 0;
    // SAFETY: prctl with integer arguments only.
    while unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) } >= 0 {
        // SAFETY: as above.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            return Err(last_os("drop a capability from the bounding set"));
        }
        cap += 1;
    }
    Ok(())
}

/// Becomes the unprivileged sandbox user with no capabilities at all (the bounding set is
/// empty already, see [`empty_bounding_set`]), Lambda's limits and
/// `no_new_privs`, in the working directory.
fn drop_privileges(child: &Child<'_>, exec: &Exec) -> StepResult {
    let config = child.config;
    // SAFETY: each call below takes plain integers or pointers to live, initialised values.
    unsafe {
        // Normal priority, which the jail raised for the start (lowering it is always allowed).
        check("setpriority", libc::setpriority(libc::PRIO_PROCESS, 0, 0))?;
        check("setsid", if libc::setsid() < 0 { -1 } else { 0 })?;
        check("chdir", libc::chdir(exec.cwd.as_ptr()))?;
        let nofile = libc::rlimit {
            rlim_cur: NOFILE,
            rlim_max: NOFILE,
        };
        check("setrlimit", libc::setrlimit(libc::RLIMIT_NOFILE, &nofile))?;
        if child.set_groups {
            check("setgroups", libc::setgroups(1, &config.gid))?;
        }
        check(
            "setresgid",
            libc::setresgid(config.gid, config.gid, config.gid),
        )?;
        // Changing every uid away from 0 clears the permitted and effective sets.
        check(
            "setresuid",
            libc::setresuid(config.uid, config.uid, config.uid),
        )?;
        let header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        check(
            "capset",
            libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as libc::c_int,
        )?;
        check(
            "clear ambient capabilities",
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ),
        )?;
        check(
            "no_new_privs",
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        )?;
        // Set after the uid changes (they clear it): a program started in the namespaces of
        // the environment's first jail is not this jail's namespace's to end, so it ends when
        // this jail does.
        check(
            "parent-death signal",
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0),
        )?;
    }
    Ok(())
}

pub(crate) const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// capget/capset's header.
#[repr(C)]
pub(crate) struct CapHeader {
    pub(crate) version: u32,
    pub(crate) pid: libc::c_int,
}

/// One 32-bit word of each capability set (version 3 has two).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct CapData {
    pub(crate) effective: u32,
    pub(crate) permitted: u32,
    pub(crate) inheritable: u32,
}

/// Waits until the runtime was executed (its error pipe closes) or failed to be, and says so.
fn report_start(status: &mut File, error: OwnedFd) -> Result<(), JailError> {
    let mut answer = String::new();
    File::from(error)
        .read_to_string(&mut answer)
        .map_err(os("read the runtime's start"))?;
    let line = match answer.split_once(' ') {
        None => "ready".to_string(),
        Some(("exec", errno)) => format!("exec {errno}"),
        Some((step, errno)) => {
            let errno = errno.parse().unwrap_or(0);
            format!(
                "setup {step} failed: {}",
                std::io::Error::from_raw_os_error(errno)
            )
        }
    };
    writeln!(status, "{line}").map_err(os("write the status"))
}

/// A rootless environment's first jail: binds the environment's listeners in its network
/// namespace and hands them to the server; returns the service socket.
fn listen_for_server() -> Result<OwnedFd, JailError> {
    // SAFETY: the launcher hands a rootless first jail descriptor 5 as its service socket.
    let service = unsafe { OwnedFd::from_raw_fd(SERVICE_FD) };
    // SAFETY: fcntl on a descriptor this jail owns; the runtime must not inherit it.
    if unsafe { libc::fcntl(SERVICE_FD, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(last_os("fcntl(FD_CLOEXEC)"));
    }
    let (runtime_api, endpoint) =
        crate::network::listen_inside().map_err(os("bind the environment's listeners"))?;
    crate::service::send(&service, &[runtime_api.as_raw_fd(), endpoint.as_raw_fd()])
        .map_err(os("hand the listeners to the server"))?;
    Ok(service)
}

/// [`reap_until_exit`] for a rootless environment's first jail, which also answers the
/// server's requests on the service socket meanwhile. When the server's end closes, the jail
/// ends, and the environment with it.
fn serve_until_exit(status: &mut File, runtime: libc::pid_t, service: &OwnedFd) -> i32 {
    // SIGCHLD is blocked and read from a signalfd, so that one poll waits for both.
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls take valid pointers.
    let signals = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    };
    if signals < 0 {
        return 1;
    }
    // SAFETY: signalfd returned a new descriptor owned here.
    let signals = unsafe { OwnedFd::from_raw_fd(signals) };
    loop {
        loop {
            let mut wait_status = 0;
            // SAFETY: waitpid writes the status into a live integer.
            let pid = unsafe { libc::waitpid(-1, &mut wait_status, libc::WNOHANG) };
            if pid == runtime {
                let _ = writeln!(status, "exit {wait_status}");
                return 0;
            }
            if pid == 0 {
                break;
            }
            if pid < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return 1;
            }
        }
        let mut polled = [
            libc::pollfd {
                fd: signals.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: service.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll reads and writes the two live pollfd entries.
        if unsafe { libc::poll(polled.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if polled[0].revents != 0 {
            let mut info = [0u8; 128];
            // SAFETY: reads at most 128 bytes into a live buffer; the descriptor is
            // non-blocking, and the children are reaped above whatever it holds.
            while unsafe { libc::read(signals.as_raw_fd(), info.as_mut_ptr().cast(), 128) } > 0 {}
        }
        if polled[1].revents != 0 && !matches!(crate::service::answer(service), Ok(true)) {
            return 0;
        }
    }
}

/// Reaps every child (orphans of the runtime included) until the runtime itself ends, then
/// reports its wait status. Returning ends the jail and, with it, the namespace.
fn reap_until_exit(status: &mut File, runtime: libc::pid_t) -> i32 {
    loop {
        let mut wait_status = 0;
        // SAFETY: waitpid writes the status into a live integer.
        let pid = unsafe { libc::waitpid(-1, &mut wait_status, 0) };
        if pid == runtime {
            let _ = writeln!(status, "exit {wait_status}");
            return 0;
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 1;
        }
    }
}
