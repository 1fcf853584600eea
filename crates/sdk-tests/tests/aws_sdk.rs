//! Drives a real `flint serve` with the official AWS SDK for Rust (`aws-sdk-lambda`).
//!
//! Each test starts its own server on a free port of 127.0.0.1 with a temporary data directory,
//! deploys the `lambda_runtime` functions `echo` and `probe` of `crates/test-functions` as a
//! `bootstrap`, and checks what the SDK decodes: fields, status codes, the log tail and typed
//! errors. The release binaries `flint`, `echo` and `probe` must exist: `scripts/test` builds
//! them before it runs the Rust tests.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{Cursor, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::timeout::TimeoutConfig;
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::RequestId as _;
use aws_sdk_lambda::operation::create_function::{CreateFunctionError, CreateFunctionOutput};
use aws_sdk_lambda::operation::delete_function::DeleteFunctionError;
use aws_sdk_lambda::operation::get_function::GetFunctionError;
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, InvocationType, LogType, Runtime, State};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const REGION: &str = "us-east-1";
const ACCOUNT_ID: &str = "000000000000";
const ROLE: &str = "arn:aws:iam::000000000000:role/x";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// The server

/// One `flint serve` child process. Dropping it kills the server, so a failing test leaves no
/// server behind; `stop` ends it the way an operator does and checks that it stopped cleanly.
struct Flint {
    child: Option<Child>,
    endpoint: String,
    log: PathBuf,
    _root: tempfile::TempDir,
}

impl Flint {
    /// Starts `flint serve --listen 127.0.0.1:0` and waits until it announced its address and
    /// `GET /2015-03-31/functions` answers 200.
    async fn start() -> Flint {
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("data");
        let log = root.path().join("flint.log");
        let output = File::create(&log).unwrap();
        let child = Command::new(release_binary("flint"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap();
        let mut flint = Flint {
            child: Some(child),
            endpoint: String::new(),
            log,
            _root: root,
        };
        flint.wait_until_ready().await;
        flint
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child_mut().try_wait().unwrap() {
                panic!(
                    "flint serve exited with {status} before it was ready:\n{}",
                    self.log_text()
                );
            }
            if self.endpoint.is_empty()
                && let Some(endpoint) = announced_endpoint(&self.log_text())
            {
                self.endpoint = endpoint;
            }
            if !self.endpoint.is_empty() && list_functions_status(&self.endpoint).await == Some(200)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "flint serve was not ready within {READY_TIMEOUT:?} (expected `listening on \
                 http://...` and GET /2015-03-31/functions -> 200):\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and fails the test unless the server exits with status 0 in time and
    /// logged no panic.
    async fn stop(mut self) {
        let pid = i32::try_from(self.child_mut().id()).unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child_mut().try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "flint serve did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.child = None;
        let log = self.log_text();
        assert!(
            status.success(),
            "flint serve exited with {status} after SIGTERM:\n{log}"
        );
        assert!(!log.contains("panicked at"), "flint panicked:\n{log}");
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().unwrap()
    }

    fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    fn client(&self) -> Client {
        lambda_client(&self.endpoint)
    }
}

impl Drop for Flint {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Only reached when a test failed before `stop`: end the server at once and show what
        // it logged next to the failure.
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- flint log ({}) ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// The address in flint's `flint listening on http://ADDR (data in ...)` line.
fn announced_endpoint(log: &str) -> Option<String> {
    let (_, rest) = log.split_once("listening on http://")?;
    let address = rest.split_whitespace().next()?;
    Some(format!("http://{address}"))
}

/// The status of an unsigned `GET /2015-03-31/functions`, or `None` if the server does not
/// answer yet.
async fn list_functions_status(endpoint: &str) -> Option<u16> {
    let address = endpoint.strip_prefix("http://")?;
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let request = format!(
        "GET /2015-03-31/functions HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let answer = String::from_utf8_lossy(&answer);
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// `target/release/NAME` of the target directory this test was built in; fails the test with
/// the command that builds it when it is missing.
fn release_binary(name: &str) -> PathBuf {
    // The test runs as `<target>/<profile>/deps/aws_sdk-<hash>`.
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .unwrap_or_else(|| panic!("{} is not inside a target directory", exe.display()));
    let path = target.join("release").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test, which builds it with `cargo build --release -p flint \
         -p sandbox -p test-functions -p test-extensions` before the Rust tests",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------------------------
// The SDK

/// A Lambda client for `endpoint`: us-east-1, static test credentials, one attempt per call.
fn lambda_client(endpoint: &str) -> Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "AKIAFLINTTESTS000000",
            "flint-tests-secret",
            None,
            None,
            "sdk-tests",
        ))
        // One attempt only: a retry would hide server errors and could invoke twice.
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
        // The SDK's own hyper client, built without TLS: flint is reached over http.
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(config)
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}")
}

/// CreateFunction of a `provided.al2023` function with `zip` as its code.
async fn try_create_function(
    client: &Client,
    name: &str,
    zip: &[u8],
) -> Result<CreateFunctionOutput, SdkError<CreateFunctionError>> {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("x")
        .role(ROLE)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip.to_vec()))
                .build(),
        )
        .send()
        .await
}

