//! Admission of invocations: the in-memory counts of what every function runs now, asked before
//! each invocation with the pure rules of `admission::concurrency`. Every entry point that runs
//! a function (synchronous invokes now, the asynchronous dispatcher later) takes an
//! [`InvocationPermit`] first and holds it while the function runs.
//!
//! Invariant: the counts change under one short lock, never across an await; a permit gives
//! its slot back when dropped, however the invocation ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use admission::concurrency::{self, AccountLimits, FunctionLoad, Throttle};

/// The right to run one invocation of a function; released when dropped.
#[derive(Debug)]
pub struct InvocationPermit {
    ledger: Arc<LedgerInner>,
    function: Arc<str>,
}

impl Drop for InvocationPermit {
    fn drop(&mut self) {
        self.ledger.release(&self.function);
    }
}

/// An invocation refused by admission or by the scaling rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invocation of function {function} throttled: {}", reason.reason())]
pub struct Throttled {
    pub function: String,
    pub reason: Throttle,
    /// The function's reserved concurrency is 0: it never runs (the asynchronous dispatcher
    /// sends such events to their failure destination without retries).
    pub zero_reserved: bool,
}

/// How often a function was throttled since the server started, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleCounts {
    /// `ReservedFunctionConcurrentInvocationLimitExceeded`.
    pub reserved: u64,
    /// `ConcurrentInvocationLimitExceeded`.
    pub account: u64,
    /// `FunctionInvocationRateLimitExceeded` (scaling rate).
    pub rate: u64,
}

impl ThrottleCounts {
    pub fn total(&self) -> u64 {
        self.reserved + self.account + self.rate
    }

    fn count(&mut self, reason: Throttle) {
        match reason {
            Throttle::ReservedFunctionConcurrentInvocationLimitExceeded => self.reserved += 1,
            Throttle::ConcurrentInvocationLimitExceeded => self.account += 1,
            Throttle::FunctionInvocationRateLimitExceeded => self.rate += 1,
        }
    }
}

/// One function's concurrency as admission sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunctionConcurrency {
    pub reserved: Option<u32>,
    /// Invocations running now.
    pub in_flight: u32,
    /// Environments requested by its provisioned concurrency configurations.
    pub provisioned: u32,
    pub throttles: ThrottleCounts,
}

/// The account's concurrency, shared by every request. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    inner: Arc<LedgerInner>,
}

#[derive(Debug)]
struct LedgerInner {
    limits: AccountLimits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    functions: HashMap<Arc<str>, Counters>,
    /// Sum of all reservations.
    total_reserved: u32,
    /// Concurrency occupied by functions without a reservation.
    unreserved_in_use: u32,
}

#[derive(Debug, Default)]
struct Counters {
    load: FunctionLoad,
    throttles: ThrottleCounts,
}

impl State {
    /// Recomputes the sums after a reservation or provisioned concurrency changed.
    fn recount(&mut self) {
        self.total_reserved = self
            .functions
            .values()
            .filter_map(|c| c.load.reserved)
            .sum();
        self.unreserved_in_use = self
            .functions
            .values()
            .filter(|c| c.load.reserved.is_none())
            .map(|c| c.load.occupied())
            .sum();
    }

    /// The counters of `function`, created at its first invocation, and the map's key for it
    /// (shared, so a permit names its function without allocating).
    fn counters(&mut self, function: &str) -> (Arc<str>, &mut Counters) {
        let key = match self.functions.get_key_value(function) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(function),
        };
        let counters = self.functions.entry(Arc::clone(&key)).or_default();
        (key, counters)
    }
}

impl Ledger {
    pub(crate) fn new(limits: AccountLimits) -> Self {
        Ledger {
            inner: Arc::new(LedgerInner {
                limits,
                state: Mutex::new(State::default()),
            }),
        }
    }

    pub(crate) fn limits(&self) -> &AccountLimits {
        &self.inner.limits
    }

    /// Admits one invocation of `function`, or says why not (and counts the throttle).
    pub(crate) fn admit(&self, function: &str) -> Result<InvocationPermit, Throttled> {
        let limits = self.inner.limits;
        let mut state = self.inner.lock();
        let (total_reserved, unreserved_in_use) = (state.total_reserved, state.unreserved_in_use);
        let (key, counters) = state.counters(function);
        let load = counters.load;
        if let Err(reason) = concurrency::admit(&limits, &load, unreserved_in_use, total_reserved) {
            counters.throttles.count(reason);
            return Err(Throttled {
                function: function.to_owned(),
                reason,
                zero_reserved: load.reserved == Some(0),
            });
        }
        counters.load.in_flight += 1;
        if load.reserved.is_none() {
            state.unreserved_in_use += growth(&load);
        }
        Ok(InvocationPermit {
            ledger: Arc::clone(&self.inner),
            function: key,
        })
    }

    /// Counts a throttle decided elsewhere (the scaling rate, by the pool).
    pub(crate) fn throttled(&self, function: &str, reason: Throttle) -> Throttled {
        let mut state = self.inner.lock();
        let (_, counters) = state.counters(function);
        counters.throttles.count(reason);
        Throttled {
            function: function.to_owned(),
            reason,
            zero_reserved: counters.load.reserved == Some(0),
        }
    }

    /// Sets (or removes) the reserved concurrency of `function`.
    pub(crate) fn set_reserved(&self, function: &str, reserved: Option<u32>) {
        let mut state = self.inner.lock();
        state.counters(function).1.load.reserved = reserved;
        state.recount();
    }

    /// Sets the provisioned environments `function` holds, over all its versions and aliases.
    pub(crate) fn set_provisioned(&self, function: &str, provisioned: u32) {
        let mut state = self.inner.lock();
        state.counters(function).1.load.provisioned = provisioned;
        state.recount();
    }

