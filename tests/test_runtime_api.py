"""The Runtime API and the execution environment as a function sees them: `/next` headers,
environment variables, `/response`, `/error`, `/init/error`, and calls back into flint."""

from __future__ import annotations

import base64
import json
import time

import pytest

from conftest import HOST_MARKER
from support import (
    ACCOUNT_ID,
    LOG_STREAM,
    REGION,
    TRACE_ID,
    TUTORIAL_BOOTSTRAP,
    TUTORIAL_HANDLER,
    bash_runtime,
    bash_zip,
    end_line,
    invoke,
    invoke_ok,
    report_of,
    rust_zip,
    start_line,
    tail_request_id,
    zip_files,
)

CLIENT_CONTEXT = {
    "client": {
        "installation_id": "install-1",
        "app_title": "flint tests",
        "app_version_name": "1.0",
        "app_version_code": "100",
        "app_package_name": "dev.flint.tests",
    },
    "custom": {"flavour": "vanilla"},
    "environment": {"platform": "test"},
}


# The same client context as `lambda_runtime` serialises it back (camelCase client fields).
CLIENT_CONTEXT_FROM_RUST = {
    **CLIENT_CONTEXT,
    "client": {
        "installationId": "install-1",
        "appTitle": "flint tests",
        "appVersionName": "1.0",
        "appVersionCode": "100",
        "appPackageName": "dev.flint.tests",
    },
}


def encoded_client_context() -> str:
    return base64.b64encode(json.dumps(CLIENT_CONTEXT).encode()).decode()


# ----------------------------------------------------------------------------------------------
# What lambda_runtime sees


def test_context_from_next_headers(lam, make_function):
    created = make_function(rust_zip("probe"), label="ctx", Timeout=5)
    name = created["FunctionName"]
    before_ms = time.time() * 1000
    result = invoke_ok(lam, name, {"action": "context"}, ClientContext=encoded_client_context())
    context = result.json
    assert context["request_id"] == tail_request_id(result.log_tail)
    assert context["invoked_function_arn"] == created["FunctionArn"]
    assert before_ms + 3000 <= context["deadline_ms"] <= time.time() * 1000 + 5000 + 1000, context
    assert context["xray_trace_id"] and TRACE_ID.match(context["xray_trace_id"]), context
    assert context["client_context"] == CLIENT_CONTEXT_FROM_RUST
    assert context["identity"] is None
    config = context["env_config"]
    assert config["function_name"] == name
    assert config["memory"] == 128
    assert config["version"] == "$LATEST"
    assert config["log_group"] == f"/aws/lambda/{name}"
    assert LOG_STREAM.match(config["log_stream"]), config


def test_trace_header_is_propagated(raw, make_function):
    name = make_function(rust_zip("probe"), label="trace")["FunctionName"]
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    response = raw.request(
        "POST",
        f"/2015-03-31/functions/{name}/invocations",
        data=json.dumps({"action": "context"}),
        headers={"X-Amzn-Trace-Id": trace},
    )
    assert response.status_code == 200, response.text
    assert response.json()["xray_trace_id"].startswith("Root=1-5759e988-bd862e3fe1be46a994272793")


def test_each_invoke_has_its_own_request_id_and_deadline(lam, make_function):
    name = make_function(rust_zip("probe"), label="ids")["FunctionName"]
    first = invoke_ok(lam, name, {"action": "context"}).json
    time.sleep(0.05)
    second = invoke_ok(lam, name, {"action": "context"}).json
    assert first["request_id"] != second["request_id"]
    assert second["deadline_ms"] > first["deadline_ms"]


# ----------------------------------------------------------------------------------------------
# Environment variables


@pytest.fixture
def probe_env(lam, make_function):
    created = make_function(
        rust_zip("probe"),
        label="env",
        handler="my.handler",
        Environment={"Variables": {"USER_VAR": "user value", "ANOTHER": "2"}},
    )
    return created["FunctionName"], invoke_ok(lam, created["FunctionName"], {"action": "env"}).json


