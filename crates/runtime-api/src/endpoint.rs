//! The meeting point of the pool and a runtime: the pool dispatches an invocation, the runtime's
//! `/next` picks it up, its `/response` or `/error` completes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::extensions::{ExtensionRefusal, ExtensionState, Registry};
use crate::state::{Call, Phase, Refusal};
use crate::telemetry::{self, Hub};

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

/// What the runtime or an extension did that the pool must hear about outside of an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// The runtime and every registered extension called `next`: initialisation is over.
    Ready { extensions: Vec<ExtensionInfo> },
    /// `/init/error`: initialisation failed with this error document.
    InitError { error_type: String, body: Bytes },
    /// An extension reported `init/error` (`init` true) or `exit/error`.
    ExtensionError {
        name: String,
        error_type: String,
        init: bool,
    },
    /// An extension registered (external extensions must, before the runtime starts).
    Registered { name: String },
    /// An extension subscribed to telemetry (for the `TELEMETRY` log line).
    Subscribed { name: String, types: String },
}

/// An extension as the platform's `EXTENSION` log line and `platform.extension` event show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionInfo {
    pub name: String,
    pub events: Vec<&'static str>,
    pub external: bool,
}

/// What the environment tells extensions when they register.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub function_name: String,
    pub function_version: String,
    pub handler: String,
    pub account_id: String,
    /// File names found in `/opt/extensions`: these register as external extensions.
    pub external_extensions: Vec<String>,
    /// Reaches telemetry listeners inside the environment.
    pub dialer: Arc<dyn telemetry::Dialer>,
}

/// The Runtime API state of one environment. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: EndpointConfig,
    shared: Mutex<Shared>,
    wake: Notify,
    /// Signalled when no extension is processing an event any more.
    settled: Notify,
    events: mpsc::UnboundedSender<EndpointEvent>,
    telemetry: Hub,
}

#[derive(Debug)]
struct Shared {
    phase: Phase,
    runtime_started: bool,
    ready_sent: bool,
    pending: Option<Invocation>,
    responder: Option<oneshot::Sender<Outcome>>,
    extensions: Registry,
    extension_wakers: HashMap<String, Arc<Notify>>,
}

impl Endpoint {
    /// A new endpoint and the stream of its [`EndpointEvent`]s.
    pub fn new(config: EndpointConfig) -> (Endpoint, mpsc::UnboundedReceiver<EndpointEvent>) {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Shared {
            phase: Phase::Initializing,
            runtime_started: false,
            ready_sent: false,
            pending: None,
            responder: None,
            extensions: Registry::new(config.external_extensions.clone()),
            extension_wakers: HashMap::new(),
        };
        let telemetry = Hub::new(Arc::clone(&config.dialer));
        let inner = Inner {
            config,
            shared: Mutex::new(shared),
            wake: Notify::new(),
            settled: Notify::new(),
            events,
            telemetry,
        };
        (
            Endpoint {
                inner: Arc::new(inner),
            },
            receiver,
        )
    }

    /// The environment's telemetry subscriptions, to publish events to.
    pub fn telemetry(&self) -> &Hub {
        &self.inner.telemetry
    }

    /// Hands an invocation to the runtime, and an INVOKE event to every extension subscribed
    /// to it. The receiver completes when the runtime answers; it is dropped unanswered if the
    /// environment closes first.
    pub fn dispatch(&self, invocation: Invocation) -> oneshot::Receiver<Outcome> {
        let (sender, receiver) = oneshot::channel();
        let event = invoke_event(&invocation);
        let woken = {
            let mut shared = self.lock();
            shared.pending = Some(invocation);
            shared.responder = Some(sender);
            let ids = shared.extensions.push_invoke(&event);
            wakers(&shared, &ids)
        };
        self.inner.wake.notify_one();
        for waker in woken {
            waker.notify_one();
        }
        receiver
    }

    /// Takes back the dispatched invocation if the runtime has not received it yet (its process
    /// exited between invocations); true when it was withdrawn, so it can run elsewhere.
    pub fn withdraw(&self) -> bool {
        let mut shared = self.lock();
        if shared.pending.take().is_some() {
            shared.responder = None;
            true
        } else {
            false
        }
    }

    /// Resolves once no extension is processing an event: after an invocation, every extension
    /// subscribed to INVOKE has called `event/next` again.
    pub async fn extensions_settled(&self) {
        loop {
            let notified = self.inner.settled.notified();
            if self.lock().extensions.all_idle() {
                return;
            }
            notified.await;
        }
    }

    /// True when no extension is processing an event (always true without extensions).
    pub fn extensions_idle(&self) -> bool {
        self.lock().extensions.all_idle()
    }

    /// Sends SHUTDOWN to the extensions subscribed to it; false when none is.
    pub fn shutdown_extensions(&self, reason: &str, deadline_ms: u64) -> bool {
        let event = serde_json::json!({
            "eventType": "SHUTDOWN",
            "shutdownReason": reason,
            "deadlineMs": deadline_ms,
        });
        let event = Bytes::from(event.to_string());
        let woken = {
            let mut shared = self.lock();
            let ids = shared.extensions.push_shutdown(&event);
            wakers(&shared, &ids)
        };
        let any = !woken.is_empty();
        for waker in woken {
            waker.notify_one();
        }
        any
    }

    /// True when some external extension registered (Lambda then allows 2 s for shutdown).
    pub fn has_external_extensions(&self) -> bool {
        self.lock().extensions.any_external()
    }

