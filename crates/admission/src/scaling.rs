//! Lambda's scaling rate: each function may add up to 1,000 execution environments every 10
//! seconds, refilled continuously rather than in steps. A token bucket, fed the time.

use std::time::Duration;

/// The rate: `burst` environments, refilled over `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingRate {
    pub burst: u32,
    pub window: Duration,
}

impl Default for ScalingRate {
    fn default() -> Self {
        ScalingRate {
            burst: 1_000,
            window: Duration::from_secs(10),
        }
    }
}

/// Tokens for new environments of one function. `now` is any monotonic time, as a duration
/// since a fixed origin chosen by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingBucket {
    tokens: f64,
    updated: Duration,
}

impl ScalingBucket {
    /// A full bucket.
    pub fn new(rate: &ScalingRate, now: Duration) -> Self {
        ScalingBucket {
            tokens: f64::from(rate.burst),
            updated: now,
        }
    }

    fn refill(&mut self, rate: &ScalingRate, now: Duration) {
        let elapsed = now.saturating_sub(self.updated);
        let per_second = f64::from(rate.burst) / rate.window.as_secs_f64().max(f64::MIN_POSITIVE);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * per_second).min(f64::from(rate.burst));
        self.updated = now.max(self.updated);
    }

    /// Takes a token for one new environment, if there is one.
    pub fn try_take(&mut self, rate: &ScalingRate, now: Duration) -> bool {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Returns a token taken for an environment that was not started after all.
    pub fn give_back(&mut self, rate: &ScalingRate, now: Duration) {
        self.refill(rate, now);
        self.tokens = (self.tokens + 1.0).min(f64::from(rate.burst));
    }

    /// Whole tokens left, for status displays.
    pub fn available(&mut self, rate: &ScalingRate, now: Duration) -> u32 {
        self.refill(rate, now);
        self.tokens.floor() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_steady_refill() {
        let rate = ScalingRate {
            burst: 10,
            window: Duration::from_secs(10),
        };
        let mut bucket = ScalingBucket::new(&rate, Duration::ZERO);
        let taken = (0..15)
            .filter(|_| bucket.try_take(&rate, Duration::ZERO))
            .count();
        assert_eq!(taken, 10);
        assert!(!bucket.try_take(&rate, Duration::from_millis(999)));
        assert!(bucket.try_take(&rate, Duration::from_millis(1000)));
        assert!(!bucket.try_take(&rate, Duration::from_millis(1500)));
        assert_eq!(
            bucket.available(&rate, Duration::from_secs(100)),
            10,
            "never above the burst"
        );
    }

    #[test]
    fn default_is_lambdas_thousand_per_ten_seconds() {
        let rate = ScalingRate::default();
        let mut bucket = ScalingBucket::new(&rate, Duration::ZERO);
        let taken = (0..1_200)
            .filter(|_| bucket.try_take(&rate, Duration::ZERO))
            .count();
        assert_eq!(taken, 1_000);
        assert_eq!(bucket.available(&rate, Duration::from_secs(1)), 100);
    }

    #[test]
    fn a_token_given_back_can_be_taken_again_but_never_above_the_burst() {
        let rate = ScalingRate {
            burst: 2,
            window: Duration::from_secs(1000),
        };
        let mut bucket = ScalingBucket::new(&rate, Duration::ZERO);
        assert!(bucket.try_take(&rate, Duration::ZERO));
        assert!(bucket.try_take(&rate, Duration::ZERO));
        assert!(!bucket.try_take(&rate, Duration::ZERO));
        bucket.give_back(&rate, Duration::ZERO);
        assert!(bucket.try_take(&rate, Duration::ZERO));
        bucket.give_back(&rate, Duration::ZERO);
        bucket.give_back(&rate, Duration::ZERO);
        bucket.give_back(&rate, Duration::ZERO);
        assert_eq!(bucket.available(&rate, Duration::ZERO), 2);
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let rate = ScalingRate {
            burst: 2,
            window: Duration::from_secs(2),
        };
        let mut bucket = ScalingBucket::new(&rate, Duration::from_secs(5));
        assert!(bucket.try_take(&rate, Duration::from_secs(5)));
        assert!(bucket.try_take(&rate, Duration::from_secs(5)));
        assert!(!bucket.try_take(&rate, Duration::from_secs(1)));
    }
}
