//! Lambda's retry and age rules for asynchronous invocations, as pure functions of the event, its
//! configuration, the outcome of an attempt and the time.
//!
//! - A function error (error returned, timeout, crash) counts as an attempt. The event is retried
//!   up to `MaximumRetryAttempts` times (0 to 2, default 2), about a minute before the second
//!   attempt and two minutes before the third.
//! - A throttle or a system error does not count: the event is retried with a back-off that
//!   doubles from one second up to five minutes, as long as the event is young enough.
//! - An event older than `MaximumEventAgeInSeconds` (60 to 21600, default 21600) when it is
//!   claimed, or whose next attempt would come after that age, fails with `EventAgeExceeded`.
//!   Looking ahead fails it at once instead of keeping it queued for an attempt that may not run.
//! - With reserved concurrency 0 the event fails at once, without retries.
//!
//! Invariant: nothing here reads a clock or touches the queue.

use std::time::Duration;

use jiff::Timestamp;
use store::{ClaimedEvent, EventInvokeConfig, NextAttempt};

/// `MaximumRetryAttempts` when the configuration does not set it.
pub const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: u32 = 2;
/// `MaximumEventAgeInSeconds` when the configuration does not set it (6 hours).
pub const DEFAULT_MAXIMUM_EVENT_AGE_S: u32 = 21_600;

/// The limits of one event, from its event invoke configuration or Lambda's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryLimits {
    pub maximum_retry_attempts: u32,
    pub maximum_event_age: Duration,
}

impl RetryLimits {
    /// The limits `config` sets, Lambda's defaults for the rest (and without a configuration).
    pub fn from_config(config: Option<&EventInvokeConfig>) -> Self {
        let attempts = config.and_then(|c| c.maximum_retry_attempts);
        let age_s = config.and_then(|c| c.maximum_event_age_s);
        RetryLimits {
            maximum_retry_attempts: attempts.unwrap_or(DEFAULT_MAXIMUM_RETRY_ATTEMPTS),
            maximum_event_age: Duration::from_secs(u64::from(
                age_s.unwrap_or(DEFAULT_MAXIMUM_EVENT_AGE_S),
            )),
        }
    }
}

impl Default for RetryLimits {
    fn default() -> Self {
        RetryLimits::from_config(None)
    }
}

/// The delays between attempts. Lambda's by default; a server may shorten them all by one factor
/// (for tests and demonstrations) with `scaled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Before the second and before the third attempt after function errors.
    pub function_error_delays: [Duration; 2],
    /// The first back-off after a throttle or system error; each next one doubles.
    pub backoff_first: Duration,
    /// The longest back-off.
    pub backoff_max: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            function_error_delays: [Duration::from_secs(60), Duration::from_secs(120)],
            backoff_first: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// A retry scale outside (0, 1].
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("retry scale {0} is not a factor above 0 and at most 1")]
pub struct InvalidRetryScale(pub f64);

impl RetrySchedule {
    /// Lambda's schedule with every delay multiplied by `factor`, which must be above 0 and at
    /// most 1: `scaled(0.01)` retries function errors after 0.6 s and 1.2 s.
    pub fn scaled(factor: f64) -> Result<Self, InvalidRetryScale> {
        if !(factor > 0.0 && factor <= 1.0) {
            return Err(InvalidRetryScale(factor));
        }
        let lambda = RetrySchedule::default();
        let scale = |d: Duration| d.mul_f64(factor);
        Ok(RetrySchedule {
            function_error_delays: lambda.function_error_delays.map(scale),
            backoff_first: scale(lambda.backoff_first),
            backoff_max: scale(lambda.backoff_max),
        })
    }

    /// The delay after the `attempts`-th failed attempt (1-based) before the next one.
    fn after_function_error(&self, attempts: u32) -> Duration {
        let [first, later] = self.function_error_delays;
        if attempts <= 1 { first } else { later }
    }

