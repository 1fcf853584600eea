"""Asynchronous invocation with real clients: `Invoke` with `InvocationType=Event` and InvokeAsync,
retries, event age, destinations and their exact records, throttled events, the event invoke
configuration operations, the 1 MB limit, and a `kill -9` in the middle of 1,000 events.

Most tests share one server started with `--async-retry-scale 0.01`, so Lambda's retry delays of
about 1 and 2 minutes take 0.6 and 1.2 s. What a function ran is read back through the
CloudWatch Logs API (its `START RequestId: ...` lines, and the `RECORD <event>` lines a bash
recorder prints for each invocation record it receives); the crash test has functions write
files instead, because a killed server may not have written its last log lines.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import pytest
import requests

from conftest import FlintServer, lambda_client, logs_client, own_server
from support import (
    ACCOUNT_ID,
    REGION,
    ROLE_ARN,
    UUID,
    bash_runtime,
    bash_zip,
    client_error,
    end_processes,
    invoke,
    processes_of_function,
    run_flint,
    rust_zip,
    unique_name,
    wait_until,
)

pytestmark = pytest.mark.slow

RETRY_SCALE = ("--async-retry-scale", "0.01")
RECORD_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# A destination: prints every event it gets on one line as `RECORD <event>` and succeeds.
RECORDER = bash_runtime('  echo "RECORD $EVENT"\n  respond "{}"')


# ----------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def server() -> Iterator[FlintServer]:
    """One server for this module, with retry delays scaled down a hundred times."""
    with own_server("flint-it-async-", *RETRY_SCALE) as flint:
        yield flint


@pytest.fixture(scope="module")
def lam(server: FlintServer):
    return lambda_client(server.endpoint)


@pytest.fixture(scope="module")
def logs(server: FlintServer):
    return logs_client(server.endpoint)


@pytest.fixture
def create(lam) -> Iterator[Any]:
    """Creates functions on the module's server (`create(zip, label)`), deleted at the end."""
    created: list[tuple[Any, str]] = []

    def make(code: bytes, label: str = "async", client: Any = None, **fields: Any) -> dict[str, Any]:
        client = client or lam
        config = client.create_function(
            FunctionName=unique_name(label),
            Runtime="provided.al2023",
            Role=ROLE_ARN,
            Handler="bootstrap",
            Code={"ZipFile": code},
            **fields,
        )
        created.append((client, config["FunctionName"]))
        return config

    yield make
    for client, name in created:
        try:
            client.delete_function(FunctionName=name)
        except client.exceptions.ResourceNotFoundException:
            pass


def messages(logs, function: str) -> list[str]:
    """Every log message of `function`, oldest first (an empty list before its first run)."""
    found: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{function}"}
        if token:
            kwargs["nextToken"] = token
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return found
        found += [event["message"].rstrip("\n") for event in page["events"]]
        token = page.get("nextToken")
        if not token:
            return found


def starts(logs, function: str) -> list[str]:
    """The request id of every `START` line of `function`: one per attempt that ran."""
    pattern = re.compile(r"^START RequestId: ([0-9a-f-]{36}) ")
    return [m[1] for m in map(pattern.match, messages(logs, function)) if m]


def records(logs, recorder: str) -> list[dict[str, Any]]:
    """The invocation records `recorder` received, in order."""
    return [json.loads(m[len("RECORD ") :]) for m in messages(logs, recorder) if m.startswith("RECORD ")]


def wait_for_record(logs, recorder: str, request_id: str, timeout: float = 30) -> dict[str, Any]:
    """The record of `request_id` at `recorder`, once it arrived."""

    def find():
        return next((r for r in records(logs, recorder) if r["requestContext"]["requestId"] == request_id), None)

    return wait_until(find, timeout, f"the record of {request_id} at {recorder}", interval=0.2)


def send_event(lam, name: str, event: Any, **kwargs: Any) -> str:
    """Invokes with `InvocationType=Event`, checks the 202, and returns the request id."""
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode(), **kwargs)
    assert response["StatusCode"] == 202, response
    assert response["Payload"].read() == b""
    request_id = response["ResponseMetadata"]["RequestId"]
    assert UUID.match(request_id), request_id
    return request_id


