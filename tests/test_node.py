"""Node.js functions, run by flint's own runtime client with the host's node."""

from __future__ import annotations

import re
import shutil

import pytest

from support import (
    invoke,
    invoke_ok,
    report_of,
    tail_request_id,
    zip_files,
)

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

INDEX_JS = """
let calls = 0;

exports.handler = async (event, context) => {
  calls += 1;
  console.log("hello from node", JSON.stringify(event));
  return {
    event,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    awsRequestId: context.awsRequestId,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: String(context.memoryLimitInMB),
    logGroupName: context.logGroupName,
    remaining: context.getRemainingTimeInMillis(),
    calls,
    executionEnv: process.env.AWS_EXECUTION_ENV,
  };
};

exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { viaCallback: event.x }), 10);
};

exports.callbackError = (event, context, callback) => {
  callback(new RangeError("callback refused"));
};

exports.boom = async () => {
  throw new TypeError("node went boom");
};

exports.levels = async () => {
  console.info("info line");
  console.warn("warn line");
  console.error("error line");
  return "logged";
};
"""

ESM = """
export const handler = async (event) => ({ esm: true, event });
"""


@pytest.fixture(scope="module")
def node_app():
    return zip_files({"index.js": INDEX_JS, "esm.mjs": ESM, "src/nested.js": "exports.go = async () => 'nested';\n"})


def make_node(make_function, code, handler, runtime="nodejs20.x"):
    return make_function(code, label="node", runtime=runtime, handler=handler)


def test_async_handler_and_context(lam, make_function, node_app):
    created = make_node(make_function, node_app, "index.handler")
    name = created["FunctionName"]
    result = invoke_ok(lam, name, {"n": 1})
    body = result.json
    request_id = tail_request_id(result.log_tail)
    assert body["event"] == {"n": 1}
    assert body["functionName"] == name
    assert body["functionVersion"] == "$LATEST"
    assert body["awsRequestId"] == request_id
    assert body["invokedFunctionArn"] == created["FunctionArn"]
    assert body["memoryLimitInMB"] == "128"
    assert body["logGroupName"] == f"/aws/lambda/{name}"
    assert 0 < body["remaining"] <= 3000
    assert body["executionEnv"] == "AWS_Lambda_nodejs20.x"


def test_console_log_lines_have_the_lambda_prefix(lam, make_function, node_app):
    name = make_node(make_function, node_app, "index.handler")["FunctionName"]
    result = invoke_ok(lam, name, {"tag": "seen"})
    request_id = tail_request_id(result.log_tail)
    assert re.search(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{request_id}\tINFO\thello from node {{\"tag\":\"seen\"}}",
        result.log_tail,
    ), result.log_tail


def test_console_levels(lam, make_function, node_app):
    name = make_node(make_function, node_app, "index.levels")["FunctionName"]
    result = invoke_ok(lam, name, {})
    request_id = tail_request_id(result.log_tail)
    for level, text in (("INFO", "info line"), ("WARN", "warn line"), ("ERROR", "error line")):
        assert f"\t{request_id}\t{level}\t{text}" in result.log_tail, (level, result.log_tail)


def test_warm_invokes_keep_module_state(lam, make_function, node_app):
    name = make_node(make_function, node_app, "index.handler")["FunctionName"]
    assert invoke_ok(lam, name, {}).json["calls"] == 1
    second = invoke_ok(lam, name, {})
    assert second.json["calls"] == 2
    assert report_of(second.log_tail, tail_request_id(second.log_tail)).init_ms is None


def test_callback_handler(lam, make_function, node_app):
    name = make_node(make_function, node_app, "index.callback")["FunctionName"]
    assert invoke_ok(lam, name, {"x": "cb"}).json == {"viaCallback": "cb"}


def test_callback_error(lam, make_function, node_app):
    name = make_node(make_function, node_app, "index.callbackError")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.function_error == "Unhandled"
    assert result.json["errorType"] == "RangeError", result.json
    assert result.json["errorMessage"] == "callback refused"


def test_thrown_error_has_type_message_and_trace(lam, make_function, node_app):
    name = make_node(make_function, node_app, "index.boom")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.status == 200
    assert result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "TypeError"
    assert body["errorMessage"] == "node went boom"
    assert isinstance(body["trace"], list) and body["trace"][0].startswith("TypeError: node went boom")


def test_esm_handler(lam, make_function, node_app):
    name = make_node(make_function, node_app, "esm.handler")["FunctionName"]
    assert invoke_ok(lam, name, {"m": 1}).json == {"esm": True, "event": {"m": 1}}


def test_handler_in_a_subdirectory(lam, make_function, node_app):
    name = make_node(make_function, node_app, "src/nested.go")["FunctionName"]
    assert invoke_ok(lam, name, {}).json == "nested"


def test_missing_handler(lam, make_function, node_app):
    name = make_node(make_function, node_app, "index.nope")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.function_error == "Unhandled"
    assert result.json["errorType"] in ("Runtime.HandlerNotFound", "Runtime.ImportModuleError"), result.json


def test_missing_module(lam, make_function, node_app):
    name = make_node(make_function, node_app, "nomodule.handler")["FunctionName"]
    result = invoke(lam, name, {})
    assert result.function_error == "Unhandled"
    assert result.json["errorType"] == "Runtime.ImportModuleError", result.json


@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs22.x", "nodejs24.x"])
def test_other_node_runtimes(lam, make_function, node_app, runtime):
    name = make_node(make_function, node_app, "index.handler", runtime=runtime)["FunctionName"]
    assert invoke_ok(lam, name, {}).json["executionEnv"] == f"AWS_Lambda_{runtime}"