def test_reserved_environment_variables(probe_env):
    name, env = probe_env
    expected = {
        "_HANDLER": "my.handler",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }
    for key, value in expected.items():
        assert env.get(key) == value, (key, env.get(key))
    assert LOG_STREAM.match(env["AWS_LAMBDA_LOG_STREAM_NAME"]), env["AWS_LAMBDA_LOG_STREAM_NAME"]
    for key in (
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "PATH",
        "LD_LIBRARY_PATH",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_LAMBDA_RUNTIME_API",
    ):
        assert env.get(key), f"{key} is missing or empty"
    assert "/usr/bin" in env["PATH"].split(":") or "/usr/bin/" in env["PATH"].split(":")
    assert env["LAMBDA_TASK_ROOT"] in env["LD_LIBRARY_PATH"].split(":")
    assert env["AWS_ENDPOINT_URL"].startswith("http://")
    assert "://" not in env["AWS_LAMBDA_RUNTIME_API"] and ":" in env["AWS_LAMBDA_RUNTIME_API"]


def test_custom_runtimes_have_no_execution_env(probe_env):
    _, env = probe_env
    assert "AWS_EXECUTION_ENV" not in env


def test_user_environment_variables_are_present(probe_env):
    _, env = probe_env
    assert env["USER_VAR"] == "user value"
    assert env["ANOTHER"] == "2"


def test_host_environment_does_not_leak_into_functions(probe_env):
    _, env = probe_env
    assert HOST_MARKER[0] not in env, "the function inherited flint's own environment"


def test_runtime_starts_in_the_task_root(lam, make_function):
    name = make_function(rust_zip("probe"), label="cwd")["FunctionName"]
    result = invoke_ok(
        lam,
        name,
        {"action": "spawn", "argv": ["sh", "-c", 'test -x "$LAMBDA_TASK_ROOT/bootstrap" && pwd']},
    ).json
    env = invoke_ok(lam, name, {"action": "env"}).json
    assert result["status"] == 0, result
    assert result["stdout"].strip() == env["LAMBDA_TASK_ROOT"]


def test_tmp_is_writable(lam, make_function):
    name = make_function(rust_zip("probe"), label="tmp")["FunctionName"]
    assert invoke_ok(lam, name, {"action": "write", "path": "/tmp/probe-file"}).json == {"ok": True}
    read = invoke_ok(lam, name, {"action": "read", "path": "/tmp/probe-file"}).json
    assert read == {"ok": True, "content": "written by probe"}


def test_memory_size_and_version_follow_configuration(lam, make_function):
    name = make_function(rust_zip("probe"), label="mem", MemorySize=1024)["FunctionName"]
    env = invoke_ok(lam, name, {"action": "env"}).json
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1024"


# ----------------------------------------------------------------------------------------------
# bash + curl bootstraps


def test_tutorial_bash_bootstrap(lam, make_function):
    code = zip_files(
        {"bootstrap": (TUTORIAL_BOOTSTRAP, 0o755), "function.sh": (TUTORIAL_HANDLER, 0o755)}
    )
    name = make_function(code, label="tutorial", handler="function.handler")["FunctionName"]
    result = invoke_ok(lam, name, {"a": 1})
    assert result.payload == b"Echoing request: '{\"a\": 1}'"
    request_id = tail_request_id(result.log_tail)
    assert '{"a": 1}' in result.log_tail, "the handler's stderr should be in the log"
    assert end_line(request_id) in result.log_tail
    # The loop serves further events from the same (warm) process.
    again = invoke_ok(lam, name, {"b": 2})
    assert again.payload == b"Echoing request: '{\"b\": 2}'"
    assert report_of(again.log_tail, tail_request_id(again.log_tail)).init_ms is None


def test_next_response_headers(lam, make_function):
    # Returns the raw header block of its `/next` answer as the response.
    bootstrap = bash_runtime('  respond "$(cat "$HEADERS")"')
    created = make_function(bash_zip(bootstrap), label="headers", Timeout=4)
    before_ms = time.time() * 1000
    result = invoke_ok(lam, created["FunctionName"], {"k": "v"}, ClientContext=encoded_client_context())
    lines = result.payload.decode().replace("\r", "").split("\n")
    assert lines[0].startswith("HTTP/1.1 200"), lines[0]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    assert headers["lambda-runtime-aws-request-id"] == tail_request_id(result.log_tail)
    deadline = int(headers["lambda-runtime-deadline-ms"])
    assert before_ms + 3000 <= deadline <= time.time() * 1000 + 4000 + 1000
    assert headers["lambda-runtime-invoked-function-arn"] == created["FunctionArn"]
    assert TRACE_ID.match(headers["lambda-runtime-trace-id"]), headers
    assert json.loads(headers["lambda-runtime-client-context"]) == CLIENT_CONTEXT
    assert headers.get("content-type", "application/json").startswith("application/json")


