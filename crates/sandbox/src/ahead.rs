//! Things made ahead of time: a background thread keeps a few ready so that making one stays
//! off the cold-start path; when none is ready, one is made on the spot.
//!
//! The thread waits until takes have paused for [`QUIET`] before making the next one, as long as
//! some are still ready: a take is a cold start in progress, and making an environment (clone,
//! namespaces, `ip`) at the same moment competes with it for both CPUs of a small host. Measured:
//! a refill running alongside delayed the jail of the start it served by 0.8 ms.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long takes must have paused before the background thread makes the next item, unless
/// none is ready.
const QUIET: Duration = Duration::from_millis(20);

type Make<T> = dyn Fn() -> io::Result<T> + Send + Sync;

/// A supply of `T`, refilled in the background.
pub(crate) struct Ahead<T> {
    shared: Arc<Shared<T>>,
    /// Bounds the items made on the spot at once to the CPUs: a burst of cold starts making
    /// hundreds at once (namespaces, `ip`) only slows every one of them down.
    on_the_spot: Arc<tokio::sync::Semaphore>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    target: usize,
    make: Box<Make<T>>,
}

struct State<T> {
    ready: VecDeque<T>,
    closed: bool,
    last_take: Option<Instant>,
}

impl<T> std::fmt::Debug for Ahead<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ahead")
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Ahead<T> {
    /// Starts keeping `target` items ready, made by `make` on a thread named `name`.
    pub(crate) fn start(name: &str, target: usize, make: Box<Make<T>>) -> io::Result<Ahead<T>> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                closed: false,
                last_take: None,
            }),
            changed: Condvar::new(),
            target,
            make,
        });
        let refill = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || refill.refill())?;
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Ahead {
            shared,
            on_the_spot: Arc::new(tokio::sync::Semaphore::new(cpus)),
        })
    }

    /// A ready item, or a new one when none is. That one is made on a blocking thread: making
    /// takes milliseconds, which the caller's event loop (serving every other request of its
    /// connections) must not spend.
    ///
    /// Cancel-safe: a caller that stops waiting (it found a warm environment meanwhile) loses
    /// nothing, since an item made for it joins the ready ones.
    pub(crate) async fn take(&self) -> io::Result<T> {
        if let Some(item) = self.pop() {
            return Ok(item);
        }
        let permit = Arc::clone(&self.on_the_spot)
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        // The background thread may have made one while this waited.
        if let Some(item) = self.pop() {
            return Ok(item);
        }
        let (made, receive) = tokio::sync::oneshot::channel();
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if let Err(Ok(unwanted)) = made.send((shared.make)()) {
                shared.keep(unwanted);
            }
        });
        receive.await.map_err(io::Error::other)?
    }

    /// The oldest ready item, noting the take.
    fn pop(&self) -> Option<T> {
        let ready = {
            let mut state = self.shared.lock();
            state.last_take = Some(Instant::now());
            state.ready.pop_front()
        };
        self.shared.changed.notify_all();
        ready
    }

    /// Stops refilling and drops the ready items.
    pub(crate) fn close(&self) {
        let ready = {
            let mut state = self.shared.lock();
            state.closed = true;
            std::mem::take(&mut state.ready)
        };
        self.shared.changed.notify_all();
        drop(ready);
    }
}

impl<T> Drop for Ahead<T> {
    fn drop(&mut self) {
        let ready = {
            let mut state = self.shared.lock();
            state.closed = true;
            std::mem::take(&mut state.ready)
        };
        self.shared.changed.notify_all();
        drop(ready);
    }
}

impl<T> Shared<T> {
    /// Adds an item made for a caller that stopped waiting to the ready ones.
    fn keep(&self, item: T) {
        let mut state = self.lock();
        if !state.closed {
            state.ready.push_back(item);
        }
    }

    /// Waits until an item should be made: fewer than the target are ready and takes have
    /// paused (or none is ready at all). `false` once closed.
    fn wait_for_work(&self) -> bool {
        let mut state = self.lock();
        loop {
            if state.closed {
                return false;
            }
            if state.ready.len() >= self.target {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let since_take = state.last_take.map(|at| at.elapsed());
            match since_take {
                Some(since) if since < QUIET && !state.ready.is_empty() => {
                    state = self
                        .changed
                        .wait_timeout(state, QUIET - since)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                _ => return true,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refill(&self) {
        loop {
            if !self.wait_for_work() {
                return;
            }
            match (self.make)() {
                Ok(item) => {
                    let mut state = self.lock();
                    if state.closed {
                        return;
                    }
                    state.ready.push_back(item);
                }
                Err(error) => {
                    tracing::warn!(%error, "could not prepare an environment ahead of time");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A supply of numbers 0, 1, 2, ... and the count of those made so far.
    fn counting(target: usize) -> (Ahead<usize>, Arc<AtomicUsize>) {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let ahead = Ahead::start(
            "test-ahead",
            target,
            Box::new(move || Ok(counter.fetch_add(1, Ordering::SeqCst))),
        )
        .unwrap();
        (ahead, made)
    }

    /// Waits (at most 5 s) until `count` were made; returns how many were.
    fn wait_for(made: &AtomicUsize, count: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while made.load(Ordering::SeqCst) < count && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        made.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn keeps_the_target_ready_and_makes_on_demand_when_empty() {
        let (ahead, made) = counting(2);
        assert_eq!(wait_for(&made, 2), 2);
        assert_eq!(ahead.take().await.unwrap(), 0, "the oldest ready one first");
        ahead.close();
        let before = made.load(Ordering::SeqCst);
        assert_eq!(
            ahead.take().await.unwrap(),
            before,
            "made on the spot once closed and empty"
        );
    }

    #[tokio::test]
    async fn an_item_made_for_a_caller_that_stopped_waiting_is_kept() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        // Keeps none ahead; each item takes 50 ms to make.
        let ahead = Ahead::start(
            "test-ahead",
            0,
            Box::new(move || {
                std::thread::sleep(Duration::from_millis(50));
                Ok(counter.fetch_add(1, Ordering::SeqCst))
            }),
        )
        .unwrap();
        let gave_up = tokio::time::timeout(Duration::from_millis(10), ahead.take()).await;
        assert!(gave_up.is_err(), "the caller stopped waiting mid-make");
        assert_eq!(wait_for(&made, 1), 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while ahead.shared.lock().ready.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            ahead.take().await.unwrap(),
            0,
            "the abandoned item, not a new one"
        );
        assert_eq!(made.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_take_pauses_the_refill_while_some_are_ready() {
        let (ahead, made) = counting(2);
        assert_eq!(wait_for(&made, 2), 2);
        let taken = std::time::Instant::now();
        ahead.take().await.unwrap();
        std::thread::sleep(QUIET / 4);
        if taken.elapsed() < QUIET {
            assert_eq!(
                made.load(Ordering::SeqCst),
                2,
                "nothing made right after a take"
            );
        }
        assert_eq!(wait_for(&made, 3), 3, "made once takes paused");
        assert!(taken.elapsed() >= QUIET);
    }
}
