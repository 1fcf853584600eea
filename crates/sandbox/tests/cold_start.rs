//! Cold starts of the Rust echo (`lambda_runtime`) in the full sandbox, through the pool:
//! request in, new environment (jail, namespaces, cgroup, seccomp, pooled network namespace),
//! runtime init, response out. Prints p50 / p90 / p99.
//!
//! Needs root and the echo binary: `RUN_PRIVILEGED_TESTS=1 FLINT_ECHO=target/release/echo
//! cargo test --release -p sandbox --test cold_start -- --nocapture`.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pool::{InvokeRequest, Pool, PoolSettings};
use sandbox::{IsolatedLauncher, IsolationSettings};

const COLD_STARTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_of_the_rust_echo() {
    let (true, Ok(echo)) = (
        std::env::var("RUN_PRIVILEGED_TESTS").as_deref() == Ok("1"),
        std::env::var("FLINT_ECHO"),
    ) else {
        eprintln!(
            "skipped: set RUN_PRIVILEGED_TESTS=1 and FLINT_ECHO=<path of the echo test function>"
        );
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let code = data.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(&echo, code.join("bootstrap")).unwrap();
    let empty = data.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut settings = IsolationSettings::new("127.0.0.1:9".parse().unwrap());
    settings.jail = env!("CARGO_BIN_EXE_flint-jail").into();
    let pool = Pool::new(
        PoolSettings {
            scope: model::Scope {
                region: "us-east-1".into(),
                account: "000000000000".into(),
            },
            endpoint_url: "http://127.0.0.1:9".into(),
            idle_timeout: Duration::from_secs(600),
            empty_dir: empty,
            cold_start_gate: None,
        },
        launcher(settings),
        runtimes::Runtimes::new(runtimes::RuntimeSettings {
            root: data.path().join("runtimes"),
            python_client_dir: None,
        }),
        logs::LogStore::open(&data.path().join("logs"), logs::LogLimits::default()).unwrap(),
    );
    // Let the background thread fill the pool of network namespaces.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut times = Vec::new();
    for n in 0..COLD_STARTS + 10 {
        let name = format!("echo{n}");
        let request = InvokeRequest {
            config: config(&name),
            code_dir: code.clone(),
            opt_dir: None,
            request_id: model::ids::request_id(),
            payload: Bytes::from_static(b"{\"n\":1}"),
            invoked_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            want_tail: false,
        };
        let started = Instant::now();
        let result = pool.invoke(request).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(result.body.as_ref(), b"{\"n\":1}", "{result:?}");
        pool.retire(&name);
        if n >= 10 {
            times.push(elapsed);
        }
        // Cold starts arrive spaced out, as they do outside a burst; the pool refills meanwhile.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "cold start, Rust echo, isolation {}: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        std::env::var("FLINT_ISOLATION").unwrap_or_else(|_| "full".into()),
        at(0.50),
        at(0.90),
        at(0.99),
        times[times.len() - 1]
    );
    assert!(at(0.50) < Duration::from_millis(50), "p50 {:?}", at(0.50));
}

/// The full sandbox, or with `FLINT_ISOLATION=none` the isolation-off launcher, for comparison.
fn launcher(settings: IsolationSettings) -> Arc<dyn sandbox::Launcher> {
    if std::env::var("FLINT_ISOLATION").as_deref() == Ok("none") {
        Arc::new(sandbox::ProcessLauncher)
    } else {
        Arc::new(IsolatedLauncher::start(settings).unwrap())
    }
}

fn config(name: &str) -> Arc<model::FunctionConfig> {
    Arc::new(model::FunctionConfig::example(name))
}
