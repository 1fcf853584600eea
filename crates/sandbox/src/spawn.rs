//! Starting the jail from the (multi-threaded) server: `clone(2)` straight into new namespaces,
//! then `execve` of `flint-jail`.
//!
//! As root, the jail gets new mount, uts and ipc namespaces (and a new pid namespace for an
//! environment's first jail) and enters the environment's network namespace, prepared ahead
//! by the server. Without root ([`Start::Rootless`]), the environment's first jail starts in a
//! new user namespace that owns all of its new namespaces, the network one included: the child
//! maps the server's user and group to the sandbox's (the one mapping an unprivileged user may
//! write) and raises its capabilities into the ambient set, so that the jail keeps them, in
//! that user namespace only, through `execve`. Later jails of a rootless environment start
//! without namespaces of their own and enter the first one's.
//!
//! The child shares the parent's memory until it executes (`CLONE_VM | CLONE_VFORK`, as
//! `posix_spawn` does), so no page tables of the server are copied, and the server thread
//! waits only for that exec. Until then the child runs on its own stack, with every signal
//! blocked, and makes system calls only: no allocation, no lock.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::jail::{
    CONFIG_FD, CapData, CapHeader, INIT_FD, JOIN_FD, LINUX_CAPABILITY_VERSION_3, SERVICE_FD,
    STATUS_FD,
};

/// The namespaces every jail started as root gets new (its network namespace is prepared
/// ahead).
const NAMESPACES: libc::c_int = libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;

/// The namespaces a rootless environment's first jail gets new: a user namespace and every
/// namespace it owns.
const ROOTLESS_NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWPID;

/// Whether the jail starts a pid namespace of its own (the environment's first jail) or stays in
/// the server's to start its program in the namespaces of the first jail, whose pidfd it gets
/// as descriptor [`JOIN_FD`] (every later jail: a pid namespace can only be entered from an
/// ancestor).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pids<'a> {
    New,
    Joining(BorrowedFd<'a>),
}

/// How a jail is started.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start<'a> {
    /// As root, in the environment's network namespace `netns`.
    Privileged {
        netns: BorrowedFd<'a>,
        pids: Pids<'a>,
    },
    /// Without root, an environment's first jail, in a new user namespace with `maps`; the
    /// jail's end of the environment's service socket becomes descriptor [`SERVICE_FD`].
    Rootless {
        service: BorrowedFd<'a>,
        maps: &'a IdMaps,
    },
    /// Without root, a later jail: it enters the first jail's namespaces itself (its pidfd
    /// becomes descriptor [`JOIN_FD`]).
    RootlessJoining { first: BorrowedFd<'a> },
}

/// The contents of a rootless jail's `uid_map` and `gid_map`: the sandbox user and group
/// inside are the server's own user and group outside, and no other ids exist inside.
#[derive(Debug)]
pub(crate) struct IdMaps {
    uid_map: CString,
    gid_map: CString,
}

impl IdMaps {
    /// Maps `inside_uid`/`inside_gid` to the server's effective user and group.
    pub(crate) fn for_server(inside_uid: u32, inside_gid: u32) -> IdMaps {
        // SAFETY: geteuid and getegid cannot fail and have no side effects.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        IdMaps::new(inside_uid, uid, inside_gid, gid)
    }

    fn new(inside_uid: u32, uid: u32, inside_gid: u32, gid: u32) -> IdMaps {
        let line = |inside: u32, outside: u32| {
            CString::new(format!("{inside} {outside} 1\n")).expect("digits and spaces only")
        };
        IdMaps {
            uid_map: line(inside_uid, uid),
            gid_map: line(inside_gid, gid),
        }
    }
}

/// A started jail, seen from the server.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: libc::pid_t,
    pub(crate) pidfd: OwnedFd,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    pub(crate) status: OwnedFd,
    /// Where the jail's configuration is written (once, then closed).
    pub(crate) config: OwnedFd,
}

