//! Invoke: resolving the function and version, checking the payload, and handing the invocation
//! to the pool. This is the hot path: after the first invoke of a revision it reads no database.

use std::sync::Arc;

use bytes::Bytes;
use model::Scope;
use model::limits::{ASYNC_PAYLOAD_MAX, SYNC_PAYLOAD_MAX};

use crate::cache::LatestEntry;
use crate::resolve::{self, Target};
use crate::{ControlError, ControlPlane};

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

impl InvocationType {
    /// The largest payload an invocation of this type takes: 1 MB for `Event`, 6 MB otherwise.
    pub fn payload_limit(self) -> usize {
        match self {
            InvocationType::Event => ASYNC_PAYLOAD_MAX,
            InvocationType::RequestResponse | InvocationType::DryRun => SYNC_PAYLOAD_MAX,
        }
    }
}

/// One Invoke request.
#[derive(Debug, Clone)]
pub struct InvokeInput<'a> {
    /// `FunctionName` as given: name, partial or full ARN, possibly qualified.
    pub function_name: &'a str,
    /// `?Qualifier=`.
    pub qualifier: Option<&'a str>,
    pub invocation_type: InvocationType,
    /// The request id the function sees and the caller gets back.
    pub request_id: String,
    pub payload: Bytes,
    /// `X-Amzn-Trace-Id`.
    pub trace_id: Option<String>,
    /// `X-Amz-Client-Context`, already base64-decoded.
    pub client_context: Option<String>,
    /// `X-Amz-Log-Type: Tail`.
    pub want_tail: bool,
}

/// What came of an Invoke.
#[derive(Debug, Clone)]
pub enum InvokeOutcome {
    /// The function ran (successfully or not: see `function_error`).
    Completed(pool::InvokeResult),
    /// A DryRun: the request would have run.
    DryRun,
    /// An `Event` invocation is durably queued; the dispatcher runs it.
    Accepted,
}

impl ControlPlane {
    /// Runs one invocation of a function.
    pub async fn invoke(
        &self,
        scope: &Scope,
        input: InvokeInput<'_>,
    ) -> Result<InvokeOutcome, ControlError> {
        let target = resolve::target(scope, input.function_name, input.qualifier)?;
        let payload = checked_payload(input.payload, input.invocation_type.payload_limit())?;
        // `$LATEST`, a published version, or the version an alias's weights pick.
        let latest = self.runnable(scope, &target).await?;
        match input.invocation_type {
            InvocationType::RequestResponse => {}
            InvocationType::DryRun => return Ok(InvokeOutcome::DryRun),
            InvocationType::Event => {
                self.enqueue(scope, &target, input.request_id, payload, input.trace_id)
                    .await?;
                return Ok(InvokeOutcome::Accepted);
            }
        }
        let request = pool::InvokeRequest {
            config: Arc::clone(&latest.config),
            code_dir: latest.code_dir.clone(),
            opt_dir: latest.opt_dir.clone(),
            request_id: input.request_id,
            payload,
            invoked_arn: target.arn(scope),
            trace_id: input.trace_id,
            client_context: input.client_context,
            cognito_identity: None,
            want_tail: input.want_tail,
        };
        // Held until the function answered; dropping it frees the concurrency.
        let _permit = self.admit(&target.name)?;
        self.inner
            .pool
            .invoke(request)
            .await
            .map(InvokeOutcome::Completed)
            .map_err(|source| match source {
                pool::PoolError::Throttled { function } => self.scaling_throttle(&function),
                source => ControlError::Invoke {
                    function: target.name,
                    source,
                },
            })
    }

    /// The $LATEST configuration and code directory of a function, from the cache when it can.
    pub(crate) async fn latest(
        &self,
        scope: &Scope,
        target: &Target,
    ) -> Result<Arc<LatestEntry>, ControlError> {
        let seen = match self.inner.latest.get(&target.name) {
            Ok(entry) => return Ok(entry),
            Err(seen) => seen,
        };
        let config = self.stored(scope, target).await?.latest;
        let code_dir = self.code_dir(&config.code).await?;
        let opt_dir = self.opt_dir(&config.layers).await?;
        let entry = Arc::new(LatestEntry {
            config: Arc::new(config),
            code_dir,
            opt_dir,
        });
        self.inner
            .latest
            .fill(&target.name, Arc::clone(&entry), seen);
        Ok(entry)
    }
}

/// Checks the payload's size against `limit` and that it is JSON; an empty payload is the empty
/// object, as on Lambda.
fn checked_payload(payload: Bytes, limit: usize) -> Result<Bytes, ControlError> {
    if payload.len() > limit {
        return Err(ControlError::PayloadTooLarge {
            size: payload.len(),
            limit,
        });
    }
    if payload.is_empty() {
        return Ok(Bytes::from_static(b"{}"));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&payload).map_err(|err| {
        ControlError::PayloadNotJson {
            reason: err.to_string(),
        }
    })?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(payload: &[u8], expect: Result<&[u8], &str>) {
        let got = checked_payload(Bytes::copy_from_slice(payload), SYNC_PAYLOAD_MAX);
        match (got, expect) {
            (Ok(got), Ok(want)) => assert_eq!(&got[..], want),
            (Err(ControlError::PayloadNotJson { reason }), Err(fragment)) => {
                assert!(reason.contains(fragment), "{reason}")
            }
            (got, expect) => panic!("got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn payloads_must_be_json() {
        check(b"", Ok(b"{}"));
        check(br#"{"a":1}"#, Ok(br#"{"a":1}"#));
        check(b"[1,2]", Ok(b"[1,2]"));
        check(b"\"text\"", Ok(b"\"text\""));
        check(b"null", Ok(b"null"));
        check(b"{not json", Err("key must be a string"));
        check(b"{} trailing", Err("trailing characters"));
    }

    #[test]
    fn payloads_over_the_limit_are_refused() {
        for invocation_type in [InvocationType::RequestResponse, InvocationType::Event] {
            let limit = invocation_type.payload_limit();
            let mut big = vec![b' '; limit + 1];
            big[0] = b'1';
            let err = checked_payload(Bytes::from(big), limit).unwrap_err();
            assert!(
                matches!(err, ControlError::PayloadTooLarge { limit: l, .. } if l == limit),
                "{err:?}"
            );
            let mut fits = vec![b' '; limit];
            fits[0] = b'1';
            assert!(checked_payload(Bytes::from(fits), limit).is_ok());
        }
        assert_eq!(InvocationType::Event.payload_limit(), 1024 * 1024);
        assert_eq!(InvocationType::DryRun.payload_limit(), 6 * 1024 * 1024);
    }
}
