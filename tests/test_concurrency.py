"""Concurrency control with boto3: reserved concurrency (429 with Lambda's `Reason`, 0 throttles
everything, delete restores), the account limit, the scaling rate, GetAccountSettings, and
provisioned concurrency (IN_PROGRESS -> READY, invokes without a cold start, spill-over,
FAILED, restored after a restart), with every refusal's error type and status."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import lambda_client
from support import (
    ACCOUNT_ID,
    REGION,
    bash_runtime,
    bash_zip,
    client_error,
    invoke,
    invoke_ok,
    report_of,
    tail_request_id,
    unique_name,
    wait_until,
)

RESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT = "ConcurrentInvocationLimitExceeded"
RATE = "FunctionInvocationRateLimitExceeded"

# Answers with the initialization type and version it runs as; `{"sleep": N}` sleeps first.
SLEEPER = bash_zip(
    bash_runtime(
        """
  SLEEP=$(echo "$EVENT" | grep -o '"sleep": *[0-9.]*' | tr -dc '0-9.')
  [ -n "$SLEEP" ] && sleep "$SLEEP"
  respond "{\\"init\\":\\"$AWS_LAMBDA_INITIALIZATION_TYPE\\",\\"version\\":\\"$AWS_LAMBDA_FUNCTION_VERSION\\"}"
"""
    )
)

# Fails its init: the bootstrap exits before asking for an event.
BROKEN = bash_zip("#!/bin/bash\necho 'cannot start' >&2\nexit 3\n")


def attempt(lam, name: str, event: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Invokes and returns either `{"ok": Invocation}` or `{"throttled": <error response>}`."""
    try:
        return {"ok": invoke(lam, name, event, **kwargs)}
    except ClientError as error:
        return {"throttled": error.response}


def in_parallel(lam, name: str, count: int, event: Any, **kwargs: Any) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(attempt, lam, name, event, **kwargs) for _ in range(count)]
        return [future.result() for future in futures]


def throttles(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o["throttled"] for o in outcomes if "throttled" in o]


def assert_throttle(response: dict[str, Any], reason: str) -> None:
    assert response["Error"]["Code"] == "TooManyRequestsException", response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429, response
    assert response["Reason"] == reason, response
    assert response["ResponseMetadata"]["HTTPHeaders"].get("retry-after") == "1", response


def has_init_duration(result) -> bool:
    return report_of(result.log_tail, tail_request_id(result.log_tail)).init_ms is not None


# ----------------------------------------------------------------------------------------------
# Reserved concurrency


def test_reserved_one_lets_one_of_two_parallel_invokes_run(lam, make_function):
    name = make_function(SLEEPER, label="res1")["FunctionName"]
    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert put["ReservedConcurrentExecutions"] == 1
    invoke_ok(lam, name)
    outcomes = in_parallel(lam, name, 2, {"sleep": 1})
    throttled = throttles(outcomes)
    assert len(throttled) == 1, outcomes
    assert_throttle(throttled[0], RESERVED)
    ran = [o["ok"] for o in outcomes if "ok" in o]
    assert ran[0].function_error is None
    # The slot is free again once the invocation ended.
    invoke_ok(lam, name)