    /// The back-off after `backoffs` earlier back-offs in a row.
    fn backoff(&self, backoffs: u32) -> Duration {
        let factor = 2u32.saturating_pow(backoffs);
        self.backoff_first
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Where an event stands: what a decision needs of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventProgress {
    pub received_at: Timestamp,
    /// Attempts that ran the function and failed.
    pub attempts: u32,
    /// Back-offs in a row after throttles or system errors.
    pub backoffs: u32,
}

impl EventProgress {
    pub fn of(event: &ClaimedEvent) -> Self {
        EventProgress {
            received_at: event.received_at,
            attempts: event.attempts,
            backoffs: event.backoffs,
        }
    }
}

/// What came of one attempt, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The function returned an error, timed out or crashed.
    FunctionError,
    /// Admission refused the attempt for now (concurrency limits).
    Throttled,
    /// The function has reserved concurrency 0.
    ZeroReservedConcurrency,
    /// flint could not run the attempt (an environment failed to start, say).
    SystemError,
}

/// How an event ended, as the `condition` of its invocation record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Success,
    RetriesExhausted,
    EventAgeExceeded,
    ZeroReservedConcurrency,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
            Condition::ZeroReservedConcurrency => "ZeroReservedConcurrency",
        }
    }

    /// True for `Success`: the record goes to `OnSuccess`, otherwise to `OnFailure`.
    pub fn is_success(self) -> bool {
        self == Condition::Success
    }
}

/// What to do with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The event is finished; `invoke_count` attempts ran the function (`approximateInvokeCount`).
    Done {
        condition: Condition,
        invoke_count: u32,
    },
    /// Try again then, with these counts.
    Retry(NextAttempt),
}

/// Checks a claimed event before its attempt: `Some` decision if it must not run.
pub fn before_attempt(
    event: &EventProgress,
    limits: &RetryLimits,
    now: Timestamp,
) -> Option<Decision> {
    (now > deadline(event, limits)).then_some(Decision::Done {
        condition: Condition::EventAgeExceeded,
        invoke_count: event.attempts,
    })
}

/// Decides what follows an attempt that ended with `outcome` at `now`.
pub fn after_attempt(
    event: &EventProgress,
    limits: &RetryLimits,
    schedule: &RetrySchedule,
    outcome: Outcome,
    now: Timestamp,
) -> Decision {
    let done = |condition, invoke_count| Decision::Done {
        condition,
        invoke_count,
    };
    let deadline = deadline(event, limits);
    match outcome {
        Outcome::Success => done(Condition::Success, event.attempts + 1),
        Outcome::ZeroReservedConcurrency => {
            done(Condition::ZeroReservedConcurrency, event.attempts)
        }
        Outcome::FunctionError => {
            let attempts = event.attempts + 1;
            if attempts > limits.maximum_retry_attempts {
                return done(Condition::RetriesExhausted, attempts);
            }
            let at = later(now, schedule.after_function_error(attempts));
            if at > deadline {
                return done(Condition::EventAgeExceeded, attempts);
            }
            Decision::Retry(NextAttempt {
                at,
                attempts,
                backoffs: 0,
            })
        }
        Outcome::Throttled | Outcome::SystemError => {
            let at = later(now, schedule.backoff(event.backoffs));
            if at > deadline {
                return done(Condition::EventAgeExceeded, event.attempts);
            }
            Decision::Retry(NextAttempt {
                at,
                attempts: event.attempts,
                backoffs: event.backoffs.saturating_add(1),
            })
        }
    }
}

/// The last moment an attempt of the event may start.
fn deadline(event: &EventProgress, limits: &RetryLimits) -> Timestamp {
    later(event.received_at, limits.maximum_event_age)
}

