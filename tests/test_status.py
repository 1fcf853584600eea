"""What flint shows of functions at run time: `flint status NAME`, the richer `flint ls`, and the
`GET /_flint/status[/{FunctionName}]` endpoint behind them."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from support import (
    invoke_ok,
    run_flint,
    rust_zip,
    unique_name,
    wait_until,
)


@pytest.fixture
def busy_function(lam, make_function) -> str:
    """Two published versions, a weighted alias, reserved and provisioned concurrency, one
    throttle and a warm environment."""
    name = make_function(
        rust_zip("probe"), label="status", Environment={"Variables": {"VERSION_MARK": "1"}}, Publish=True
    )["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"VERSION_MARK": "2"}})
    lam.publish_version(FunctionName=name, Description="second")
    lam.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError):
        lam.invoke(FunctionName=name, Payload=b"{}")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    invoke_ok(lam, name, {"action": "echo"})
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="2", ProvisionedConcurrentExecutions=1)

    def ready():
        config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="2")
        return config["Status"] == "READY"

    wait_until(ready, 30, "provisioned concurrency to be READY")
    return name


def test_status_endpoint_reports_runtime_state(raw, busy_function):
    name = busy_function
    response = raw.request("GET", f"/_flint/status/{name}")
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["FunctionName"] == name
    assert [v["Version"] for v in status["Versions"]] == ["$LATEST", "1", "2"]
    assert status["Versions"][2]["Description"] == "second"
    assert status["Aliases"] == [{"Name": "live", "FunctionVersion": "1", "AdditionalVersionWeights": {"2": 0.1}}]
    assert status["Concurrency"] == {"ReservedConcurrentExecutions": 3, "InFlight": 0, "Provisioned": 1}
    assert status["Throttles"]["ReservedFunctionConcurrentInvocationLimitExceeded"] == 1
    assert status["Throttles"]["Total"] == 1
    environments = {e["Version"]: e for e in status["Environments"]}
    assert environments["$LATEST"]["Idle"] == 1
    assert environments["2"]["ProvisionedIdle"] == 1
    assert status["ProvisionedConcurrency"] == [
        {"Qualifier": "2", "Requested": 1, "Allocated": 1, "Available": 1, "Status": "READY"}
    ]
    everything = raw.request("GET", "/_flint/status").json()["Functions"]
    assert name in [f["FunctionName"] for f in everything]
    missing = raw.request("GET", f"/_flint/status/{unique_name('nobody')}")
    assert missing.status_code == 404
    assert missing.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


def test_flint_status_shows_versions_aliases_environments_and_throttles(flint, busy_function):
    name = busy_function
    done = run_flint(flint.endpoint, "status", name)
    assert done.returncode == 0, done.stderr
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    assert f"function {name}" in lines, done.stdout
    assert "concurrency reserved 3, running 0, provisioned 1" in lines, done.stdout
    assert "throttles 1 (reserved 1, account 0, scaling rate 0)" in lines, done.stdout
    assert "live 1 2: 10%" in lines, done.stdout
    assert any(line.startswith("2 ") and line.endswith(" second") for line in lines), done.stdout
    assert "2 0 0 1 0" in lines, done.stdout
    assert "2 1 1 READY" in lines, done.stdout

    missing = run_flint(flint.endpoint, "status", unique_name("nobody"))
    assert missing.returncode == 1
    assert "ResourceNotFoundException" in missing.stderr


def test_flint_ls_shows_versions_aliases_and_environments(flint, busy_function):
    name = busy_function
    done = run_flint(flint.endpoint, "ls")
    assert done.returncode == 0, done.stderr
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    header = lines[0]
    for column in ("VERSIONS", "ALIASES", "WARM", "BUSY", "PROVISIONED", "THROTTLES"):
        assert column in header, header
    row = next(line for line in lines if line.startswith(name + " "))
    assert row.endswith("2 live -> 1 (2: 10%) 2 0 1/1 1"), row