def test_reserved_zero_throttles_everything_and_delete_restores(lam, make_function):
    name = make_function(SLEEPER, label="res0", Publish=True)["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for qualifier in ("$LATEST", "1"):
        with pytest.raises(ClientError) as excinfo:
            lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=b"{}")
        assert_throttle(excinfo.value.response, RESERVED)
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    got = lam.get_function_concurrency(FunctionName=name)
    assert got["ReservedConcurrentExecutions"] == 0

    deleted = lam.delete_function_concurrency(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    invoke_ok(lam, name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert "Concurrency" not in lam.get_function(FunctionName=name)


def test_reservation_refusals(lam, raw, make_function):
    name = make_function(SLEEPER, label="resbad")["FunctionName"]
    with pytest.raises(ClientError) as excinfo:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=901)
    message = client_error(excinfo, "InvalidParameterValueException", 400)
    assert "below its minimum value of [100]" in message
    response = raw.request(
        "PUT",
        f"/2017-10-31/functions/{name}/concurrency",
        data=json.dumps({"ReservedConcurrentExecutions": -1}),
    )
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    for call in (
        lambda n: lam.put_function_concurrency(FunctionName=n, ReservedConcurrentExecutions=1),
        lambda n: lam.get_function_concurrency(FunctionName=n),
        lambda n: lam.delete_function_concurrency(FunctionName=n),
    ):
        with pytest.raises(ClientError) as excinfo:
            call(unique_name("nobody"))
        client_error(excinfo, "ResourceNotFoundException", 404)


def test_account_settings_and_limits(flint_factory, make_function):
    server = flint_factory("--account-concurrency", "150")
    lam = lambda_client(server.endpoint)
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 150
    assert settings["UnreservedConcurrentExecutions"] == 150
    names = [make_function(SLEEPER, label="acct", client=lam)["FunctionName"] for _ in range(2)]
    lam.put_function_concurrency(FunctionName=names[0], ReservedConcurrentExecutions=30)
    with pytest.raises(ClientError) as excinfo:
        lam.put_function_concurrency(FunctionName=names[1], ReservedConcurrentExecutions=21)
    assert "below its minimum value of [100]" in client_error(excinfo, "InvalidParameterValueException", 400)
    lam.put_function_concurrency(FunctionName=names[1], ReservedConcurrentExecutions=20)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    # Replacing a reservation gives back the old one first.
    lam.put_function_concurrency(FunctionName=names[0], ReservedConcurrentExecutions=25)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 105
    lam.delete_function(FunctionName=names[1])
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 125


def test_the_account_limit_throttles_unreserved_functions(flint_factory, make_function):
    server = flint_factory("--account-concurrency", "2")
    lam = lambda_client(server.endpoint)
    name = make_function(SLEEPER, label="acctlim", client=lam)["FunctionName"]
    outcomes = in_parallel(lam, name, 3, {"sleep": 1.5})
    throttled = throttles(outcomes)
    assert len(throttled) == 1, outcomes
    assert_throttle(throttled[0], ACCOUNT)
    invoke_ok(lam, name)


def test_reservations_survive_a_restart(flint_factory, make_function):
    server = flint_factory()
    lam = lambda_client(server.endpoint)
    name = make_function(SLEEPER, label="resrestart", client=lam)["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    server.restart()
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert_throttle(excinfo.value.response, RESERVED)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0


# ----------------------------------------------------------------------------------------------
# Scaling rate


def test_the_scaling_rate_limits_new_environments(flint_factory, make_function):
    server = flint_factory("--scaling-burst", "1", "--scaling-window", "600")
    lam = lambda_client(server.endpoint)
    name = make_function(SLEEPER, label="scale", client=lam)["FunctionName"]
    invoke_ok(lam, name)
    # Warm invokes need no new environment and are never limited.
    for _ in range(3):
        invoke_ok(lam, name)
    outcomes = in_parallel(lam, name, 2, {"sleep": 1})
    throttled = throttles(outcomes)
    assert len(throttled) == 1, outcomes
    assert_throttle(throttled[0], RATE)


# ----------------------------------------------------------------------------------------------
# Provisioned concurrency


def wait_ready(lam, name: str, qualifier: str, timeout: float = 30) -> dict[str, Any]:
    def ready():
        config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        assert config["Status"] != "FAILED", config
        return config if config["Status"] == "READY" else None

    return wait_until(ready, timeout, f"provisioned concurrency of {name}:{qualifier} to be READY")


def test_provisioned_concurrency_serves_without_a_cold_start(lam, make_function):
    name = make_function(SLEEPER, label="prov", Publish=True)["FunctionName"]
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    ready = wait_ready(lam, name, "1")
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2
    assert ready["AvailableProvisionedConcurrentExecutions"] == 2

    result = invoke_ok(lam, name, Qualifier="1")
    assert result.json == {"init": "provisioned-concurrency", "version": "1"}
    assert not has_init_duration(result), result.log_tail
    # $LATEST has none: it starts cold, on demand.
    latest = invoke_ok(lam, name)
    assert latest.json["init"] == "on-demand"
    assert has_init_duration(latest)

    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"] for c in listed] == [f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}:1"]
    assert listed[0]["Status"] == "READY"

    deleted = lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as excinfo:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    client_error(excinfo, "ProvisionedConcurrencyConfigNotFoundException", 404)
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_invokes_beyond_the_provisioned_spill_over(lam, make_function):
    name = make_function(SLEEPER, label="spill", Publish=True)["FunctionName"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_ready(lam, name, "1")
    outcomes = in_parallel(lam, name, 2, {"sleep": 1}, Qualifier="1")
    results = [o["ok"] for o in outcomes]
    assert sorted(r.json["init"] for r in results) == ["on-demand", "provisioned-concurrency"]
    assert [has_init_duration(r) for r in results].count(True) == 1


def test_provisioned_concurrency_through_an_alias(lam, make_function):
    name = make_function(SLEEPER, label="provalias", Publish=True)["FunctionName"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    wait_ready(lam, name, "live")
    result = invoke_ok(lam, name, Qualifier="live")
    assert result.json == {"init": "provisioned-concurrency", "version": "1"}
    assert not has_init_duration(result)
    # The version behind a provisioned alias cannot get its own.
    with pytest.raises(ClientError) as excinfo:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    client_error(excinfo, "ResourceConflictException", 409)
    # Deleting the alias deletes its provisioned concurrency.
    lam.delete_alias(FunctionName=name, Name="live")
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_a_provisioned_alias_cannot_move_to_latest(lam, make_function):
    name = make_function(SLEEPER, label="provmove", Publish=True)["FunctionName"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    with pytest.raises(ClientError) as excinfo:
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="$LATEST")
    message = client_error(excinfo, "InvalidParameterValueException", 400)
    assert message.startswith("Provisioned Concurrency Configs cannot be applied to unpublished function versions")
    assert f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}:live" in message
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    wait_ready(lam, name, "live")
    assert invoke_ok(lam, name, Qualifier="live").json == {"init": "provisioned-concurrency", "version": "1"}
    # Without its provisioned concurrency the alias may follow $LATEST.
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    moved = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="$LATEST")
    assert moved["FunctionVersion"] == "$LATEST"


def test_a_weighted_alias_cannot_get_provisioned_concurrency(lam, make_function):
    name = make_function(SLEEPER, label="provweights", Publish=True)["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Description="second")
    lam.publish_version(FunctionName=name)
    lam.create_alias(
        FunctionName=name, Name="canary", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )
    with pytest.raises(ClientError) as excinfo:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="canary", ProvisionedConcurrentExecutions=1)
    message = client_error(excinfo, "InvalidParameterValueException", 400)
    assert message == "Alias with weights can not be used with Provisioned Concurrency"
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_provisioned_concurrency_counts_against_the_reservation(lam, make_function):
    name = make_function(SLEEPER, label="provres", Publish=True)["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    with pytest.raises(ClientError) as excinfo:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=3)
    message = client_error(excinfo, "InvalidParameterValueException", 400)
    assert "reservedConcurrentExecution" in message
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2)
    with pytest.raises(ClientError) as excinfo:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert "provisioned concurrency" in client_error(excinfo, "InvalidParameterValueException", 400)
    wait_ready(lam, name, "1")
    # Both reserved slots are the provisioned environments: a third parallel invoke is throttled.
    outcomes = in_parallel(lam, name, 3, {"sleep": 1}, Qualifier="1")
    throttled = throttles(outcomes)
    assert len(throttled) == 1, outcomes
    assert_throttle(throttled[0], RESERVED)
    assert all(o["ok"].json["init"] == "provisioned-concurrency" for o in outcomes if "ok" in o)


def test_provisioned_concurrency_refusals(lam, raw, make_function):
    name = make_function(SLEEPER, label="provbad", Publish=True)["FunctionName"]
    lam.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")
    for qualifier in ("$LATEST", "edge"):
        with pytest.raises(ClientError) as excinfo:
            lam.put_provisioned_concurrency_config(
                FunctionName=name, Qualifier=qualifier, ProvisionedConcurrentExecutions=1
            )
        message = client_error(excinfo, "InvalidParameterValueException", 400)
        assert "unpublished function versions" in message
    with pytest.raises(ClientError) as excinfo:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")
    client_error(excinfo, "InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as excinfo:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    client_error(excinfo, "ProvisionedConcurrencyConfigNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="9", ProvisionedConcurrentExecutions=1)
    client_error(excinfo, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="ghost")
    assert "Cannot find alias arn" in client_error(excinfo, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=901)
    assert "below its minimum value of [100]" in client_error(excinfo, "InvalidParameterValueException", 400)
    response = raw.request(
        "PUT",
        f"/2019-09-30/functions/{name}/provisioned-concurrency?Qualifier=1",
        data=json.dumps({"ProvisionedConcurrentExecutions": 0}),
    )
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    # Deleting a configuration that is not there is not an error.
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")


def test_a_failing_init_marks_provisioning_failed(lam, make_function):
    name = make_function(BROKEN, label="provfail", Publish=True)["FunctionName"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)

    def failed():
        config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        return config if config["Status"] == "FAILED" else None

    config = wait_until(failed, 30, "provisioning to fail")
    assert "FUNCTION_ERROR_INIT_FAILURE" in config["StatusReason"]


def test_a_provisioned_environment_that_dies_is_replaced(lam, make_function):
    crashing = bash_zip(
        bash_runtime(
            """
  case "$EVENT" in *crash*) exit 9;; esac
  respond "{\\"init\\":\\"$AWS_LAMBDA_INITIALIZATION_TYPE\\"}"
"""
        )
    )
    name = make_function(crashing, label="provdie", Publish=True)["FunctionName"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_ready(lam, name, "1")
    crashed = invoke(lam, name, {"crash": True}, Qualifier="1")
    assert crashed.function_error == "Unhandled"
    wait_ready(lam, name, "1")
    again = invoke_ok(lam, name, Qualifier="1")
    assert again.json == {"init": "provisioned-concurrency"}
    assert not has_init_duration(again)


def test_provisioned_concurrency_is_restored_after_a_restart(flint_factory, make_function):
    server = flint_factory()
    lam = lambda_client(server.endpoint)
    name = make_function(SLEEPER, label="provrestart", client=lam, Publish=True)["FunctionName"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_ready(lam, name, "1")
    server.restart()
    config = wait_ready(lam, name, "1")
    assert config["RequestedProvisionedConcurrentExecutions"] == 1
    result = invoke_ok(lam, name, Qualifier="1")
    assert result.json["init"] == "provisioned-concurrency"
    assert not has_init_duration(result)
