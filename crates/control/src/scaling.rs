//! Lambda's scaling rate as the pool's cold-start gate: one token bucket per function
//! (`admission::scaling`), fed the time since the gate was made.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use admission::scaling::{ScalingBucket, ScalingRate};

/// Lets each function start at most `rate.burst` new environments per `rate.window`, refilled
/// continuously. The pool asks it before every cold start of an invocation.
#[derive(Debug)]
pub struct ScalingGate {
    rate: ScalingRate,
    origin: Instant,
    buckets: Mutex<HashMap<String, ScalingBucket>>,
}

impl ScalingGate {
    pub fn new(rate: ScalingRate) -> Self {
        ScalingGate {
            rate,
            origin: Instant::now(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<String, ScalingBucket>> {
        // A bucket is a number and a time; a panic elsewhere cannot leave one half-written.
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl pool::ColdStartGate for ScalingGate {
    fn cold_start_not_needed(&self, function: &str) {
        let now = self.origin.elapsed();
        if let Some(bucket) = self.buckets().get_mut(function) {
            bucket.give_back(&self.rate, now);
        }
    }

    fn allow_cold_start(&self, function: &str) -> bool {
        let now = self.origin.elapsed();
        let mut buckets = self.buckets();
        match buckets.get_mut(function) {
            Some(bucket) => bucket.try_take(&self.rate, now),
            None => {
                let mut bucket = ScalingBucket::new(&self.rate, now);
                let allowed = bucket.try_take(&self.rate, now);
                buckets.insert(function.to_owned(), bucket);
                allowed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pool::ColdStartGate as _;

    use super::*;

    #[test]
    fn each_function_has_its_own_burst() {
        let gate = ScalingGate::new(ScalingRate {
            burst: 2,
            window: Duration::from_secs(3_600),
        });
        assert!(gate.allow_cold_start("a"));
        assert!(gate.allow_cold_start("a"));
        assert!(!gate.allow_cold_start("a"));
        assert!(gate.allow_cold_start("b"));
    }
}