/// What the child needs, prepared by the parent: descriptors to install as 0..=6 (-1 leaves
/// that number closed: 5 is only for a joining jail or a rootless first one, 6 only where
/// `flint-init` exists), the network namespace to enter (or -1), the id maps to write (or
/// null) and the program.
struct ChildArgs {
    fds: [RawFd; FDS],
    netns: RawFd,
    uid_map: *const libc::c_char,
    gid_map: *const libc::c_char,
    program: *const libc::c_char,
    argv: [*const libc::c_char; 2],
    envp: [*const libc::c_char; 1],
}

const CHILD_STACK: usize = 64 * 1024;
/// Descriptors a jail starts with.
const FDS: usize = 7;

/// The jail's argv[0]: a program that embeds the jail (the `flint` binary) recognises it by
/// this name.
const JAIL_NAME: &CStr = c"flint-jail";

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Starts `jail` as `start` says, with `init` (a `flint-init` memory file) where there is one.
pub(crate) fn spawn(
    jail: &CString,
    start: Start<'_>,
    init: Option<BorrowedFd<'_>>,
) -> io::Result<Spawned> {
    let null = std::fs::File::open("/dev/null")?;
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let (config_read, config_write) = pipe()?;
    let (status_read, status_write) = pipe()?;
    let (fifth, netns, maps, namespaces) = match start {
        Start::Privileged {
            netns,
            pids: Pids::New,
        } => (
            None,
            netns.as_raw_fd(),
            None,
            NAMESPACES | libc::CLONE_NEWPID,
        ),
        Start::Privileged {
            netns,
            pids: Pids::Joining(first),
        } => (Some(first), netns.as_raw_fd(), None, NAMESPACES),
        Start::Rootless { service, maps } => (Some(service), -1, Some(maps), ROOTLESS_NAMESPACES),
        Start::RootlessJoining { first } => (Some(first), -1, None, 0),
    };
    let mut args = ChildArgs {
        fds: [
            null.as_raw_fd(),
            stdout_write.as_raw_fd(),
            stderr_write.as_raw_fd(),
            config_read.as_raw_fd(),
            status_write.as_raw_fd(),
            fifth.map_or(-1, |fd| fd.as_raw_fd()),
            init.map_or(-1, |fd| fd.as_raw_fd()),
        ],
        netns,
        uid_map: maps.map_or(std::ptr::null(), |maps| maps.uid_map.as_ptr()),
        gid_map: maps.map_or(std::ptr::null(), |maps| maps.gid_map.as_ptr()),
        program: jail.as_ptr(),
        argv: [JAIL_NAME.as_ptr(), std::ptr::null()],
        envp: [std::ptr::null()],
    };
    let mut stack = vec![0u8; CHILD_STACK];
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | namespaces | libc::SIGCHLD;
    let mut pidfd: libc::c_int = -1;

    // SAFETY: sigset_t is plain data, filled by sigfillset; the old mask is restored below.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are valid; blocking signals keeps the server's handlers from running on
    // the child's stack while it shares the server's memory.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: the stack grows down from its end (x86_64 and aarch64), 16-byte aligned; `args`
    // and the stack outlive the child's use of them because CLONE_VFORK suspends this thread
    // until the child has executed or exited; the child function only makes system calls.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(CHILD_STACK);
        let top = top.sub(top as usize % 16);
        libc::clone(
            child,
            top.cast(),
            flags,
            (&mut args as *mut ChildArgs).cast(),
            &mut pidfd as *mut libc::c_int,
        )
    };
    let error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    drop(stack);
    if pid < 0 {
        return Err(error);
    }
    // SAFETY: CLONE_PIDFD stored a new descriptor we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop((null, stdout_write, stderr_write, config_read, status_write));
    Ok(Spawned {
        pid,
        pidfd,
        stdout: stdout_read,
        stderr: stderr_read,
        status: status_read,
        config: config_write,
    })
}

