//! flint's API inside an environment: connections to the forwarding listener in the
//! environment's network namespace are relayed to the server's real address.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Starts relaying connections accepted on `listener` to `api`. Ends when aborted.
pub(crate) fn start(
    listener: std::net::TcpListener,
    api: SocketAddr,
) -> io::Result<JoinHandle<()>> {
    let listener = TcpListener::from_std(listener)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((inbound, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(relay(inbound, api));
        }
    }))
}

async fn relay(mut inbound: TcpStream, api: SocketAddr) {
    let Ok(mut outbound) = TcpStream::connect(api).await else {
        return;
    };
    // Small requests must not wait for delayed acknowledgements on either leg.
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn relays_both_ways() {
        let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_addr = api.local_addr().unwrap();
        let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        front.set_nonblocking(true).unwrap();
        let front_addr = front.local_addr().unwrap();
        let relay = start(front, api_addr).unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = api.accept().await.unwrap();
            let mut buf = [0u8; 4];
            socket.read_exact(&mut buf).await.unwrap();
            socket.write_all(b"pong").await.unwrap();
            buf
        });
        let mut client = TcpStream::connect(front_addr).await.unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut answer = [0u8; 4];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"pong");
        assert_eq!(&server.await.unwrap(), b"ping");
        relay.abort();
    }
}