def function_arn(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def send_to(recorder: dict[str, Any], on_success: bool = True, on_failure: bool = True) -> dict[str, Any]:
    """A `DestinationConfig` that sends records to the recorder function."""
    config: dict[str, Any] = {}
    if on_success:
        config["OnSuccess"] = {"Destination": recorder["FunctionArn"]}
    if on_failure:
        config["OnFailure"] = {"Destination": recorder["FunctionArn"]}
    return config


def without_timestamp(record: dict[str, Any]) -> dict[str, Any]:
    assert RECORD_TIMESTAMP.match(record["timestamp"]), record["timestamp"]
    return {key: value for key, value in record.items() if key != "timestamp"}


# ----------------------------------------------------------------------------------------------
# Accepting and running


def test_event_invoke_answers_202_and_runs_with_that_request_id(lam, logs, create):
    name = create(rust_zip("echo"))["FunctionName"]
    request_id = send_event(lam, name, {"hello": "async"})
    wait_until(lambda: request_id in starts(logs, name), 30, f"{request_id} to run")
    assert starts(logs, name).count(request_id) == 1


def test_invoke_async_answers_202_and_runs(lam, logs, create):
    name = create(rust_zip("echo"))["FunctionName"]
    response = lam.invoke_async(FunctionName=name, InvokeArgs=b'{"legacy": true}')
    assert response["Status"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    wait_until(lambda: request_id in starts(logs, name), 30, f"{request_id} to run")


def test_event_invoke_of_a_missing_function_is_not_found(lam):
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as excinfo:
        lam.invoke(FunctionName=unique_name("ghost"), InvocationType="Event", Payload=b"{}")
    assert "Function not found" in client_error(excinfo, "ResourceNotFoundException", 404)


def test_async_payloads_are_limited_to_1_mb(lam, create):
    name = create(rust_zip("echo"))["FunctionName"]
    limit = 1024 * 1024
    fits = b'"' + b"x" * (limit - 2) + b'"'
    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=fits)["StatusCode"] == 202
    with pytest.raises(lam.exceptions.RequestTooLargeException) as excinfo:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'"' + b"x" * (limit - 1) + b'"')
    message = client_error(excinfo, "RequestTooLargeException", 413)
    assert message == "Request must be smaller than 1048576 bytes for the InvokeFunction operation"
    # The synchronous limit is still 6 MB.
    assert invoke(lam, name, payload=b'"' + b"x" * (limit - 1) + b'"', tail=False).status == 200


# ----------------------------------------------------------------------------------------------
# Retries, destinations and their records


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_function_errors_are_retried_exactly_maximum_retry_attempts_times(lam, logs, create, retries):
    recorder = create(bash_zip(RECORDER), "recorder")
    name = create(rust_zip("probe"), "fails")["FunctionName"]
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=retries,
        DestinationConfig=send_to(recorder, on_success=False),
    )
    request_id = send_event(lam, name, {"action": "error", "message": "always"})
    record = wait_for_record(logs, recorder["FunctionName"], request_id)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    # Every attempt had the same request id, and no attempt follows the last one.
    time.sleep(1.5)
    assert starts(logs, name) == [request_id] * (retries + 1)


