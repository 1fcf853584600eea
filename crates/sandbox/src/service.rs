//! A rootless environment's service socket: how the server gets sockets of the environment's
//! network namespace, which it cannot enter itself.
//!
//! As root the server makes each environment's network namespace ahead and binds the
//! environment's listeners in it from a thread of its own. Without root, the network namespace
//! belongs to the environment's user namespace and only its first jail can act in it, so the
//! jail binds the Runtime API and forwarding listeners and passes them to the server over a
//! unix socket pair (`SCM_RIGHTS`). Later the server asks it for a fresh TCP socket whenever it
//! must connect to a listener inside (an extension's Telemetry API listener): a socket keeps
//! the network namespace it was made in, so the server connects it from outside.
//!
//! The server's end closing (the server ended, however it ended) ends the jail, and with it the
//! environment: a rootless environment never outlives its server.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, SockaddrIn,
};

/// The request for a fresh TCP socket.
const SOCKET: u8 = b's';
/// The message that carries descriptors.
const DESCRIPTORS: u8 = b'd';
/// The most descriptors one message carries.
const MOST: usize = 2;

/// A connected pair: (the server's end, the jail's end). Message boundaries are kept.
pub(crate) fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

/// Sends `fds` (at most two) to the other end.
pub(crate) fn send(service: impl AsFd, fds: &[RawFd]) -> io::Result<()> {
    debug_assert!(fds.len() <= MOST);
    let payload = [DESCRIPTORS];
    let iov = [IoSlice::new(&payload)];
    let rights = [ControlMessage::ScmRights(fds)];
    nix::sys::socket::sendmsg::<()>(
        service.as_fd().as_raw_fd(),
        &iov,
        &rights,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
    .map_err(io::Error::from)
}

/// Receives the descriptors of one message (`count` of them).
pub(crate) fn receive(service: impl AsFd, count: usize) -> io::Result<Vec<OwnedFd>> {
    let mut payload = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut payload)];
    let mut space = nix::cmsg_space!([RawFd; MOST]);
    let message = nix::sys::socket::recvmsg::<()>(
        service.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for cmsg in message.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: the kernel installed these descriptors for this process just now; each
            // is owned here exactly once.
            fds.extend(
                received
                    .into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    if message.bytes == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the environment's jail ended",
        ));
    }
    if fds.len() != count {
        return Err(io::Error::other(format!(
            "the environment's jail sent {} descriptors, not {count}",
            fds.len()
        )));
    }
    Ok(fds)
}

/// Asks the jail for a TCP socket of the environment's network namespace and connects it to
/// `127.0.0.1:port` there (blocking).
pub(crate) fn connect_inside(service: impl AsFd, port: u16) -> io::Result<std::net::TcpStream> {
    let service = service.as_fd();
    nix::sys::socket::send(service.as_raw_fd(), &[SOCKET], MsgFlags::MSG_NOSIGNAL)
        .map_err(io::Error::from)?;
    let socket = receive(service, 1)?
        .pop()
        .ok_or_else(|| io::Error::other("no socket"))?;
    let address = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    nix::sys::socket::connect(socket.as_raw_fd(), &address).map_err(io::Error::from)?;
    Ok(std::net::TcpStream::from(socket))
}

/// The jail's side: reads one request and answers it. `false` when the server's end is closed.
pub(crate) fn answer(service: impl AsFd) -> io::Result<bool> {
    let service = service.as_fd();
    let mut request = [0u8; 1];
    let read = nix::sys::socket::recv(service.as_raw_fd(), &mut request, MsgFlags::empty())
        .map_err(io::Error::from)?;
    if read == 0 {
        return Ok(false);
    }
    if request[0] == SOCKET {
        let socket = nix::sys::socket::socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(io::Error::from)?;
        send(service, &[socket.as_raw_fd()])?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn passes_listeners_and_sockets_across() {
        let (server, jail) = pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        send(&jail, &[listener.as_raw_fd(), listener.as_raw_fd()]).unwrap();
        let received = receive(&server, 2).unwrap();
        let copy = std::net::TcpListener::from(received.into_iter().next().unwrap());
        assert_eq!(copy.local_addr().unwrap().port(), port);

        let answering = std::thread::spawn(move || answer(&jail).unwrap());
        let mut stream = connect_inside(&server, port).unwrap();
        assert!(answering.join().unwrap());
        let (mut accepted, _) = listener.accept().unwrap();
        stream.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        accepted.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn the_jail_sees_the_server_go_and_the_server_the_jail() {
        let (server, jail) = pair().unwrap();
        drop(server);
        assert!(!answer(&jail).unwrap());
        let (server, jail) = pair().unwrap();
        drop(jail);
        let error = receive(&server, 2).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