/// The child between clone and exec. Returns (as its exit status) only on failure: 126 when
/// the network namespace cannot be entered, 125 when the user namespace cannot be set up, 127
/// when the jail cannot be executed.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's ChildArgs, alive while the parent is suspended by vfork.
    let args = unsafe { &*(arg as *const ChildArgs) };
    // SAFETY: only system calls on descriptor numbers, the prepared C strings and plain data
    // on this stack follow.
    unsafe {
        if args.netns >= 0 && libc::setns(args.netns, libc::CLONE_NEWNET) != 0 {
            return 126;
        }
        if !args.uid_map.is_null() && !become_sandbox_user(args) {
            return 125;
        }
        // Move the sources out of the way of 0..FDS before installing them, so no dup2
        // overwrites a source that is still needed.
        let mut high = [-1; FDS];
        for (high, fd) in high.iter_mut().zip(args.fds) {
            if fd >= 0 {
                *high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                if *high < 0 {
                    return 127;
                }
            }
        }
        for (target, fd) in high.iter().enumerate() {
            let target = target as libc::c_int;
            if *fd < 0 {
                libc::close(target);
            } else if libc::dup2(*fd, target) < 0 {
                // (dup2 clears close-on-exec on the target.)
                return 127;
            }
        }
        // Everything else of the server stays out of the environment.
        libc::syscall(libc::SYS_close_range, FDS as u32, u32::MAX, 0u32);
        libc::execve(args.program, args.argv.as_ptr(), args.envp.as_ptr());
    }
    127
}

/// In a new user namespace (where the child holds every capability): writes its own id maps,
/// which makes it the sandbox user inside, and raises every capability into the ambient set,
/// so that the jail it executes keeps them although it is not root inside. They are
/// capabilities over the user namespace's own namespaces only; the host sees the server's
/// unprivileged user.
///
/// # Safety
///
/// `args.uid_map` and `args.gid_map` point to NUL-terminated strings.
unsafe fn become_sandbox_user(args: &ChildArgs) -> bool {
    // SAFETY: the paths and contents are NUL-terminated strings; the capability structures
    // are plain data on this stack that capget fills and capset reads.
    unsafe {
        // An unprivileged user may write a gid map only once setgroups is denied.
        if !write_file(c"/proc/self/setgroups", c"deny".as_ptr())
            || !write_file(c"/proc/self/uid_map", args.uid_map)
            || !write_file(c"/proc/self/gid_map", args.gid_map)
        {
            return false;
        }
        let header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        if libc::syscall(libc::SYS_capget, &header, data.as_mut_ptr()) != 0 {
            return false;
        }
        for word in &mut data {
            word.inheritable = word.permitted;
        }
        if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0 {
            return false;
        }
        // Every capability the kernel knows; the first one it does not ends the loop.
        for cap in 0..64 {
            let raise = libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap, 0, 0);
            if raise != 0 {
                return cap > 0;
            }
        }
        true
    }
}

/// Writes a NUL-terminated string to `path` with one write.
///
/// # Safety
///
/// `contents` points to a NUL-terminated string.
unsafe fn write_file(path: &CStr, contents: *const libc::c_char) -> bool {
    // SAFETY: both pointers are NUL-terminated strings; the descriptor is closed before
    // returning.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let len = libc::strlen(contents);
        let written = libc::write(fd, contents.cast(), len);
        libc::close(fd);
        written == len as isize
    }
}

/// Fixed positions the jail expects; a compile-time check that the table above matches.
const _: () =
    assert!(CONFIG_FD == 3 && STATUS_FD == 4 && JOIN_FD == 5 && SERVICE_FD == 5 && INIT_FD == 6);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_servers_ids_to_the_sandbox_user_only() {
        let maps = IdMaps::new(993, 1000, 990, 100);
        assert_eq!(maps.uid_map.to_str().unwrap(), "993 1000 1\n");
        assert_eq!(maps.gid_map.to_str().unwrap(), "990 100 1\n");
    }
}
