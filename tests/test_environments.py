"""Execution environments: warm reuse, concurrency, timeouts, crashes, late answers, retirement
after changes, idle reaping, and no leaked processes."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from conftest import lambda_client
from support import (
    create_provided,
    bash_runtime,
    bash_zip,
    invoke,
    invoke_ok,
    processes_of_function,
    release_binary,
    report_of,
    rust_zip,
    tail_request_id,
    wait_until,
)


def init_duration(result) -> float | None:
    return report_of(result.log_tail, tail_request_id(result.log_tail)).init_ms


def test_second_invoke_is_warm(lam, make_function):
    name = make_function(rust_zip("probe"), label="warm")["FunctionName"]
    first = invoke_ok(lam, name, {"action": "env"})
    second = invoke_ok(lam, name, {"action": "env"})
    assert init_duration(first) is not None
    assert init_duration(second) is None
    assert first.json["AWS_LAMBDA_LOG_STREAM_NAME"] == second.json["AWS_LAMBDA_LOG_STREAM_NAME"]


@pytest.mark.slow
def test_parallel_invokes_run_in_parallel(flint, make_function):
    client = lambda_client(flint.endpoint)
    name = make_function(rust_zip("probe"), label="parallel")["FunctionName"]
    results: list = [None] * 8
    errors: list[BaseException] = []

    def call(index: int) -> None:
        try:
            results[index] = invoke_ok(client, name, {"action": "sleep", "ms": 1000})
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    assert not errors, errors
    assert all(result is not None and result.json == {"slept_ms": 1000} for result in results)
    assert elapsed < 4, f"8 parallel 1-second invokes took {elapsed:.2f} s"
    request_ids = {tail_request_id(result.log_tail) for result in results}
    assert len(request_ids) == 8


@pytest.mark.slow
def test_overlapping_invokes_get_separate_environments(flint, make_function):
    client = lambda_client(flint.endpoint)
    # Each environment answers with its log stream (one per environment) after half a second.
    bootstrap = bash_runtime('  sleep 0.5; respond "\\"$AWS_LAMBDA_LOG_STREAM_NAME\\""')
    name = make_function(bash_zip(bootstrap), label="overlap")["FunctionName"]
    streams: list[str] = []

    def call() -> None:
        streams.append(invoke_ok(client, name, {}).json)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(streams) == 2
    assert streams[0] != streams[1], "two overlapping invokes ran in the same environment"
    # Both environments stay warm and serve the next invokes.
    later = {invoke_ok(client, name, {}).json for _ in range(4)}
    assert later <= set(streams)


@pytest.mark.slow
def test_timeout_answers_sandbox_timedout(lam, make_function):
    name = make_function(rust_zip("probe"), label="timeout", Timeout=1)["FunctionName"]
    started = time.monotonic()
    result = invoke(lam, name, {"action": "sleep", "ms": 3000})
    elapsed = time.monotonic() - started
    assert result.status == 200
    assert result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "Sandbox.Timedout", body
    assert "Task timed out after 1.00 seconds" in body["errorMessage"], body
    assert 0.9 <= elapsed < 2.9, f"the timeout answer came after {elapsed:.2f} s"

    after = invoke_ok(lam, name, {"action": "echo"})
    assert after.json == {"action": "echo"}
    assert init_duration(after) is not None, "a timed-out environment must be replaced"


@pytest.mark.slow
def test_timeout_report_line(lam, make_function):
    name = make_function(rust_zip("probe"), label="timeoutlog", Timeout=1)["FunctionName"]
    result = invoke(lam, name, {"action": "sleep", "ms": 3000})
    request_id = tail_request_id(result.log_tail)
    report = report_of(result.log_tail, request_id)
    assert 1000 <= report.duration_ms <= 1100, report.line
    assert "Status: timeout" in report.line, report.line
    assert "Task timed out after 1.00 seconds" in result.log_tail


@pytest.mark.slow
def test_timeout_kills_the_environment_processes(lam, make_function):
    name = make_function(rust_zip("probe"), label="timeoutkill", Timeout=1)["FunctionName"]
    invoke(lam, name, {"action": "spawn", "argv": ["sleep", "30"]})
    wait_until(lambda: not processes_of_function(name), 5, f"processes of {name} to end after the timeout")


def test_runtime_exit_mid_invoke_is_an_exit_error(lam, make_function):
    name = make_function(rust_zip("probe"), label="exit")["FunctionName"]
    result = invoke(lam, name, {"action": "exit", "code": 3})
    assert result.status == 200
    assert result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "Runtime.ExitError", body
    assert "exit status 3" in body["errorMessage"], body
    request_id = tail_request_id(result.log_tail)
    assert f"END RequestId: {request_id}" in result.log_tail
    report_of(result.log_tail, request_id)

    after = invoke_ok(lam, name, {"action": "echo"})
    assert init_duration(after) is not None


def test_runtime_killed_by_a_signal(lam, make_function):
    name = make_function(rust_zip("probe"), label="signal")["FunctionName"]
    result = invoke(lam, name, {"action": "spawn", "argv": ["sh", "-c", "kill -9 $PPID"]})
    assert result.function_error == "Unhandled"
    assert result.json["errorType"] == "Runtime.ExitError", result.json
    assert "signal" in result.json["errorMessage"], result.json
    assert invoke_ok(lam, name, {"action": "echo"}).json == {"action": "echo"}


EXIT_AFTER_ANSWER_BOOTSTRAP = bash_runtime(
    r"""
  respond "\"answered by $BORN\""
  case "$EVENT" in
    *quit*) sleep 0.3; exit 1 ;;
  esac