async fn create_function(client: &Client, name: &str, zip: &[u8]) -> CreateFunctionOutput {
    try_create_function(client, name, zip).await.unwrap()
}

async fn invoke_json(client: &Client, name: &str, event: &Value) -> InvokeOutput {
    let output = client
        .invoke()
        .function_name(name)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(output.status_code(), 200);
    assert_eq!(output.function_error(), None, "{output:?}");
    output
}

fn payload_json(output: &InvokeOutput) -> Value {
    let payload = output.payload().expect("a payload").as_ref();
    serde_json::from_slice(payload).unwrap()
}

/// The HTTP status of a failed call.
fn http_status<E>(error: &SdkError<E>) -> u16 {
    error
        .raw_response()
        .expect("an HTTP response")
        .status()
        .as_u16()
}

// ---------------------------------------------------------------------------------------------
// Function code

/// A zip whose only entry is `bootstrap` (mode 0755): the release binary `name`, without its
/// debug info when `strip` is there, as Lambda functions ship.
fn bootstrap_zip(name: &str) -> Vec<u8> {
    let scratch = tempfile::tempdir().unwrap();
    let bootstrap = scratch.path().join("bootstrap");
    fs::copy(release_binary(name), &bootstrap).unwrap();
    strip_debug_info(&bootstrap);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    writer.start_file("bootstrap", options).unwrap();
    writer.write_all(&fs::read(&bootstrap).unwrap()).unwrap();
    writer.finish().unwrap().into_inner()
}

/// Smaller zips mean faster tests; a machine without `strip` uploads the binary as it is.
fn strip_debug_info(binary: &Path) {
    let _ = Command::new("strip")
        .arg("--strip-debug")
        .arg(binary)
        .status();
}

/// `CodeSha256` as Lambda reports it: base64 of the SHA-256 of the zip.
fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since_epoch.as_millis()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn create_function_answers_arn_sha256_and_active_state() {
    let flint = Flint::start().await;
    let zip = bootstrap_zip("echo");

    let created = create_function(&flint.client(), "sdk-create", &zip).await;

    assert_eq!(created.function_name(), Some("sdk-create"));
    assert_eq!(
        created.function_arn(),
        Some(function_arn("sdk-create").as_str())
    );
    assert_eq!(created.code_sha256(), Some(code_sha256(&zip).as_str()));
    assert_eq!(created.code_size(), i64::try_from(zip.len()).unwrap());
    assert_eq!(created.state(), Some(&State::Active));
    assert_eq!(created.runtime(), Some(&Runtime::Providedal2023));
    assert_eq!(created.handler(), Some("x"));
    assert_eq!(created.role(), Some(ROLE));
    assert_eq!(created.version(), Some("$LATEST"));
    flint.stop().await;
}

