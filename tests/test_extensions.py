"""External extensions delivered as layers, as Lambda runs them: the `lambda-extension` crate's
`events-ext` and `telemetry-ext` (crates/test-extensions) and a bash + curl extension, each in
`extensions/<name>` of a layer. What the extensions print lands in the function's log stream,
which the tests read through the CloudWatch Logs API (`filter_log_events`).

Covered: registration (the `EXTENSION` line, the register response), INVOKE events with the
caller's request ids, SHUTDOWN on spin-down (a configuration change or a delete retires the
environment), Telemetry API records for each invocation, post-invoke work (counted in Duration,
not waited for by the caller, and the environment takes no invocation before it is done), an
extension that crashes during Init, and the Lambda Web Adapter pattern: an extension registered
for no events that serves an ordinary HTTP app as the function.

The web adapter test runs one environment at a time: without isolation every environment shares
the host's network, so two copies of the app would need two ports."""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any, Iterator

import pytest

from support import (
    ACCOUNT_ID,
    REGION,
    SHARING_EXTENSION,
    SHARING_FUNCTION,
    bash_runtime,
    bash_zip,
    invoke,
    invoke_ok,
    report_of,
    stripped_binary,
    unique_name,
    wait_until,
    zip_files,
)

LOG_WAIT_S = 30

# A bash function that prints one line per invocation, then echoes the event.
FUNCTION = bash_zip(
    bash_runtime(
        body="""  echo "function line for $ID"
  respond "$EVENT"
"""
    )
)

# A bash + curl external extension: registers for INVOKE and SHUTDOWN, prints the register
# response and each event's type and request id (or shutdown reason), and exits on SHUTDOWN.
BASH_EXTENSION = r"""#!/bin/bash
set -uo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
HEADERS="$(mktemp)"
BODY=$(curl -sS -D "$HEADERS" -X POST "$API/register" -H "Lambda-Extension-Name: bash-ext" -d '{"events":["INVOKE","SHUTDOWN"]}')
ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
echo "[bash-ext] registered $BODY"
field() { echo "$EVENT" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
while true; do
  EVENT=$(curl -sS "$API/event/next" -H "Lambda-Extension-Identifier: $ID")
  case "$(field eventType)" in
    INVOKE) echo "[bash-ext] INVOKE $(field requestId)";;
    SHUTDOWN) echo "[bash-ext] SHUTDOWN $(field shutdownReason)"; exit 0;;
  esac
done
"""

# The Lambda Web Adapter pattern. The adapter is an external extension that registers for no
# events; its one `event/next` never answers, which tells Lambda it is ready. The process then
# serves the Runtime API itself: it waits until the app answers HTTP, and turns each event into
# a request to the app and the app's answer into an API Gateway (v2) response.
ADAPTER = r"""#!/bin/bash
set -uo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}"
APP="http://127.0.0.1:${PORT:-8080}"
FORWARD="$(dirname "$0")/../lambda-adapter/forward.py"
HEADERS="$(mktemp)"
curl -sS -D "$HEADERS" -o /dev/null -X POST "$API/2020-01-01/extension/register" \
  -H "Lambda-Extension-Name: lambda-adapter" -d '{"events":[]}'
ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
echo "[lambda-adapter] registered for no events"
curl -sS -o /dev/null "$API/2020-01-01/extension/event/next" -H "Lambda-Extension-Identifier: $ID" &
until curl -s -o /dev/null "$APP/"; do sleep 0.05; done
echo "[lambda-adapter] app ready at $APP"
EVENT="$(mktemp)"
while true; do
  curl -sS -D "$HEADERS" -o "$EVENT" "$API/2018-06-01/runtime/invocation/next"
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  python3 "$FORWARD" "$EVENT" "$APP" \
    | curl -sS -o /dev/null -X POST "$API/2018-06-01/runtime/invocation/$REQUEST_ID/response" --data-binary @-
done
"""

FORWARD = r'''"""Sends one API Gateway HTTP API (payload 2.0) event to the app and prints the response."""
import base64
import json
import sys
import urllib.error
import urllib.request

event = json.load(open(sys.argv[1]))
app = sys.argv[2]
method = event["requestContext"]["http"]["method"]
query = event.get("rawQueryString") or ""
url = app + event["rawPath"] + ("?" + query if query else "")
body = event.get("body")
if body is not None:
    body = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() not in ("host", "content-length")}
try:
    response = urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=headers), timeout=30)
except urllib.error.HTTPError as error:
    response = error
payload = response.read()
print(json.dumps({
    "statusCode": response.status,
    "headers": {k.lower(): v for k, v in response.headers.items()},
    "body": payload.decode(),
    "isBase64Encoded": False,
}))
'''

