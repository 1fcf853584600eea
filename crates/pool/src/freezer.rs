//! Freezing idle environments, as Lambda does, without putting the freezer on the warm path.
//!
//! An environment is frozen only once it has stayed idle for [`FREEZE_DELAY`]; back-to-back
//! invocations never pay for a freeze and a thaw. Going idle only notes the time: one timer
//! task per environment, armed by the first idle moment, checks when the delay is over and
//! either freezes, sleeps again until the last idle moment is old enough, or ends because the
//! environment is busy (its next idle moment arms a new one). A busy environment thus costs no
//! timer per invocation. The lock makes the order safe: a freeze never lands after a use
//! began, and a use thaws the environment before its event is handed over.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sandbox::Sandbox;
use tokio::time::Instant;

/// How long an environment stays idle before it is frozen.
pub(crate) const FREEZE_DELAY: Duration = Duration::from_millis(100);

/// The freezer of one environment's processes.
#[derive(Debug, Default)]
pub(crate) struct Freezer {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The processes to freeze (the runtime and the external extensions).
    processes: Vec<Arc<dyn Sandbox>>,
    /// Since when the environment is idle; `None` while it is in use.
    idle_since: Option<Instant>,
    /// A timer task is running for this environment.
    armed: bool,
    frozen: bool,
}

impl Freezer {
    pub(crate) fn new(processes: Vec<Arc<dyn Sandbox>>) -> Arc<Self> {
        Arc::new(Freezer {
            state: Mutex::new(State {
                processes,
                ..State::default()
            }),
        })
    }

    /// The environment went idle: freeze it unless it is used again within the delay.
    pub(crate) fn idle(self: &Arc<Self>) {
        let mut state = self.lock();
        state.idle_since = Some(Instant::now());
        if !state.armed {
            state.armed = true;
            tokio::spawn(Arc::clone(self).freeze_when_idle());
        }
    }

    /// The environment is about to be used (an invocation, a shutdown): thaw it if it was
    /// frozen, and keep any pending freeze from happening.
    pub(crate) fn wake(&self) {
        let mut state = self.lock();
        state.idle_since = None;
        if state.frozen {
            state.processes.iter().for_each(|p| p.thaw());
            state.frozen = false;
        }
    }

    /// The timer: freezes once the environment has been idle for the delay, unless it is in
    /// use when the delay is over.
    async fn freeze_when_idle(self: Arc<Self>) {
        let mut wait = FREEZE_DELAY;
        loop {
            tokio::time::sleep(wait).await;
            let mut state = self.lock();
            let Some(since) = state.idle_since else {
                state.armed = false;
                return;
            };
            let idle_for = since.elapsed();
            if idle_for >= FREEZE_DELAY {
                if !state.frozen {
                    state.processes.iter().for_each(|p| p.freeze());
                    state.frozen = true;
                }
                state.armed = false;
                return;
            }
            wait = FREEZE_DELAY - idle_for;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use sandbox::ExitReason;

    use super::*;

    /// Records whether it is frozen.
    #[derive(Debug, Default)]
    struct Recorder {
        frozen: AtomicBool,
        freezes: std::sync::atomic::AtomicU32,
    }

    #[async_trait::async_trait]
    impl Sandbox for Recorder {
        fn pid(&self) -> Option<u32> {
            None
        }
        fn take_output(
            &self,
        ) -> Option<(tokio::process::ChildStdout, tokio::process::ChildStderr)> {
            None
        }
        async fn wait(&self) -> ExitReason {
            std::future::pending().await
        }
        fn kill(&self) {}
        fn peak_memory_bytes(&self) -> Option<u64> {
            None
        }
        fn freeze(&self) {
            self.frozen.store(true, Ordering::SeqCst);
            self.freezes.fetch_add(1, Ordering::SeqCst);
        }
        fn thaw(&self) {
            self.frozen.store(false, Ordering::SeqCst);
        }
    }

    async fn settle(delay: Duration) {
        tokio::time::sleep(delay).await;
        tokio::task::yield_now().await;
    }

    #[tokio::test(start_paused = true)]
    async fn back_to_back_invocations_never_freeze() {
        let process = Arc::new(Recorder::default());
        let freezer = Freezer::new(vec![process.clone() as Arc<dyn Sandbox>]);
        for _ in 0..5 {
            freezer.idle();
            settle(FREEZE_DELAY / 2).await;
            freezer.wake();
        }
        settle(FREEZE_DELAY * 2).await;
        assert_eq!(process.freezes.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_environment_freezes_and_thaws_when_used() {
        let process = Arc::new(Recorder::default());
        let freezer = Freezer::new(vec![process.clone() as Arc<dyn Sandbox>]);
        freezer.idle();
        settle(FREEZE_DELAY * 2).await;
        assert!(process.frozen.load(Ordering::SeqCst));
        freezer.wake();
        assert!(!process.frozen.load(Ordering::SeqCst));
        // A freeze scheduled before the wake does not fire after it.
        freezer.idle();
        freezer.wake();
        settle(FREEZE_DELAY * 2).await;
        assert!(!process.frozen.load(Ordering::SeqCst));
        assert_eq!(process.freezes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_delay_counts_from_the_last_idle_moment() {
        let process = Arc::new(Recorder::default());
        let freezer = Freezer::new(vec![process.clone() as Arc<dyn Sandbox>]);
        freezer.idle();
        settle(FREEZE_DELAY * 3 / 4).await;
        freezer.wake();
        freezer.idle();
        // The first timer's delay is over, but the environment went idle again since.
        settle(FREEZE_DELAY / 2).await;
        assert!(!process.frozen.load(Ordering::SeqCst));
        settle(FREEZE_DELAY / 2).await;
        assert!(process.frozen.load(Ordering::SeqCst));
        assert_eq!(process.freezes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_timer_at_a_time() {
        let process = Arc::new(Recorder::default());
        let freezer = Freezer::new(vec![process.clone() as Arc<dyn Sandbox>]);
        for _ in 0..100 {
            freezer.idle();
            freezer.wake();
        }
        assert!(freezer.lock().armed);
        assert_eq!(Arc::strong_count(&freezer), 2, "the freezer and one timer");
        settle(FREEZE_DELAY * 2).await;
        assert!(
            !freezer.lock().armed,
            "the timer ended: the environment is in use"
        );
        assert_eq!(Arc::strong_count(&freezer), 1);
        assert_eq!(process.freezes.load(Ordering::SeqCst), 0);
    }
}