def test_next_without_client_context_has_no_client_context_header(lam, make_function):
    bootstrap = bash_runtime('  respond "$(cat "$HEADERS")"')
    created = make_function(bash_zip(bootstrap), label="noctx")
    result = invoke_ok(lam, created["FunctionName"], {})
    assert "lambda-runtime-client-context" not in result.payload.decode().lower()
    assert "lambda-runtime-cognito-identity" not in result.payload.decode().lower()


ERROR_BOOTSTRAP = bash_runtime(
    r"""
  case "$EVENT" in
    *untyped*)
      code=$(curl -sS -o /tmp/answer-$$ -w '%{http_code}' -X POST "$API/invocation/$ID/error" \
        -d '{"errorMessage":"plain failure","errorType":"PlainError"}')
      echo "$code $(cat /tmp/answer-$$)" > /tmp/last-status-$$ ;;
    *typed*)
      code=$(curl -sS -o /tmp/answer-$$ -w '%{http_code}' -X POST "$API/invocation/$ID/error" \
        -H 'Lambda-Runtime-Function-Error-Type: Function.TypedFailure' \
        -H 'Content-Type: application/vnd.aws.lambda.error+json' \
        -d '{"errorMessage":"typed failure","errorType":"Function.TypedFailure","stackTrace":["at line 1"]}')
      echo "$code $(cat /tmp/answer-$$)" > /tmp/last-status-$$ ;;
    *empty*)
      code=$(curl -sS -o /tmp/answer-$$ -w '%{http_code}' -X POST "$API/invocation/$ID/error")
      echo "$code $(cat /tmp/answer-$$)" > /tmp/last-status-$$ ;;
    *status*)
      respond "$(cat /tmp/last-status-$$)" ;;
    *)
      respond '"fine"' ;;
  esac
"""
)


@pytest.fixture
def error_function(make_function) -> str:
    return make_function(bash_zip(ERROR_BOOTSTRAP), label="errors")["FunctionName"]


def last_status(lam, name: str) -> tuple[int, dict]:
    text = invoke_ok(lam, name, "status").payload.decode()
    code, _, body = text.partition(" ")
    return int(code), json.loads(body)


def test_error_without_error_type_header(lam, error_function):
    result = invoke(lam, error_function, "untyped")
    assert result.status == 200
    assert result.function_error == "Unhandled"
    assert result.json == {"errorMessage": "plain failure", "errorType": "PlainError"}
    assert last_status(lam, error_function) == (202, {"status": "OK"})


def test_error_with_error_type_header(lam, error_function):
    result = invoke(lam, error_function, "typed")
    assert result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "Function.TypedFailure"
    assert body["errorMessage"] == "typed failure"
    assert body["stackTrace"] == ["at line 1"]
    assert last_status(lam, error_function) == (202, {"status": "OK"})


def test_error_with_empty_body(lam, error_function):
    result = invoke(lam, error_function, "empty")
    assert result.status == 200
    assert result.function_error == "Unhandled"
    assert last_status(lam, error_function)[0] == 202


def test_error_reports_are_logged_and_environment_stays_warm(lam, error_function):
    first = invoke(lam, error_function, "typed")
    request_id = tail_request_id(first.log_tail)
    assert start_line(request_id) in first.log_tail
    assert end_line(request_id) in first.log_tail
    again = invoke_ok(lam, error_function, "ok")
    assert again.json == "fine"
    assert report_of(again.log_tail, tail_request_id(again.log_tail)).init_ms is None


STATE_BOOTSTRAP = bash_runtime(
    init='body() { if [ -s "$1" ]; then cat "$1"; else echo null; fi; }',
    body=r"""
  if [ "$EVENT" = '"check"' ]; then
    wrong=$(curl -sS -o /tmp/wrong-$$ -w '%{http_code}' -X POST "$API/invocation/not-a-request-id/response" -d '{}')
    first=$(curl -sS -o /tmp/first-$$ -w '%{http_code}' -X POST "$API/invocation/$ID/response" \
      -d "{\"wrong\":$wrong,\"wrongBody\":$(body /tmp/wrong-$$)}")
    second=$(curl -sS -o /tmp/second-$$ -w '%{http_code}' -X POST "$API/invocation/$ID/response" -d '"again"')
    echo "{\"first\":$first,\"firstBody\":$(body /tmp/first-$$),\"second\":$second,\"secondBody\":$(body /tmp/second-$$)}" > /tmp/report-$$
  else
    respond "$(cat /tmp/report-$$)"
  fi
"""
)


