//! Concurrency limits as Lambda applies them.
//!
//! The account has a limit (1,000 by default). Functions may reserve part of it, as long as at
//! least 100 stay unreserved. A function with a reservation runs at most that many invocations
//! at once (0 throttles everything); the others share what is left. Provisioned environments
//! occupy their share even while idle.

/// Account-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// Concurrent executions allowed in the account.
    pub concurrency: u32,
    /// Part of `concurrency` that reservations may never take.
    pub unreserved_minimum: u32,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            concurrency: 1_000,
            unreserved_minimum: 100,
        }
    }
}

/// Why an invocation is refused, with the `Reason` of Lambda's `TooManyRequestsException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The function's reserved concurrency is used up (or is 0).
    ReservedFunctionConcurrentInvocationLimitExceeded,
    /// The account's unreserved concurrency is used up.
    ConcurrentInvocationLimitExceeded,
    /// The function may not start environments this fast.
    FunctionInvocationRateLimitExceeded,
}

impl Throttle {
    pub fn reason(self) -> &'static str {
        match self {
            Throttle::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
            Throttle::ConcurrentInvocationLimitExceeded => "ConcurrentInvocationLimitExceeded",
            Throttle::FunctionInvocationRateLimitExceeded => "FunctionInvocationRateLimitExceeded",
        }
    }
}

/// What one function uses right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunctionLoad {
    /// Its reserved concurrency, if set.
    pub reserved: Option<u32>,
    /// Invocations running now.
    pub in_flight: u32,
    /// Provisioned environments allocated (busy or not).
    pub provisioned: u32,
}

impl FunctionLoad {
    /// Concurrency this function occupies: provisioned environments count even when idle, and
    /// invocations beyond them spill over to on-demand environments.
    pub fn occupied(&self) -> u32 {
        self.in_flight.max(self.provisioned)
    }

    /// Occupied concurrency if one more invocation starts.
    fn occupied_with_one_more(&self) -> u32 {
        (self.in_flight + 1).max(self.provisioned)
    }
}

/// Decides whether one more invocation of a function may start.
///
/// `unreserved_in_use` is the concurrency occupied by all functions without a reservation
/// (this one included when it has none); `total_reserved` is the sum of all reservations.
pub fn admit(
    limits: &AccountLimits,
    function: &FunctionLoad,
    unreserved_in_use: u32,
    total_reserved: u32,
) -> Result<(), Throttle> {
    match function.reserved {
        Some(reserved) => {
            if function.occupied_with_one_more() > reserved {
                Err(Throttle::ReservedFunctionConcurrentInvocationLimitExceeded)
            } else {
                Ok(())
            }
        }
        None => {
            let unreserved = limits.concurrency.saturating_sub(total_reserved);
            let growth = function.occupied_with_one_more() - function.occupied();
            if unreserved_in_use + growth > unreserved {
                Err(Throttle::ConcurrentInvocationLimitExceeded)
            } else {
                Ok(())
            }
        }
    }
}

/// Why a reservation cannot be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRefused {
    pub message: String,
}

/// Checks a new reserved concurrency for a function. `reserved_by_others` is what the other
/// functions take from the account: their reservations, and the provisioned concurrency of those
/// without one. At least `unreserved_minimum` must stay unreserved, and the reservation must hold
/// the function's own provisioned concurrency, as on Lambda.
pub fn check_reservation(
    limits: &AccountLimits,
    requested: u32,
    reserved_by_others: u32,
    provisioned: u32,
) -> Result<(), ReservationRefused> {
    let available = limits
        .concurrency
        .saturating_sub(limits.unreserved_minimum)
        .saturating_sub(reserved_by_others);
    if requested > available {
        return Err(ReservationRefused {
            message: format!(
                "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{}].",
                limits.unreserved_minimum
            ),
        });
    }
    if requested < provisioned {
        return Err(ReservationRefused {
            message: format!(
                "ReservedConcurrentExecutions {requested} should not be lower than function's total provisioned concurrency [{provisioned}]."
            ),
        });
    }
    Ok(())
}

/// The concurrency no function reserved: the account's, less the reservations and the
/// provisioned concurrency of functions without a reservation (`taken`).
pub fn unreserved(limits: &AccountLimits, taken: u32) -> u32 {
    limits.concurrency.saturating_sub(taken)
}

