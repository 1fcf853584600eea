//! The Telemetry API (2022-07-01) and the Logs API (2020-08-15): extensions subscribe, and the
//! platform delivers platform events, function lines and extension lines to their listeners in
//! batches.

mod delivery;
pub mod event;
pub mod subscription;

use std::sync::{Arc, Mutex, MutexGuard};

pub use delivery::{Dialer, LoopbackDialer};
pub use event::Event;
pub use subscription::{Api, Category, Subscription};

use delivery::Subscriber;

/// Every subscription of one environment. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    dialer: Arc<dyn Dialer>,
    subscribers: Mutex<Vec<Subscriber>>,
}

impl Hub {
    pub fn new(dialer: Arc<dyn Dialer>) -> Self {
        Hub {
            inner: Arc::new(HubInner {
                dialer,
                subscribers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Adds a subscription. Subscribing again through the same API replaces the earlier
    /// subscription of that extension, so events are never delivered twice.
    pub fn subscribe(&self, extension_id: &str, subscription: Subscription) {
        let mut subscribers = self.lock();
        subscribers.retain(|s| {
            !(s.extension_id == extension_id && s.subscription.api == subscription.api)
        });
        subscribers.push(Subscriber::spawn(
            extension_id,
            subscription,
            Arc::clone(&self.inner.dialer),
        ));
    }

    /// True when somebody listens; lets callers skip building events nobody receives.
    pub fn has_subscribers(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Hands an event to every subscriber that wants it.
    pub fn publish(&self, event: &Event) {
        for subscriber in self.lock().iter() {
            if let Some(value) = event.for_subscriber(&subscriber.subscription) {
                subscriber.send(value);
            }
        }
    }

    /// Delivers everything buffered now, waiting at most `limit`.
    pub async fn flush(&self, limit: std::time::Duration) {
        let waits: Vec<_> = self.lock().iter().map(Subscriber::flush).collect();
        let _ = tokio::time::timeout(limit, futures_join(waits)).await;
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Subscriber>> {
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn futures_join(waits: Vec<tokio::sync::oneshot::Receiver<()>>) {
    for wait in waits {
        let _ = wait.await;
    }
}
