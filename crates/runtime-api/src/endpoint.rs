//! The meeting point of the pool and a runtime: the pool dispatches an invocation, the runtime's
//! `/next` picks it up, its `/response` or `/error` completes it.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::state::{Call, Phase, Refusal};

/// One event for the runtime, with everything the `/next` headers carry.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    /// Function deadline, Unix epoch milliseconds.
    pub deadline_ms: u64,
    pub invoked_function_arn: String,
    pub trace_id: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
}

/// How the runtime answered an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `/response`: the bytes go back to the caller as they are.
    Response(Bytes),
    /// `/error`, or a response the platform refused: the error document and its type.
    Error { error_type: String, body: Bytes },
}

/// What the runtime did that the pool must hear about outside of an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// The first `/next`: initialisation is over.
    Ready,
    /// `/init/error`: initialisation failed with this error document.
    InitError { error_type: String, body: Bytes },
}

/// The Runtime API state of one environment. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Mutex<Shared>,
    wake: Notify,
    events: mpsc::UnboundedSender<EndpointEvent>,
}

#[derive(Debug)]
struct Shared {
    phase: Phase,
    ready_sent: bool,
    pending: Option<Invocation>,
    responder: Option<oneshot::Sender<Outcome>>,
}

impl Endpoint {
    /// A new endpoint and the stream of its [`EndpointEvent`]s.
    pub fn new() -> (Endpoint, mpsc::UnboundedReceiver<EndpointEvent>) {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Shared {
            phase: Phase::Initializing,
            ready_sent: false,
            pending: None,
            responder: None,
        };
        let inner = Inner {
            shared: Mutex::new(shared),
            wake: Notify::new(),
            events,
        };
        (
            Endpoint {
                inner: Arc::new(inner),
            },
            receiver,
        )
    }

    /// Hands an invocation to the runtime. The receiver completes when the runtime answers; it
    /// is dropped unanswered if the environment closes first.
    pub fn dispatch(&self, invocation: Invocation) -> oneshot::Receiver<Outcome> {
        let (sender, receiver) = oneshot::channel();
        {
            let mut shared = self.lock();
            shared.pending = Some(invocation);
            shared.responder = Some(sender);
        }
        self.inner.wake.notify_one();
        receiver
    }

    /// Refuses every further call: the environment is going away (timeout, crash, shutdown), so
    /// a late answer must not be taken for a new invocation's.
    pub fn close(&self) {
        let mut shared = self.lock();
        shared.phase = Phase::Closed;
        shared.pending = None;
        shared.responder = None;
        drop(shared);
        self.inner.wake.notify_one();
    }

    /// Waits for the next invocation (`GET /next`).
    pub(crate) async fn next(&self) -> Result<Invocation, Refusal> {
        loop {
            {
                let mut shared = self.lock();
                shared.phase.accept(Call::Next)?;
                if !shared.ready_sent {
                    shared.ready_sent = true;
                    let _ = self.inner.events.send(EndpointEvent::Ready);
                }
                if let Some(invocation) = shared.pending.take() {
                    shared.phase.deliver(&invocation.request_id);
                    return Ok(invocation);
                }
            }
            // A notification sent while nobody waits is kept, so none is lost between the check
            // above and this wait.
            self.inner.wake.notified().await;
        }
    }

    /// Completes the outstanding invocation (`/response` or `/error`).
    pub(crate) fn complete(&self, request_id: &str, outcome: Outcome) -> Result<(), Refusal> {
        let mut shared = self.lock();
        let call = match outcome {
            Outcome::Response(_) => Call::Response(request_id),
            Outcome::Error { .. } => Call::Error(request_id),
        };
        shared.phase.accept(call)?;
        if let Some(responder) = shared.responder.take() {
            let _ = responder.send(outcome);
        }
        Ok(())
    }

    /// Checks that `request_id` is the outstanding invocation without answering it, so a
    /// response can be refused before its body is read.
    pub(crate) fn is_outstanding(&self, request_id: &str) -> Result<(), Refusal> {
        let shared = self.lock();
        match &shared.phase {
            Phase::Invoking(id) if id == request_id => Ok(()),
            Phase::Invoking(_) | Phase::Ready => Err(Refusal::InvalidRequestId),
            _ => Err(Refusal::InvalidState {
                from: "Closed",
                to: "ResponseSent",
            }),
        }
    }

    /// Records an init error (`/init/error`).
    pub(crate) fn init_error(&self, error_type: String, body: Bytes) -> Result<(), Refusal> {
        self.lock().phase.accept(Call::InitError)?;
        let _ = self
            .inner
            .events
            .send(EndpointEvent::InitError { error_type, body });
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A poisoned lock only means a panic elsewhere; the state itself stays consistent
        // because every critical section is a few assignments.
        self.inner
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