    /// Forgets the settings of a deleted function; invocations still running keep their slot
    /// until they end.
    pub(crate) fn forget(&self, function: &str) {
        let mut state = self.inner.lock();
        let running = state
            .functions
            .get(function)
            .is_some_and(|c| c.load.in_flight > 0);
        if running {
            let load = &mut state.counters(function).1.load;
            load.reserved = None;
            load.provisioned = 0;
        } else {
            state.functions.remove(function);
        }
        state.recount();
    }

    pub(crate) fn function(&self, function: &str) -> FunctionConcurrency {
        let state = self.inner.lock();
        state
            .functions
            .get(function)
            .map(|c| FunctionConcurrency {
                reserved: c.load.reserved,
                in_flight: c.load.in_flight,
                provisioned: c.load.provisioned,
                throttles: c.throttles,
            })
            .unwrap_or_default()
    }

    /// What the functions other than `except` take from the account: their reservations, and
    /// the provisioned concurrency of those without one.
    pub(crate) fn taken_by_others(&self, except: Option<&str>) -> u32 {
        let state = self.inner.lock();
        state
            .functions
            .iter()
            .filter(|(name, _)| except != Some(&***name))
            .map(|(_, c)| c.load.reserved.unwrap_or(c.load.provisioned))
            .sum()
    }
}

impl LedgerInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the counts consistent before it could panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn release(&self, function: &str) {
        let mut state = self.lock();
        let Some(counters) = state.functions.get_mut(function) else {
            return;
        };
        let before = counters.load;
        counters.load.in_flight = counters.load.in_flight.saturating_sub(1);
        if before.reserved.is_none() {
            let shrink = before.occupied() - counters.load.occupied();
            state.unreserved_in_use = state.unreserved_in_use.saturating_sub(shrink);
        }
    }
}

/// How much more concurrency a function occupies when one more invocation starts.
fn growth(load: &FunctionLoad) -> u32 {
    let more = FunctionLoad {
        in_flight: load.in_flight + 1,
        ..*load
    };
    more.occupied() - load.occupied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(concurrency: u32) -> Ledger {
        Ledger::new(AccountLimits {
            concurrency,
            unreserved_minimum: 1,
        })
    }

    #[test]
    fn reserved_concurrency_caps_and_releases() {
        let ledger = ledger(10);
        ledger.set_reserved("f", Some(1));
        let first = ledger.admit("f").unwrap();
        let refused = ledger.admit("f").unwrap_err();
        assert_eq!(
            refused.reason,
            Throttle::ReservedFunctionConcurrentInvocationLimitExceeded
        );
        assert!(!refused.zero_reserved);
        drop(first);
        let again = ledger.admit("f").unwrap();
        assert_eq!(ledger.function("f").in_flight, 1);
        drop(again);
        let counts = ledger.function("f");
        assert_eq!((counts.in_flight, counts.throttles.reserved), (0, 1));
    }

    #[test]
    fn zero_reserved_throttles_everything() {
        let ledger = ledger(10);
        ledger.set_reserved("f", Some(0));
        let refused = ledger.admit("f").unwrap_err();
        assert!(refused.zero_reserved);
        ledger.set_reserved("f", None);
        assert!(ledger.admit("f").is_ok());
    }

    #[test]
    fn unreserved_functions_share_what_reservations_leave() {
        let ledger = ledger(3);
        ledger.set_reserved("reserved", Some(1));
        let a = ledger.admit("a").unwrap();
        let b = ledger.admit("b").unwrap();
        let refused = ledger.admit("c").unwrap_err();
        assert_eq!(refused.reason, Throttle::ConcurrentInvocationLimitExceeded);
        // The reservation is kept free for its function.
        let reserved = ledger.admit("reserved").unwrap();
        drop(a);
        let c = ledger.admit("c").unwrap();
        drop((b, c, reserved));
        assert_eq!(ledger.function("c").throttles.account, 1);
    }

    #[test]
    fn provisioned_environments_hold_their_share() {
        let ledger = ledger(4);
        ledger.set_provisioned("p", 2);
        // Two invocations of `p` fit its provisioned environments and take nothing more.
        let p1 = ledger.admit("p").unwrap();
        let p2 = ledger.admit("p").unwrap();
        let others: Vec<_> = (0..2).map(|_| ledger.admit("q").unwrap()).collect();
        assert!(ledger.admit("q").is_err(), "2 provisioned + 2 running = 4");
        drop((p1, p2));
        assert!(
            ledger.admit("q").is_err(),
            "idle provisioned still hold their share"
        );
        ledger.set_provisioned("p", 0);
        assert!(ledger.admit("q").is_ok());
        drop(others);
        assert_eq!(ledger.taken_by_others(None), 0);
    }

    #[test]
    fn what_others_take_counts_reservations_and_unreserved_provisioning() {
        let ledger = ledger(100);
        ledger.set_reserved("r", Some(10));
        ledger.set_provisioned("r", 4);
        ledger.set_provisioned("p", 5);
        assert_eq!(ledger.taken_by_others(None), 15);
        assert_eq!(ledger.taken_by_others(Some("r")), 5);
        ledger.forget("r");
        assert_eq!(ledger.taken_by_others(None), 5);
        assert_eq!(ledger.function("r"), FunctionConcurrency::default());
    }

    #[test]
    fn scaling_throttles_are_counted() {
        let ledger = ledger(10);
        let throttled = ledger.throttled("f", Throttle::FunctionInvocationRateLimitExceeded);
        assert_eq!(
            throttled.reason.reason(),
            "FunctionInvocationRateLimitExceeded"
        );
        assert_eq!(ledger.function("f").throttles.total(), 1);
    }
}
