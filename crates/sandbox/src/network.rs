//! Network namespaces, prepared ahead. Each environment gets a namespace of its own whose
//! loopback holds its Runtime API listener (127.0.0.1:9001, as on Lambda) and a listener that
//! forwards to flint's API (`AWS_ENDPOINT_URL`), so environments can all listen on the same
//! ports. With egress, a veth pair with a link-local /30 and a default route through the host
//! (NAT'd by [`crate::egress`]) gives it outbound connections.
//!
//! Creating a namespace costs about half a millisecond with a fat tail (milliseconds), and the
//! veth set-up runs `ip`, so namespaces are made ahead of time (see `ahead.rs`).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The Runtime API's address inside every environment.
pub(crate) const RUNTIME_API: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9001);
/// Where flint's API is reachable inside every environment.
pub(crate) const ENDPOINT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9000);

/// How environments reach the outside: veth pairs named `flint-<n>`, each with the n-th /30 of
/// `base` (a link-local range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EgressPlan {
    pub(crate) base: Ipv4Addr,
    /// How many /30 subnets the range holds.
    pub(crate) slots: u32,
}

impl EgressPlan {
    /// The host's and the environment's address of slot `n`.
    pub(crate) fn addresses(&self, n: u32) -> (Ipv4Addr, Ipv4Addr) {
        let network = u32::from(self.base) + 4 * n;
        (Ipv4Addr::from(network + 1), Ipv4Addr::from(network + 2))
    }

    pub(crate) fn interface(n: u32) -> String {
        format!("flint-{n}")
    }
}

/// Creates a namespace with its loopback up and both listeners bound. A thread of its own
/// enters the new namespace, so the server's threads stay where they are; the descriptor and
/// the sockets keep the namespace alive after that thread ends.
pub(crate) fn create_namespace() -> io::Result<(OwnedFd, TcpListener, TcpListener)> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: unshare takes flags only; a network namespace may be unshared by one
                // thread of a multi-threaded process.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                let netns: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")?.into();
                without_ipv6_links();
                let (runtime_api, endpoint) = listen_inside()?;
                Ok((netns, runtime_api, endpoint))
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    })
}

/// Interfaces created in the calling thread's namespace from now on (the environment's end of
/// its veth pair) get no IPv6: egress is IPv4 only, and an IPv6 link costs every idle
/// environment about 12 KiB of kernel memory. The loopback keeps `::1`. Hosts without IPv6
/// have nothing to turn off. (`/proc/sys/net` shows the namespace of the thread that looks.)
fn without_ipv6_links() {
    let _ = std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
}

/// In the calling thread's (new) network namespace: brings the loopback up and binds the
/// Runtime API listener and the one forwarding to flint's API (non-blocking).
pub(crate) fn listen_inside() -> io::Result<(TcpListener, TcpListener)> {
    loopback_up()?;
    let runtime_api = TcpListener::bind(RUNTIME_API)?;
    let endpoint = TcpListener::bind(ENDPOINT)?;
    runtime_api.set_nonblocking(true)?;
    endpoint.set_nonblocking(true)?;
    Ok((runtime_api, endpoint))
}

/// Connects to `127.0.0.1:port` inside `netns`, from a thread of its own that enters it (the
/// socket stays usable from any thread afterwards).
pub(crate) fn connect_inside(netns: &OwnedFd, port: u16) -> io::Result<std::net::TcpStream> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns on this scoped thread only; the thread ends right after.
                if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the connecting thread panicked")))
    })
}

/// Sets IFF_UP on `lo` of the calling thread's namespace.
fn loopback_up() -> io::Result<()> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).or_else(|_| {
        // Binding needs the loopback up on some kernels; any datagram socket serves the ioctl.
        std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
    })?;
    // SAFETY: ifreq is plain data; all-zero is valid before the name is filled in.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the flags field of a valid ifreq.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) != 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `ip -batch -` with `commands`, inside `netns` when given.
fn ip(commands: &str, netns: Option<&OwnedFd>) -> io::Result<()> {
    let mut command = Command::new("ip");
    command
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(netns) = netns {
        let fd = netns.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and only calls setns.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = command.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        io::Write::write_all(&mut stdin, commands.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Connects `netns` to the host with a veth pair on a free slot. A slot is taken by creating its interface, so servers sharing a host never collide.
pub(crate) fn connect(netns: &OwnedFd, plan: &EgressPlan, next: &AtomicU32) -> io::Result<()> {
    let path = format!("/proc/{}/fd/{}", std::process::id(), netns.as_raw_fd());
    for _ in 0..plan.slots {
        let n = next.fetch_add(1, Ordering::Relaxed) % plan.slots;
        let interface = EgressPlan::interface(n);
        match ip(
            &format!("link add {interface} type veth peer name eth0 netns {path}\n"),
            None,
        ) {
            Ok(()) => {}
            Err(error) if error.to_string().contains("exists") => continue,
            Err(error) => return Err(error),
        }
        // The host's end gets no IPv6 either (see `without_ipv6_links`).
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{interface}/disable_ipv6"),
            "1",
        );
        let (host, inside) = plan.addresses(n);
        ip(
            &format!("addr add {host}/30 dev {interface}\nlink set {interface} up\n"),
            None,
        )?;
        ip(
            &format!(
                "addr add {inside}/30 dev eth0\nlink set eth0 up\nroute add default via {host}\n"
            ),
            Some(netns),
        )?;
        return Ok(());
    }
    Err(io::Error::other("no free link-local slot for a veth pair"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_link_local_slash_30s() {
        let plan = EgressPlan {
            base: Ipv4Addr::new(169, 254, 128, 0),
            slots: 8192,
        };
        assert_eq!(
            plan.addresses(0),
            (
                Ipv4Addr::new(169, 254, 128, 1),
                Ipv4Addr::new(169, 254, 128, 2)
            )
        );
        assert_eq!(
            plan.addresses(8191),
            (
                Ipv4Addr::new(169, 254, 255, 253),
                Ipv4Addr::new(169, 254, 255, 254)
            )
        );
        assert_eq!(EgressPlan::interface(8191), "flint-8191");
    }
}