#[tokio::test]
async fn invoke_echoes_the_payload_with_the_log_tail() {
    let flint = Flint::start().await;
    let client = flint.client();
    create_function(&client, "sdk-echo", &bootstrap_zip("echo")).await;
    let event = json!({"greeting": "hello from the sdk", "n": [1, 2, 3], "nested": {"ok": true}});

    let output = client
        .invoke()
        .function_name("sdk-echo")
        .invocation_type(InvocationType::RequestResponse)
        .log_type(LogType::Tail)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();

    assert_eq!(output.status_code(), 200);
    assert_eq!(output.function_error(), None);
    assert_eq!(output.executed_version(), Some("$LATEST"));
    assert_eq!(payload_json(&output), event);
    let request_id = output.request_id().expect("x-amzn-RequestId").to_owned();
    let encoded = output.log_result().expect("LogType Tail returns the log");
    let tail = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    let lines: Vec<&str> = tail.lines().collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in the tail:\n{tail}"))
    };
    let start = position(&format!("START RequestId: {request_id} Version: $LATEST"));
    let end = position(&format!("END RequestId: {request_id}"));
    let report = position(&format!("REPORT RequestId: {request_id}\tDuration: "));
    assert!(start < end && end < report, "out of order:\n{tail}");
    assert!(
        lines[report].contains("\tMemory Size: 128 MB\t"),
        "{}",
        lines[report]
    );
    flint.stop().await;
}

