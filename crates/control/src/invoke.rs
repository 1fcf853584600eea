//! Invoke: resolving the function and version, checking the payload, and handing the invocation
//! to the pool. This is the hot path: after the first invoke of a revision it reads no database.

use std::sync::Arc;

use bytes::Bytes;
use model::Scope;
use model::limits::SYNC_PAYLOAD_MAX;

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
}

impl ControlPlane {
    /// Runs one invocation of a function.
    pub async fn invoke(
        &self,
        scope: &Scope,
        input: InvokeInput<'_>,
    ) -> Result<InvokeOutcome, ControlError> {
        let target = resolve::target(scope, input.function_name, input.qualifier)?;
        target.require_latest(scope)?;
        let payload = checked_payload(input.payload)?;
        let latest = self.latest(scope, &target).await?;
        match input.invocation_type {
            InvocationType::RequestResponse => {}
            InvocationType::DryRun => return Ok(InvokeOutcome::DryRun),
            InvocationType::Event => {
                return Err(ControlError::unsupported(
                    "Asynchronous invocation (InvocationType Event) is not supported yet: use RequestResponse.",
                ));
            }
        }
        let request = pool::InvokeRequest {
            config: Arc::clone(&latest.config),
            code_dir: latest.code_dir.clone(),
            request_id: input.request_id,
            payload,
            invoked_arn: target.arn(scope),
            trace_id: input.trace_id,
            client_context: input.client_context,
            cognito_identity: None,
            want_tail: input.want_tail,
        };
        self.inner
            .pool
            .invoke(request)
            .await
            .map(InvokeOutcome::Completed)
            .map_err(|source| ControlError::Invoke {
                function: target.name,
                source,
            })
    }

    /// The $LATEST configuration and code directory of a function, from the cache when it can.
    async fn latest(
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
        let entry = Arc::new(LatestEntry {
            config: Arc::new(config),
            code_dir,
        });
        self.inner
            .latest
            .fill(&target.name, Arc::clone(&entry), seen);
        Ok(entry)
    }
}

/// Checks the payload's size and that it is JSON; an empty payload is the empty object, as on
/// Lambda.
fn checked_payload(payload: Bytes) -> Result<Bytes, ControlError> {
    if payload.len() > SYNC_PAYLOAD_MAX {
        return Err(ControlError::PayloadTooLarge {
            size: payload.len(),
            limit: SYNC_PAYLOAD_MAX,
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
        let got = checked_payload(Bytes::copy_from_slice(payload));
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
    fn payloads_over_six_megabytes_are_refused() {
        let mut big = vec![b' '; SYNC_PAYLOAD_MAX + 1];
        big[0] = b'1';
        let err = checked_payload(Bytes::from(big)).unwrap_err();
        assert!(
            matches!(err, ControlError::PayloadTooLarge { .. }),
            "{err:?}"
        );
    }
}
