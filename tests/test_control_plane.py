"""Control-plane operations and the exact shapes of their answers."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from conftest import lambda_client
from support import (
    ACCOUNT_ID,
    LAST_MODIFIED,
    REGION,
    ROLE_ARN,
    UUID,
    bash_runtime,
    bash_zip,
    client_error,
    create_body,
    invoke_ok,
    rust_zip,
    sha256_b64,
    unique_name,
    zip_files,
)


def function_arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"


def constant_bootstrap(answer: str) -> bytes:
    """A function that always answers `answer` (a JSON text)."""
    return bash_zip(bash_runtime(f"  respond '{answer}'"))


def parse_last_modified(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def test_create_function_returns_the_configuration(make_function):
    code = rust_zip("echo")
    name = unique_name("shape")
    before = dt.datetime.now(dt.timezone.utc)
    config = make_function(code, FunctionName=name, Description="shape test")
    assert config["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert config["ResponseMetadata"]["RequestId"]
    assert config["FunctionName"] == name
    assert config["FunctionArn"] == function_arn(name)
    assert config["Runtime"] == "provided.al2023"
    assert config["Role"] == ROLE_ARN
    assert config["Handler"] == "bootstrap"
    assert config["Description"] == "shape test"
    assert config["CodeSha256"] == sha256_b64(code)
    assert config["CodeSize"] == len(code)
    assert config["Version"] == "$LATEST"
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"
    assert config["PackageType"] == "Zip"
    assert UUID.match(config["RevisionId"]), config["RevisionId"]
    assert LAST_MODIFIED.match(config["LastModified"]), config["LastModified"]
    modified = parse_last_modified(config["LastModified"])
    assert before - dt.timedelta(seconds=5) <= modified <= before + dt.timedelta(seconds=60)


def test_create_function_fills_in_lambda_defaults(make_function):
    config = make_function(rust_zip("echo"), label="defaults")
    assert config["Timeout"] == 3
    assert config["MemorySize"] == 128
    assert config["Description"] == ""
    assert config["Architectures"] == ["x86_64"]
    assert config["EphemeralStorage"] == {"Size": 512}
    assert config["TracingConfig"] == {"Mode": "PassThrough"}


def test_get_function_and_configuration_agree_with_create(lam, make_function):
    created = make_function(rust_zip("echo"), label="get", Timeout=7, MemorySize=256)
    name = created["FunctionName"]
    got = lam.get_function(FunctionName=name)
    configuration = lam.get_function_configuration(FunctionName=name)
    for key in (
        "FunctionName",
        "FunctionArn",
        "Runtime",
        "Role",
        "Handler",
        "CodeSha256",
        "CodeSize",
        "Timeout",
        "MemorySize",
        "Version",
        "RevisionId",
        "LastModified",
        "State",
        "LastUpdateStatus",
    ):
        assert got["Configuration"][key] == created[key], key
        assert configuration[key] == created[key], key
    assert configuration["Timeout"] == 7
    assert configuration["MemorySize"] == 256
    assert "Code" in got


def test_get_function_by_arn_and_qualified_name(lam, make_function):
    created = make_function(rust_zip("echo"), label="arn")
    name = created["FunctionName"]
    by_arn = lam.get_function_configuration(FunctionName=created["FunctionArn"])
    assert by_arn["FunctionName"] == name
    latest = lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")
    assert latest["Version"] == "$LATEST"
    partial = lam.get_function_configuration(FunctionName=f"{ACCOUNT_ID}:function:{name}")
    assert partial["FunctionArn"] == created["FunctionArn"]


def test_list_functions_pages_with_max_items_and_marker(lam, make_function):
    names = {make_function(rust_zip("echo"), label="page")["FunctionName"] for _ in range(3)}
    seen: list[str] = []
    marker = None
    for _ in range(10_000):
        kwargs = {"MaxItems": 1}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 1, page["Functions"]
        seen += [function["FunctionName"] for function in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    else:
        pytest.fail("ListFunctions never stopped paging")
    assert len(seen) == len(set(seen)), "a function appeared on two pages"
    assert names <= set(seen)


def test_list_functions_entries_are_function_configurations(lam, make_function):
    created = make_function(rust_zip("echo"), label="list")
    paginator = lam.get_paginator("list_functions")
    entries = [
        function
        for page in paginator.paginate(PaginationConfig={"PageSize": 50})
        for function in page["Functions"]
    ]
    mine = [entry for entry in entries if entry["FunctionName"] == created["FunctionName"]]
    assert len(mine) == 1
    entry = mine[0]
    for key in ("FunctionArn", "Runtime", "Handler", "CodeSha256", "CodeSize", "Version", "RevisionId"):
        assert entry[key] == created[key], key


def test_list_functions_pages_hold_at_most_fifty(lam, make_function):
    make_function(rust_zip("echo"), label="cap")
    page = lam.list_functions(MaxItems=10_000)
    assert len(page["Functions"]) <= 50


def test_update_function_code_changes_hash_revision_and_behaviour(lam, make_function):
    first = constant_bootstrap('{"v":1}')
    created = make_function(first, label="code")
    name = created["FunctionName"]
    assert invoke_ok(lam, name).json == {"v": 1}

    second = constant_bootstrap('{"v":2}')
    updated = lam.update_function_code(FunctionName=name, ZipFile=second)
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert updated["CodeSha256"] == sha256_b64(second)
    assert updated["CodeSize"] == len(second)
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert updated["RevisionId"] != created["RevisionId"]
    assert UUID.match(updated["RevisionId"])
    assert LAST_MODIFIED.match(updated["LastModified"])
    assert parse_last_modified(updated["LastModified"]) >= parse_last_modified(created["LastModified"])
    assert updated["LastUpdateStatus"] == "Successful"
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == sha256_b64(second)

    assert invoke_ok(lam, name).json == {"v": 2}


def test_update_function_configuration_is_seen_by_the_next_invoke(lam, make_function):
    created = make_function(rust_zip("probe"), label="config", Environment={"Variables": {"FOO": "1"}})
    name = created["FunctionName"]
    env = invoke_ok(lam, name, {"action": "env"}).json
    assert env["FOO"] == "1"

    updated = lam.update_function_configuration(
        FunctionName=name,
        Environment={"Variables": {"FOO": "2", "BAR": "x"}},
        MemorySize=256,
        Timeout=10,
        Description="changed",
        Handler="other.handler",
    )
    assert updated["Environment"] == {"Variables": {"FOO": "2", "BAR": "x"}}
    assert updated["MemorySize"] == 256
    assert updated["Timeout"] == 10
    assert updated["Description"] == "changed"
    assert updated["Handler"] == "other.handler"
    assert updated["RevisionId"] != created["RevisionId"]
    assert updated["CodeSha256"] == created["CodeSha256"]
    assert updated["LastUpdateStatus"] == "Successful"

    result = invoke_ok(lam, name, {"action": "env"})
    env = result.json
    assert env["FOO"] == "2"
    assert env["BAR"] == "x"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["_HANDLER"] == "other.handler"
    assert "Init Duration" in result.log_tail, "the old environment should have been retired"


def test_update_function_configuration_can_remove_environment(lam, make_function):
    created = make_function(rust_zip("probe"), label="noenv", Environment={"Variables": {"GONE": "1"}})
    name = created["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {}})
    assert "GONE" not in invoke_ok(lam, name, {"action": "env"}).json


def test_update_with_a_stale_revision_id_is_refused(lam, make_function):
    created = make_function(rust_zip("echo"), label="rev")
    name = created["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Description="first")
    with pytest.raises(ClientError) as excinfo:
        lam.update_function_configuration(
            FunctionName=name, Description="second", RevisionId=created["RevisionId"]
        )
    client_error(excinfo, "PreconditionFailedException", 412)


def test_delete_function_then_everything_is_not_found(lam):
    name = unique_name("delete")
    lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=ROLE_ARN,
        Handler="bootstrap",
        Code={"ZipFile": rust_zip("echo")},
    )
    invoke_ok(lam, name, {"warm": True})
    deleted = lam.delete_function(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] in (200, 202, 204)

    with pytest.raises(ClientError) as excinfo:
        lam.get_function(FunctionName=name)
    message = client_error(excinfo, "ResourceNotFoundException", 404)
    assert "Function not found" in message and name in message, message
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=b"{}")
    client_error(excinfo, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.delete_function(FunctionName=name)
    client_error(excinfo, "ResourceNotFoundException", 404)
    assert name not in [
        function["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for function in page["Functions"]
    ]


def test_name_can_be_reused_after_delete(lam, make_function):
    created = make_function(constant_bootstrap('"old"'), label="reuse")
    name = created["FunctionName"]
    invoke_ok(lam, name)
    lam.delete_function(FunctionName=name)
    make_function(constant_bootstrap('"new"'), FunctionName=name)
    assert invoke_ok(lam, name).json == "new"


def test_get_account_settings(lam, make_function):
    before = lam.get_account_settings()
    make_function(rust_zip("echo"), label="account")
    after = lam.get_account_settings()
    limit = after["AccountLimit"]
    assert limit["CodeSizeZipped"] == 52428800
    assert limit["CodeSizeUnzipped"] == 262144000
    assert limit["TotalCodeSize"] > 0
    assert limit["ConcurrentExecutions"] > 0
    assert 0 <= limit["UnreservedConcurrentExecutions"] <= limit["ConcurrentExecutions"]
    usage = after["AccountUsage"]
    assert usage["FunctionCount"] >= before["AccountUsage"]["FunctionCount"] + 1
    assert usage["TotalCodeSize"] >= before["AccountUsage"]["TotalCodeSize"]


def test_tags_on_create_tag_untag_and_list(lam, make_function):
    created = make_function(rust_zip("echo"), label="tags", Tags={"team": "core", "env": "test"})
    arn = created["FunctionArn"]
    assert lam.get_function(FunctionName=created["FunctionName"])["Tags"] == {"team": "core", "env": "test"}
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "test"}

    tagged = lam.tag_resource(Resource=arn, Tags={"cost": "42", "env": "prod"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "prod", "cost": "42"}

    untagged = lam.untag_resource(Resource=arn, TagKeys=["team", "cost"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod"}
    assert lam.get_function(FunctionName=created["FunctionName"])["Tags"] == {"env": "prod"}


def test_tags_of_an_unknown_function_are_not_found(lam):
    arn = function_arn(unique_name("ghost"))
    for call in (
        lambda: lam.list_tags(Resource=arn),
        lambda: lam.tag_resource(Resource=arn, Tags={"a": "b"}),
        lambda: lam.untag_resource(Resource=arn, TagKeys=["a"]),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        client_error(excinfo, "ResourceNotFoundException", 404)


def test_region_comes_from_the_signature_scope(flint, make_function):
    west = lambda_client(flint.endpoint, region="eu-west-1")
    created = make_function(rust_zip("probe"), label="region", client=west)
    assert created["FunctionArn"] == function_arn(created["FunctionName"], "eu-west-1")
    env = invoke_ok(west, created["FunctionName"], {"action": "env"}).json
    assert env["AWS_REGION"] == "eu-west-1"


def test_unsigned_requests_are_accepted_in_the_default_region(raw, lam):
    name = unique_name("unsigned")
    response = raw.create_function(create_body(name, rust_zip("echo")))
    assert response.status_code == 201, response.text
    assert response.json()["FunctionArn"] == function_arn(name)
    assert response.headers.get("x-amzn-RequestId")
    got = raw.request("GET", f"/2015-03-31/functions/{name}")
    assert got.status_code == 200, got.text
    assert got.json()["Configuration"]["FunctionName"] == name
    lam.delete_function(FunctionName=name)


def test_every_answer_carries_a_request_id(raw):
    for method, path in (
        ("GET", "/2015-03-31/functions"),
        ("GET", "/2016-08-19/account-settings"),
        ("GET", f"/2015-03-31/functions/{unique_name('none')}"),
    ):
        response = raw.request(method, path)
        assert response.headers.get("x-amzn-RequestId"), (method, path, response.headers)


def test_zip_with_a_directory_layout_runs(lam, make_function):
    code = zip_files(
        {
            "bootstrap": ("#!/bin/bash\nexec \"$LAMBDA_TASK_ROOT/bin/run\"\n", 0o755),
            "bin/run": (bash_runtime("  respond \"$(cat \"$LAMBDA_TASK_ROOT/data/answer.json\")\""), 0o755),
            "data/answer.json": '{"nested":true}',
        }
    )
    created = make_function(code, label="layout")
    assert invoke_ok(lam, created["FunctionName"]).json == {"nested": True}
