"""Rootless isolation: `flint serve` run by an unprivileged user (nobody) isolates functions in a
user namespace per environment, in which nobody is the sandbox user 993. The function sees the
same sandbox as with root (its own root file system with a read-only /var/task, its own
processes, host name, network and /tmp, no capabilities, no_new_privs, the seccomp filter) and
reaches flint's API; extensions join the environment and get the Telemetry API. What needs root
on the host (cgroup limits, freezing, outbound connections) is left out and said so.

Starting a server as another user takes root, so these tests run where the suite runs as root
(CI does)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import FlintServer, lambda_client, logs_client, own_server
from support import (
    SHARING_EXTENSION,
    SHARING_FUNCTION,
    bash_runtime,
    bash_zip,
    create_provided,
    invoke_ok,
    report_of,
    stripped_binary,
    unique_name,
    wait_until,
    zip_files,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="starting a server as nobody takes root")

NOBODY = 65534

# Runs the event's `cmd` with bash and answers {"out": <its output>}.
SHELL = bash_zip(
    bash_runtime(
        body="""  CMD=$(printf '%s' "$EVENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cmd"])')
  OUT=$(bash -c "$CMD" 2>&1)
  respond "$(python3 -c 'import json,sys; print(json.dumps({"out": sys.argv[1]}))' "$OUT")"