/// Checks a provisioned concurrency of `requested` environments for one version or alias of a
/// function. `elsewhere` is the function's provisioned concurrency on its other versions and
/// aliases; `unreserved_now` is the account's unreserved concurrency before this request, with
/// this qualifier's current provisioned concurrency given back.
pub fn check_provisioned(
    limits: &AccountLimits,
    requested: u32,
    elsewhere: u32,
    reserved: Option<u32>,
    unreserved_now: u32,
) -> Result<(), ReservationRefused> {
    if let Some(reserved) = reserved {
        if requested.saturating_add(elsewhere) > reserved {
            return Err(ReservationRefused {
                message: "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function".to_owned(),
            });
        }
        return Ok(());
    }
    if requested > limits.concurrency {
        return Err(ReservationRefused {
            message: format!(
                "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{}].",
                limits.concurrency
            ),
        });
    }
    if requested > unreserved_now.saturating_sub(limits.unreserved_minimum) {
        return Err(ReservationRefused {
            message: format!(
                "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{}].",
                limits.unreserved_minimum
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(reserved: Option<u32>, in_flight: u32, provisioned: u32) -> FunctionLoad {
        FunctionLoad {
            reserved,
            in_flight,
            provisioned,
        }
    }

    #[track_caller]
    fn check(
        function: FunctionLoad,
        unreserved_in_use: u32,
        total_reserved: u32,
        expect: Result<(), Throttle>,
    ) {
        let limits = AccountLimits {
            concurrency: 10,
            unreserved_minimum: 2,
        };
        assert_eq!(
            admit(&limits, &function, unreserved_in_use, total_reserved),
            expect
        );
    }

    #[test]
    fn reserved_concurrency_caps_the_function() {
        use Throttle::*;
        check(load(Some(1), 0, 0), 0, 1, Ok(()));
        check(
            load(Some(1), 1, 0),
            0,
            1,
            Err(ReservedFunctionConcurrentInvocationLimitExceeded),
        );
        check(
            load(Some(0), 0, 0),
            0,
            0,
            Err(ReservedFunctionConcurrentInvocationLimitExceeded),
        );
        // A reserved function is not limited by the unreserved pool being full.
        check(load(Some(3), 2, 0), 8, 3, Ok(()));
    }

    #[test]
    fn unreserved_functions_share_what_is_left() {
        use Throttle::*;
        check(
            load(None, 0, 0),
            6,
            4,
            Err(ConcurrentInvocationLimitExceeded),
        );
        check(load(None, 0, 0), 5, 4, Ok(()));
        check(load(None, 0, 0), 9, 0, Ok(()));
        check(
            load(None, 0, 0),
            10,
            0,
            Err(ConcurrentInvocationLimitExceeded),
        );
    }

    #[test]
    fn provisioned_environments_absorb_invocations_up_to_their_count() {
        use Throttle::*;
        // 3 provisioned, 1 busy: the next invocation takes an idle provisioned environment and
        // occupies nothing new, even with the pool full.
        check(load(None, 1, 3), 10, 0, Ok(()));
        // All 3 busy: the 4th spills over and needs unreserved room.
        check(
            load(None, 3, 3),
            10,
            0,
            Err(ConcurrentInvocationLimitExceeded),
        );
        // Provisioned environments count against the reservation.
        check(
            load(Some(3), 3, 3),
            0,
            3,
            Err(ReservedFunctionConcurrentInvocationLimitExceeded),
        );
    }

    #[test]
    fn reservations_leave_the_unreserved_minimum() {
        let limits = AccountLimits::default();
        assert!(check_reservation(&limits, 900, 0, 0).is_ok());
        assert!(check_reservation(&limits, 901, 0, 0).is_err());
        assert!(check_reservation(&limits, 500, 400, 0).is_ok());
        assert!(check_reservation(&limits, 501, 400, 0).is_err());
        assert!(check_reservation(&limits, 0, 0, 0).is_ok());
    }

    #[test]
    fn reservations_hold_the_provisioned_concurrency() {
        let limits = AccountLimits::default();
        assert!(check_reservation(&limits, 3, 0, 3).is_ok());
        let refused = check_reservation(&limits, 2, 0, 3).unwrap_err();
        assert_eq!(
            refused.message,
            "ReservedConcurrentExecutions 2 should not be lower than function's total provisioned concurrency [3]."
        );
    }

    #[track_caller]
    fn check_provision(
        requested: u32,
        elsewhere: u32,
        reserved: Option<u32>,
        unreserved_now: u32,
        expect: Result<(), &str>,
    ) {
        let got = check_provisioned(
            &AccountLimits::default(),
            requested,
            elsewhere,
            reserved,
            unreserved_now,
        );
        match (got, expect) {
            (Ok(()), Ok(())) => {}
            (Err(refused), Err(fragment)) => {
                assert!(refused.message.contains(fragment), "{}", refused.message)
            }
            (got, expect) => panic!("got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn provisioned_concurrency_fits_the_reservation_or_the_unreserved_pool() {
        check_provision(3, 2, Some(5), 995, Ok(()));
        check_provision(
            4,
            2,
            Some(5),
            995,
            Err("should not be greater than the reserved"),
        );
        check_provision(900, 0, None, 1_000, Ok(()));
        check_provision(901, 0, None, 1_000, Err("below its minimum value of [100]"));
        check_provision(100, 0, None, 150, Err("below its minimum value of [100]"));
        check_provision(
            1_001,
            0,
            None,
            1_000,
            Err("greater than account's unreserved concurrency [1000]"),
        );
    }

    #[test]
    fn unreserved_is_what_nobody_took() {
        let limits = AccountLimits::default();
        assert_eq!(unreserved(&limits, 0), 1_000);
        assert_eq!(unreserved(&limits, 250), 750);
        assert_eq!(unreserved(&limits, 2_000), 0);
    }

    #[test]
    fn reasons_are_lambdas() {
        assert_eq!(
            Throttle::ReservedFunctionConcurrentInvocationLimitExceeded.reason(),
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
        assert_eq!(
            Throttle::ConcurrentInvocationLimitExceeded.reason(),
            "ConcurrentInvocationLimitExceeded"
        );
    }
}
