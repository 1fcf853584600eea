//! Which Runtime API calls an environment accepts, and when. Pure: no I/O, no clock.
//!
//! The runtime's life: it initialises, calls `/next` (init is done), receives an event, answers
//! it with `/response` or `/error`, calls `/next` again, and so on. `/init/error` ends the
//! environment.

/// Where the runtime is in its conversation with the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Started, has not called `/next` yet.
    Initializing,
    /// Has called `/next` (or will); no invocation is outstanding.
    Ready,
    /// Has received the invocation with this request id and not answered it.
    Invoking(String),
    /// Reported an init error, or the environment is being torn down.
    Closed,
}

/// A call the runtime made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call<'a> {
    Next,
    Response(&'a str),
    Error(&'a str),
    InitError,
}

/// Why a call is refused, with Lambda's error types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400 `InvalidRequestID`: not the outstanding invocation (or already answered).
    InvalidRequestId,
    /// 403 `InvalidStateTransition`.
    InvalidState {
        from: &'static str,
        to: &'static str,
    },
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Initializing => "Initializing",
            Phase::Ready => "Ready",
            Phase::Invoking(_) => "Invoking",
            Phase::Closed => "Closed",
        }
    }

    /// Checks a call against the current phase. `Next` only checks; the move to `Invoking`
    /// happens when an event is actually handed out ([`Phase::deliver`]).
    pub fn accept(&mut self, call: Call<'_>) -> Result<(), Refusal> {
        let refuse = |from: &Phase, to: &'static str| {
            Err(Refusal::InvalidState {
                from: from.name(),
                to,
            })
        };
        match (&*self, call) {
            (Phase::Initializing | Phase::Ready, Call::Next) => {
                *self = Phase::Ready;
                Ok(())
            }
            (Phase::Invoking(id), Call::Response(got) | Call::Error(got)) => {
                if id == got {
                    *self = Phase::Ready;
                    Ok(())
                } else {
                    Err(Refusal::InvalidRequestId)
                }
            }
            (Phase::Ready, Call::Response(_) | Call::Error(_)) => Err(Refusal::InvalidRequestId),
            (Phase::Initializing, Call::InitError) => {
                *self = Phase::Closed;
                Ok(())
            }
            (from, Call::Next) => refuse(from, "Ready"),
            (from, Call::Response(_)) => refuse(from, "ResponseSent"),
            (from, Call::Error(_)) => refuse(from, "ErrorSent"),
            (from, Call::InitError) => refuse(from, "InitError"),
        }
    }

    /// Records that the invocation `request_id` was handed to the runtime.
    pub fn deliver(&mut self, request_id: &str) {
        *self = Phase::Invoking(request_id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a sequence of calls from `Initializing`, delivering an event after each accepted
    /// `Next` when `deliver` names one, and returns what each call got.
    #[track_caller]
    fn check(steps: &[(Call<'_>, Option<&str>)], expect: &[Result<(), Refusal>]) {
        let mut phase = Phase::Initializing;
        let got: Vec<_> = steps
            .iter()
            .map(|(call, deliver)| {
                let result = phase.accept(*call);
                if let (Ok(()), Some(id)) = (&result, deliver) {
                    phase.deliver(id);
                }
                result
            })
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn a_normal_life() {
        check(
            &[
                (Call::Next, Some("a")),
                (Call::Response("a"), None),
                (Call::Next, Some("b")),
                (Call::Error("b"), None),
            ],
            &[Ok(()), Ok(()), Ok(()), Ok(())],
        );
    }

    #[test]
    fn answers_must_name_the_outstanding_invocation_once() {
        check(
            &[
                (Call::Next, Some("a")),
                (Call::Response("zzz"), None),
                (Call::Response("a"), None),
                (Call::Response("a"), None),
            ],
            &[
                Ok(()),
                Err(Refusal::InvalidRequestId),
                Ok(()),
                Err(Refusal::InvalidRequestId),
            ],
        );
    }

    #[test]
    fn next_while_invoking_is_refused() {
        check(
            &[(Call::Next, Some("a")), (Call::Next, None)],
            &[
                Ok(()),
                Err(Refusal::InvalidState {
                    from: "Invoking",
                    to: "Ready",
                }),
            ],
        );
    }

    #[test]
    fn init_error_only_during_init() {
        check(
            &[(Call::InitError, None), (Call::Next, None)],
            &[
                Ok(()),
                Err(Refusal::InvalidState {
                    from: "Closed",
                    to: "Ready",
                }),
            ],
        );
        check(
            &[(Call::Next, Some("a")), (Call::InitError, None)],
            &[
                Ok(()),
                Err(Refusal::InvalidState {
                    from: "Invoking",
                    to: "InitError",
                }),
            ],
        );
    }

    #[test]
    fn response_before_any_event_is_an_invalid_request_id() {
        check(
            &[(Call::Next, None), (Call::Response("a"), None)],
            &[Ok(()), Err(Refusal::InvalidRequestId)],
        );
    }
}
