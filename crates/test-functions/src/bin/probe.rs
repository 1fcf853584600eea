//! A `lambda_runtime` function whose behaviour the event chooses.
//!
//! The integration tests deploy it as a `bootstrap` and send events such as
//! `{"action":"sleep","ms":1500}` or `{"action":"exit","code":3}` to observe how the platform
//! treats a function that is slow, fails, crashes, prints, or looks at its environment.

use std::collections::BTreeMap;
use std::fmt;
use std::process::Command;

use lambda_runtime::{Context, Diagnostic, Error, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};

/// What the caller asks the probe to do, tagged by `action`.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
enum Action {
    /// Returns the whole event.
    Echo,
    /// Waits `ms` milliseconds, then answers.
    Sleep { ms: u64 },
    /// Fails the invocation with a `ProbeError` carrying `message`.
    Error { message: String },
    /// Ends the process with exit status `code` in the middle of the invocation.
    Exit { code: i32 },
    /// Writes each line to stdout, or to stderr when `stderr` is true.
    Print {
        lines: Vec<String>,
        #[serde(default)]
        stderr: bool,
    },
    /// Returns every environment variable of the process.
    Env,
    /// Returns what `lambda_runtime` learned from the `/next` headers and the environment.
    Context,
    /// Returns a string of `bytes` bytes.
    Big { bytes: usize },
    /// Allocates and touches `mb` megabytes.
    Alloc { mb: usize },
    /// Tries to write a small file at `path`.
    Write { path: String },
    /// Tries to read the file at `path`.
    Read { path: String },
    /// Runs `argv` and returns its exit status and output.
    Spawn { argv: Vec<String> },
}

