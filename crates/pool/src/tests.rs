//! The pool driven with real processes: bash + curl bootstraps that behave as the event says.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

use super::*;

mod provisioned;

/// A bootstrap written like Lambda's bash tutorial. The event picks the behaviour:
/// `{"sleep":N}` sleeps N seconds, `{"exit":N}` exits, `{"fail":1}` posts /error, anything else
/// is echoed after printing `handling <event>`.
const BOOTSTRAP: &str = r#"#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
if [ -n "${INIT_FAIL:-}" ]; then
  curl -sS -X POST "$API/init/error" -H "Lambda-Runtime-Function-Error-Type: Runtime.ConfigError" -d '{"errorMessage":"bad config","errorType":"Runtime.ConfigError"}' >/dev/null
  exit 1
fi
[ -n "${INIT_EXIT:-}" ] && exit 7
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  case "$EVENT" in
    *'"sleep"'*) sleep "$(echo "$EVENT" | tr -dc '0-9.')";;
    *'"exit"'*) exit "$(echo "$EVENT" | tr -dc '0-9')";;
    *'"fail"'*) curl -sS -X POST "$API/invocation/$ID/error" -d '{"errorMessage":"failed on purpose","errorType":"Purpose"}' >/dev/null; continue;;
  esac
  echo "handling $EVENT"
  curl -sS -X POST "$API/invocation/$ID/response" -d "$EVENT" >/dev/null
done
"#;

/// An external extension in bash: registers for INVOKE and SHUTDOWN, prints every event, and
/// works `EXT_SLEEP` seconds after each one.
const EXTENSION: &str = r#"#!/bin/bash
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
HEADERS="$(mktemp)"
curl -sS -D "$HEADERS" -X POST "$API/register" -H "Lambda-Extension-Name: bash-ext" -d '{"events":["INVOKE","SHUTDOWN"]}' >/dev/null
ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
while true; do
  EVENT=$(curl -sS "$API/event/next" -H "Lambda-Extension-Identifier: $ID")
  echo "[bash-ext] $EVENT"
  case "$EVENT" in *SHUTDOWN*) exit 0;; esac
  sleep "${EXT_SLEEP:-0}"
  echo "[bash-ext] done"
done
"#;

struct Fixture {
    pool: Pool,
    code: tempfile::TempDir,
    logs: logs::LogStore,
    _data: tempfile::TempDir,
}

fn fixture() -> Fixture {
    fixture_with(&[])
}

/// A pool whose functions get `extensions` (name, script) in `/opt/extensions`.
fn fixture_with(extensions: &[(&str, &str)]) -> Fixture {
    fixture_gated(extensions, None)
}

/// Like `fixture_with`, asking `gate` before every cold start.
fn fixture_gated(
    extensions: &[(&str, &str)],
    cold_start_gate: Option<Arc<dyn ColdStartGate>>,
) -> Fixture {
    fixture_launched(
        extensions,
        cold_start_gate,
        Arc::new(sandbox::ProcessLauncher),
    )
}