# The function of the web adapter test: an ordinary HTTP server that knows nothing of Lambda.
HTTP_APP = r'''#!/usr/bin/env python3
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class App(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        reply = json.dumps({
            "method": self.command,
            "path": self.path,
            "body": self.rfile.read(length).decode(),
            "greeting": os.environ.get("GREETING", ""),
        }).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("content-type", "application/json")
        self.send_header("x-app", "plain-http")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = answer

    def log_message(self, fmt, *args):
        print("[app] " + fmt % args, flush=True)


ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), App).serve_forever()
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def extension_layer(name: str, program: bytes | str) -> bytes:
    return zip_files({f"extensions/{name}": (program, 0o755)})


@pytest.fixture(scope="module")
def layers(lam) -> Iterator[dict[str, str]]:
    """The test extensions published once as layers: label -> layer version ARN."""
    contents = {
        "events": extension_layer("events-ext", stripped_binary("events-ext")),
        "telemetry": extension_layer("telemetry-ext", stripped_binary("telemetry-ext")),
        "bash": extension_layer("bash-ext", BASH_EXTENSION),
        "adapter": zip_files(
            {"extensions/lambda-adapter": (ADAPTER, 0o755), "lambda-adapter/forward.py": FORWARD}
        ),
    }
    published = {
        label: lam.publish_layer_version(LayerName=unique_name(f"ext-{label}"), Content={"ZipFile": zip_bytes})
        for label, zip_bytes in contents.items()
    }
    yield {label: answer["LayerVersionArn"] for label, answer in published.items()}
    for answer in published.values():
        lam.delete_layer_version(LayerName=answer["LayerArn"], VersionNumber=answer["Version"])


def log_events(logs, name: str) -> list[dict[str, Any]]:
    """Every event of the function's log group, in order; none before the group exists."""
    try:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{name}")
        return [event for page in pages for event in page["events"]]
    except logs.exceptions.ResourceNotFoundException:
        return []


def messages(logs, name: str) -> list[str]:
    return [event["message"].rstrip("\n") for event in log_events(logs, name)]


def wait_for_lines(logs, name: str, *wanted: str) -> list[str]:
    """Waits until the log has a line containing each of `wanted`; returns all lines."""

    def complete() -> list[str] | None:
        lines = messages(logs, name)
        return lines if all(any(w in line for line in lines) for w in wanted) else None

    return wait_until(complete, LOG_WAIT_S, f"log lines {wanted!r} of {name}")


def test_extensions_register_and_get_every_invoke(lam, logs, make_function, layers):
    function = make_function(FUNCTION, label="ext-invoke", Layers=[layers["events"], layers["bash"]])
    name = function["FunctionName"]
    first = invoke_ok(lam, name, {"n": 1})
    second = invoke_ok(lam, name, {"n": 2})
    assert first.json == {"n": 1}
    assert second.log_tail and "Init Duration" not in second.log_tail, "the second invoke is warm"

    arn = function_arn(name)
    lines = wait_for_lines(
        logs,
        name,
        f"[events-ext] INVOKE {first.request_id} {arn}",
        f"[events-ext] INVOKE {second.request_id} {arn}",
        f"[bash-ext] INVOKE {first.request_id}",
        f"[bash-ext] INVOKE {second.request_id}",
    )
    registered = [line for line in lines if line.startswith("EXTENSION\t")]
    assert sorted(registered) == [
        "EXTENSION\tName: bash-ext\tState: Ready\tEvents: [INVOKE, SHUTDOWN]",
        "EXTENSION\tName: events-ext\tState: Ready\tEvents: [INVOKE, SHUTDOWN]",
    ], lines
    start = lines.index(f"START RequestId: {first.request_id} Version: $LATEST")
    assert all(lines.index(line) < start for line in registered), "extensions are ready before the first START"

    response = next(line for line in lines if line.startswith("[bash-ext] registered "))
    body = json.loads(response.removeprefix("[bash-ext] registered "))
    assert body == {"functionName": name, "functionVersion": "$LATEST", "handler": "bootstrap"}


def test_extensions_get_shutdown_on_spin_down(lam, logs, make_function, layers):
    function = make_function(FUNCTION, label="ext-shutdown", Layers=[layers["events"], layers["bash"]])
    name = function["FunctionName"]
    invoke_ok(lam, name)
    # A configuration change retires the environment.
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"CHANGED": "1"}})
    wait_for_lines(logs, name, "[events-ext] SHUTDOWN spindown", "[bash-ext] SHUTDOWN spindown")

    # So does deleting the function; its log group stays.
    invoke_ok(lam, name)
    lam.delete_function(FunctionName=name)

    def both_shut_down_twice() -> bool:
        lines = messages(logs, name)
        return all(lines.count(f"[{ext}] SHUTDOWN spindown") == 2 for ext in ("events-ext", "bash-ext"))

    wait_until(both_shut_down_twice, LOG_WAIT_S, "a second SHUTDOWN after the delete")


def test_telemetry_records_every_invocation(lam, logs, make_function, layers):
    function = make_function(FUNCTION, label="ext-telemetry", Layers=[layers["telemetry"]])
    name = function["FunctionName"]
    checked = [invoke_ok(lam, name, {"n": n}) for n in range(2)]
    wanted = []
    for result in checked:
        wanted += [
            f"[telemetry-ext] platform.start {result.request_id}",
            f"[telemetry-ext] platform.report {result.request_id} Success",
            f"[telemetry-ext] function function line for {result.request_id}",
        ]

    # Records are delivered in batches (every second by default), and an idle environment may
    # be frozen, as on Lambda, so a batch that falls due after an invocation reaches the
    # extension when the environment runs again: the test keeps invoking until they arrived.
    def delivered() -> list[str] | None:
        lines = messages(logs, name)
        if all(any(w in line for line in lines) for w in wanted):
            return lines
        invoke_ok(lam, name, {"poll": True}, tail=False)
        return None

    lines = wait_until(delivered, LOG_WAIT_S, f"telemetry records of {name}", interval=0.3)
    assert "TELEMETRY\tName: telemetry-ext\tState: Subscribed\tTypes: [Platform, Function]" in lines, lines

    log = "\n".join(lines)
    record = re.compile(
        r"\[telemetry-ext\] platform\.report (?P<id>\S+) Success duration=(?P<duration>[\d.]+) "
        r"billed=(?P<billed>\d+) memory=(?P<memory>\d+)"
    )
    reports = {m["id"]: m for m in record.finditer(log)}
    for result in checked:
        telemetry = reports[result.request_id]
        report = report_of(log, result.request_id)
        assert float(telemetry["duration"]) == pytest.approx(report.duration_ms, abs=0.01)
        assert int(telemetry["billed"]) == report.billed_ms
        assert int(telemetry["memory"]) == 128 == report.memory_mb
        assert int(telemetry["billed"]) >= float(telemetry["duration"])


def test_post_invoke_work_counts_but_does_not_delay_the_caller(lam, logs, make_function, layers):
    work_ms = 1500
    function = make_function(
        FUNCTION,
        label="ext-post",
        Timeout=10,
        Layers=[layers["events"]],
        Environment={"Variables": {"EXT_POST_INVOKE_MS": str(work_ms)}},
    )
    name = function["FunctionName"]
    first = invoke_ok(lam, name, tail=False)
    wait_for_lines(logs, name, f"[events-ext] post-invoke work done for {first.request_id}")

    started = time.monotonic()
    second = invoke_ok(lam, name, {"n": 2}, tail=False)
    elapsed = time.monotonic() - started
    assert second.json == {"n": 2}
    assert elapsed < work_ms / 1000 * 0.7, f"the caller waited {elapsed:.2f} s for the extension"
    third = invoke_ok(lam, name, {"n": 3})

    done = f"[events-ext] post-invoke work done for {second.request_id}"
    lines = wait_for_lines(logs, name, done, f"REPORT RequestId: {second.request_id}")
    report = report_of("\n".join(lines), second.request_id)
    assert report.duration_ms >= work_ms, f"post-invoke work counts in Duration: {report.line}"

    # The environment takes no invocation before its extension is done: the third invocation
    # either waited for it or started a second environment.
    third_start = f"START RequestId: {third.request_id} Version: $LATEST"
    wait_for_lines(logs, name, third_start)
    events = log_events(logs, name)
    stream_of = {e["message"].rstrip("\n"): e["logStreamName"] for e in events}
    if stream_of[third_start] == stream_of[done]:
        in_stream = [e["message"].rstrip("\n") for e in events if e["logStreamName"] == stream_of[done]]
        third_invoke = f"[events-ext] INVOKE {third.request_id} {function_arn(name)}"
        assert in_stream.index(done) < in_stream.index(third_invoke), in_stream
    else:
        assert third.log_tail and "Init Duration" in third.log_tail, third.log_tail


# An external extension that holds 64 MB (a Python child allocates and touches it) before it
# registers, then waits for events.
MEMORY_EXTENSION = r"""#!/bin/bash
set -uo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
python3 -c 'import pathlib, time
held = b"x" * (64 << 20)
pathlib.Path("/tmp/held").touch()
time.sleep(3600)' &
until [ -e /tmp/held ]; do sleep 0.01; done
HEADERS="$(mktemp)"
curl -sS -D "$HEADERS" -o /dev/null -X POST "$API/register" -H "Lambda-Extension-Name: memory-ext" -d '{"events":["INVOKE"]}'
ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
while true; do curl -sS -o /dev/null "$API/event/next" -H "Lambda-Extension-Identifier: $ID"; done
"""


def test_extensions_share_the_environments_memory(lam, make_function):
    """As on Lambda, the function and its extensions share MemorySize: the extension's memory
    counts in REPORT's Max Memory Used, and the environment as a whole is held to the limit."""
    layer = lam.publish_layer_version(
        LayerName=unique_name("ext-memory"),
        Content={"ZipFile": extension_layer("memory-ext", MEMORY_EXTENSION)},
    )
    try:
        name = make_function(FUNCTION, label="ext-memory", MemorySize=256, Layers=[layer["LayerVersionArn"]])[
            "FunctionName"
        ]
        result = invoke_ok(lam, name, {"n": 1})
        assert result.json == {"n": 1}
        report = report_of(result.log_tail, result.request_id)
        assert report.max_memory_mb >= 64, report.line
    finally:
        lam.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])


def test_extensions_share_tmp_and_processes_with_the_function(lam, make_function):
    """As on Lambda, the function and its extensions are one environment: the same /tmp and the
    same processes."""
    layer = lam.publish_layer_version(
        LayerName=unique_name("ext-share"),
        Content={"ZipFile": extension_layer("share-ext", SHARING_EXTENSION)},
    )
    try:
        name = make_function(SHARING_FUNCTION, label="ext-share", Layers=[layer["LayerVersionArn"]])[
            "FunctionName"
        ]
        answer = invoke_ok(lam, name).json
        assert answer["pid"] != "none", answer
        assert answer["seen"] == "yes", answer
        assert answer["pid"] != answer["me"], answer
    finally:
        lam.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])


def test_an_extension_that_crashes_during_init(lam, logs, make_function, layers):
    function = make_function(
        FUNCTION,
        label="ext-crash",
        Layers=[layers["events"]],
        Environment={"Variables": {"EXT_CRASH_AT_INIT": "1"}},
    )
    name = function["FunctionName"]
    for _ in range(2):
        result = invoke(lam, name)
        assert result.status == 200
        assert result.function_error == "Unhandled"
        assert result.json["errorType"] == "Extension.InitError", result.json
        assert "Extension.InitError" in (result.log_tail or ""), result.log_tail
    lines = wait_for_lines(logs, name, "[events-ext] crashing during init on purpose", "INIT_REPORT")
    init_report = next(line for line in lines if line.startswith("INIT_REPORT"))
    assert "Status: error" in init_report and "Error Type: Extension.InitError" in init_report, init_report


def test_the_lambda_web_adapter_pattern(lam, logs, make_function, layers):
    function = make_function(
        zip_files({"bootstrap": (HTTP_APP, 0o755)}),
        label="web-adapter",
        handler="app",
        Layers=[layers["adapter"]],
        Environment={"Variables": {"PORT": str(free_port()), "GREETING": "hello from the app"}},
    )
    name = function["FunctionName"]
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/items/7",
        "rawQueryString": "color=red",
        "headers": {"content-type": "text/plain", "user-agent": "flint-tests"},
        "requestContext": {"http": {"method": "POST", "path": "/items/7", "protocol": "HTTP/1.1"}},
        "body": "hello app",
        "isBase64Encoded": False,
    }
    answer = invoke_ok(lam, name, event).json
    assert answer["statusCode"] == 201
    assert answer["headers"]["content-type"] == "application/json"
    assert answer["headers"]["x-app"] == "plain-http"
    assert answer["isBase64Encoded"] is False
    assert json.loads(answer["body"]) == {
        "method": "POST",
        "path": "/items/7?color=red",
        "body": "hello app",
        "greeting": "hello from the app",
    }

    get = dict(event, rawPath="/health", rawQueryString="", body=None, requestContext={"http": {"method": "GET"}})
    again = invoke_ok(lam, name, get)
    assert again.log_tail and "Init Duration" not in again.log_tail, "the same environment serves it"
    assert json.loads(again.json["body"])["path"] == "/health"
    assert again.json["statusCode"] == 200

    lines = wait_for_lines(logs, name, '[app] "POST /items/7?color=red HTTP/1.1" 201')
    assert "EXTENSION\tName: lambda-adapter\tState: Ready\tEvents: []" in lines, lines
    assert "[lambda-adapter] registered for no events" in lines
