//! Starting the jail from the (multi-threaded) server: `clone(2)` straight into new mount, uts and
//! ipc namespaces (and a new pid namespace for an environment's first jail), then `setns` into
//! the environment's network namespace and `execve` of `flint-jail`.
//!
//! The child shares the parent's memory until it executes (`CLONE_VM | CLONE_VFORK`, as
//! `posix_spawn` does), so no page tables of the server are copied, and the server thread
//! waits only for that exec. Until then the child runs on its own stack, with every signal
//! blocked, and makes system calls only: no allocation, no lock.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::jail::{CONFIG_FD, JOIN_FD, STATUS_FD};

/// The namespaces every jail gets new (its network namespace is prepared ahead).
const NAMESPACES: libc::c_int = libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;

/// Whether the jail starts a pid namespace of its own (the environment's first jail) or stays in
/// the server's to start its program in the namespaces of the first jail, whose pidfd it gets
/// as descriptor [`JOIN_FD`] (every later jail: a pid namespace can only be entered from an
/// ancestor).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pids<'a> {
    New,
    Joining(BorrowedFd<'a>),
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

/// What the child needs, prepared by the parent: descriptors to install as 0..count (0..=4,
/// and 5 for a joining jail), the network namespace and the program.
struct ChildArgs {
    fds: [RawFd; 6],
    count: usize,
    netns: RawFd,
    program: *const libc::c_char,
    argv: [*const libc::c_char; 2],
    envp: [*const libc::c_char; 1],
}

const CHILD_STACK: usize = 64 * 1024;

/// The jail's argv[0]: a program that embeds the jail (the `flint` binary) recognises it by
/// this name.
const JAIL_NAME: &std::ffi::CStr = c"flint-jail";

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Starts `jail` in new namespaces inside `netns`.
pub(crate) fn spawn(jail: &CString, netns: BorrowedFd<'_>, pids: Pids<'_>) -> io::Result<Spawned> {
    let null = std::fs::File::open("/dev/null")?;
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let (config_read, config_write) = pipe()?;
    let (status_read, status_write) = pipe()?;
    let mut args = ChildArgs {
        fds: [
            null.as_raw_fd(),
            stdout_write.as_raw_fd(),
            stderr_write.as_raw_fd(),
            config_read.as_raw_fd(),
            status_write.as_raw_fd(),
            match pids {
                Pids::New => -1,
                Pids::Joining(first) => first.as_raw_fd(),
            },
        ],
        count: match pids {
            Pids::New => 5,
            Pids::Joining(_) => 6,
        },
        netns: netns.as_raw_fd(),
        program: jail.as_ptr(),
        argv: [JAIL_NAME.as_ptr(), std::ptr::null()],
        envp: [std::ptr::null()],
    };
    let mut stack = vec![0u8; CHILD_STACK];
    let new_pids = match pids {
        Pids::New => libc::CLONE_NEWPID,
        Pids::Joining(_) => 0,
    };
    let flags = libc::CLONE_VM
        | libc::CLONE_VFORK
        | libc::CLONE_PIDFD
        | NAMESPACES
        | new_pids
        | libc::SIGCHLD;
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
/// the network namespace cannot be entered, 127 when the jail cannot be executed.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's ChildArgs, alive while the parent is suspended by vfork.
    let args = unsafe { &*(arg as *const ChildArgs) };
    // SAFETY: only system calls on descriptor numbers and the prepared C strings follow.
    unsafe {
        if libc::setns(args.netns, libc::CLONE_NEWNET) != 0 {
            return 126;
        }
        // Move the sources out of the way of 0..count before installing them, so no dup2
        // overwrites a source that is still needed.
        let mut high = [0; 6];
        for (high, fd) in high.iter_mut().zip(args.fds).take(args.count) {
            *high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
            if *high < 0 {
                return 127;
            }
        }
        for (target, fd) in high.iter().enumerate().take(args.count) {
            // dup2 clears close-on-exec on the target.
            if libc::dup2(*fd, target as libc::c_int) < 0 {
                return 127;
            }
        }
        // Everything else of the server stays out of the environment.
        libc::syscall(libc::SYS_close_range, args.count as u32, u32::MAX, 0u32);
        libc::execve(args.program, args.argv.as_ptr(), args.envp.as_ptr());
    }
    127
}

/// Fixed positions the jail expects; a compile-time check that the table above matches.
const _: () = assert!(CONFIG_FD == 3 && STATUS_FD == 4 && JOIN_FD == 5);
