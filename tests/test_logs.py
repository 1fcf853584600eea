"""Function logs through the CloudWatch Logs API (AWS CLI and boto3) and `flint logs`."""

from __future__ import annotations

import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from support import (
    LOG_STREAM,
    aws_cli_env,
    end_line,
    invoke_ok,
    run_flint,
    rust_zip,
    start_line,
    tail_request_id,
    unique_name,
    wait_until,
)


@pytest.fixture
def logged_function(lam, make_function):
    """A probe that printed a marker line; returns (name, request id, marker, log stream)."""
    name = make_function(rust_zip("probe"), label="logs")["FunctionName"]
    marker = f"marker-{unique_name('line')}"
    result = invoke_ok(lam, name, {"action": "print", "lines": [marker]})
    stream = invoke_ok(lam, name, {"action": "env"}).json["AWS_LAMBDA_LOG_STREAM_NAME"]
    return name, tail_request_id(result.log_tail), marker, stream


def cli_filter_log_events(endpoint: str, name: str) -> list[dict]:
    completed = subprocess.run(
        [
            "aws",
            "--endpoint-url",
            endpoint,
            "--output",
            "json",
            "logs",
            "filter-log-events",
            "--log-group-name",
            f"/aws/lambda/{name}",
        ],
        capture_output=True,
        text=True,
        env=aws_cli_env(),
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)["events"]


def test_filter_log_events_with_the_aws_cli(flint, logged_function):
    name, request_id, marker, _ = logged_function

    def complete() -> str | None:
        text = "\n".join(event["message"] for event in cli_filter_log_events(flint.endpoint, name))
        return text if f"REPORT RequestId: {request_id}" in text else None

    text = wait_until(complete, 10, "the REPORT line to reach the log group", interval=0.5)
    assert start_line(request_id) in text
    assert end_line(request_id) in text
    assert marker in text


def test_log_events_have_timestamps_and_streams(logs, logged_function):
    name, request_id, marker, stream = logged_function
    events = wait_until(
        lambda: [
            event
            for event in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
            if marker in event["message"]
        ],
        10,
        "the marker line",
    )
    event = events[0]
    assert isinstance(event["timestamp"], int) and event["timestamp"] > 1_600_000_000_000
    assert event["logStreamName"] == stream


def test_describe_log_streams_and_get_log_events(logs, logged_function):
    name, request_id, marker, stream = logged_function
    group = f"/aws/lambda/{name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    names = [entry["logStreamName"] for entry in streams]
    assert stream in names
    assert all(LOG_STREAM.match(entry) for entry in names), names

    def marker_seen() -> list[str] | None:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        messages = [event["message"] for event in events]
        return messages if any(marker in message for message in messages) else None

    messages = wait_until(marker_seen, 10, "the marker in GetLogEvents")
    assert any(message.startswith(start_line(request_id)) for message in messages)


def test_filter_pattern(logs, logged_function):
    name, _, marker, _ = logged_function
    wait_until(
        lambda: logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern=f'"{marker}"')["events"],
        10,
        "a filtered event",
    )
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern=f'"{marker}"')["events"]
    assert events and all(marker in event["message"] for event in events)


def test_unknown_log_group_is_not_found(logs):
    with pytest.raises(ClientError) as excinfo:
        logs.filter_log_events(logGroupName=f"/aws/lambda/{unique_name('nolog')}")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_flint_logs_command(flint, logged_function):
    name, request_id, marker, _ = logged_function

    def output() -> str | None:
        completed = run_flint(flint.endpoint, "logs", name)
        assert completed.returncode == 0, completed.stderr
        return completed.stdout if f"REPORT RequestId: {request_id}" in completed.stdout else None

    text = wait_until(output, 10, "flint logs to show the REPORT line", interval=0.5)
    assert start_line(request_id) in text
    assert end_line(request_id) in text
    assert marker in text