def test_destinations_receive_lambdas_exact_records(lam, logs, create):
    recorder = create(bash_zip(RECORDER), "recorder")
    name = create(rust_zip("probe"), "dest")["FunctionName"]
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, DestinationConfig=send_to(recorder)
    )
    succeeded = send_event(lam, name, {"action": "echo", "n": [1, 2]})
    failed = send_event(lam, name, {"action": "error", "message": "bad input"})

    success = wait_for_record(logs, recorder["FunctionName"], succeeded)
    assert without_timestamp(success) == {
        "version": "1.0",
        "requestContext": {
            "requestId": succeeded,
            "functionArn": function_arn(name, "$LATEST"),
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"action": "echo", "n": [1, 2]},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"action": "echo", "n": [1, 2]},
    }
    failure = wait_for_record(logs, recorder["FunctionName"], failed)
    assert without_timestamp(failure) == {
        "version": "1.0",
        "requestContext": {
            "requestId": failed,
            "functionArn": function_arn(name, "$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 2,
        },
        "requestPayload": {"action": "error", "message": "bad input"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "ProbeError", "errorMessage": "bad input"},
    }
    # The recorder ran each record as an asynchronous invocation of its own.
    recorder_runs = starts(logs, recorder["FunctionName"])
    assert len(recorder_runs) == 2 and not {succeeded, failed} & set(recorder_runs)


def test_records_of_a_version_name_the_version_that_ran(lam, logs, create):
    recorder = create(bash_zip(RECORDER), "recorder")
    name = create(rust_zip("probe"), "versioned")["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_function_event_invoke_config(
        FunctionName=name, Qualifier="live", MaximumRetryAttempts=0, DestinationConfig=send_to(recorder)
    )
    request_id = send_event(lam, name, {"action": "echo"}, Qualifier="live")
    record = wait_for_record(logs, recorder["FunctionName"], request_id)
    assert record["requestContext"]["functionArn"] == function_arn(name, version)
    assert record["responseContext"]["executedVersion"] == version
    # The alias's configuration applies to the alias only.
    unqualified = send_event(lam, name, {"action": "echo"})
    wait_until(lambda: unqualified in starts(logs, name), 30, "the unqualified event to run")
    time.sleep(1)
    assert all(r["requestContext"]["requestId"] != unqualified for r in records(logs, recorder["FunctionName"]))


def test_an_event_too_old_for_its_next_retry_fails_with_event_age_exceeded(flint_factory):
    # Lambda's real schedule: after the first failure the next attempt would come a minute later,
    # past MaximumEventAgeInSeconds=60, so the event fails at once instead of waiting for it.
    server = flint_factory()
    lam, logs = lambda_client(server.endpoint), logs_client(server.endpoint)
    recorder = lam.create_function(
        FunctionName=unique_name("recorder"), Runtime="provided.al2023", Role=ROLE_ARN,
        Handler="bootstrap", Code={"ZipFile": bash_zip(RECORDER)},
    )
    name = lam.create_function(
        FunctionName=unique_name("aging"), Runtime="provided.al2023", Role=ROLE_ARN,
        Handler="bootstrap", Code={"ZipFile": rust_zip("probe")},
    )["FunctionName"]
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=60, DestinationConfig=send_to(recorder, on_success=False)
    )
    started = time.monotonic()
    request_id = send_event(lam, name, {"action": "error", "message": "old"})
    record = wait_for_record(logs, recorder["FunctionName"], request_id, timeout=30)
    assert time.monotonic() - started < 30
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert starts(logs, name) == [request_id]


def test_reserved_concurrency_zero_sends_events_straight_to_failure(lam, logs, create):
    recorder = create(bash_zip(RECORDER), "recorder")
    name = create(rust_zip("echo"), "zero")["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig=send_to(recorder))
    request_id = send_event(lam, name, {"never": "runs"})
    record = wait_for_record(logs, recorder["FunctionName"], request_id)
    assert without_timestamp(record) == {
        "version": "1.0",
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn(name, "$LATEST"),
            "condition": "ZeroReservedConcurrency",
            "approximateInvokeCount": 0,
        },
        "requestPayload": {"never": "runs"},
    }
    assert starts(logs, name) == []


def test_throttled_events_wait_and_run_once_the_limit_is_lifted(server, lam, logs, create):
    name = create(rust_zip("probe"), "throttled", Timeout=30)["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    # One long synchronous invocation holds the only slot.
    occupant = threading.Thread(
        target=invoke, args=(lambda_client(server.endpoint), name, {"action": "sleep", "ms": 15000}), daemon=True
    )
    occupant.start()
    def status() -> dict[str, Any]:
        return requests.get(f"{server.endpoint}/_flint/status/{name}", timeout=10).json()

    # A log is written when its invocation ends; admission's count says the occupant runs.
    wait_until(lambda: status()["Concurrency"]["InFlight"] == 1, 30, "the occupant to start")
    waiting = [send_event(lam, name, {"action": "echo", "i": i}) for i in range(3)]
    time.sleep(1.5)
    assert not set(waiting) & set(starts(logs, name)), "throttled events must not run"
    now = status()
    assert now["Throttles"]["ReservedFunctionConcurrentInvocationLimitExceeded"] > 0, now
    assert now["Async"]["Queued"] + now["Async"]["InFlight"] == 3, now

    lam.delete_function_concurrency(FunctionName=name)
    # Throttled events back off (10 ms doubling up to 3 s with the scaled schedule).
    wait_until(lambda: set(waiting) <= set(starts(logs, name)), 10, "the throttled events to run")
    assert occupant.is_alive(), "the events ran because the limit was lifted, not because the slot freed"
    occupant.join(timeout=30)
    assert sorted(starts(logs, name)[1:]) == sorted(waiting), "each ran exactly once"


# ----------------------------------------------------------------------------------------------
# Event invoke configuration operations


def test_event_invoke_config_operations(lam, create):
    recorder = create(bash_zip(RECORDER), "recorder")
    name = create(rust_zip("echo"), "config")["FunctionName"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as excinfo:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert client_error(excinfo, "ResourceNotFoundException", 404) == (
        f"The function {function_arn(name, '$LATEST')} doesn't have an EventInvokeConfig"
    )

    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=3600)
    assert put["FunctionArn"] == function_arn(name, "$LATEST")
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (1, 3600)
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert abs(put["LastModified"].timestamp() - time.time()) < 60

    updated = lam.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": recorder["FunctionArn"]}}
    )
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 3600)
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": recorder["FunctionArn"]}

    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier=version, MaximumRetryAttempts=0)
    lam.put_function_event_invoke_config(FunctionName=f"{name}:live", MaximumEventAgeInSeconds=60)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == sorted(
        function_arn(name, q) for q in ("$LATEST", version, "live")
    )
    first = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=2)
    second = lam.list_function_event_invoke_configs(FunctionName=name, Marker=first["NextMarker"])
    assert len(first["FunctionEventInvokeConfigs"]) == 2 and len(second["FunctionEventInvokeConfigs"]) == 1
    assert "NextMarker" not in second

    # Deleting the alias removes its configuration.
    lam.delete_alias(FunctionName=name, Name="live")
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert len(listed) == 2
    lam.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
    assert lam.get_function_event_invoke_config(FunctionName=name, Qualifier=version)["MaximumRetryAttempts"] == 0


