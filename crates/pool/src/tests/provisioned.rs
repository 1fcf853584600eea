//! Provisioned concurrency and the cold-start gate, with real processes.

use super::*;

/// A published version of the test function.
fn version_one(env: &[(&str, &str)]) -> Arc<FunctionConfig> {
    let mut config = (*config(3, env)).clone();
    config.version = "1".into();
    config.revision_id = "rev-v1".into();
    Arc::new(config)
}

impl Fixture {
    fn target(&self, config: &Arc<FunctionConfig>) -> ProvisionTarget {
        ProvisionTarget {
            config: Arc::clone(config),
            code_dir: self.code.path().to_path_buf(),
            opt_dir: None,
        }
    }

    async fn wait_for_state(&self, version: &str, state: ProvisionedState) -> ProvisionedStatus {
        for _ in 0..200 {
            let status = self.pool.provisioned("f", version);
            if status.state() == state {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "provisioning never reached {state:?}: {:?}",
            self.pool.provisioned("f", version)
        );
    }

    async fn wait_for_allocated(&self, version: &str, allocated: u32) {
        for _ in 0..200 {
            if self.pool.provisioned("f", version).allocated == allocated {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "never {allocated} allocated: {:?}",
            self.pool.provisioned("f", version)
        );
    }
}

fn has_init_duration(result: &InvokeResult) -> bool {
    result
        .log_tail
        .as_deref()
        .is_some_and(|tail| tail.contains("Init Duration"))
}

#[tokio::test]
async fn provisioned_environments_serve_without_a_cold_start() {
    let fx = fixture();
    let config = version_one(&[]);
    fx.pool.provision(fx.target(&config), 2);
    let ready = fx.wait_for_state("1", ProvisionedState::Ready).await;
    assert_eq!((ready.requested, ready.allocated, ready.idle), (2, 2, 2));
    let messages = fx.wait_for_log("INIT_START").await;
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.starts_with("INIT_START"))
            .count(),
        2,
        "{messages:#?}"
    );

    let result = fx.invoke(&config, r#"{"n":1}"#).await;
    assert_eq!(result.body.as_ref(), br#"{"n":1}"#);
    assert_eq!(result.executed_version, "1");
    assert!(!has_init_duration(&result), "{result:?}");
    let activity = fx.pool.activity("f");
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0].provisioned.idle, 2, "{activity:?}");
    assert_eq!(
        fx.pool.idle_count("f"),
        0,
        "no on-demand environment was started"
    );

    fx.pool.unprovision("f", "1");
    assert_eq!(fx.pool.provisioned("f", "1").allocated, 0);
}

#[tokio::test]
async fn invocations_beyond_the_provisioned_spill_over_to_on_demand() {
    let fx = fixture();
    let config = version_one(&[]);
    fx.pool.provision(fx.target(&config), 1);
    fx.wait_for_state("1", ProvisionedState::Ready).await;
    let (a, b) = tokio::join!(
        fx.invoke(&config, r#"{"sleep":1}"#),
        fx.invoke(&config, r#"{"sleep":1}"#)
    );
    let cold = [&a, &b].iter().filter(|r| has_init_duration(r)).count();
    assert_eq!(cold, 1, "one ran provisioned, one cold: {a:?} {b:?}");
    assert_eq!(fx.pool.idle_count("f"), 1);
    assert_eq!(fx.pool.provisioned("f", "1").idle, 1);
    fx.pool.retire("f");
}

#[tokio::test]
async fn a_provisioned_environment_that_dies_is_replaced() {
    let fx = fixture();
    let config = version_one(&[]);
    fx.pool.provision(fx.target(&config), 1);
    fx.wait_for_state("1", ProvisionedState::Ready).await;
    let crashed = fx.invoke(&config, r#"{"exit":3}"#).await;
    assert_eq!(error_document(&crashed)["errorType"], "Runtime.ExitError");
    fx.wait_for_allocated("1", 1).await;
    let after = fx.invoke(&config, "{}").await;
    assert!(!has_init_duration(&after), "served by the replacement");
    fx.pool.retire("f");
}

#[tokio::test]
async fn a_failing_init_marks_provisioning_failed() {
    let fx = fixture();
    let config = version_one(&[("INIT_FAIL", "1")]);
    fx.pool.provision(fx.target(&config), 1);
    let failed = fx.wait_for_state("1", ProvisionedState::Failed).await;
    let reason = failed.failure.unwrap();
    assert!(reason.contains("FUNCTION_ERROR_INIT_FAILURE"), "{reason}");
    assert!(reason.contains("Runtime.ConfigError"), "{reason}");
    fx.pool.retire("f");
}

#[tokio::test]
async fn the_gate_decides_cold_starts_only() {
    let fx = fixture_gated(&[], Some(Arc::new(Allowance(AtomicU32::new(1)))));
    let config = config(3, &[]);
    fx.invoke(&config, "{}").await;
    // Warm invocations do not ask.
    fx.invoke(&config, "{}").await;
    let (warm, cold) = tokio::join!(fx.invoke(&config, r#"{"sleep":0.5}"#), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let request = InvokeRequest {
            config: Arc::clone(&config),
            code_dir: fx.code.path().to_path_buf(),
            opt_dir: None,
            request_id: model::ids::request_id(),
            payload: Bytes::from_static(b"{}"),
            invoked_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            want_tail: false,
        };
        fx.pool.invoke(request).await
    });
    assert_eq!(warm.function_error, None);
    assert!(
        matches!(&cold, Err(PoolError::Throttled { function }) if function == "f"),
        "{cold:?}"
    );
    fx.pool.retire("f");
}
