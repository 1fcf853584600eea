"""Functions, configuration and code survive restarts and `kill -9`. Each test runs its own server
(see `flint_factory`) so that restarts never disturb the shared one."""

from __future__ import annotations

import base64
import time

import pytest

from conftest import lambda_client
from support import (
    ROLE_ARN,
    bash_runtime,
    bash_zip,
    end_processes,
    invoke_ok,
    processes_of_function,
    report_of,
    rust_zip,
    sha256_b64,
    tail_request_id,
    unique_name,
    wait_until,
)

pytestmark = pytest.mark.slow


def create(client, code: bytes, **fields) -> dict:
    name = unique_name("persist")
    return client.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=ROLE_ARN,
        Handler="bootstrap",
        Code={"ZipFile": code},
        **fields,
    )


def stable_fields(config: dict) -> dict:
    keys = (
        "FunctionName",
        "FunctionArn",
        "Runtime",
        "Handler",
        "CodeSha256",
        "CodeSize",
        "Timeout",
        "MemorySize",
        "Environment",
        "Description",
        "RevisionId",
        "LastModified",
    )
    return {key: config.get(key) for key in keys}


def test_restart_keeps_functions_configuration_and_code(flint_factory):
    server = flint_factory()
    client = lambda_client(server.endpoint)
    created = create(
        client,
        rust_zip("probe"),
        Environment={"Variables": {"KEPT": "yes"}},
        Timeout=7,
        MemorySize=256,
        Description="survives",
        Tags={"kept": "tag"},
    )
    name = created["FunctionName"]
    invoke_ok(client, name, {"action": "echo"})

    server.restart()

    got = client.get_function(FunctionName=name)
    assert stable_fields(got["Configuration"]) == stable_fields(created)
    assert got["Tags"] == {"kept": "tag"}
    result = invoke_ok(client, name, {"action": "env"})
    assert result.json["KEPT"] == "yes"
    assert result.json["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert report_of(result.log_tail, tail_request_id(result.log_tail)).init_ms is not None


def test_kill9_keeps_functions(flint_factory):
    server = flint_factory()
    client = lambda_client(server.endpoint)
    created = create(client, rust_zip("echo"))
    name = created["FunctionName"]

    server.kill9()
    server.start()

    got = client.get_function_configuration(FunctionName=name)
    assert stable_fields(got) == stable_fields(created)
    assert invoke_ok(client, name, {"after": "kill -9"}).json == {"after": "kill -9"}


def test_kill9_right_after_an_update_keeps_the_update(flint_factory):
    server = flint_factory()
    client = lambda_client(server.endpoint)
    name = create(client, bash_zip(bash_runtime("  respond '\"old\"'")))["FunctionName"]
    new_code = bash_zip(bash_runtime("  respond '\"new\"'"))
    client.update_function_code(FunctionName=name, ZipFile=new_code)
    client.update_function_configuration(FunctionName=name, Environment={"Variables": {"AFTER": "update"}})

    server.kill9()
    server.start()

    config = client.get_function_configuration(FunctionName=name)
    assert config["CodeSha256"] == sha256_b64(new_code)
    assert config["Environment"] == {"Variables": {"AFTER": "update"}}
    assert invoke_ok(client, name).json == "new"


def test_deleted_functions_stay_deleted(flint_factory):
    server = flint_factory()
    client = lambda_client(server.endpoint)
    name = create(client, rust_zip("echo"))["FunctionName"]
    client.delete_function(FunctionName=name)
    server.restart()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName=name)


def test_many_functions_survive_restart_with_pagination(flint_factory):
    server = flint_factory()
    client = lambda_client(server.endpoint)
    names = {create(client, rust_zip("echo"))["FunctionName"] for _ in range(5)}
    server.restart()
    listed = {
        function["FunctionName"]
        for page in client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2})
        for function in page["Functions"]
    }
    assert listed == names


def test_environments_do_not_outlive_a_kill9(flint_factory):
    server = flint_factory()
    client = lambda_client(server.endpoint)
    name = create(client, rust_zip("probe"))["FunctionName"]
    invoke_ok(client, name, {"action": "echo"})
    assert processes_of_function(name)
    server.kill9()
    try:
        wait_until(lambda: not processes_of_function(name), 5, "orphaned environments to go away after kill -9")
    finally:
        end_processes(processes_of_function(name))


def test_sigterm_stops_promptly_with_warm_environments(flint_factory):
    server = flint_factory()
    client = lambda_client(server.endpoint)
    name = create(client, rust_zip("probe"))["FunctionName"]
    invoke_ok(client, name, {"action": "echo"})
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    assert not server.problems, server.problems
    server.start()
    assert invoke_ok(client, name, {"action": "echo"}).json == {"action": "echo"}


def test_code_no_function_uses_is_removed_while_serving(flint_factory):
    server = flint_factory("--code-grace", "1")
    client = lambda_client(server.endpoint)
    zips = server.data_dir / "code" / "zips"

    def stored() -> set[str]:
        return {path.name for path in zips.iterdir() if not path.name.startswith(".")}

    kept = create(client, bash_zip(bash_runtime("  respond '\"kept\"'")))
    gone = create(client, bash_zip(bash_runtime("  respond '\"gone\"'")))

    def digest(created: dict) -> str:
        return base64.b64decode(created["CodeSha256"]).hex()

    assert {digest(kept), digest(gone)} <= stored()
    assert invoke_ok(client, gone["FunctionName"]).json == "gone"
    client.delete_function(FunctionName=gone["FunctionName"])
    extracted = server.data_dir / "code" / "extracted"
    # The zip goes first, then its extracted tree, in the same pass.
    wait_until(
        lambda: digest(gone) not in stored() and not (extracted / digest(gone)).exists(),
        10,
        "the deleted function's package and its extracted tree to go",
    )
    assert digest(kept) in stored()
    assert (extracted / digest(kept)).exists()
    assert invoke_ok(client, kept["FunctionName"]).json == "kept"