    /// Refuses every further call: the environment is going away (timeout, crash, shutdown), so
    /// a late answer must not be taken for a new invocation's.
    pub fn close(&self) {
        let mut shared = self.lock();
        shared.phase = Phase::Closed;
        shared.pending = None;
        shared.responder = None;
        let extension_wakers: Vec<_> = shared.extension_wakers.values().cloned().collect();
        drop(shared);
        self.inner.wake.notify_one();
        self.inner.settled.notify_waiters();
        for waker in extension_wakers {
            waker.notify_one();
        }
    }

    /// Waits for the next invocation (`GET /next`).
    pub(crate) async fn next(&self) -> Result<Invocation, Refusal> {
        loop {
            {
                let mut shared = self.lock();
                shared.phase.accept(Call::Next)?;
                shared.runtime_started = true;
                self.signal_ready_if_done(&mut shared);
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

    /// Init is over when the runtime and every registered extension have called `next`.
    fn signal_ready_if_done(&self, shared: &mut Shared) {
        if shared.ready_sent || !shared.runtime_started || !shared.extensions.all_initialised() {
            return;
        }
        shared.ready_sent = true;
        shared.extensions.close();
        let extensions = shared
            .extensions
            .list()
            .iter()
            .filter(|e| e.state != ExtensionState::Failed)
            .map(|e| ExtensionInfo {
                name: e.name.clone(),
                events: e.events(),
                external: e.external,
            })
            .collect();
        let _ = self.inner.events.send(EndpointEvent::Ready { extensions });
    }

    /// `extension/register`: the identifier and the register response body.
    pub(crate) fn register_extension(
        &self,
        name: &str,
        events: &[String],
        with_account: bool,
    ) -> Result<(String, serde_json::Value), ExtensionRefusal> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut shared = self.lock();
        shared.extensions.register(id.clone(), name, events)?;
        shared
            .extension_wakers
            .insert(id.clone(), Arc::new(Notify::new()));
        let _ = self.inner.events.send(EndpointEvent::Registered {
            name: name.to_string(),
        });
        let config = &self.inner.config;
        let mut body = serde_json::json!({
            "functionName": config.function_name,
            "functionVersion": config.function_version,
            "handler": config.handler,
        });
        if with_account {
            body["accountId"] = serde_json::Value::String(config.account_id.clone());
        }
        Ok((id, body))
    }

    /// `extension/event/next`: waits for the extension's next event.
    pub(crate) async fn extension_next(&self, id: &str) -> Result<Bytes, ExtensionRefusal> {
        loop {
            let waker = {
                let mut shared = self.lock();
                let event = shared.extensions.next(id)?;
                self.signal_ready_if_done(&mut shared);
                if shared.extensions.all_idle() {
                    self.inner.settled.notify_waiters();
                }
                if let Some(event) = event {
                    return Ok(event);
                }
                shared.extension_wakers.get(id).cloned()
            };
            match waker {
                Some(waker) => waker.notified().await,
                None => return Err(ExtensionRefusal::UnknownExtensionIdentifier),
            }
        }
    }

    /// `extension/init/error` and `extension/exit/error`.
    pub(crate) fn extension_error(
        &self,
        id: &str,
        error_type: String,
        init: bool,
    ) -> Result<(), ExtensionRefusal> {
        let mut shared = self.lock();
        let name = shared.extensions.fail(id)?.name.clone();
        self.signal_ready_if_done(&mut shared);
        if shared.extensions.all_idle() {
            self.inner.settled.notify_waiters();
        }
        let _ = self.inner.events.send(EndpointEvent::ExtensionError {
            name,
            error_type,
            init,
        });
        Ok(())
    }

    /// `PUT /telemetry` or `PUT /logs`: adds a subscription while registration is open.
    pub(crate) fn subscribe(
        &self,
        id: &str,
        subscription: telemetry::Subscription,
    ) -> Result<(), SubscribeRefusal> {
        let name = {
            let shared = self.lock();
            let extension = shared
                .extensions
                .get(id)
                .map_err(SubscribeRefusal::Extension)?;
            if shared.ready_sent {
                return Err(SubscribeRefusal::Closed);
            }
            extension.name.clone()
        };
        let now = model::clock::iso_millis(jiff::Timestamp::now());
        let types = subscription.types_title();
        let record = serde_json::json!({"name": name, "state": "Subscribed", "types": subscription.types_lower()});
        let kind = match subscription.api {
            telemetry::Api::Telemetry => "platform.telemetrySubscription",
            telemetry::Api::Logs => "platform.logsSubscription",
        };
        self.inner.telemetry.subscribe(id, subscription);
        self.inner
            .telemetry
            .publish(&telemetry::Event::new(now, kind, record));
        let _ = self
            .inner
            .events
            .send(EndpointEvent::Subscribed { name, types });
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

/// Why a telemetry subscription is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubscribeRefusal {
    Extension(ExtensionRefusal),
    /// Subscriptions are taken during Init only.
    Closed,
}

fn wakers(shared: &Shared, ids: &[String]) -> Vec<Arc<Notify>> {
    ids.iter()
        .filter_map(|id| shared.extension_wakers.get(id).cloned())
        .collect()
}

/// The INVOKE event extensions receive.
fn invoke_event(invocation: &Invocation) -> Bytes {
    let mut event = serde_json::json!({
        "eventType": "INVOKE",
        "deadlineMs": invocation.deadline_ms,
        "requestId": invocation.request_id,
        "invokedFunctionArn": invocation.invoked_function_arn,
    });
    if !invocation.trace_id.is_empty() {
        event["tracing"] =
            serde_json::json!({"type": "X-Amzn-Trace-Id", "value": invocation.trace_id});
    }
    Bytes::from(event.to_string())
}
