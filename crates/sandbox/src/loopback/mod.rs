//! The loopback shortcut: messages between two sockets of one host, where the server side is
//! one of flint's listeners (the Runtime API in every environment, flint's API), skip the TCP
//! stack. Each message goes straight from the sender's socket into the receiver's queue
//! (BPF sockmap redirection, as service meshes do between local pods), so neither side pays for
//! segments, acknowledgements and the loopback device. Runtimes and clients see an ordinary TCP
//! connection: the handshake, the close and every socket option are TCP's.
//!
//! A `sock_ops` program linked to the root of the unified cgroup hierarchy sees every
//! connection of the host being established and puts both ends of a connection to an admitted
//! listener into a socket map; an `sk_msg` program on that map redirects each message to the
//! peer's end (see `program.rs`). Listeners are admitted by their network namespace and port
//! ([`admit`]); the key of a connection includes its namespace, so environments whose
//! addresses are all `127.0.0.1:9001` never meet.
//!
//! The shortcut is an optimisation only: without it (no root, no BPF, no unified hierarchy,
//! `install` never called) every connection is plain TCP, and a socket the map does not hold
//! (full, or the message came before its peer was put in) takes the TCP path too.
//!
//! Invariant: the kernel state lives exactly as long as the server: the link to the cgroup,
//! the programs and the maps are descriptors of this process.

mod bpf;

pub use bpf::LoadError;
mod program;

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::OnceLock;

/// How many sockets the map holds: two per connection (each environment holds one or two to
/// its Runtime API, clients of flint's API one each). Past that, connections use TCP.
const SOCKETS: u32 = 16_384;
/// How many listeners can be admitted: one per environment and flint's API.
const LISTENERS: u32 = 8_192;

static INSTALLED: OnceLock<Shortcut> = OnceLock::new();

/// Why the shortcut could not be installed (connections then use plain TCP).
#[derive(Debug, thiserror::Error)]
pub enum ShortcutError {
    #[error("no unified (v2) cgroup hierarchy is mounted")]
    NoUnifiedHierarchy,
    #[error("cannot open the unified cgroup hierarchy at {path}: {source}")]
    OpenCgroup { path: PathBuf, source: io::Error },
    #[error("cannot create a BPF map: {0}")]
    CreateMap(io::Error),
    #[error("the kernel refused the {program} program: {source}")]
    LoadProgram {
        program: &'static str,
        source: bpf::LoadError,
    },
    #[error("cannot attach the sk_msg program to the socket map: {0}")]
    AttachToMap(io::Error),
    #[error("cannot link the sock_ops program to {path}: {source}")]
    LinkToCgroup { path: PathBuf, source: io::Error },
}

/// The installed programs and maps.
#[derive(Debug)]
struct Shortcut {
    listeners: OwnedFd,
    _sockets: OwnedFd,
    _sk_msg: OwnedFd,
    _sock_ops: OwnedFd,
    _link: OwnedFd,
}

/// Installs the shortcut for the rest of this process's life; once installed, later calls do
/// nothing. Listeners must be admitted after it.
pub fn install() -> Result<(), ShortcutError> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let shortcut = Shortcut::install()?;
    let _ = INSTALLED.set(shortcut);
    Ok(())
}

/// A listener whose connections take the shortcut; admitted until dropped.
#[derive(Debug)]
pub struct Admission {
    key: [u8; program::LISTENER_KEY_BYTES as usize],
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(shortcut) = INSTALLED.get() {
            let _ = bpf::delete(shortcut.listeners.as_fd(), &self.key);
        }
    }
}

/// Admits `listener` (a bound IPv4 TCP socket): connections it accepts from sockets of the same
/// host and namespace take the shortcut while the answer lives. `None` when the shortcut is
/// not installed or the listener cannot be admitted (its connections then use plain TCP).
pub fn admit(listener: BorrowedFd<'_>) -> Option<Admission> {
    let shortcut = INSTALLED.get()?;
    listener_key(listener)
        .and_then(|key| bpf::update(shortcut.listeners.as_fd(), &key, &[1]).map(|()| key))
        .inspect_err(
            |error| tracing::debug!(%error, "a listener is not admitted to the loopback shortcut"),
        )
        .ok()
        .map(|key| Admission { key })
}

/// The listener's key in the programs' terms: its namespace cookie, its port, zero.
fn listener_key(listener: BorrowedFd<'_>) -> io::Result<[u8; 16]> {
    let cookie = netns_cookie(listener)?;
    let port = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrIn>(listener.as_raw_fd())
        .map_err(io::Error::from)?
        .port();
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&cookie.to_ne_bytes());
    key[8..12].copy_from_slice(&u32::from(port).to_ne_bytes());
    Ok(key)
}

/// The cookie of the network namespace `socket` belongs to (`SO_NETNS_COOKIE`).
fn netns_cookie(socket: BorrowedFd<'_>) -> io::Result<u64> {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let mut cookie = 0u64;
    let mut length = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `length` bytes into `cookie`, which lives across the
    // call, and updates `length`.
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            std::ptr::from_mut(&mut cookie).cast(),
            &mut length,
        )
    };
    if result == 0 {
        Ok(cookie)
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Shortcut {
    fn install() -> Result<Self, ShortcutError> {
        let root = unified_root().ok_or(ShortcutError::NoUnifiedHierarchy)?;
        let cgroup: OwnedFd = std::fs::File::open(&root)
            .map_err(|source| ShortcutError::OpenCgroup {
                path: root.clone(),
                source,
            })?
            .into();
        let listeners = bpf::create_map(
            bpf::MAP_TYPE_HASH,
            program::LISTENER_KEY_BYTES,
            1,
            LISTENERS,
            bpf::NO_PREALLOC,
        )
        .map_err(ShortcutError::CreateMap)?;
        let sockets = bpf::create_map(
            bpf::MAP_TYPE_SOCKHASH,
            program::SOCKET_KEY_BYTES,
            4,
            SOCKETS,
            0,
        )
        .map_err(ShortcutError::CreateMap)?;
        let sk_msg = bpf::load(bpf::PROG_TYPE_SK_MSG, &program::sk_msg(sockets.as_fd())).map_err(
            |source| ShortcutError::LoadProgram {
                program: "sk_msg",
                source,
            },
        )?;
        bpf::attach_to_map(sk_msg.as_fd(), sockets.as_fd(), bpf::ATTACH_SK_MSG_VERDICT)
            .map_err(ShortcutError::AttachToMap)?;
        let sock_ops = bpf::load(
            bpf::PROG_TYPE_SOCK_OPS,
            &program::sock_ops(listeners.as_fd(), sockets.as_fd()),
        )
        .map_err(|source| ShortcutError::LoadProgram {
            program: "sock_ops",
            source,
        })?;
        let link = bpf::link_to_cgroup(
            sock_ops.as_fd(),
            cgroup.as_fd(),
            bpf::ATTACH_CGROUP_SOCK_OPS,
        )
        .map_err(|source| ShortcutError::LinkToCgroup { path: root, source })?;
        Ok(Self {
            listeners,
            _sockets: sockets,
            _sk_msg: sk_msg,
            _sock_ops: sock_ops,
            _link: link,
        })
    }
}

/// Where the unified hierarchy's root is mounted.
fn unified_root() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    crate::cgroup::unified_mount(&mountinfo)
}

#[cfg(test)]
mod tests;