""",
    init="BORN=$(date +%s%N)",
)


def test_invocation_reaching_a_runtime_that_exits_after_answering_runs_elsewhere(lam, make_function):
    """A runtime that answers and then exits is still alive, and idle, when the next invocation
    arrives; that invocation was never received, so a new environment runs it."""
    name = make_function(bash_zip(EXIT_AFTER_ANSWER_BOOTSTRAP), label="exitafter")["FunctionName"]
    first = invoke_ok(lam, name, "quit")
    second = invoke_ok(lam, name, "again")
    assert second.json != first.json, "the second invocation ran on a new process"
    assert init_duration(second) is not None
    assert invoke_ok(lam, name, "warm").json == second.json


LATE_BOOTSTRAP = bash_runtime(
    r"""
  case "$EVENT" in
    *slow*) sleep 2; respond '"late answer"' ;;
    *) respond "\"fresh $ID\"" ;;
  esac
"""
)


@pytest.mark.slow
def test_late_response_after_timeout_is_refused(lam, make_function):
    name = make_function(bash_zip(LATE_BOOTSTRAP), label="late", Timeout=1)["FunctionName"]
    result = invoke(lam, name, "slow")
    assert result.function_error == "Unhandled"
    assert result.json["errorType"] == "Sandbox.Timedout", result.json
    time.sleep(1.5)  # the late answer would have been posted by now
    for _ in range(3):
        after = invoke_ok(lam, name, "fast")
        assert after.json == f"fresh {tail_request_id(after.log_tail)}"


@pytest.mark.slow
def test_memory_hungry_function_reports_memory_used(lam, make_function):
    name = make_function(rust_zip("probe"), label="alloc", MemorySize=512)["FunctionName"]
    small = invoke_ok(lam, name, {"action": "echo"})
    before = report_of(small.log_tail, tail_request_id(small.log_tail))
    assert before.max_memory_mb < 50, before.line
    # The same warm environment: its peak is read again, not remembered from the first invoke.
    result = invoke_ok(lam, name, {"action": "alloc", "mb": 100})
    assert result.log_tail.count("Init Duration") == 0, result.log_tail
    report = report_of(result.log_tail, tail_request_id(result.log_tail))
    assert report.max_memory_mb >= 100, report.line


def test_code_update_retires_warm_environments(lam, make_function):
    created = make_function(bash_zip(bash_runtime("  respond '\"v1\"'")), label="retire")
    name = created["FunctionName"]
    assert invoke_ok(lam, name).json == "v1"
    lam.update_function_code(FunctionName=name, ZipFile=bash_zip(bash_runtime("  respond '\"v2\"'")))
    result = invoke_ok(lam, name)
    assert result.json == "v2"
    assert init_duration(result) is not None


def test_configuration_update_retires_environment_processes(lam, make_function):
    name = make_function(rust_zip("probe"), label="retireproc")["FunctionName"]
    old = invoke_ok(lam, name, {"action": "env"}).json["AWS_LAMBDA_LOG_STREAM_NAME"]
    lam.update_function_configuration(FunctionName=name, Timeout=5)
    new = invoke_ok(lam, name, {"action": "env"}).json["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert old != new
    wait_until(
        lambda: len(processes_of_function(name)) <= 1,
        5,
        f"the retired environment of {name} to stop",
    )


def test_delete_stops_the_environments(lam, make_function):
    created = make_function(rust_zip("probe"), label="deletestop")
    name = created["FunctionName"]
    invoke_ok(lam, name, {"action": "echo"})
    assert processes_of_function(name), "a warm environment should exist"
    lam.delete_function(FunctionName=name)
    wait_until(lambda: not processes_of_function(name), 5, f"the environments of {name} to stop")


def serve_supports(option: str) -> bool:
    result = subprocess.run(
        [str(release_binary("flint")), "serve", "--help"], capture_output=True, text=True, timeout=30
    )
    return option in result.stdout


@pytest.mark.slow
def test_idle_environments_are_reaped(flint_factory, make_function):
    if not serve_supports("--idle-timeout"):
        pytest.skip("flint serve has no --idle-timeout option")
    server = flint_factory("--idle-timeout", "1")
    client = lambda_client(server.endpoint)
    name = make_function(rust_zip("probe"), label="idle", client=client)["FunctionName"]
    invoke_ok(client, name, {"action": "echo"})
    wait_until(lambda: not processes_of_function(name), 10, f"the idle environment of {name} to be reaped")
    after = invoke_ok(client, name, {"action": "echo"})
    assert init_duration(after) is not None


def test_no_processes_survive_a_server_stop(flint_factory):
    server = flint_factory()
    client = lambda_client(server.endpoint)
    name = create_provided(client, "stopleak", rust_zip("probe"))
    invoke_ok(client, name, {"action": "echo"})
    assert processes_of_function(name)
    server.stop()
    wait_until(lambda: not processes_of_function(name), 5, "environments to stop with the server")