def test_runtime_api_refuses_wrong_and_repeated_answers(lam, make_function):
    name = make_function(bash_zip(STATE_BOOTSTRAP), label="state")["FunctionName"]
    answer = invoke_ok(lam, name, "check").json
    assert answer["wrong"] == 400, answer
    assert answer["wrongBody"]["errorType"] == "InvalidRequestID", answer
    report = invoke_ok(lam, name, "report").json
    assert report["first"] == 202 and report["firstBody"] == {"status": "OK"}, report
    assert report["second"] in (400, 403), report
    assert report["secondBody"]["errorType"] in ("InvalidRequestID", "InvalidStateTransition"), report


INIT_ERROR_BOOTSTRAP = r"""#!/bin/bash
curl -sS -o /dev/null -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/init/error" \
  -H 'Lambda-Runtime-Function-Error-Type: Runtime.BadConfiguration' \
  -d '{"errorMessage":"cannot start: missing setting","errorType":"Runtime.BadConfiguration"}'
echo "init failed on purpose" >&2
exit 1
"""


def test_init_error_is_the_answer_of_the_invoke(lam, make_function):
    name = make_function(bash_zip(INIT_ERROR_BOOTSTRAP), label="initerr")["FunctionName"]
    for _ in range(2):
        started = time.monotonic()
        result = invoke(lam, name, {"x": 1})
        assert time.monotonic() - started < 10
        assert result.status == 200
        assert result.function_error == "Unhandled"
        body = result.json
        assert body["errorType"] == "Runtime.BadConfiguration", body
        assert "cannot start: missing setting" in body["errorMessage"], body


def test_bootstrap_exiting_during_init_is_an_exit_error(lam, make_function):
    bootstrap = "#!/bin/bash\necho 'dying during init' >&2\nexit 2\n"
    name = make_function(bash_zip(bootstrap), label="initexit")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "Runtime.ExitError", body
    assert "exit status 2" in body["errorMessage"], body


def test_missing_bootstrap_fails_the_invoke_not_the_server(lam, make_function):
    name = make_function(zip_files({"not-a-bootstrap.txt": "hello"}), label="nobootstrap")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.status == 200
    assert result.function_error == "Unhandled"
    assert result.json["errorType"].startswith("Runtime."), result.json


def test_bootstrap_that_is_not_executable(lam, make_function):
    name = make_function(zip_files({"bootstrap": ("#!/bin/bash\nexit 0\n", 0o644)}), label="noexec")[
        "FunctionName"
    ]
    result = invoke(lam, name, {})
    assert result.function_error == "Unhandled"
    assert result.json["errorType"].startswith("Runtime."), result.json


# ----------------------------------------------------------------------------------------------
# Calling flint from inside a function


def test_bash_function_calls_the_lambda_api_through_aws_endpoint_url(lam, make_function):
    bootstrap = bash_runtime(
        '  respond "$(curl -sS "$AWS_ENDPOINT_URL/2015-03-31/functions/$AWS_LAMBDA_FUNCTION_NAME")"'
    )
    created = make_function(bash_zip(bootstrap), label="selfcall")
    got = invoke_ok(lam, created["FunctionName"], {}).json
    assert got["Configuration"]["FunctionArn"] == created["FunctionArn"]


def test_function_can_invoke_another_function(lam, make_function):
    target = make_function(rust_zip("echo"), label="callee")["FunctionName"]
    bootstrap = bash_runtime(
        '  respond "$(curl -sS -X POST "$AWS_ENDPOINT_URL/2015-03-31/functions/'
        + target
        + '/invocations" -d "$EVENT")"'
    )
    caller = make_function(bash_zip(bootstrap), label="caller")["FunctionName"]
    assert invoke_ok(lam, caller, {"through": "two functions"}).json == {"through": "two functions"}


def test_account_and_region_in_function_arn(lam, make_function):
    created = make_function(rust_zip("probe"), label="arnctx")
    context = invoke_ok(lam, created["FunctionName"], {"action": "context"}).json
    assert context["invoked_function_arn"] == (
        f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{created['FunctionName']}"
    )