def test_event_invoke_config_errors(lam, create, server):
    name = create(rust_zip("echo"), "config-errors")["FunctionName"]

    def refused(code: str, status: int, **fields: Any) -> str:
        with pytest.raises(lam.exceptions.ClientError) as excinfo:
            lam.put_function_event_invoke_config(FunctionName=name, **fields)
        return client_error(excinfo, code, status)

    assert "at least one of error handling or destination" in refused("InvalidParameterValueException", 400)
    assert "less than or equal to 2" in refused("ValidationException", 400, MaximumRetryAttempts=3)
    for arn in (
        f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:queue",
        f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:topic",
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default",
        "arn:aws:s3:::bucket",
    ):
        message = refused("InvalidParameterValueException", 400, DestinationConfig={"OnFailure": {"Destination": arn}})
        assert "flint delivers invocation records to Lambda functions only" in message, message
    assert "destination for itself" in refused(
        "InvalidParameterValueException", 400, DestinationConfig={"OnSuccess": {"Destination": function_arn(name)}}
    )
    assert "is invalid" in refused(
        "InvalidParameterValueException", 400,
        DestinationConfig={"OnSuccess": {"Destination": function_arn(unique_name("ghost"))}},
    )
    # botocore checks the lower bound of MaximumEventAgeInSeconds itself; send it raw.
    raw = requests.put(
        f"{server.endpoint}/2019-09-25/functions/{name}/event-invoke-config",
        json={"MaximumEventAgeInSeconds": 21601},
        timeout=10,
    )
    assert raw.status_code == 400 and raw.headers["x-amzn-ErrorType"] == "ValidationException", raw.text
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier="9", MaximumRetryAttempts=1)


def test_dead_letter_config_is_refused_until_flint_has_queues(lam, create):
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        create(rust_zip("echo"), "dlq", DeadLetterConfig={"TargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:dlq"})
    message = client_error(excinfo, "InvalidParameterValueException", 400)
    assert "SQS queue or SNS topic" in message and "OnFailure destination" in message
    name = create(rust_zip("echo"), "dlq", DeadLetterConfig={})["FunctionName"]
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(
            FunctionName=name, DeadLetterConfig={"TargetArn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:topic"}
        )
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})


# ----------------------------------------------------------------------------------------------
# Visibility


def test_metrics_count_received_retried_failed_and_delivered(server, lam, logs, create):
    def metric(name: str) -> float:
        text = requests.get(f"{server.endpoint}/_flint/metrics", timeout=10).text
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert match, f"{name} missing from:\n{text}"
        return float(match[1])

    before = {m: metric(m) for m in (
        "flint_async_events_received_total",
        "flint_async_events_retried_total",
        "flint_async_events_failed_total",
        "flint_async_destination_deliveries_total",
    )}
    recorder = create(bash_zip(RECORDER), "recorder")
    name = create(rust_zip("probe"), "metrics")["FunctionName"]
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, DestinationConfig=send_to(recorder, on_success=False)
    )
    request_id = send_event(lam, name, {"action": "error", "message": "counted"})
    wait_for_record(logs, recorder["FunctionName"], request_id)
    # The event, then its record as an event of the recorder.
    assert metric("flint_async_events_received_total") >= before["flint_async_events_received_total"] + 2
    assert metric("flint_async_events_retried_total") >= before["flint_async_events_retried_total"] + 1
    assert metric("flint_async_events_failed_total") >= before["flint_async_events_failed_total"] + 1
    assert metric("flint_async_destination_deliveries_total") >= before["flint_async_destination_deliveries_total"] + 1
    assert metric("flint_async_event_age_seconds_max") > 0
    status = requests.get(f"{server.endpoint}/_flint/status/{name}", timeout=10).json()
    assert status["Async"]["Failed"] == 1, status
    printed = run_flint(server.endpoint, "status", name)
    assert printed.returncode == 0, printed.stderr
    assert re.search(r"^async +queued 0, running 0, failed 1$", printed.stdout, re.MULTILINE), printed.stdout


