"""Python functions, run by flint with the official runtime interface client (awslambdaric)."""

from __future__ import annotations

import re

import pytest

from support import (
    REGION,
    invoke,
    invoke_ok,
    report_of,
    tail_request_id,
    zip_files,
)

APP = '''
import json
import logging
import os
import sys
import urllib.request

COLD = {"count": 0}


def handler(event, context):
    COLD["count"] += 1
    print("hello from python", json.dumps(event))
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": str(context.memory_limit_in_mb),
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "calls_in_this_environment": COLD["count"],
        "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
        "python": sys.version_info[:2],
    }


class ShapeError(Exception):
    pass


def fail(event, context):
    raise ShapeError("bad shape " + str(event.get("n")))


def log_levels(event, context):
    logging.getLogger().warning("warned via logging")
    print("printed to stdout")
    print("printed to stderr", file=sys.stderr)
    return "logged"


def call_flint(event, context):
    """Calls the Lambda API of the platform from inside, through AWS_ENDPOINT_URL."""
    try:
        import boto3
    except ImportError:
        url = os.environ["AWS_ENDPOINT_URL"] + "/2015-03-31/functions/" + context.function_name
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        return {"via": "urllib", "arn": body["Configuration"]["FunctionArn"]}
    client = boto3.client("lambda")
    body = client.get_function(FunctionName=context.function_name)
    return {"via": "boto3", "arn": body["Configuration"]["FunctionArn"]}
'''


@pytest.fixture(scope="module")
def python_app():
    return zip_files({"app.py": APP, "pkg/__init__.py": "", "pkg/inner.py": "def handler(e, c):\n    return 'inner'\n"})


def make_python(make_function, code, handler, **fields):
    # The first Python function may make flint fetch awslambdaric; the client waits up to 120 s.
    return make_function(code, label="py", runtime="python3.12", handler=handler, **fields)


def test_handler_returns_a_dict_and_sees_its_context(lam, make_function, python_app):
    created = make_python(make_function, python_app, "app.handler")
    name = created["FunctionName"]
    result = invoke_ok(lam, name, {"q": [1, 2]})
    body = result.json
    request_id = tail_request_id(result.log_tail)
    assert body["event"] == {"q": [1, 2]}
    assert body["function_name"] == name
    assert body["function_version"] == "$LATEST"
    assert body["request_id"] == request_id
    assert body["invoked_function_arn"] == created["FunctionArn"]
    assert body["memory_limit_in_mb"] == "128"
    assert body["log_group_name"] == f"/aws/lambda/{name}"
    assert 0 < body["remaining_ms"] <= 3000
    assert body["execution_env"] == "AWS_Lambda_python3.12"
    assert result.executed_version == "$LATEST"


def test_print_lines_appear_in_the_tail(lam, make_function, python_app):
    name = make_python(make_function, python_app, "app.handler")["FunctionName"]
    result = invoke_ok(lam, name, {"tag": "visible"})
    assert 'hello from python {"tag": "visible"}' in result.log_tail
    assert report_of(result.log_tail, tail_request_id(result.log_tail)).init_ms is not None


def test_module_state_survives_between_warm_invokes(lam, make_function, python_app):
    name = make_python(make_function, python_app, "app.handler")["FunctionName"]
    assert invoke_ok(lam, name, {}).json["calls_in_this_environment"] == 1
    second = invoke_ok(lam, name, {})
    assert second.json["calls_in_this_environment"] == 2
    assert report_of(second.log_tail, tail_request_id(second.log_tail)).init_ms is None


def test_exception_becomes_the_error_json(lam, make_function, python_app):
    name = make_python(make_function, python_app, "app.fail")["FunctionName"]
    result = invoke(lam, name, {"n": 7})
    assert result.status == 200
    assert result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "ShapeError"
    assert body["errorMessage"] == "bad shape 7"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"], body
    assert any("app.py" in frame for frame in body["stackTrace"]), body
    assert "ShapeError" in result.log_tail


def test_logging_and_stderr_lines(lam, make_function, python_app):
    name = make_python(make_function, python_app, "app.log_levels")["FunctionName"]
    result = invoke_ok(lam, name, {})
    request_id = tail_request_id(result.log_tail)
    assert re.search(
        rf"\[WARNING\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{request_id}\twarned via logging",
        result.log_tail,
    ), result.log_tail
    assert "printed to stdout" in result.log_tail
    assert "printed to stderr" in result.log_tail


def test_handler_in_a_package(lam, make_function, python_app):
    name = make_python(make_function, python_app, "pkg.inner.handler")["FunctionName"]
    assert invoke_ok(lam, name, {}).json == "inner"


def test_missing_handler_function(lam, make_function, python_app):
    name = make_python(make_function, python_app, "app.nope")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.function_error == "Unhandled"
    assert result.json["errorType"] in ("Runtime.HandlerNotFound", "Runtime.ImportModuleError"), result.json


def test_missing_handler_module(lam, make_function, python_app):
    name = make_python(make_function, python_app, "nomodule.handler")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "Runtime.ImportModuleError", body
    assert "nomodule" in body["errorMessage"], body


def test_syntax_error_in_module(lam, make_function):
    code = zip_files({"broken.py": "def handler(event, context)\n    return 1\n"})
    name = make_python(make_function, code, "broken.handler")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.function_error == "Unhandled"
    assert result.json["errorType"] in ("Runtime.UserCodeSyntaxError", "Runtime.ImportModuleError"), result.json


@pytest.mark.parametrize("runtime", ["python3.9", "python3.11", "python3.13", "python3.14"])
def test_other_python_runtimes(lam, make_function, python_app, runtime):
    name = make_function(python_app, label="pyver", runtime=runtime, handler="app.handler")["FunctionName"]
    body = invoke_ok(lam, name, {}).json
    assert body["execution_env"] == f"AWS_Lambda_{runtime}"


def test_function_calls_flint_through_aws_endpoint_url(lam, make_function, python_app, record_property):
    created = make_python(make_function, python_app, "app.call_flint")
    body = invoke_ok(lam, created["FunctionName"], {}).json
    record_property("python_client", body["via"])
    print(f"the Python function reached flint via {body['via']}")
    assert body["arn"] == created["FunctionArn"]
    assert REGION in body["arn"]
