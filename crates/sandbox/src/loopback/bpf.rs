//! The few bpf(2) commands the loopback shortcut needs: create a map, update and delete one of
//! its elements, load a program, attach a program to a map, and link a program to a cgroup.
//!
//! Each command's argument is the kernel's `union bpf_attr` cut down to the command's own
//! fields (`#[repr(C)]`, the layout of `linux/bpf.h`); the kernel takes a shorter union and
//! reads the rest as zero.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::program::Instruction;

const MAP_CREATE: libc::c_int = 0;
const MAP_UPDATE_ELEM: libc::c_int = 2;
const MAP_DELETE_ELEM: libc::c_int = 3;
const PROG_LOAD: libc::c_int = 5;
const PROG_ATTACH: libc::c_int = 8;
const LINK_CREATE: libc::c_int = 28;

pub(super) const MAP_TYPE_HASH: u32 = 1;
pub(super) const MAP_TYPE_SOCKHASH: u32 = 18;
/// Elements are allocated when inserted, not all when the map is made.
pub(super) const NO_PREALLOC: u32 = 1;
pub(super) const PROG_TYPE_SOCK_OPS: u32 = 13;
pub(super) const PROG_TYPE_SK_MSG: u32 = 16;
pub(super) const ATTACH_CGROUP_SOCK_OPS: u32 = 3;
pub(super) const ATTACH_SK_MSG_VERDICT: u32 = 7;

/// How much of the verifier's explanation a refused program reports.
const VERIFIER_LOG_BYTES: usize = 64 * 1024;

#[repr(C)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

#[repr(C)]
struct Element {
    map_fd: u32,
    _padding: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

#[repr(C)]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

#[repr(C)]
struct LinkCreate {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
}

/// Calls bpf(2) with `command` and its argument.
fn bpf<T>(command: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a `#[repr(C)]` prefix of `union bpf_attr` for `command`, valid for
    // reads and writes of its size for the whole call; every pointer inside it points to
    // memory that outlives the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            std::ptr::from_mut(attr),
            std::mem::size_of::<T>(),
        )
    };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Calls a bpf(2) command that answers a new descriptor.
fn bpf_fd<T>(command: libc::c_int, attr: &mut T) -> io::Result<OwnedFd> {
    let fd = bpf(command, attr)?;
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("bpf(2) answered no descriptor"))?;
    // SAFETY: the command succeeded and answered a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn raw(fd: BorrowedFd<'_>) -> u32 {
    // Descriptors are never negative.
    fd.as_raw_fd().unsigned_abs()
}

pub(super) fn create_map(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> io::Result<OwnedFd> {
    bpf_fd(
        MAP_CREATE,
        &mut MapCreate {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags,
        },
    )
}

/// Sets `key` to `value` in `map` (the map's sizes are the slices' lengths).
pub(super) fn update(map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    bpf(
        MAP_UPDATE_ELEM,
        &mut Element {
            map_fd: raw(map),
            _padding: 0,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            flags: 0,
        },
    )
    .map(drop)
}

pub(super) fn delete(map: BorrowedFd<'_>, key: &[u8]) -> io::Result<()> {
    bpf(
        MAP_DELETE_ELEM,
        &mut Element {
            map_fd: raw(map),
            _padding: 0,
            key: key.as_ptr() as u64,
            value: 0,
            flags: 0,
        },
    )
    .map(drop)
}

/// Why the kernel refused a program: the OS error and what the verifier said.
#[derive(Debug, thiserror::Error)]
#[error("{source}{}", if log.is_empty() { String::new() } else { format!(": {log}") })]
pub struct LoadError {
    #[source]
    source: io::Error,
    log: String,
}

/// Loads a program. A refused program is loaded again with the verifier's log on, so the error
/// says why.
pub(super) fn load(prog_type: u32, instructions: &[Instruction]) -> Result<OwnedFd, LoadError> {
    let license = c"Dual MIT/GPL";
    let mut attr = ProgLoad {
        prog_type,
        insn_cnt: u32::try_from(instructions.len()).unwrap_or(u32::MAX),
        insns: instructions.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
    };
    let source = match bpf_fd(PROG_LOAD, &mut attr) {
        Ok(fd) => return Ok(fd),
        Err(error) => error,
    };
    let mut log = vec![0u8; VERIFIER_LOG_BYTES];
    attr.log_level = 1;
    attr.log_size = VERIFIER_LOG_BYTES as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    let _ = bpf_fd(PROG_LOAD, &mut attr);
    let end = log.iter().position(|&byte| byte == 0).unwrap_or(log.len());
    let log = String::from_utf8_lossy(&log[..end]);
    // The verifier's last lines say what it refused.
    let tail: Vec<&str> = log.lines().rev().take(4).collect();
    Err(LoadError {
        source,
        log: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
    })
}

/// Attaches `program` to `map` (a sockmap's verdict program).
pub(super) fn attach_to_map(
    program: BorrowedFd<'_>,
    map: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    bpf(
        PROG_ATTACH,
        &mut Attach {
            target_fd: raw(map),
            attach_bpf_fd: raw(program),
            attach_type,
            attach_flags: 0,
        },
    )
    .map(drop)
}

/// Links `program` to the cgroup `cgroup` (a directory descriptor). The link, unlike a plain
/// attachment, ends when its descriptor closes, so a server that dies leaves nothing behind;
/// it also lets other programs stay attached to the same cgroup.
pub(super) fn link_to_cgroup(
    program: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<OwnedFd> {
    bpf_fd(
        LINK_CREATE,
        &mut LinkCreate {
            prog_fd: raw(program),
            target_fd: raw(cgroup),
            attach_type,
            flags: 0,
        },
    )
}
