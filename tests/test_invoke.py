"""The Invoke API: payloads, invocation types, log tails, function errors, limits, qualifiers."""

from __future__ import annotations

import base64
import json
import re

import pytest
from botocore.exceptions import ClientError

from support import (
    ACCOUNT_ID,
    REGION,
    client_error,
    end_line,
    invoke,
    invoke_ok,
    report_of,
    rust_zip,
    start_line,
    tail_request_id,
    unique_name,
)


@pytest.fixture
def echo(make_function) -> str:
    return make_function(rust_zip("echo"), label="echo")["FunctionName"]


@pytest.fixture
def probe(make_function) -> str:
    return make_function(rust_zip("probe"), label="probe")["FunctionName"]


@pytest.mark.parametrize(
    "event",
    [
        {"a": 1},
        {"nested": {"list": [1, 2.5, None, True, "x"]}, "unicode": "héllo ✓ 日本"},
        [1, 2, 3],
        "just a string",
        42,
        None,
        {},
    ],
    ids=["object", "nested", "array", "string", "number", "null", "empty"],
)
def test_request_response_echoes_the_payload(lam, echo, event):
    payload = json.dumps(event).encode()
    result = invoke_ok(lam, echo, payload=payload, tail=False)
    assert result.status == 200
    assert json.loads(result.payload) == event
    assert result.executed_version == "$LATEST"
    assert result.headers.get("x-amz-executed-version") == "$LATEST"
    assert result.log_tail is None


def test_payload_bytes_are_passed_through(lam, probe):
    payload = b'{"action": "echo",   "spacing":   "kept"}'
    result = invoke_ok(lam, probe, payload=payload, tail=False)
    assert json.loads(result.payload) == json.loads(payload)


def test_dry_run_answers_204_without_running(lam, probe):
    response = lam.invoke(FunctionName=probe, InvocationType="DryRun", Payload=b'{"action":"exit","code":1}')
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""
    assert "FunctionError" not in response
    # The function never ran, so the next invoke is its first (a cold start).
    result = invoke_ok(lam, probe, {"action": "echo"})
    assert report_of(result.log_tail, tail_request_id(result.log_tail)).init_ms is not None


def test_dry_run_of_unknown_function_is_not_found(lam):
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=unique_name("ghost"), InvocationType="DryRun")
    client_error(excinfo, "ResourceNotFoundException", 404)


def test_log_tail_has_start_end_report(lam, probe):
    result = invoke_ok(lam, probe, {"action": "context"})
    request_id = result.json["request_id"]
    tail = result.log_tail
    assert tail is not None
    assert start_line(request_id) in tail
    assert end_line(request_id) in tail
    report = report_of(tail, request_id)
    assert report.memory_mb == 128
    assert report.init_ms is not None, "the first invoke of an environment is a cold start"
    assert report.duration_ms >= 0
    assert report.billed_ms >= report.duration_ms
    assert report.max_memory_mb >= 1
    lines = tail.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(start_line(request_id)))
    end = next(i for i, line in enumerate(lines) if line.startswith(end_line(request_id)))
    report_index = next(i for i, line in enumerate(lines) if line.startswith(f"REPORT RequestId: {request_id}"))
    assert start < end < report_index