# ----------------------------------------------------------------------------------------------
# Crash safety


EVENTS = 1000

# Each event names a mark; the function sleeps a second (so that the queue is still being worked
# through when flint is killed), then appends its request id to the mark's file before answering.
# It runs as a plain process, so it keeps its scratch files next to the marks rather than in the
# host's /tmp, and without a runtime API to ask (its server was killed) it exits instead of asking
# again and again.
MARKER = r"""#!/bin/bash
set -uo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS="$MARKS/../headers-$$"
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next") || exit 1
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  TOKEN=$(printf '%s' "$EVENT" | sed -n 's/.*"mark": *"\([0-9a-f]*\)".*/\1/p')
  if [ -n "$TOKEN" ]; then
    sleep 1
    echo "$ID" >> "$MARKS/$TOKEN"
  fi
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" --data-binary "{}"
done
"""


def test_no_event_is_lost_when_flint_is_killed_mid_flight(flint_factory, tmp_path):
    """1,000 accepted events, `kill -9` while they run, a restart on the same data directory:
    every event runs at least once, with the request id its 202 named. Functions run as plain
    processes (`--isolation none`) so that each run can leave its request id in a file on the
    host, written before the function answers, hence before its event leaves the queue."""
    marks = tmp_path / "marks"
    marks.mkdir()
    server = flint_factory(*RETRY_SCALE, "--isolation", "none")
    lam = lambda_client(server.endpoint)
    name = lam.create_function(
        FunctionName=unique_name("crash"), Runtime="provided.al2023", Role=ROLE_ARN,
        Handler="bootstrap", Code={"ZipFile": bash_zip(MARKER)},
        Environment={"Variables": {"MARKS": str(marks)}},
    )["FunctionName"]

    tokens = [uuid.uuid4().hex for _ in range(EVENTS)]
    local = threading.local()

    def accept(token: str) -> str:
        client = getattr(local, "client", None) or lambda_client(server.endpoint)
        local.client = client
        return send_event(client, name, {"mark": token})

    with ThreadPoolExecutor(max_workers=16) as pool:
        request_ids = dict(zip(tokens, pool.map(accept, tokens)))
    assert len(set(request_ids.values())) == EVENTS

    def runs() -> dict[str, list[str]]:
        return {path.name: path.read_text().split() for path in marks.iterdir()}

    wait_until(lambda: len(runs()) >= 50, 60, "the first events to run", interval=0.05)
    server.kill9()
    ran_before = len(runs())
    # Plain processes are not tied to the server's life: end what the killed server left.
    def leftovers() -> list[int]:
        end_processes(processes_of_function(name))
        return processes_of_function(name)

    wait_until(lambda: not leftovers(), 10, "the killed server's environments to end")
    assert ran_before < EVENTS, "every event had run before the kill; the test proved nothing"

    server.start()
    wait_until(lambda: len(runs()) == EVENTS, 120, "every accepted event to run after the restart", interval=0.5)
    seen = runs()
    assert set(seen) == set(tokens)
    for token, ids in seen.items():
        assert set(ids) == {request_ids[token]}, (token, ids)
    duplicates = sum(len(ids) - 1 for ids in seen.values())

    def queue() -> dict[str, Any]:
        return requests.get(f"{server.endpoint}/_flint/status/{name}", timeout=10).json()["Async"]

    wait_until(lambda: queue()["Queued"] + queue()["InFlight"] == 0, 60, "the queue to empty")
    print(f"{ran_before} of {EVENTS} events had run at the kill; {duplicates} ran twice")
    # Only runs cut short by the kill may repeat: at most the dispatcher's 64 attempts in flight.
    assert duplicates <= 64
