//! Delivery to one subscriber: a task that batches events by the subscriber's buffering
//! settings and POSTs each batch as a JSON array to its listener inside the environment.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::subscription::Subscription;

/// Opens connections to listeners inside an environment (`sandbox.localdomain:<port>`).
#[async_trait::async_trait]
pub trait Dialer: Send + Sync + std::fmt::Debug {
    async fn dial(&self, port: u16) -> io::Result<TcpStream>;
}

/// For environments that share the host's network: the listener is on the loopback.
#[derive(Debug, Default)]
pub struct LoopbackDialer;

#[async_trait::async_trait]
impl Dialer for LoopbackDialer {
    async fn dial(&self, port: u16) -> io::Result<TcpStream> {
        TcpStream::connect(("127.0.0.1", port)).await
    }
}

/// Events a subscriber may have queued before newer ones are dropped (and reported with
/// `platform.logsDropped`).
const QUEUE_LIMIT: usize = 20_000;

/// Delivery attempts per batch before it is dropped.
const ATTEMPTS: u32 = 4;

#[derive(Debug)]
enum Message {
    Event(Value),
    Flush(oneshot::Sender<()>),
}

/// The sending side of one subscription's delivery task.
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) extension_id: String,
    pub(crate) subscription: Subscription,
    sender: mpsc::Sender<Message>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Subscriber {
    pub(crate) fn spawn(
        extension_id: &str,
        subscription: Subscription,
        dialer: std::sync::Arc<dyn Dialer>,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_LIMIT);
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(deliver(
            subscription.clone(),
            dialer,
            receiver,
            std::sync::Arc::clone(&dropped),
        ));
        Subscriber {
            extension_id: extension_id.to_string(),
            subscription,
            sender,
            dropped,
        }
    }

    pub(crate) fn send(&self, event: Value) {
        if self.sender.try_send(Message::Event(event)).is_err() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub(crate) fn flush(&self) -> oneshot::Receiver<()> {
        let (done, wait) = oneshot::channel();
        let _ = self.sender.try_send(Message::Flush(done));
        wait
    }
}

async fn deliver(
    subscription: Subscription,
    dialer: std::sync::Arc<dyn Dialer>,
    mut receiver: mpsc::Receiver<Message>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let mut connection: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> = None;
    let timeout = Duration::from_millis(subscription.buffering.timeout_ms);
    while let Some(first) = receiver.recv().await {
        let mut batch: Vec<Value> = Vec::new();
        let mut bytes = 0usize;
        let mut flushed: Vec<oneshot::Sender<()>> = Vec::new();
        match first {
            Message::Event(value) => {
                bytes += value.to_string().len();
                batch.push(value);
            }
            Message::Flush(done) => flushed.push(done),
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while flushed.is_empty()
            && batch.len() < subscription.buffering.max_items
            && bytes < subscription.buffering.max_bytes
        {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(Message::Event(value))) => {
                    bytes += value.to_string().len();
                    batch.push(value);
                }
                Ok(Some(Message::Flush(done))) => flushed.push(done),
                Ok(None) | Err(_) => break,
            }
        }
        let lost = dropped.swap(0, std::sync::atomic::Ordering::Relaxed);
        if lost > 0 {
            batch.push(serde_json::json!({
                "time": model::clock::iso_millis(jiff::Timestamp::now()),
                "type": "platform.logsDropped",
                "record": {"reason": "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.", "droppedRecords": lost, "droppedBytes": 0},
            }));
        }
        if !batch.is_empty() {
            post(
                &subscription,
                dialer.as_ref(),
                &mut connection,
                Value::Array(batch).to_string(),
            )
            .await;
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// POSTs one batch, reconnecting and retrying with backoff; a batch that cannot be delivered
/// after a few attempts is dropped, as Lambda drops events for a listener that is gone.
async fn post(
    subscription: &Subscription,
    dialer: &dyn Dialer,
    connection: &mut Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    body: String,
) {
    let body = Bytes::from(body);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
        if connection.as_ref().is_none_or(|c| c.is_closed()) {
            *connection = connect(dialer, subscription.port).await.ok();
        }
        let Some(sender) = connection.as_mut() else {
            continue;
        };
        let request = hyper::Request::post(subscription.path.as_str())
            .header(
                hyper::header::HOST,
                format!("sandbox.localdomain:{}", subscription.port),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()));
        let Ok(request) = request else { return };
        match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status().is_success();
                let _ = response.into_body().collect().await;
                if ok {
                    return;
                }
            }
            Err(_) => *connection = None,
        }
    }
    tracing::debug!(
        port = subscription.port,
        "telemetry batch dropped after {ATTEMPTS} attempts"
    );
}

async fn connect(
    dialer: &dyn Dialer,
    port: u16,
) -> io::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = dialer.dial(port).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(connection);
    Ok(sender)
}