def test_request_id_is_the_same_everywhere(lam, probe):
    result = invoke_ok(lam, probe, {"action": "context"})
    request_id = result.json["request_id"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", request_id)
    assert tail_request_id(result.log_tail) == request_id
    assert result.request_id == request_id, "x-amzn-RequestId should be the invocation's request id"


def test_report_line_is_tab_separated_and_exact(lam, probe):
    result = invoke_ok(lam, probe, {"action": "echo"})
    request_id = tail_request_id(result.log_tail)
    report = report_of(result.log_tail, request_id)
    assert re.fullmatch(
        rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms"
        r"\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t?",
        report.line,
    ), repr(report.line)


def test_memory_size_appears_in_report(lam, make_function):
    name = make_function(rust_zip("echo"), label="mem512", MemorySize=512)["FunctionName"]
    result = invoke_ok(lam, name, {"x": 1})
    assert report_of(result.log_tail, tail_request_id(result.log_tail)).memory_mb == 512


def test_log_tail_is_the_last_4_kb(lam, probe):
    lines = [f"line {i:05d} " + "y" * 90 for i in range(200)]
    result = invoke_ok(lam, probe, {"action": "print", "lines": lines})
    raw_tail = base64.b64decode(result.headers["x-amz-log-result"])
    assert len(raw_tail) <= 4096
    tail = result.log_tail
    assert "REPORT RequestId: " in tail
    assert lines[-1] in tail
    assert lines[0] not in tail


def test_function_output_appears_in_the_tail(lam, probe):
    result = invoke_ok(
        lam,
        probe,
        {"action": "print", "lines": ["to stdout 1", "to stdout 2"]},
    )
    assert "to stdout 1\n" in result.log_tail and "to stdout 2\n" in result.log_tail
    result = invoke_ok(lam, probe, {"action": "print", "lines": ["to stderr"], "stderr": True})
    assert "to stderr\n" in result.log_tail


def test_output_of_one_invoke_is_not_in_the_next_tail(lam, probe):
    invoke_ok(lam, probe, {"action": "print", "lines": ["first invoke output"]})
    result = invoke_ok(lam, probe, {"action": "print", "lines": ["second invoke output"]})
    assert "second invoke output" in result.log_tail
    assert "first invoke output" not in result.log_tail


def test_function_error_is_unhandled_with_the_runtime_error_json(lam, probe):
    result = invoke(lam, probe, {"action": "error", "message": "it broke"})
    assert result.status == 200
    assert result.function_error == "Unhandled"
    assert result.headers.get("x-amz-function-error") == "Unhandled"
    assert result.executed_version == "$LATEST"
    assert result.json == {"errorType": "ProbeError", "errorMessage": "it broke"}
    request_id = tail_request_id(result.log_tail)
    assert end_line(request_id) in result.log_tail
    report_of(result.log_tail, request_id)


def test_environment_survives_a_function_error(lam, probe):
    invoke(lam, probe, {"action": "error", "message": "once"})
    result = invoke_ok(lam, probe, {"action": "echo", "after": "error"})
    assert result.json == {"action": "echo", "after": "error"}
    assert report_of(result.log_tail, tail_request_id(result.log_tail)).init_ms is None


def test_response_over_6_mb_is_response_size_too_large(lam, probe):
    result = invoke(lam, probe, {"action": "big", "bytes": 7_000_000})
    assert result.status == 200
    assert result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "Function.ResponseSizeTooLarge", body
    assert "6291556" in body["errorMessage"] or "exceeded" in body["errorMessage"], body
    # The platform stays usable for that function.
    assert invoke_ok(lam, probe, {"action": "echo"}).json == {"action": "echo"}


def test_response_just_under_6_mb_is_delivered(lam, probe):
    result = invoke_ok(lam, probe, {"action": "big", "bytes": 6_000_000}, tail=False)
    assert len(result.payload) == 6_000_002
    assert result.json == "x" * 6_000_000


def test_qualifier_latest(lam, probe):
    result = invoke_ok(lam, probe, {"action": "context"}, Qualifier="$LATEST")
    assert result.executed_version == "$LATEST"
    assert result.json["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{probe}:$LATEST"


def test_qualifier_in_the_name(lam, probe):
    result = invoke_ok(lam, probe + ":$LATEST", {"action": "echo"})
    assert result.executed_version == "$LATEST"


def test_invoke_by_arn(lam, probe):
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{probe}"
    result = invoke_ok(lam, arn, {"action": "context"})
    assert result.json["invoked_function_arn"] == arn


def test_unknown_version_is_not_found(lam, probe):
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=probe, Qualifier="7", Payload=b"{}")
    client_error(excinfo, "ResourceNotFoundException", 404)


def test_conflicting_qualifiers_are_invalid(lam, probe):
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=probe + ":$LATEST", Qualifier="3", Payload=b"{}")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)


def test_empty_payload_is_an_empty_object(lam, probe):
    response = lam.invoke(FunctionName=probe)
    assert response["StatusCode"] == 200
    # With no body the function gets `{}`, which the probe refuses as an unknown action.
    body = json.loads(response["Payload"].read())
    assert "unknown probe event {}" in body.get("errorMessage", ""), body