/// The error the `error` action returns; the runtime reports it with `errorType` `ProbeError`.
#[derive(Debug)]
struct ProbeError(String);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ProbeError> for Diagnostic {
    fn from(error: ProbeError) -> Diagnostic {
        Diagnostic {
            error_type: "ProbeError".into(),
            error_message: error.0,
        }
    }
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, ProbeError> {
    let (payload, context) = event.into_parts();
    let action = Action::deserialize(&payload)
        .map_err(|error| ProbeError(format!("unknown probe event {payload}: {error}")))?;
    perform(action, &payload, &context).await
}

async fn perform(action: Action, payload: &Value, context: &Context) -> Result<Value, ProbeError> {
    match action {
        Action::Echo => Ok(payload.clone()),
        Action::Sleep { ms } => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(json!({ "slept_ms": ms }))
        }
        Action::Error { message } => Err(ProbeError(message)),
        Action::Exit { code } => std::process::exit(code),
        Action::Print { lines, stderr } => {
            for line in &lines {
                if stderr {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
            Ok(json!({ "printed": lines.len() }))
        }
        Action::Env => Ok(json!(std::env::vars().collect::<BTreeMap<_, _>>())),
        Action::Context => Ok(describe_context(context)),
        Action::Big { bytes } => Ok(Value::String("x".repeat(bytes))),
        Action::Alloc { mb } => Ok(json!({ "touched_bytes": touch_megabytes(mb) })),
        Action::Write { path } => Ok(match std::fs::write(&path, b"written by probe") {
            Ok(()) => json!({ "ok": true }),
            Err(error) => json!({ "ok": false, "error": error.to_string() }),
        }),
        Action::Read { path } => Ok(match std::fs::read(&path) {
            Ok(bytes) => json!({ "ok": true, "content": String::from_utf8_lossy(&bytes) }),
            Err(error) => json!({ "ok": false, "error": error.to_string() }),
        }),
        Action::Spawn { argv } => Ok(spawn(&argv)),
    }
}

fn describe_context(context: &Context) -> Value {
    json!({
        "request_id": context.request_id,
        "deadline_ms": context.deadline,
        "invoked_function_arn": context.invoked_function_arn,
        "xray_trace_id": context.xray_trace_id,
        "client_context": context.client_context,
        "identity": context.identity,
        "env_config": *context.env_config,
    })
}

/// Writes one byte per 4 KiB page so that the memory is really resident, and returns the sum
/// of the buffer so the writes cannot be optimised away.
fn touch_megabytes(mb: usize) -> usize {
    let mut buffer = vec![0u8; mb * 1024 * 1024];
    for page in buffer.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(&buffer)
        .iter()
        .map(|&b| usize::from(b))
        .sum::<usize>()
        * 4096
}

fn spawn(argv: &[String]) -> Value {
    let Some((program, args)) = argv.split_first() else {
        return json!({ "error": "argv is empty" });
    };
    match Command::new(program).args(args).output() {
        Ok(output) => json!({
            "status": output.status.code(),
            "stdout": String::from_utf8_lossy(&output.stdout),
            "stderr": String::from_utf8_lossy(&output.stderr),
        }),
        Err(error) => json!({ "error": error.to_string() }),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check(event: Value) -> Result<Value, ProbeError> {
        handle(LambdaEvent::new(event, Context::default())).await
    }

    #[tokio::test]
    async fn echo_returns_the_event() {
        let event = json!({"action": "echo", "extra": [1, 2]});
        assert_eq!(check(event.clone()).await.unwrap(), event);
    }

    #[tokio::test]
    async fn error_carries_the_message_and_type() {
        let error = check(json!({"action": "error", "message": "boom"}))
            .await
            .unwrap_err();
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "ProbeError");
        assert_eq!(diagnostic.error_message, "boom");
    }

    #[tokio::test]
    async fn unknown_actions_fail() {
        let error = check(json!({"action": "fly"})).await.unwrap_err();
        assert!(error.0.contains("unknown probe event"), "{error}");
    }

    #[tokio::test]
    async fn big_returns_exactly_n_bytes() {
        let reply = check(json!({"action": "big", "bytes": 1000}))
            .await
            .unwrap();
        assert_eq!(reply.as_str().unwrap().len(), 1000);
    }

    #[tokio::test]
    async fn sleep_waits() {
        let start = std::time::Instant::now();
        let reply = check(json!({"action": "sleep", "ms": 50})).await.unwrap();
        assert!(start.elapsed() >= std::time::Duration::from_millis(50));
        assert_eq!(reply, json!({"slept_ms": 50}));
    }

    #[tokio::test]
    async fn alloc_touches_every_page() {
        let reply = check(json!({"action": "alloc", "mb": 2})).await.unwrap();
        assert_eq!(reply, json!({"touched_bytes": 2 * 1024 * 1024}));
    }

    #[tokio::test]
    async fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f").to_string_lossy().into_owned();
        let written = check(json!({"action": "write", "path": path}))
            .await
            .unwrap();
        assert_eq!(written, json!({"ok": true}));
        let read = check(json!({"action": "read", "path": path}))
            .await
            .unwrap();
        assert_eq!(read, json!({"ok": true, "content": "written by probe"}));
    }

    #[tokio::test]
    async fn failed_reads_report_the_error() {
        let reply = check(json!({"action": "read", "path": "/nonexistent/probe"}))
            .await
            .unwrap();
        assert_eq!(reply["ok"], json!(false));
        assert!(reply["error"].as_str().unwrap().contains("No such file"));
    }

    #[tokio::test]
    async fn spawn_reports_status_and_output() {
        let reply = check(
            json!({"action": "spawn", "argv": ["sh", "-c", "echo out; echo err >&2; exit 4"]}),
        )
        .await
        .unwrap();
        assert_eq!(
            reply,
            json!({"status": 4, "stdout": "out\n", "stderr": "err\n"})
        );
    }

    #[tokio::test]
    async fn env_lists_the_process_environment() {
        let reply = check(json!({"action": "env"})).await.unwrap();
        assert_eq!(
            reply["PATH"].as_str(),
            std::env::var("PATH").ok().as_deref()
        );
    }

    #[tokio::test]
    async fn context_describes_the_invocation() {
        let reply = check(json!({"action": "context"})).await.unwrap();
        for key in [
            "request_id",
            "deadline_ms",
            "invoked_function_arn",
            "xray_trace_id",
            "client_context",
            "identity",
            "env_config",
        ] {
            assert!(reply.get(key).is_some(), "missing {key} in {reply}");
        }
    }
}