"""
    )
)


@pytest.fixture(scope="module")
def server() -> Iterator[FlintServer]:
    with own_server("flint-it-rootless-", user=NOBODY) as flint:
        yield flint


@pytest.fixture(scope="module")
def client(server: FlintServer):
    return lambda_client(server.endpoint)


@pytest.fixture(scope="module")
def shell(client) -> Iterator[str]:
    name = create_provided(client, "rootless", SHELL)
    yield name
    client.delete_function(FunctionName=name)


def run(client, name: str, cmd: str) -> str:
    return invoke_ok(client, name, {"cmd": cmd}, tail=False).json["out"]


def test_the_server_and_doctor_say_isolation_is_rootless(server: FlintServer):
    assert "rootless isolation: a user namespace per environment" in server.log_text()
    doctor = server.run_as_user("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "isolation: rootless isolation" in doctor.stdout, doctor.stdout
    assert "need root: rootless environments have no memory or CPU limits" in doctor.stdout


def test_full_isolation_is_refused_without_root(server: FlintServer):
    refused = server.run_as_user(
        "serve", "--listen", "127.0.0.1:0", "--data-dir", str(server.data_dir), "--isolation", "full"
    )
    assert refused.returncode != 0
    assert "--isolation full needs outbound connections for functions: needs root" in refused.stderr


def test_functions_run_as_the_sandbox_user_without_privileges(client, shell: str):
    assert run(client, shell, "id -u; id -g; hostname") == "993\n990\nsandbox"
    status = run(client, shell, "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status")
    assert "CapEff:\t0000000000000000" in status, status
    assert "CapPrm:\t0000000000000000" in status, status
    assert "CapBnd:\t0000000000000000" in status, status
    assert "NoNewPrivs:\t1" in status, status
    assert "Seccomp:\t2" in status, status
    # The host's nobody is the sandbox user; no other id exists inside.
    assert run(client, shell, "cat /proc/self/uid_map").split() == ["993", str(NOBODY), "1"]


def test_privileged_calls_fail(client, shell: str):
    ctypes_call = "python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); r={}; print(r, ctypes.get_errno())'"
    expected = {
        "l.unshare(0x10000000)": "-1 1",  # EPERM: the seccomp filter
        'l.mount(b"none", b"/tmp", b"tmpfs", 0, None)': "-1 1",  # EPERM: the seccomp filter
        "l.setuid(0)": "-1 22",  # EINVAL: no uid 0 exists in the user namespace
    }
    for call, errno in expected.items():
        out = run(client, shell, ctypes_call.format(call))
        assert out == errno, f"{call}: {out}"


def test_the_root_file_system_is_the_sandboxs(client, shell: str, server: FlintServer):
    top = set(run(client, shell, "ls /").split())
    assert {"usr", "var", "tmp", "proc", "dev", "etc", "opt"} <= top, top
    assert not top & {"root", "home", "run", "srv", "work"}, top
    assert "Read-only file system" in run(client, shell, "touch /var/task/x")
    assert "No such file or directory" in run(client, shell, f"ls {server.data_dir}")
    assert run(client, shell, "echo x > /dev/null && head -c 4 /dev/zero | wc -c") == "4"


def test_a_function_sees_only_its_own_processes(client, shell: str):
    pids = run(client, shell, "ls /proc | grep -E '^[0-9]+$' | sort -n").split()
    assert pids[0] == "1" and len(pids) < 20, pids
    assert run(client, shell, "cat /proc/1/comm") == "flint-jail"
    users = set(run(client, shell, "ps -eo user= | sort -u").split())
    assert users == {"sbx_user1051"}, users


def test_flints_api_is_reachable_and_memory_is_reported(client, shell: str):
    result = invoke_ok(
        client,
        shell,
        {"cmd": "curl -sS -o /dev/null -w '%{http_code}' \"$AWS_ENDPOINT_URL/2015-03-31/functions\""},
    )
    assert result.json["out"] == "200"
    report = report_of(result.log_tail, result.request_id)
    assert report.max_memory_mb > 0, report.line


def test_environments_have_their_own_network_and_tmp(client, shell: str):
    """Three environments at once: each binds port 8080 and finds no marker of the others in
    /tmp."""
    cmd = (
        "ls /tmp | grep -c marker; touch /tmp/marker-$$; "
        "python3 -c 'import socket, time; s = socket.socket(); s.bind((\"127.0.0.1\", 8080)); "
        "s.listen(); time.sleep(1.5); print(\"bound\")'"
    )
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: run(client, shell, cmd), range(3)))
    assert answers == ["0\nbound"] * 3, answers


def publish(client, label: str, files: dict[str, Any]) -> dict[str, Any]:
    return client.publish_layer_version(LayerName=unique_name(label), Content={"ZipFile": zip_files(files)})


def test_extensions_join_the_environment_and_get_telemetry(client, server: FlintServer):
    """The runtime joins the namespaces the first extension's jail made (it sees that extension's
    /tmp and process), and the Telemetry API reaches an extension's listener inside the
    environment's network namespace, which flint can reach only through the jail."""
    share = publish(client, "rootless-share", {"extensions/share-ext": (SHARING_EXTENSION, 0o755)})
    telemetry = publish(client, "rootless-tel", {"extensions/telemetry-ext": (stripped_binary("telemetry-ext"), 0o755)})
    name = create_provided(
        client,
        "rootless-ext",
        SHARING_FUNCTION,
        Layers=[share["LayerVersionArn"], telemetry["LayerVersionArn"]],
    )
    logs = logs_client(server.endpoint)
    try:
        first = invoke_ok(client, name, tail=False)
        assert first.json["seen"] == "yes", first.json

        def delivered() -> bool:
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{name}")
            lines = [event["message"] for page in pages for event in page["events"]]
            if any(f"[telemetry-ext] platform.start {first.request_id}" in line for line in lines):
                return True
            invoke_ok(client, name, tail=False)
            return False

        wait_until(delivered, 30, "telemetry records of a rootless environment", interval=0.3)
    finally:
        client.delete_function(FunctionName=name)
        for layer in (share, telemetry):
            client.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc/*/stat)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_a_killed_server_takes_its_environments_along(flint_factory):
    server = flint_factory(user=NOBODY)
    client = lambda_client(server.endpoint)
    name = create_provided(client, "rootless-kill", SHELL)
    assert run(client, name, "echo warm") == "warm"
    assert server.process is not None
    environments = descendants(server.process.pid)
    assert len(environments) >= 2, environments  # a warm environment's jail and runtime at least
    server.kill9()

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in environments)

    wait_until(gone, 10, "the environments of a killed rootless server to end")
