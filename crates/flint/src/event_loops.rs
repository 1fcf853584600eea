//! The threads that serve flint's APIs: one single-threaded event loop per worker, each serving
//! its share of the API's connections from start to end.
//!
//! An invoke is a chain of hand-offs (the client's request, the runtime's `/next` answer, its
//! `/response`, the client's answer), each a few microseconds of work. A work-stealing runtime
//! spends more than that moving them between threads and waking idle ones: measured on two
//! cores, a single-threaded loop costs flint 61-68 us of CPU per invoke at concurrency 8 where
//! tokio's multi-threaded runtime costs 79-103 us, and 112-122 us where it costs 157-166 us at
//! concurrency 1. So each worker runs its own current-thread runtime, one thread accepts
//! connections and hands them out in turn, and whatever a connection starts (an environment's
//! Runtime API, its logger) lives on the loop that started it.
//!
//! The acceptor hands connections over itself instead of letting each loop accept on its own
//! `SO_REUSEPORT` socket: with that option a second `flint serve` of the same user could bind
//! the same port and silently take half of the connections.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// How long the acceptor waits after an error that a retry cannot fix at once (too many open
/// files, say) before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A single-threaded event loop with I/O and timers.
pub(crate) fn event_loop() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Workers by default: one per two CPUs flint may use, at least one. The functions need the
/// other half: flint's loops take 60-90 us of an invoke's 150-220 us of CPU. Measured on two
/// CPUs (medians of five interleaved runs), one loop served 10,962 invokes/s at concurrency 32
/// where two served 10,219 (and the multi-threaded runtime before them 9,725): an invocation
/// arriving on one loop for an environment served by the other wakes a second thread.
pub(crate) fn default_workers() -> usize {
    workers_for(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

fn workers_for(cpus: usize) -> usize {
    (cpus / 2).max(1)
}

/// The connections one worker serves, as an axum listener: they arrive accepted from the
/// acceptor and are registered with the worker's own event loop.
#[derive(Debug)]
pub(crate) struct HandedConnections {
    connections: mpsc::UnboundedReceiver<std::net::TcpStream>,
    local: SocketAddr,
}

impl axum::serve::Listener for HandedConnections {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some(connection) = self.connections.recv().await else {
                // The acceptor stopped: no connection will come any more.
                return std::future::pending().await;
            };
            let Ok(peer) = connection.peer_addr() else {
                continue;
            };
            match TcpStream::from_std(connection) {
                Ok(stream) => {
                    // Without it small responses wait for delayed ACKs (tens of ms per invoke).
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "could not set TCP_NODELAY");
                    }
                    return (stream, peer);
                }
                Err(error) => tracing::debug!(%error, "could not register a connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Where accepted connections go: each worker's queue in turn.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: TcpListener,
    queues: Vec<mpsc::UnboundedSender<std::net::TcpStream>>,
}

impl Acceptor {
    /// An acceptor for `listener` and the listeners of `workers` workers, in the same order.
    pub(crate) fn new(
        listener: TcpListener,
        workers: usize,
    ) -> io::Result<(Acceptor, Vec<HandedConnections>)> {
        let local = listener.local_addr()?;
        let (queues, connections) = (0..workers.max(1))
            .map(|_| {
                let (queue, connections) = mpsc::unbounded_channel();
                (queue, HandedConnections { connections, local })
            })
            .unzip();
        Ok((Acceptor { listener, queues }, connections))
    }

    /// Accepts connections until `stop` resolves, handing them to the workers in turn.
    pub(crate) async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut next = 0;
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut stop => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Ok(stream) = stream.into_std() else {
                continue;
            };
            // A worker that ended has dropped its queue; the next one takes the connection.
            let mut stream = stream;
            for _ in 0..self.queues.len() {
                let queue = &self.queues[next];
                next = (next + 1) % self.queues.len();
                match queue.send(stream) {
                    Ok(()) => break,
                    Err(mpsc::error::SendError(back)) => stream = back,
                }
            }
        }
    }
}

/// Errors of one connection attempt, which the next accept does not share.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Resolves once `flag` is true (or its sender is gone).
pub(crate) async fn raised(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|raised| *raised).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use axum::serve::Listener as _;

    #[test]
    fn half_the_cpus_serve() {
        assert_eq!(workers_for(1), 1);
        assert_eq!(workers_for(2), 1);
        assert_eq!(workers_for(3), 1);
        assert_eq!(workers_for(16), 8);
    }

    #[tokio::test]
    async fn connections_go_to_the_workers_in_turn() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (acceptor, mut workers) = Acceptor::new(listener, 2).unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let accepting = tokio::spawn(acceptor.run(raised(stop_rx)));

        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let (mut served, peer) = workers[i % 2].accept().await;
            assert_eq!(peer, client.local_addr().unwrap());
            assert!(served.nodelay().unwrap());
            client.write_all(&[u8::try_from(i).unwrap()]).await.unwrap();
            let mut byte = [0u8; 1];
            served.read_exact(&mut byte).await.unwrap();
            assert_eq!(usize::from(byte[0]), i);
        }
        assert_eq!(workers[1].local_addr().unwrap(), addr);

        stop_tx.send(true).unwrap();
        accepting.await.unwrap();
    }

    #[tokio::test]
    async fn a_worker_that_ended_is_skipped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (acceptor, mut workers) = Acceptor::new(listener, 2).unwrap();
        drop(workers.remove(0));
        let (stop_tx, stop_rx) = watch::channel(false);
        let accepting = tokio::spawn(acceptor.run(raised(stop_rx)));
        for _ in 0..3 {
            let client = TcpStream::connect(addr).await.unwrap();
            let (_, peer) = workers[0].accept().await;
            assert_eq!(peer, client.local_addr().unwrap());
        }
        stop_tx.send(true).unwrap();
        accepting.await.unwrap();
    }
}