#[tokio::test]
async fn get_and_list_functions_page_with_a_marker() {
    let flint = Flint::start().await;
    let client = flint.client();
    let zip = bootstrap_zip("echo");
    create_function(&client, "sdk-list-a", &zip).await;
    create_function(&client, "sdk-list-b", &zip).await;

    let function = client
        .get_function()
        .function_name("sdk-list-a")
        .send()
        .await
        .unwrap();
    let configuration = function.configuration().expect("Configuration");
    assert_eq!(configuration.function_name(), Some("sdk-list-a"));
    assert_eq!(
        configuration.function_arn(),
        Some(function_arn("sdk-list-a").as_str())
    );
    assert_eq!(
        configuration.code_sha256(),
        Some(code_sha256(&zip).as_str())
    );
    let code = function.code().expect("Code");
    assert_eq!(code.repository_type(), Some("S3"));
    assert!(
        code.location().is_some_and(|url| url.starts_with("http")),
        "{code:?}"
    );

    let configuration = client
        .get_function_configuration()
        .function_name(function_arn("sdk-list-b"))
        .send()
        .await
        .unwrap();
    assert_eq!(configuration.function_name(), Some("sdk-list-b"));
    assert_eq!(configuration.handler(), Some("x"));
    assert_eq!(configuration.timeout(), Some(3));
    assert_eq!(configuration.memory_size(), Some(128));
    assert_eq!(configuration.state(), Some(&State::Active));

    let first = client.list_functions().max_items(1).send().await.unwrap();
    assert_eq!(first.functions().len(), 1, "{first:?}");
    let marker = first.next_marker().expect("a marker after the first page");
    let second = client
        .list_functions()
        .max_items(1)
        .marker(marker)
        .send()
        .await
        .unwrap();
    assert_eq!(second.functions().len(), 1, "{second:?}");
    assert_eq!(second.next_marker(), None, "{second:?}");
    let paged: BTreeSet<&str> = first
        .functions()
        .iter()
        .chain(second.functions())
        .filter_map(|function| function.function_name())
        .collect();
    assert_eq!(paged, BTreeSet::from(["sdk-list-a", "sdk-list-b"]));

    // The SDK's paginator follows the markers by itself.
    let all: Vec<_> = client
        .list_functions()
        .max_items(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let names: BTreeSet<&str> = all
        .iter()
        .filter_map(|function| function.function_name())
        .collect();
    assert_eq!(names, paged);
    flint.stop().await;
}

#[tokio::test]
async fn updated_configuration_reaches_the_function() {
    let flint = Flint::start().await;
    let client = flint.client();
    create_function(&client, "sdk-probe", &bootstrap_zip("probe")).await;
    let env = invoke_json(&client, "sdk-probe", &json!({"action": "env"})).await;
    assert_eq!(payload_json(&env).get("GREETING"), None);

    let updated = client
        .update_function_configuration()
        .function_name("sdk-probe")
        .timeout(9)
        .environment(
            Environment::builder()
                .variables("GREETING", "hello from the sdk")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(updated.timeout(), Some(9));
    let expected_variables =
        HashMap::from([("GREETING".to_owned(), "hello from the sdk".to_owned())]);
    assert_eq!(
        updated.environment().and_then(|env| env.variables()),
        Some(&expected_variables)
    );

    let configuration = client
        .get_function_configuration()
        .function_name("sdk-probe")
        .send()
        .await
        .unwrap();
    assert_eq!(configuration.timeout(), Some(9));
    assert_eq!(
        configuration.environment().and_then(|env| env.variables()),
        Some(&expected_variables)
    );

    let env = invoke_json(&client, "sdk-probe", &json!({"action": "env"})).await;
    assert_eq!(payload_json(&env)["GREETING"], json!("hello from the sdk"));
    // The deadline the runtime receives is the new timeout from the moment of the invoke.
    let before = now_ms();
    let context = invoke_json(&client, "sdk-probe", &json!({"action": "context"})).await;
    let after = now_ms();
    let deadline = payload_json(&context)["deadline_ms"].as_u64().unwrap();
    assert!(
        deadline >= before + 8_000 && deadline <= after + 9_000 + 1_000,
        "deadline {deadline} is not 9 s after the invoke ({before}..{after})"
    );
    flint.stop().await;
}

#[tokio::test]
async fn errors_arrive_as_typed_sdk_errors() {
    let flint = Flint::start().await;
    let client = flint.client();
    let zip = bootstrap_zip("echo");
    create_function(&client, "sdk-errors", &zip).await;

    let error = client
        .get_function()
        .function_name("sdk-missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(http_status(&error), 404);
    match error.into_service_error() {
        GetFunctionError::ResourceNotFoundException(not_found) => assert_eq!(
            not_found.message(),
            Some(format!("Function not found: {}", function_arn("sdk-missing")).as_str())
        ),
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }

    let error = try_create_function(&client, "sdk-errors", &zip)
        .await
        .unwrap_err();
    assert_eq!(http_status(&error), 409);
    match error.into_service_error() {
        CreateFunctionError::ResourceConflictException(conflict) => assert!(
            conflict
                .message()
                .is_some_and(|message| message.contains("sdk-errors")),
            "{conflict:?}"
        ),
        other => panic!("expected ResourceConflictException, got {other:?}"),
    }

    let error = client
        .invoke()
        .function_name("sdk-errors")
        .payload(Blob::new("{not json"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(http_status(&error), 400);
    match error.into_service_error() {
        InvokeError::InvalidRequestContentException(invalid) => assert!(
            invalid.message().is_some_and(
                |message| message.starts_with("Could not parse request body into json")
            ),
            "{invalid:?}"
        ),
        other => panic!("expected InvalidRequestContentException, got {other:?}"),
    }
    flint.stop().await;
}

#[tokio::test]
async fn dry_run_and_event_invocations_answer_204_and_202() {
    let flint = Flint::start().await;
    let client = flint.client();
    create_function(&client, "sdk-async", &bootstrap_zip("echo")).await;

    let dry_run = client
        .invoke()
        .function_name("sdk-async")
        .invocation_type(InvocationType::DryRun)
        .payload(Blob::new(r#"{"dry":true}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(dry_run.status_code(), 204);
    assert!(
        dry_run
            .payload()
            .is_none_or(|payload| payload.as_ref().is_empty()),
        "{dry_run:?}"
    );

    let event = client
        .invoke()
        .function_name("sdk-async")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"event":true}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(event.status_code(), 202);
    assert!(
        event
            .payload()
            .is_none_or(|payload| payload.as_ref().is_empty()),
        "{event:?}"
    );
    flint.stop().await;
}

#[tokio::test]
async fn deleted_function_is_not_found() {
    let flint = Flint::start().await;
    let client = flint.client();
    create_function(&client, "sdk-delete", &bootstrap_zip("echo")).await;

    client
        .delete_function()
        .function_name("sdk-delete")
        .send()
        .await
        .unwrap();

    let error = client
        .get_function()
        .function_name("sdk-delete")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.into_service_error(),
            GetFunctionError::ResourceNotFoundException(_)
        ),
        "GetFunction after DeleteFunction should be ResourceNotFoundException"
    );
    let error = client
        .delete_function()
        .function_name("sdk-delete")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.into_service_error(),
            DeleteFunctionError::ResourceNotFoundException(_)
        ),
        "a second DeleteFunction should be ResourceNotFoundException"
    );
    let listed = client.list_functions().send().await.unwrap();
    assert!(listed.functions().is_empty(), "{listed:?}");
    flint.stop().await;
}
