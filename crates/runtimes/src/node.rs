//! `nodejs<N>.x`: the host's node running flint's own runtime client, `node/runtime.mjs`, a
//! single ES module written into the runtime directory (the official client on npm needs a
//! native build).

use std::path::{Path, PathBuf};

use crate::host::{self, ProbeError};
use crate::{EnvPaths, LaunchPlan, RuntimeError, files};

/// flint's runtime client, shipped inside the binary.
const CLIENT: &str = include_str!("node/runtime.mjs");
const CLIENT_FILE: &str = "runtime.mjs";

/// The oldest Node.js major that runs the client (and the oldest runtime flint accepts).
const MIN_MAJOR: u8 = 18;

/// Where node usually lives when a service manager starts flint with a short `PATH`.
const USUAL_PLACES: [&str; 2] = ["/usr/local/bin/node", "/usr/bin/node"];

/// Asks node where it really is and which version it is.
const IDENTIFY: &str = "console.log(process.execPath); console.log(process.versions.node)";

/// The host's node, ready to run functions.
#[derive(Debug)]
pub(crate) struct Node {
    /// `process.execPath`: the real program behind whatever name found it.
    pub(crate) executable: PathBuf,
    pub(crate) major: u8,
    /// The directory holding the runtime client (the environment's runtime directory).
    pub(crate) client_dir: PathBuf,
}

/// Finds the host's node and writes the runtime client to `<root>/node`.
pub(crate) async fn prepare(root: &Path) -> Result<Node, RuntimeError> {
    let program = host::find_on_path("node")
        .or_else(|| {
            USUAL_PLACES
                .map(PathBuf::from)
                .into_iter()
                .find(|p| host::is_executable_file(p))
        })
        .ok_or(RuntimeError::NodeNotFound)?;
    let (executable, version) =
        identify(&program)
            .await
            .map_err(|problem| RuntimeError::NodeUnusable {
                path: program.clone(),
                problem: problem.to_string(),
            })?;
    let major = match major_of(&version) {
        Some(major) if major >= MIN_MAJOR => major,
        _ => {
            return Err(RuntimeError::NodeTooOld {
                path: executable,
                version,
            });
        }
    };
    let client_dir = root.join("node");
    files::create_shared_dir(&client_dir).await?;
    files::write_file_if_changed(&client_dir.join(CLIENT_FILE), CLIENT).await?;
    tracing::info!(
        "nodejs functions run on {} (Node.js {version})",
        executable.display()
    );
    Ok(Node {
        executable,
        major,
        client_dir,
    })
}

/// How to start the runtime client for a `nodejs<major>.x` function.
pub(crate) fn launch_plan(node: &Node, major: u8, handler: &str, inside: &EnvPaths) -> LaunchPlan {
    let client = inside.runtime_dir.join(CLIENT_FILE);
    LaunchPlan {
        program: node.executable.clone(),
        // The client also reads _HANDLER; the argument makes the plan complete on its own.
        args: vec![client.display().to_string(), handler.to_string()],
        env: vec![
            ("NODE_PATH".to_string(), node_path(major, inside)),
            (
                "PATH".to_string(),
                crate::lambda_path(&node.executable, &inside.opt),
            ),
        ],
    }
}

/// Lambda's module search path: layers for this major, layers for any major, the runtime's.
fn node_path(major: u8, inside: &EnvPaths) -> String {
    let layers = inside.opt.join("nodejs");
    [
        layers.join(format!("node{major}/node_modules")),
        layers.join("node_modules"),
        inside.runtime_dir.join("node_modules"),
    ]
    .map(|dir| dir.display().to_string())
    .join(":")
}

/// Asks `program` which node it is: its real path and its version.
async fn identify(program: &Path) -> Result<(PathBuf, String), ProbeError> {
    let answer = host::probe(program, &["-e", IDENTIFY], &[]).await?;
    let mut lines = answer.lines().map(str::trim);
    match (lines.next(), lines.next()) {
        (Some(executable), Some(version)) if !executable.is_empty() && !version.is_empty() => {
            Ok((PathBuf::from(executable), version.to_string()))
        }
        _ => Err(ProbeError::Failed(format!("unexpected answer {answer:?}"))),
    }
}