/// A pool starting environments through `launcher`.
fn fixture_launched(
    extensions: &[(&str, &str)],
    cold_start_gate: Option<Arc<dyn ColdStartGate>>,
    launcher: Arc<dyn sandbox::Launcher>,
) -> Fixture {
    let data = tempfile::tempdir().unwrap();
    let code = tempfile::tempdir().unwrap();
    write_bootstrap(code.path(), BOOTSTRAP);
    let empty = data.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    if !extensions.is_empty() {
        std::fs::create_dir(empty.join("extensions")).unwrap();
        for (name, script) in extensions {
            let path = empty.join("extensions").join(name);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let settings = PoolSettings {
        scope: model::Scope {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        },
        endpoint_url: "http://127.0.0.1:9".into(),
        idle_timeout: Duration::from_secs(600),
        empty_dir: empty,
        cold_start_gate,
    };
    let runtimes = runtimes::Runtimes::new(runtimes::RuntimeSettings {
        root: data.path().join("runtimes"),
        python_client_dir: None,
    });
    let logs = logs::LogStore::open(&data.path().join("logs"), logs::LogLimits::default()).unwrap();
    let pool = Pool::new(settings, launcher, runtimes, logs.clone());
    Fixture {
        pool,
        code,
        logs,
        _data: data,
    }
}

fn write_bootstrap(dir: &Path, text: &str) {
    let path = dir.join("bootstrap");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn config(timeout_s: u32, env: &[(&str, &str)]) -> Arc<FunctionConfig> {
    Arc::new(FunctionConfig {
        timeout_s,
        environment: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..FunctionConfig::example("f")
    })
}

impl Fixture {
    /// Every message logged for function `f` so far.
    fn log_messages(&self) -> Vec<String> {
        let page = self
            .logs
            .filter("/aws/lambda/f", &logs::FilterQuery::default())
            .unwrap();
        page.events.into_iter().map(|e| e.message).collect()
    }

    async fn wait_for_log(&self, fragment: &str) -> Vec<String> {
        for _ in 0..100 {
            let messages = self.log_messages();
            if messages.iter().any(|m| m.contains(fragment)) {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{fragment:?} never logged: {:#?}", self.log_messages());
    }

    async fn invoke_without_tail(
        &self,
        config: &Arc<FunctionConfig>,
        payload: &str,
    ) -> InvokeResult {
        let request = InvokeRequest {
            config: Arc::clone(config),
            code_dir: self.code.path().to_path_buf(),
            request_id: model::ids::request_id(),
            payload: Bytes::from(payload.to_string()),
            invoked_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            opt_dir: None,
            want_tail: false,
        };
        self.pool.invoke(request).await.unwrap()
    }

    async fn invoke(&self, config: &Arc<FunctionConfig>, payload: &str) -> InvokeResult {
        let request = InvokeRequest {
            config: Arc::clone(config),
            code_dir: self.code.path().to_path_buf(),
            request_id: model::ids::request_id(),
            payload: Bytes::from(payload.to_string()),
            invoked_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            opt_dir: None,
            want_tail: true,
        };
        self.pool.invoke(request).await.unwrap()
    }
}

fn error_document(result: &InvokeResult) -> serde_json::Value {
    assert_eq!(result.function_error, Some("Unhandled"), "{result:?}");
    serde_json::from_slice(&result.body).unwrap()
}

#[tokio::test]
async fn warm_reuse_reports_init_only_once() {
    let fx = fixture();
    let config = config(3, &[]);
    let first = fx.invoke(&config, r#"{"n":1}"#).await;
    assert_eq!(first.body.as_ref(), br#"{"n":1}"#);
    assert_eq!(first.executed_version, "$LATEST");
    let tail = first.log_tail.unwrap();
    assert!(tail.starts_with("START RequestId: "), "{tail}");
    assert!(tail.contains("handling {\"n\":1}\n"), "{tail}");
    assert!(tail.contains("\nEND RequestId: "), "{tail}");
    assert!(tail.contains("Init Duration: "), "{tail}");
    let second = fx.invoke(&config, r#"{"n":2}"#).await;
    assert!(!second.log_tail.unwrap().contains("Init Duration"));
    assert_eq!(fx.pool.idle_count("f"), 1);
}

#[tokio::test]
async fn handler_errors_keep_the_environment() {
    let fx = fixture();
    let config = config(3, &[]);
    let failed = fx.invoke(&config, r#"{"fail":1}"#).await;
    assert_eq!(error_document(&failed)["errorType"], "Purpose");
    assert_eq!(fx.pool.idle_count("f"), 1);
    let after = fx.invoke(&config, "{}").await;
    assert!(
        !after.log_tail.unwrap().contains("Init Duration"),
        "the environment was reused"
    );
}

#[tokio::test]
async fn timeouts_kill_and_replace_the_environment() {
    let fx = fixture();
    let config = config(1, &[]);
    let started = Instant::now();
    let timed_out = fx.invoke(&config, r#"{"sleep":5}"#).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let document = error_document(&timed_out);
    assert_eq!(document["errorType"], "Sandbox.Timedout");
    assert!(
        document["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Task timed out after 1.00 seconds")
    );
    let tail = timed_out.log_tail.unwrap();
    assert!(tail.contains("Task timed out after 1.00 seconds"), "{tail}");
    assert!(tail.contains("Status: timeout"), "{tail}");
    let next = fx.invoke(&config, "{}").await;
    assert_eq!(next.function_error, None);
    assert!(
        next.log_tail.unwrap().contains("Init Duration"),
        "a new environment"
    );
}

#[tokio::test]
async fn a_runtime_exit_is_reported_with_its_status() {
    let fx = fixture();
    let config = config(3, &[]);
    let exited = fx.invoke(&config, r#"{"exit":3}"#).await;
    let document = error_document(&exited);
    assert_eq!(document["errorType"], "Runtime.ExitError");
    assert!(
        document["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: exit status 3")
    );
    assert!(
        exited
            .log_tail
            .unwrap()
            .contains("Status: error\tError Type: Runtime.ExitError")
    );
    assert_eq!(fx.pool.idle_count("f"), 0);
}

#[tokio::test]
async fn init_failures_answer_the_first_invoke() {
    let fx = fixture();
    let reported = fx.invoke(&config(3, &[("INIT_FAIL", "1")]), "{}").await;
    assert_eq!(
        error_document(&reported)["errorType"],
        "Runtime.ConfigError"
    );
    assert!(reported.log_tail.unwrap().contains("INIT_REPORT") || fx.pool.idle_count("f") == 0);
    let mut exiting = (*config(3, &[("INIT_EXIT", "1")])).clone();
    exiting.revision_id = "rev-2".into();
    let exited = fx.invoke(&Arc::new(exiting), "{}").await;
    let document = error_document(&exited);
    assert_eq!(document["errorType"], "Runtime.ExitError");
    assert!(
        document["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("exit status 7")
    );
}

#[tokio::test]
async fn a_missing_bootstrap_is_an_invalid_entrypoint() {
    let fx = fixture();
    std::fs::remove_file(fx.code.path().join("bootstrap")).unwrap();
    let result = fx.invoke(&config(3, &[]), "{}").await;
    let document = error_document(&result);
    assert_eq!(document["errorType"], "Runtime.InvalidEntrypoint");
}

#[tokio::test]
async fn concurrent_invokes_run_in_parallel_environments() {
    let fx = Arc::new(fixture());
    let config = config(5, &[]);
    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let fx = Arc::clone(&fx);
            let config = Arc::clone(&config);
            tokio::spawn(async move { fx.invoke(&config, r#"{"sleep":1}"#).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().function_error, None);
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fx.pool.idle_count("f"), 4);
}

/// Lets a fixed number of cold starts through.
#[derive(Debug)]
struct Allowance(AtomicU32);

impl ColdStartGate for Allowance {
    fn allow_cold_start(&self, _function: &str) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    fn cold_start_not_needed(&self, _function: &str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Plain processes, whose preparation waits for the test's go after the first one: as a
/// sandbox made on the spot keeps a cold start waiting.
#[derive(Debug, Default)]
struct SlowToPrepare {
    prepared: std::sync::atomic::AtomicUsize,
    go: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl sandbox::Launcher for SlowToPrepare {
    fn inside(&self, mounts: &sandbox::Mounts) -> sandbox::Mounts {
        sandbox::ProcessLauncher.inside(mounts)
    }
    async fn prepare(&self) -> Result<sandbox::Prepared, sandbox::SandboxError> {
        if self.prepared.fetch_add(1, Ordering::SeqCst) > 0 {
            self.go.notified().await;
        }
        sandbox::ProcessLauncher.prepare().await
    }
    async fn launch(
        &self,
        spec: sandbox::LaunchSpec,
    ) -> Result<Box<dyn sandbox::Sandbox>, sandbox::SandboxError> {
        sandbox::ProcessLauncher.launch(spec).await
    }
}

#[tokio::test]
async fn an_invocation_waiting_for_its_sandbox_takes_an_environment_that_went_idle() {
    let launcher = Arc::new(SlowToPrepare::default());
    let gate = Arc::new(Allowance(AtomicU32::new(2)));
    let fx = Arc::new(fixture_launched(&[], Some(gate.clone()), launcher.clone()));
    let config = config(5, &[]);
    let first = {
        let (fx, config) = (Arc::clone(&fx), Arc::clone(&config));
        tokio::spawn(async move { fx.invoke(&config, r#"{"sleep":0.5}"#).await })
    };
    // The second invocation arrives while the first runs: it needs a new environment, whose
    // sandbox is not ready until the test says so (never, here).
    while launcher.prepared.load(Ordering::SeqCst) == 0 || fx.pool.idle_count("f") > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = tokio::time::timeout(Duration::from_secs(5), fx.invoke(&config, "{}"))
        .await
        .expect("served by the first environment once it went idle");
    assert_eq!(second.function_error, None);
    assert!(
        !second.log_tail.unwrap().contains("Init Duration"),
        "a warm invocation"
    );
    assert!(
        first
            .await
            .unwrap()
            .log_tail
            .unwrap()
            .contains("Init Duration")
    );
    assert_eq!(
        launcher.prepared.load(Ordering::SeqCst),
        2,
        "one start, one wait"
    );
    assert_eq!(fx.pool.idle_count("f"), 1);
    assert_eq!(
        gate.0.load(Ordering::SeqCst),
        1,
        "the start that did not happen does not count against the scaling rate"
    );
}

#[tokio::test]
async fn a_new_revision_retires_the_old_environments() {
    let fx = fixture();
    let first = config(3, &[]);
    fx.invoke(&first, "{}").await;
    let mut changed = (*first).clone();
    changed.revision_id = "rev-2".into();
    let changed = Arc::new(changed);
    let after = fx.invoke(&changed, "{}").await;
    assert!(
        after.log_tail.unwrap().contains("Init Duration"),
        "a new generation starts cold"
    );
    fx.pool.retire("f");
    assert_eq!(fx.pool.idle_count("f"), 0);
}

#[tokio::test]
async fn external_extensions_get_invoke_and_shutdown_events() {
    let fx = fixture_with(&[("bash-ext", EXTENSION)]);
    let config = config(3, &[]);
    let first = fx.invoke(&config, r#"{"n":1}"#).await;
    assert_eq!(first.function_error, None, "{first:?}");
    let tail = first.log_tail.unwrap();
    assert!(tail.contains("Init Duration"), "{tail}");
    let messages = fx.wait_for_log("\"eventType\":\"INVOKE\"").await;
    assert!(
        messages
            .iter()
            .any(|m| m == "EXTENSION\tName: bash-ext\tState: Ready\tEvents: [INVOKE, SHUTDOWN]"),
        "{messages:#?}"
    );
    let invoke_line = messages
        .iter()
        .find(|m| m.contains("\"eventType\":\"INVOKE\""))
        .unwrap();
    assert!(
        invoke_line.contains("arn:aws:lambda:us-east-1:000000000000:function:f"),
        "{invoke_line}"
    );

    fx.pool.retire("f");
    fx.wait_for_log("\"shutdownReason\":\"spindown\"").await;
}

#[tokio::test]
async fn post_invoke_work_delays_the_next_invocation_not_the_caller() {
    let fx = fixture_with(&[("bash-ext", EXTENSION)]);
    let config = config(5, &[("EXT_SLEEP", "1")]);
    fx.invoke(&config, "{}").await;
    fx.wait_for_log("[bash-ext] done").await;

    let started = Instant::now();
    let answered = fx.invoke_without_tail(&config, r#"{"n":2}"#).await;
    assert_eq!(answered.body.as_ref(), br#"{"n":2}"#);
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "the caller does not wait: {:?}",
        started.elapsed()
    );

    // The environment is busy until the extension is done, so the next invocation waits for it
    // (or starts a second environment); with the tail, the report covers the extension's work.
    let tailed = fx.invoke(&config, r#"{"n":3}"#).await;
    let tail = tailed.log_tail.unwrap();
    let report = tail.lines().find(|l| l.starts_with("REPORT")).unwrap();
    let duration: f64 = report
        .split("Duration: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        duration >= 1000.0,
        "post-invoke work counts in Duration: {report}"
    );
}

#[tokio::test]
async fn an_extension_that_crashes_during_init_fails_the_init() {
    let crashing = "#!/bin/bash\necho '[crash-ext] giving up'\nexit 4\n";
    let fx = fixture_with(&[("crash-ext", crashing)]);
    let result = fx.invoke(&config(3, &[]), "{}").await;
    let document = error_document(&result);
    assert_eq!(document["errorType"], "Extension.InitError", "{document}");
    assert!(
        result
            .log_tail
            .unwrap()
            .contains("Status: error\tError Type: Extension.InitError")
    );
}

#[tokio::test]
async fn a_requests_opt_dir_is_the_environments_opt() {
    let fx = fixture();
    let layers = tempfile::tempdir().unwrap();
    std::fs::create_dir(layers.path().join("extensions")).unwrap();
    let path = layers.path().join("extensions").join("bash-ext");
    std::fs::write(&path, EXTENSION).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let request = InvokeRequest {
        config: config(3, &[]),
        code_dir: fx.code.path().to_path_buf(),
        opt_dir: Some(layers.path().to_path_buf()),
        request_id: model::ids::request_id(),
        payload: Bytes::from_static(b"{}"),
        invoked_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
        trace_id: None,
        client_context: None,
        cognito_identity: None,
        want_tail: true,
    };
    let result = fx.pool.invoke(request).await.unwrap();
    assert_eq!(result.function_error, None, "{result:?}");
    let messages = fx.wait_for_log("\"eventType\":\"INVOKE\"").await;
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("EXTENSION\tName: bash-ext\tState: Ready")),
        "{messages:#?}"
    );
    fx.pool.retire("f");
}

#[tokio::test]
async fn extension_lines_printed_between_invocations_reach_the_log() {
    // Registers, then prints once the invocation is long over, as a telemetry extension does
    // when a batch arrives.
    let late = r#"#!/bin/bash
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
HEADERS="$(mktemp)"
curl -sS -D "$HEADERS" -X POST "$API/register" -H "Lambda-Extension-Name: late-ext" -d '{"events":[]}' >/dev/null
ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
(sleep 0.5; echo "[late-ext] printed between invocations") &
curl -sS "$API/event/next" -H "Lambda-Extension-Identifier: $ID"
"#;
    let fx = fixture_with(&[("late-ext", late)]);
    let result = fx.invoke(&config(3, &[]), "{}").await;
    assert_eq!(result.function_error, None, "{result:?}");
    assert!(
        !fx.log_messages()
            .iter()
            .any(|m| m.contains("printed between invocations")),
        "the line comes after the invocation"
    );
    fx.wait_for_log("[late-ext] printed between invocations")
        .await;
    fx.pool.retire("f");
}
