//! Freezing idle environments, as Lambda does, without putting the freezer on the warm path.
//!
//! An environment is frozen only once it has stayed idle for [`FREEZE_DELAY`]; back-to-back
//! invocations never pay for a freeze and a thaw. A lock and an epoch make the order safe: a
//! delayed freeze that lost the race against a new invocation does nothing, and an invocation
//! thaws the environment before its event is handed over.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sandbox::Sandbox;

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
    /// Bumped by every use, so a freeze scheduled before it knows it is stale.
    epoch: u64,
    frozen: bool,
}

impl Freezer {
    pub(crate) fn new(processes: Vec<Arc<dyn Sandbox>>) -> Arc<Self> {
        Arc::new(Freezer {
            state: Mutex::new(State {
                processes,
                epoch: 0,
                frozen: false,
            }),
        })
    }

    /// The environment went idle: freeze it unless it is used again within the delay.
    pub(crate) fn idle(self: &Arc<Self>) {
        let epoch = {
            let mut state = self.lock();
            state.epoch += 1;
            state.epoch
        };
        let freezer = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(FREEZE_DELAY).await;
            let mut state = freezer.lock();
            if state.epoch == epoch && !state.frozen {
                state.processes.iter().for_each(|p| p.freeze());
                state.frozen = true;
            }
        });
    }

    /// The environment is about to be used (an invocation, a shutdown): thaw it if it was
    /// frozen, and cancel any pending freeze.
    pub(crate) fn wake(&self) {
        let mut state = self.lock();
        state.epoch += 1;
        if state.frozen {
            state.processes.iter().for_each(|p| p.thaw());
            state.frozen = false;
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
}