/// The major of a Node.js version such as `20.20.2`.
fn major_of(version: &str) -> Option<u8> {
    version.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use model::Runtime;
    use tempfile::TempDir;
    use tokio::process::Child;

    use super::*;
    use crate::test_api::{Event, StubApi, stop};
    use crate::{RuntimeSettings, Runtimes};

    const NODE20: Runtime = Runtime::Node { major: 20 };

    /// A function's files under its task root, and the runtime client running it.
    struct Running {
        api: StubApi,
        child: Child,
        _dir: TempDir,
    }

    /// Writes `files` into a task root (or the layers, for names under `opt/`) and starts the
    /// client for `handler` against a fresh Runtime API; `None` (after saying so) on a host
    /// without node.
    async fn start(files: &[(&str, &str)], handler: &str) -> Option<Running> {
        start_with_env(files, handler, &[]).await
    }

    async fn start_with_env(
        files: &[(&str, &str)],
        handler: &str,
        env: &[(&str, &str)],
    ) -> Option<Running> {
        if host::find_on_path("node").is_none() {
            eprintln!("skipped: no node on PATH");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let task_root = dir.path().join("task");
        std::fs::create_dir_all(&task_root).unwrap();
        for (name, contents) in files {
            let path = match name.strip_prefix("opt/") {
                Some(in_layer) => dir.path().join("opt").join(in_layer),
                None => task_root.join(name),
            };
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        let settings = RuntimeSettings {
            root: dir.path().join("runtimes"),
            python_client_dir: None,
        };
        let runtimes = Runtimes::new(settings);
        runtimes.prepare(NODE20).await.unwrap();
        let paths = EnvPaths {
            task_root: task_root.clone(),
            opt: dir.path().join("opt"),
            runtime_dir: runtimes.runtime_dir(NODE20).unwrap(),
        };
        let plan = runtimes
            .launch_plan(NODE20, handler, &paths, &paths)
            .unwrap();
        let api = StubApi::start().await;
        let mut command = api.command(&plan, &task_root, handler);
        command.envs(env.iter().copied());
        let child = command.spawn().unwrap();
        Some(Running {
            api,
            child,
            _dir: dir,
        })
    }

    #[test]
    fn plan_runs_the_client_with_lambda_module_paths() {
        let node = Node {
            executable: PathBuf::from("/usr/bin/node"),
            major: 20,
            client_dir: PathBuf::from("/data/runtimes/node"),
        };
        let inside = EnvPaths {
            task_root: PathBuf::from("/var/task"),
            opt: PathBuf::from("/opt"),
            runtime_dir: PathBuf::from("/var/runtime"),
        };
        let plan = launch_plan(&node, 22, "src/app.handler", &inside);
        assert_eq!(plan.program, Path::new("/usr/bin/node"));
        assert_eq!(plan.args, ["/var/runtime/runtime.mjs", "src/app.handler"]);
        let node_path = "/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:\
                         /var/runtime/node_modules";
        assert_eq!(
            plan.env,
            [
                ("NODE_PATH".to_string(), node_path.to_string()),
                (
                    "PATH".to_string(),
                    "/usr/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_string()
                ),
            ]
        );
    }

    #[test]
    fn reads_the_major_of_a_node_version() {
        assert_eq!(major_of("20.20.2"), Some(20));
        assert_eq!(major_of("v20"), None);
    }

    #[tokio::test]
    async fn client_is_valid_javascript() {
        let Some(node) = host::find_on_path("node") else {
            eprintln!("skipped: no node on PATH");
            return;
        };
        let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/node/runtime.mjs");
        let client = client.to_str().unwrap();
        host::probe(&node, &["--check", client], &[]).await.unwrap();
    }

    #[tokio::test]
    async fn async_handler_gets_the_event_and_context_and_logs_in_lambda_format() {
        let app = r#"
            export const handler = async (event, context) => {
                console.log('event\nn =', event.n);
                console.warn('careful');
                return {
                    n: event.n + 1,
                    functionName: context.functionName,
                    functionVersion: context.functionVersion,
                    memoryLimitInMB: context.memoryLimitInMB,
                    awsRequestId: context.awsRequestId,
                    invokedFunctionArn: context.invokedFunctionArn,
                    logGroupName: context.logGroupName,
                    logStreamName: context.logStreamName,
                    identity: context.identity ?? 'absent',
                    clientContext: context.clientContext ?? 'absent',
                    remainingOk: context.getRemainingTimeInMillis() > 50000,
                    traceId: process.env._X_AMZN_TRACE_ID,
                };
            };
        "#;
        let Some(mut running) = start(&[("src/app.mjs", app)], "src/app.handler").await else {
            return;
        };
        let mut first = Event::new("r1", r#"{"n": 1}"#);
        first.headers.push((
            "lambda-runtime-cognito-identity",
            r#"{"cognitoIdentityId":"c1"}"#.into(),
        ));
        first.headers.push((
            "lambda-runtime-client-context",
            r#"{"custom":{"k":"v"}}"#.into(),
        ));
        running.api.invoke(first);
        running.api.invoke(Event::new("r2", r#"{"n": 41}"#));

        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r1/response");
        assert_eq!(
            post.json(),
            serde_json::json!({
                "n": 2,
                "functionName": "echo",
                "functionVersion": "$LATEST",
                "memoryLimitInMB": "128",
                "awsRequestId": "r1",
                "invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:echo",
                "logGroupName": "/aws/lambda/echo",
                "logStreamName": "2026/01/01/[$LATEST]0123",
                "identity": {"cognitoIdentityId": "c1"},
                "clientContext": {"custom": {"k": "v"}},
                "remainingOk": true,
                "traceId": "Root=1-r1",
            })
        );
        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r2/response");
        let second = post.json();
        assert_eq!(
            (second["n"].as_i64(), second["traceId"].as_str()),
            (Some(42), Some("Root=1-r2"))
        );
        assert_eq!(
            (
                second["identity"].as_str(),
                second["clientContext"].as_str()
            ),
            (Some("absent"), Some("absent"))
        );

        let (stdout, _) = stop(running.child).await;
        let records: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
        let shapes: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.len(),
                    r.get(1).copied(),
                    r.get(2).copied(),
                    r.get(3).copied(),
                )
            })
            .collect();
        assert_eq!(
            shapes,
            [
                (4, Some("r1"), Some("INFO"), Some("event\rn = 1")),
                (4, Some("r1"), Some("WARN"), Some("careful")),
                (4, Some("r2"), Some("INFO"), Some("event\rn = 41")),
                (4, Some("r2"), Some("WARN"), Some("careful")),
            ],
            "{stdout}"
        );
        let time = records[0][0];
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
    }

    #[tokio::test]
    async fn logs_json_records_at_or_above_the_configured_level() {
        let index = r#"
            exports.handler = async () => {
                console.info('hidden');
                console.warn('shown', { a: 1 });
                console.error(new RangeError('bad'));
                return 'ok';
            };
        "#;
        let env = [
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "warn"),
        ];
        let Some(mut running) = start_with_env(&[("index.js", index)], "index.handler", &env).await
        else {
            return;
        };
        running.api.invoke(Event::new("r1", "{}"));
        assert_eq!(running.api.next_post().await.body, r#""ok""#);

        let (stdout, _) = stop(running.child).await;
        let records: Vec<serde_json::Value> = stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(records.len(), 2, "{stdout}");
        let fields = |r: &serde_json::Value| (r["level"].clone(), r["requestId"].clone());
        assert_eq!(fields(&records[0]), ("WARN".into(), "r1".into()));
        assert_eq!(records[0]["message"], "shown { a: 1 }");
        assert_eq!(fields(&records[1]), ("ERROR".into(), "r1".into()));
        let error = &records[1]["message"];
        assert_eq!(
            (&error["errorType"], &error["errorMessage"]),
            (&"RangeError".into(), &"bad".into())
        );
        assert!(
            records[0]["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
    }

    #[tokio::test]
    async fn callback_handler_answers_once_the_event_loop_is_empty_unless_told_not_to_wait() {
        let index = r#"
            exports.handler = (event, context, callback) => {
                const waits = context.callbackWaitsForEmptyEventLoop;
                const result = { doubled: event.n * 2, waits, late: false };
                if (!event.wait) context.callbackWaitsForEmptyEventLoop = false;
                setTimeout(() => { result.late = true; }, 50);
                callback(null, result);
                callback(null, 'a second answer is ignored');
            };
        "#;
        let Some(mut running) = start(&[("index.js", index)], "index.handler").await else {
            return;
        };
        running
            .api
            .invoke(Event::new("r1", r#"{"n": 2, "wait": true}"#));
        running
            .api
            .invoke(Event::new("r2", r#"{"n": 5, "wait": false}"#));

        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r1/response");
        assert_eq!(
            post.json(),
            serde_json::json!({"doubled": 4, "waits": true, "late": true})
        );
        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r2/response");
        assert_eq!(
            post.json(),
            serde_json::json!({"doubled": 10, "waits": true, "late": false})
        );
        stop(running.child).await;
    }

    #[tokio::test]
    async fn thrown_errors_are_posted_in_lambda_shape() {
        let fail = r#"
            export const handler = async (event) => {
                if (event.kind === 'type') throw new TypeError('bad input');
                if (event.kind === 'string') throw 'just a string';
                return 'fine';
            };
        "#;
        let Some(mut running) = start(&[("fail.mjs", fail)], "fail.handler").await else {
            return;
        };
        running.api.invoke(Event::new("r1", r#"{"kind": "type"}"#));
        running
            .api
            .invoke(Event::new("r2", r#"{"kind": "string"}"#));
        running.api.invoke(Event::new("r3", "{}"));

        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r1/error");
        assert_eq!(post.error_type.as_deref(), Some("TypeError"));
        let error = post.json();
        assert_eq!(
            (error["errorType"].as_str(), error["errorMessage"].as_str()),
            (Some("TypeError"), Some("bad input"))
        );
        let trace = error["trace"].as_array().unwrap();
        assert_eq!(trace[0], "TypeError: bad input");
        assert!(trace[1].as_str().unwrap().contains("fail.mjs"), "{trace:?}");

        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r2/error");
        assert_eq!(post.error_type.as_deref(), Some("string"));
        assert_eq!(
            post.json(),
            serde_json::json!({"errorType": "string", "errorMessage": "just a string", "trace": []})
        );

        let post = running.api.next_post().await;
        assert_eq!(
            (post.path.as_str(), post.body.as_str()),
            ("/2018-06-01/runtime/invocation/r3/response", r#""fine""#)
        );

        let (stdout, _) = stop(running.child).await;
        let invoke_error = stdout
            .lines()
            .find(|l| l.contains("\tr1\tERROR\t"))
            .unwrap_or_default();
        assert!(
            invoke_error.contains("Invoke Error \t{\"errorType\":\"TypeError\""),
            "{stdout}"
        );
    }

    #[tokio::test]
    async fn a_promise_that_never_settles_fails_its_invocation_only() {
        let index = r#"
            exports.handler = async (event) => event.hang ? new Promise(() => {}) : 'done';
        "#;
        let Some(mut running) = start(&[("index.js", index)], "index.handler").await else {
            return;
        };
        running.api.invoke(Event::new("r1", r#"{"hang": true}"#));
        running.api.invoke(Event::new("r2", r#"{"hang": false}"#));

        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r1/error");
        assert_eq!(post.error_type.as_deref(), Some("Runtime.NodeJsExit"));
        let post = running.api.next_post().await;
        assert_eq!(
            (post.path.as_str(), post.body.as_str()),
            ("/2018-06-01/runtime/invocation/r2/response", r#""done""#)
        );
        stop(running.child).await;
    }

    #[tokio::test]
    async fn an_error_escaping_the_handler_fails_the_invocation_and_ends_the_runtime() {
        let index = r#"
            exports.handler = async () => {
                setTimeout(() => { throw new Error('escaped'); }, 10);
                return new Promise(() => {});
            };
        "#;
        let Some(mut running) = start(&[("index.js", index)], "index.handler").await else {
            return;
        };
        running.api.invoke(Event::new("r1", "{}"));

        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r1/error");
        let error = post.json();
        assert_eq!(
            (error["errorType"].as_str(), error["errorMessage"].as_str()),
            (Some("Error"), Some("escaped"))
        );
        let status = tokio::time::timeout(Duration::from_secs(30), running.child.wait()).await;
        assert_eq!(status.unwrap().unwrap().code(), Some(129));
    }

    /// Runs one event `{"n":1}` through `handler` over `files` and checks the response body.
    async fn check_response(files: &[(&str, &str)], handler: &str, expect: &str) {
        let Some(mut running) = start(files, handler).await else {
            return;
        };
        running.api.invoke(Event::new("r1", r#"{"n":1}"#));
        let post = running.api.next_post().await;
        stop(running.child).await;
        assert_eq!(
            post.path, "/2018-06-01/runtime/invocation/r1/response",
            "{handler}: {post:?}"
        );
        assert_eq!(post.body, expect, "{handler}");
    }

    #[tokio::test]
    async fn loads_handlers_the_way_lambda_does() {
        let cjs = "exports.handler = async () => 'cjs';";
        check_response(&[("index.js", cjs)], "index.handler", r#""cjs""#).await;
        check_response(&[("index.cjs", cjs)], "index.handler", r#""cjs""#).await;
        let esm = "export const handler = async () => 'esm';";
        check_response(&[("index.mjs", esm)], "index.handler", r#""esm""#).await;
        let module_scope = [
            ("lib/package.json", r#"{"type": "module"}"#),
            ("lib/index.js", esm),
        ];
        check_response(&module_scope, "lib/index.handler", r#""esm""#).await;
        let nested = "exports.api = { v1: { handler: async () => 'nested' } };";
        check_response(
            &[("index.js", nested)],
            "index.api.v1.handler",
            r#""nested""#,
        )
        .await;
        let package = [("node_modules/pkg/index.js", cjs)];
        check_response(&package, "pkg.handler", r#""cjs""#).await;
        let from_layers = [
            (
                "opt/nodejs/node_modules/shared/index.js",
                "exports.name = 'any major';",
            ),
            (
                "opt/nodejs/node20/node_modules/pinned/index.js",
                "exports.name = 'node20';",
            ),
            (
                "index.js",
                "exports.handler = async () => [require('shared').name, require('pinned').name];",
            ),
        ];
        check_response(&from_layers, "index.handler", r#"["any major","node20"]"#).await;
    }

    #[tokio::test]
    async fn answers_as_lambda_does_whatever_the_handler_style() {
        let undefined = "export const handler = async () => {};";
        check_response(&[("index.mjs", undefined)], "index.handler", "null").await;
        let legacy = "exports.handler = (event, context) => { context.succeed(event); };";
        check_response(&[("index.js", legacy)], "index.handler", r#"{"n":1}"#).await;
        let forgot_callback = "exports.handler = () => 'sync, no callback';";
        check_response(&[("index.js", forgot_callback)], "index.handler", "null").await;
    }

    /// Starts `handler` over `files` and checks the init error it reports, and that the
    /// runtime then exits with status 1.
    async fn check_init_error(
        files: &[(&str, &str)],
        handler: &str,
        error_type: &str,
        message: &str,
    ) {
        let Some(mut running) = start(files, handler).await else {
            return;
        };
        let post = running.api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/init/error", "{handler}");
        assert_eq!(post.error_type.as_deref(), Some(error_type), "{handler}");
        let error = post.json();
        assert_eq!(error["errorType"], error_type, "{handler}");
        let got = error["errorMessage"].as_str().unwrap();
        assert!(got.starts_with(message), "{handler}: {got}");
        let trace = error["trace"].as_array();
        assert!(trace.is_some_and(|t| !t.is_empty()), "{handler}: {error}");
        let status = tokio::time::timeout(Duration::from_secs(30), running.child.wait()).await;
        assert_eq!(status.unwrap().unwrap().code(), Some(1), "{handler}");
    }

    #[tokio::test]
    async fn a_handler_that_cannot_be_loaded_is_an_init_error() {
        let import_error = "Runtime.ImportModuleError";
        check_init_error(
            &[],
            "missing.handler",
            import_error,
            "Error: Cannot find module 'missing'",
        )
        .await;
        let needs = "import 'no-such-package'; export const handler = async () => 1;";
        let message = "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'no-such-package'";
        check_init_error(
            &[("needs.mjs", needs)],
            "needs.handler",
            import_error,
            message,
        )
        .await;

        let index = [(
            "index.js",
            "exports.handler = async () => 1; exports.answer = 42;",
        )];
        let not_found = "Runtime.HandlerNotFound";
        let message = "index.nothere is undefined or not exported";
        check_init_error(&index, "index.nothere", not_found, message).await;
        check_init_error(
            &index,
            "index.answer",
            not_found,
            "index.answer is not a function",
        )
        .await;

        let syntax = [("syntax.mjs", "export const handler = ;")];
        let message = "SyntaxError: Unexpected token ';'";
        check_init_error(
            &syntax,
            "syntax.handler",
            "Runtime.UserCodeSyntaxError",
            message,
        )
        .await;

        check_init_error(&[], "nodot", "Runtime.MalformedHandlerName", "Bad handler").await;

        let boom = [("boom.js", "throw new RangeError('at import');")];
        check_init_error(&boom, "boom.handler", "RangeError", "at import").await;
    }
}