/// `t + d`, or the end of time for a sum beyond it.
pub(crate) fn later(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;

    /// The tests' epoch plus `seconds`.
    fn at(seconds: f64) -> Timestamp {
        let epoch: Timestamp = "2025-03-01T00:00:00Z".parse().unwrap();
        epoch + SignedDuration::from_secs_f64(seconds)
    }

    fn progress(attempts: u32, backoffs: u32) -> EventProgress {
        EventProgress {
            received_at: at(0.0),
            attempts,
            backoffs,
        }
    }

    fn limits(maximum_retry_attempts: u32, maximum_event_age_s: u64) -> RetryLimits {
        RetryLimits {
            maximum_retry_attempts,
            maximum_event_age: Duration::from_secs(maximum_event_age_s),
        }
    }

    fn done(condition: Condition, invoke_count: u32) -> Decision {
        Decision::Done {
            condition,
            invoke_count,
        }
    }

    fn retry(seconds: f64, attempts: u32, backoffs: u32) -> Decision {
        Decision::Retry(NextAttempt {
            at: at(seconds),
            attempts,
            backoffs,
        })
    }

    #[track_caller]
    fn check(
        event: EventProgress,
        limits: RetryLimits,
        outcome: Outcome,
        now: f64,
        expect: Decision,
    ) {
        let got = after_attempt(&event, &limits, &RetrySchedule::default(), outcome, at(now));
        assert_eq!(
            got, expect,
            "{outcome:?} at +{now}s of {event:?} under {limits:?}"
        );
    }

    #[test]
    fn function_errors_are_retried_after_one_then_two_minutes() {
        let defaults = RetryLimits::default();
        use Outcome::FunctionError;
        check(
            progress(0, 0),
            defaults,
            FunctionError,
            1.0,
            retry(61.0, 1, 0),
        );
        check(
            progress(1, 0),
            defaults,
            FunctionError,
            62.0,
            retry(182.0, 2, 0),
        );
        check(
            progress(2, 0),
            defaults,
            FunctionError,
            183.0,
            done(Condition::RetriesExhausted, 3),
        );
        // A function error ends a run of back-offs.
        check(
            progress(1, 4),
            defaults,
            FunctionError,
            62.0,
            retry(182.0, 2, 0),
        );
    }

    #[test]
    fn maximum_retry_attempts_caps_the_attempts() {
        use Outcome::FunctionError;
        let exhausted = |n| done(Condition::RetriesExhausted, n);
        check(
            progress(0, 0),
            limits(0, 21_600),
            FunctionError,
            1.0,
            exhausted(1),
        );
        check(
            progress(0, 0),
            limits(1, 21_600),
            FunctionError,
            1.0,
            retry(61.0, 1, 0),
        );
        check(
            progress(1, 0),
            limits(1, 21_600),
            FunctionError,
            62.0,
            exhausted(2),
        );
        check(
            progress(1, 0),
            limits(2, 21_600),
            FunctionError,
            62.0,
            retry(182.0, 2, 0),
        );
    }

    #[test]
    fn throttles_and_system_errors_back_off_exponentially_without_counting() {
        let defaults = RetryLimits::default();
        for outcome in [Outcome::Throttled, Outcome::SystemError] {
            check(progress(0, 0), defaults, outcome, 10.0, retry(11.0, 0, 1));
            check(progress(0, 1), defaults, outcome, 10.0, retry(12.0, 0, 2));
            check(progress(1, 3), defaults, outcome, 10.0, retry(18.0, 1, 4));
            check(progress(2, 8), defaults, outcome, 10.0, retry(266.0, 2, 9));
            // Capped at five minutes, however many back-offs came before.
            check(progress(0, 9), defaults, outcome, 10.0, retry(310.0, 0, 10));
            check(
                progress(0, 64),
                defaults,
                outcome,
                10.0,
                retry(310.0, 0, 65),
            );
            check(
                progress(0, u32::MAX),
                defaults,
                outcome,
                10.0,
                retry(310.0, 0, u32::MAX),
            );
        }
    }

    #[test]
    fn an_event_too_old_for_its_next_attempt_fails_at_once() {
        let minute = limits(2, 60);
        let aged = |n| done(Condition::EventAgeExceeded, n);
        // The next function-error retry would come after 61 s.
        check(progress(0, 0), minute, Outcome::FunctionError, 1.0, aged(1));
        check(
            progress(0, 0),
            minute,
            Outcome::FunctionError,
            0.0,
            retry(60.0, 1, 0),
        );
        // Back-offs run until the next one would pass the age.
        check(
            progress(0, 5),
            minute,
            Outcome::Throttled,
            27.0,
            retry(59.0, 0, 6),
        );
        check(
            progress(0, 5),
            minute,
            Outcome::Throttled,
            28.0,
            retry(60.0, 0, 6),
        );
        check(progress(0, 5), minute, Outcome::Throttled, 28.001, aged(0));
        check(progress(1, 0), minute, Outcome::SystemError, 59.5, aged(1));
        // Retries exhausted wins over age: there is no next attempt to look at.
        check(
            progress(2, 0),
            minute,
            Outcome::FunctionError,
            59.0,
            done(Condition::RetriesExhausted, 3),
        );
    }

    #[test]
    fn success_and_zero_concurrency_finish_whatever_the_age() {
        let minute = limits(2, 60);
        check(
            progress(0, 0),
            minute,
            Outcome::Success,
            1.0,
            done(Condition::Success, 1),
        );
        check(
            progress(2, 3),
            minute,
            Outcome::Success,
            3600.0,
            done(Condition::Success, 3),
        );
        check(
            progress(0, 0),
            minute,
            Outcome::ZeroReservedConcurrency,
            1.0,
            done(Condition::ZeroReservedConcurrency, 0),
        );
        check(
            progress(1, 2),
            RetryLimits::default(),
            Outcome::ZeroReservedConcurrency,
            70.0,
            done(Condition::ZeroReservedConcurrency, 1),
        );
    }

    #[test]
    fn claimed_events_past_their_age_do_not_run() {
        let check =
            |event: EventProgress, limits: RetryLimits, now: f64, expect: Option<Decision>| {
                assert_eq!(
                    before_attempt(&event, &limits, at(now)),
                    expect,
                    "at +{now}s"
                );
            };
        let minute = limits(2, 60);
        check(progress(0, 0), minute, 0.0, None);
        check(progress(0, 0), minute, 60.0, None);
        check(
            progress(0, 0),
            minute,
            60.001,
            Some(done(Condition::EventAgeExceeded, 0)),
        );
        check(
            progress(2, 0),
            minute,
            61.0,
            Some(done(Condition::EventAgeExceeded, 2)),
        );
        check(progress(0, 0), RetryLimits::default(), 21_600.0, None);
        check(
            progress(0, 0),
            RetryLimits::default(),
            21_600.5,
            Some(done(Condition::EventAgeExceeded, 0)),
        );
    }

    #[test]
    fn limits_come_from_the_configuration_or_lambdas_defaults() {
        let config = |attempts, age| EventInvokeConfig {
            function: "f".to_owned(),
            qualifier: "$LATEST".to_owned(),
            maximum_retry_attempts: attempts,
            maximum_event_age_s: age,
            on_success: None,
            on_failure: None,
            last_modified: at(0.0),
        };
        assert_eq!(RetryLimits::from_config(None), limits(2, 21_600));
        assert_eq!(
            RetryLimits::from_config(Some(&config(None, None))),
            limits(2, 21_600)
        );
        assert_eq!(
            RetryLimits::from_config(Some(&config(Some(0), Some(60)))),
            limits(0, 60)
        );
        assert_eq!(
            RetryLimits::from_config(Some(&config(Some(1), None))),
            limits(1, 21_600)
        );
    }

    #[test]
    fn a_scaled_schedule_shortens_every_delay() {
        let fast = RetrySchedule::scaled(0.01).unwrap();
        assert_eq!(
            fast,
            RetrySchedule {
                function_error_delays: [Duration::from_millis(600), Duration::from_millis(1200)],
                backoff_first: Duration::from_millis(10),
                backoff_max: Duration::from_secs(3),
            }
        );
        assert_eq!(
            RetrySchedule::scaled(1.0).unwrap(),
            RetrySchedule::default()
        );
        let event = progress(0, 0);
        let got = after_attempt(
            &event,
            &RetryLimits::default(),
            &fast,
            Outcome::FunctionError,
            at(1.0),
        );
        assert_eq!(got, retry(1.6, 1, 0));
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY] {
            assert!(RetrySchedule::scaled(bad).is_err(), "{bad}");
        }
        assert_eq!(
            InvalidRetryScale(2.0).to_string(),
            "retry scale 2 is not a factor above 0 and at most 1"
        );
    }
}
