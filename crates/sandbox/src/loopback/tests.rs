//! The shortcut for real, in a network namespace of the test's own. Needs root; runs only with
//! `RUN_PRIVILEGED_TESTS=1` (CI sets it).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use super::*;
use crate::network;

fn privileged() -> bool {
    let run = std::env::var("RUN_PRIVILEGED_TESTS").as_deref() == Ok("1");
    if !run {
        eprintln!(
            "skipped: set RUN_PRIVILEGED_TESTS=1 to install the loopback shortcut (needs root)"
        );
    }
    run
}

/// How many TCP segments `stream` sent (data, acknowledgements and the handshake alike).
fn segments_sent(stream: &TcpStream) -> u32 {
    // SAFETY: tcp_info is plain data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `length` bytes into `info`, which outlives the call.
    let result = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut length,
        )
    };
    assert_eq!(result, 0, "TCP_INFO: {}", io::Error::last_os_error());
    info.tcpi_segs_out
}

/// A connection to `listener` (bound to `port` in `netns`): the client's and the server's end.
fn connect(netns: &OwnedFd, listener: &TcpListener, port: u16) -> (TcpStream, TcpStream) {
    let client = network::connect_inside(netns, port).expect("connect");
    listener.set_nonblocking(false).expect("blocking accept");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// Sends `message` from `sender` and checks that `receiver` reads exactly it.
fn pass(sender: &mut TcpStream, receiver: &mut TcpStream, message: &str) {
    sender.write_all(message.as_bytes()).expect("send");
    let mut received = vec![0u8; message.len()];
    receiver.read_exact(&mut received).expect("read");
    assert_eq!(received, message.as_bytes());
}

/// Request and answer `rounds` times, then one megabyte each way; checks every byte.
fn converse(client: &mut TcpStream, server: &mut TcpStream, rounds: usize) {
    for round in 0..rounds {
        pass(client, server, &format!("request {round:08}"));
        pass(server, client, &format!("answer {round:08}"));
    }
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let (mut sender, mut receiver) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    for _ in 0..2 {
        let payload = big.clone();
        let writer = std::thread::spawn(move || {
            sender.write_all(&payload).expect("send a megabyte");
            sender
        });
        let mut received = vec![0u8; big.len()];
        receiver.read_exact(&mut received).expect("read a megabyte");
        assert!(received == big, "a megabyte arrives intact");
        sender = writer.join().unwrap();
        std::mem::swap(&mut sender, &mut receiver);
    }
}

#[test]
fn connections_to_an_admitted_listener_skip_tcp_and_no_others_do() {
    if !privileged() {
        return;
    }
    install().expect("install the shortcut");
    let (netns, runtime_api, endpoint) = network::create_namespace().expect("a namespace");
    let admission = admit(runtime_api.as_fd()).expect("the listener is admitted");

    let (mut client, mut server) = connect(&netns, &runtime_api, 9001);
    converse(&mut client, &mut server, 200);
    let sent = (segments_sent(&client), segments_sent(&server));
    assert!(
        sent.0 < 10 && sent.1 < 10,
        "200 round trips and 2 MiB over the shortcut send no segments beyond the handshake: {sent:?}"
    );
    drop(client);
    let mut rest = Vec::new();
    server
        .read_to_end(&mut rest)
        .expect("the close reaches the server");
    assert!(rest.is_empty());

    // The namespace's other listener is not admitted: plain TCP.
    let (mut client, mut server) = connect(&netns, &endpoint, 9000);
    converse(&mut client, &mut server, 200);
    assert!(
        segments_sent(&client) >= 200,
        "TCP carries what is not admitted"
    );

    // Nor is the admitted one once its admission is dropped.
    drop(admission);
    let (mut client, mut server) = connect(&netns, &runtime_api, 9001);
    converse(&mut client, &mut server, 200);
    assert!(
        segments_sent(&client) >= 200,
        "TCP carries what is no longer admitted"
    );
}
