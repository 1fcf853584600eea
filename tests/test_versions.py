"""Versions and aliases with boto3: PublishVersion, ListVersionsByFunction, `Publish=true`,
invoking and reading by version and alias (qualifier, `name:qualifier`, qualified ARN), weighted
routing, DeleteFunction with a qualifier, and every refusal with Lambda's error type and status."""

from __future__ import annotations

import collections
import json

import pytest
from botocore.exceptions import ClientError

from support import (
    ACCOUNT_ID,
    REGION,
    ROLE_ARN,
    assert_aws_error,
    bash_runtime,
    bash_zip,
    client_error,
    invoke,
    invoke_ok,
    report_of,
    rust_zip,
    sha256_b64,
    tail_request_id,
    unique_name,
)


def arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def marked_code(marker: str) -> bytes:
    """A bash function that answers with `marker` (baked into its code), the version and
    initialization type it runs as, and the ARN it was invoked as; `{"sleep": N}` sleeps first."""
    body = f"""
  ARN=$(grep -Fi Lambda-Runtime-Invoked-Function-Arn "$HEADERS" | tr -d '[:space:]' | cut -d: -f2-)
  SLEEP=$(echo "$EVENT" | grep -o '"sleep": *[0-9.]*' | tr -dc '0-9.')
  [ -n "$SLEEP" ] && sleep "$SLEEP"
  respond "{{\\"marker\\":\\"{marker}\\",\\"version\\":\\"$AWS_LAMBDA_FUNCTION_VERSION\\",\\"init\\":\\"$AWS_LAMBDA_INITIALIZATION_TYPE\\",\\"arn\\":\\"$ARN\\"}}"
"""
    return bash_zip(bash_runtime(body))


@pytest.fixture
def two_versions(lam, make_function) -> str:
    """A function with version 1 (marker `one`), version 2 (marker `two`) and `$LATEST` at
    marker `latest`."""
    name = make_function(marked_code("one"), label="ver")["FunctionName"]
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_code(FunctionName=name, ZipFile=marked_code("two"))
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.update_function_code(FunctionName=name, ZipFile=marked_code("latest"))
    return name


# ----------------------------------------------------------------------------------------------
# Versions


def test_publish_numbers_versions_and_skips_an_unchanged_latest(lam, make_function):
    code = marked_code("one")
    created = make_function(code, label="pub", Description="the function")
    name = created["FunctionName"]

    one = lam.publish_version(FunctionName=name)
    assert one["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert one["Version"] == "1"
    assert one["FunctionArn"] == arn(name, "1")
    assert one["CodeSha256"] == sha256_b64(code) == created["CodeSha256"]
    assert one["Description"] == "the function"
    assert one["RevisionId"] != created["RevisionId"]

    # Nothing changed since version 1: the same version comes back, no new number.
    again = lam.publish_version(FunctionName=name, Description="ignored")
    assert again["Version"] == "1"
    assert again["RevisionId"] == one["RevisionId"]

    lam.update_function_configuration(FunctionName=name, MemorySize=256)
    two = lam.publish_version(FunctionName=name, Description="bigger")
    assert two["Version"] == "2"
    assert two["MemorySize"] == 256
    assert two["Description"] == "bigger"

    listed = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    assert [v["FunctionArn"] for v in listed] == [arn(name, "$LATEST"), arn(name, "1"), arn(name, "2")]
    assert listed[1]["MemorySize"] == 128


def test_versions_list_in_pages(lam, make_function):
    name = make_function(marked_code("paged"), label="pages")["FunctionName"]
    for memory in (129, 130, 131, 132):
        lam.update_function_configuration(FunctionName=name, MemorySize=memory)
        lam.publish_version(FunctionName=name)
    seen, marker = [], None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = lam.list_versions_by_function(FunctionName=name, MaxItems=2, **kwargs)
        assert len(page["Versions"]) <= 2
        seen += [v["Version"] for v in page["Versions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == ["$LATEST", "1", "2", "3", "4"]
    paginator = lam.get_paginator("list_versions_by_function")
    versions = [v["Version"] for page in paginator.paginate(FunctionName=name) for v in page["Versions"]]
    assert versions == seen


def test_list_functions_with_all_lists_every_version_in_pages(lam, two_versions, make_function):
    versioned = two_versions
    plain = make_function(marked_code("plain"), label="nover")["FunctionName"]
    mine = {versioned, plain}

    # Without FunctionVersion only $LATEST is listed, under the unqualified ARN.
    default = [
        (f["FunctionName"], f["Version"], f["FunctionArn"])
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"] in mine
    ]
    assert sorted(default) == sorted((n, "$LATEST", arn(n)) for n in mine)

    # With ALL every published version comes too, each under its version's ARN, and pages count
    # entries: a function's versions may continue on the next page.
    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = lam.list_functions(FunctionVersion="ALL", MaxItems=2, **kwargs)
        assert len(page["Functions"]) <= 2, page["Functions"]
        assert all("State" not in f for f in page["Functions"])
        seen += [(f["FunctionName"], f["Version"], f["FunctionArn"]) for f in page["Functions"]]
        pages += 1
        marker = page.get("NextMarker")
        if not marker:
            break
        assert pages < 10_000, "ListFunctions never stopped paging"
    assert len(seen) == len(set(seen)), "an entry appeared on two pages"
    expected = {
        versioned: [(versioned, v, arn(versioned, v)) for v in ("$LATEST", "1", "2")],
        plain: [(plain, "$LATEST", arn(plain, "$LATEST"))],
    }
    assert [e for e in seen if e[0] in mine] == [entry for name in sorted(mine) for entry in expected[name]]
    names = [name for name, _, _ in seen]
    assert names == sorted(names), "entries are ordered by function name"
    paginated = [
        (f["FunctionName"], f["Version"], f["FunctionArn"])
        for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL")
        for f in page["Functions"]
    ]
    assert [e for e in paginated if e[0] in mine] == [e for e in seen if e[0] in mine]

    with pytest.raises(ClientError) as excinfo:
        lam.list_functions(FunctionVersion="LATEST")
    assert client_error(excinfo, "ValidationException", 400) == (
        "1 validation error detected: Value 'LATEST' at 'functionVersion' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ALL]"
    )


def test_publish_on_create_and_on_code_update(lam, make_function):
    created = make_function(marked_code("one"), label="pubcreate", Publish=True)
    name = created["FunctionName"]
    assert created["Version"] == "1"
    assert created["FunctionArn"] == arn(name, "1")
    updated = lam.update_function_code(FunctionName=name, ZipFile=marked_code("two"), Publish=True)
    assert updated["Version"] == "2"
    assert updated["FunctionArn"] == arn(name, "2")
    assert updated["CodeSha256"] == sha256_b64(marked_code("two"))
    assert invoke_ok(lam, name, Qualifier="1").json["marker"] == "one"
    assert invoke_ok(lam, name, Qualifier="2").json["marker"] == "two"
    assert invoke_ok(lam, name).json["marker"] == "two"


def test_publish_preconditions(lam, make_function):
    code = marked_code("guarded")
    created = make_function(code, label="guard")
    name = created["FunctionName"]
    with pytest.raises(ClientError) as excinfo:
        lam.publish_version(FunctionName=name, CodeSha256=sha256_b64(b"other code"))
    message = client_error(excinfo, "InvalidParameterValueException", 400)
    assert "is different from current CodeSHA256 in $LATEST" in message
    with pytest.raises(ClientError) as excinfo:
        lam.publish_version(FunctionName=name, RevisionId="00000000-0000-0000-0000-000000000000")
    client_error(excinfo, "PreconditionFailedException", 412)
    assert lam.list_versions_by_function(FunctionName=name)["Versions"][-1]["Version"] == "$LATEST"
    published = lam.publish_version(
        FunctionName=name, CodeSha256=sha256_b64(code), RevisionId=created["RevisionId"]
    )
    assert published["Version"] == "1"


def test_old_versions_keep_running_their_code(lam, two_versions):
    name = two_versions
    latest = invoke_ok(lam, name)
    assert latest.json["marker"] == "latest"
    assert latest.executed_version == "$LATEST"
    for qualifier, marker in (("1", "one"), ("2", "two")):
        by_query = invoke_ok(lam, name, Qualifier=qualifier)
        assert by_query.json["marker"] == marker
        assert by_query.executed_version == qualifier
        assert by_query.headers["x-amz-executed-version"] == qualifier
        assert by_query.json["version"] == qualifier
        assert by_query.json["arn"] == arn(name, qualifier)
        assert invoke_ok(lam, f"{name}:{qualifier}").json["marker"] == marker
        assert invoke_ok(lam, arn(name, qualifier)).json["marker"] == marker
        assert invoke_ok(lam, f"{ACCOUNT_ID}:function:{name}:{qualifier}").json["marker"] == marker


def test_reads_by_version(lam, two_versions):
    name = two_versions
    for qualifier in ("1", "2"):
        config = lam.get_function_configuration(FunctionName=name, Qualifier=qualifier)
        assert config["Version"] == qualifier
        assert config["FunctionArn"] == arn(name, qualifier)
        assert config["CodeSha256"] == sha256_b64(marked_code("one" if qualifier == "1" else "two"))
        got = lam.get_function(FunctionName=f"{name}:{qualifier}")
        assert got["Configuration"]["Version"] == qualifier
    latest = lam.get_function(FunctionName=name)["Configuration"]
    assert latest["Version"] == "$LATEST"
    assert latest["FunctionArn"] == arn(name)


def test_updating_latest_leaves_published_environments_warm(lam, two_versions):
    name = two_versions
    first = invoke_ok(lam, name, Qualifier="1")
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"CHANGED": "yes"}})
    lam.update_function_code(FunctionName=name, ZipFile=marked_code("newer"))
    second = invoke_ok(lam, name, Qualifier="1")
    assert second.json["marker"] == "one"
    assert report_of(second.log_tail, tail_request_id(second.log_tail)).init_ms is None, second.log_tail
    assert first.json == second.json
    assert invoke_ok(lam, name).json["marker"] == "newer"


def test_version_numbers_are_never_reused(lam, two_versions):
    name = two_versions
    lam.delete_function(FunctionName=name, Qualifier="2")
    lam.update_function_configuration(FunctionName=name, Timeout=5)
    assert lam.publish_version(FunctionName=name)["Version"] == "3"
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert versions == ["$LATEST", "1", "3"]


def test_delete_version(lam, two_versions):
    name = two_versions
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as excinfo:
        lam.delete_function(FunctionName=name, Qualifier="1")
    message = client_error(excinfo, "ResourceConflictException", 409)
    assert "live" in message
    with pytest.raises(ClientError) as excinfo:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    client_error(excinfo, "InvalidParameterValueException", 400)

    lam.delete_function(FunctionName=name, Qualifier="2")
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Qualifier="2", Payload=b"{}")
    message = client_error(excinfo, "ResourceNotFoundException", 404)
    assert arn(name, "2") in message
    # The function and its other versions stay.
    assert invoke_ok(lam, name, Qualifier="1").json["marker"] == "one"
    assert invoke_ok(lam, name).json["marker"] == "latest"
    # Deleting a version that is not there succeeds, as on Lambda.
    lam.delete_function(FunctionName=name, Qualifier="2")


def test_deleting_the_function_deletes_versions_and_aliases(lam, make_function):
    name = make_function(marked_code("gone"), label="gone", Publish=True)["FunctionName"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.delete_function(FunctionName=name)
    for qualifier in ("1", "live"):
        with pytest.raises(ClientError) as excinfo:
            lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=b"{}")
        client_error(excinfo, "ResourceNotFoundException", 404)
    # The name is free again, and numbering starts over.
    recreated = lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=ROLE_ARN,
        Handler="bootstrap",
        Code={"ZipFile": marked_code("again")},
        Publish=True,
    )
    try:
        assert recreated["Version"] == "1"
        with pytest.raises(ClientError) as excinfo:
            lam.get_alias(FunctionName=name, Name="live")
        client_error(excinfo, "ResourceNotFoundException", 404)
    finally:
        lam.delete_function(FunctionName=name)


def test_unknown_versions_are_not_found(lam, two_versions):
    name = two_versions
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Qualifier="9", Payload=b"{}")
    assert client_error(excinfo, "ResourceNotFoundException", 404) == f"Function not found: {arn(name, '9')}"
    with pytest.raises(ClientError) as excinfo:
        lam.get_function_configuration(FunctionName=name, Qualifier="9")
    client_error(excinfo, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.publish_version(FunctionName=unique_name("nobody"))
    client_error(excinfo, "ResourceNotFoundException", 404)


# ----------------------------------------------------------------------------------------------
# Aliases


def test_alias_lifecycle(lam, two_versions):
    name = two_versions
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="prod")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == arn(name, "live")
    assert created["Name"] == "live"
    assert created["FunctionVersion"] == "1"
    assert created["Description"] == "prod"
    assert "RoutingConfig" not in created

    got = lam.get_alias(FunctionName=name, Name="live")
    assert {k: got[k] for k in ("AliasArn", "FunctionVersion", "RevisionId")} == {
        k: created[k] for k in ("AliasArn", "FunctionVersion", "RevisionId")
    }

    with pytest.raises(ClientError) as excinfo:
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId="stale")
    client_error(excinfo, "PreconditionFailedException", 412)
    updated = lam.update_alias(
        FunctionName=name, Name="live", FunctionVersion="2", RevisionId=created["RevisionId"]
    )
    assert updated["FunctionVersion"] == "2"
    assert updated["Description"] == "prod", "fields not given stay"
    assert updated["RevisionId"] != created["RevisionId"]
    assert invoke_ok(lam, name, Qualifier="live").json["marker"] == "two"

    lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="1")
    lam.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")
    all_aliases = lam.list_aliases(FunctionName=name)["Aliases"]
    assert [a["Name"] for a in all_aliases] == ["beta", "edge", "live"]
    on_two = lam.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]
    assert [a["Name"] for a in on_two] == ["live"]

    lam.delete_alias(FunctionName=name, Name="beta")
    response = lam.delete_alias(FunctionName=name, Name="edge")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["live"]
    with pytest.raises(ClientError) as excinfo:
        lam.get_alias(FunctionName=name, Name="beta")
    assert client_error(excinfo, "ResourceNotFoundException", 404) == f"Cannot find alias arn: {arn(name, 'beta')}"


def test_invoking_an_alias_runs_its_version_under_the_alias_arn(lam, two_versions):
    name = two_versions
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for function_name, qualifier in ((name, "live"), (f"{name}:live", None), (arn(name, "live"), None)):
        kwargs = {"Qualifier": qualifier} if qualifier else {}
        result = invoke_ok(lam, function_name, **kwargs)
        assert result.json["marker"] == "one"
        assert result.executed_version == "1"
        assert result.json["version"] == "1", "AWS_LAMBDA_FUNCTION_VERSION is the version that ran"
        assert result.json["arn"] == arn(name, "live"), "the runtime sees the alias ARN"
    config = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    assert config["FunctionArn"] == arn(name, "live")
    assert config["Version"] == "1"
    # Moving the alias moves the next invoke.
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert invoke_ok(lam, name, Qualifier="live").json["marker"] == "two"


def test_weighted_routing_follows_the_weights(lam, make_function):
    # The Rust probe answers in about a millisecond, so hundreds of invokes stay quick; the two
    # versions differ by an environment variable.
    name = make_function(
        rust_zip("probe"), label="weights", Environment={"Variables": {"MARKER": "one"}}, Publish=True
    )["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MARKER": "two"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    got = lam.get_alias(FunctionName=name, Name="canary")
    assert got["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}
    counts: collections.Counter[str] = collections.Counter()
    total = 400
    for _ in range(total):
        result = invoke_ok(lam, name, {"action": "env"}, Qualifier="canary", tail=False)
        env = result.json
        assert env["AWS_LAMBDA_FUNCTION_VERSION"] == result.executed_version
        assert env["MARKER"] == {"1": "one", "2": "two"}[result.executed_version]
        counts[result.executed_version] += 1
    share = counts["2"] / total
    # 3.5 standard deviations of a binomial(400, 0.3): a correct router fails this once in ~4000.
    assert abs(share - 0.3) < 0.08, counts

    # Removing the weights sends everything to the alias's version again.
    lam.update_alias(FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in lam.get_alias(FunctionName=name, Name="canary")
    executed = {
        invoke_ok(lam, name, {"action": "echo"}, Qualifier="canary", tail=False).executed_version
        for _ in range(20)
    }
    assert executed == {"1"}


def test_alias_refusals(lam, raw, two_versions):
    name = two_versions

    def create(**fields):
        return raw.request(
            "POST",
            f"/2015-03-31/functions/{name}/aliases",
            data=json.dumps(fields),
            headers={"Content-Type": "application/json"},
        )

    assert_aws_error(create(Name="1", FunctionVersion="1"), 400, "ValidationException", "Value '1' at 'name'")
    assert_aws_error(create(Name="x", FunctionVersion="live"), 400, "ValidationException", "functionVersion")
    assert_aws_error(
        create(Name="x", FunctionVersion="7"), 404, "ResourceNotFoundException", arn(name, "7")
    )
    assert_aws_error(
        create(Name="x", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}}),
        400,
        "ValidationException",
        "routingConfig.additionalVersionWeights",
    )
    assert_aws_error(
        create(Name="x", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}}),
        400,
        "InvalidParameterValueException",
        "cannot be greater than 1",
    )
    assert_aws_error(
        create(Name="x", FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}),
        400,
        "InvalidParameterValueException",
        "$LATEST is not supported for an alias pointing to more than 1 version",
    )
    # Routing never involves $LATEST: as an additional version it fails the model's key pattern.
    assert_aws_error(
        create(Name="x", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}}),
        400,
        "ValidationException",
        "Member must satisfy regular expression pattern: [0-9]+",
    )
    assert_aws_error(
        create(Name="x", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}),
        400,
        "InvalidParameterValueException",
        "already included in routing configuration",
    )
    assert_aws_error(
        create(Name="x", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"9": 0.5}}),
        404,
        "ResourceNotFoundException",
        arn(name, "9"),
    )
    lam.create_alias(FunctionName=name, Name="taken", FunctionVersion="1")
    with pytest.raises(ClientError) as excinfo:
        lam.create_alias(FunctionName=name, Name="taken", FunctionVersion="2")
    assert arn(name, "taken") in client_error(excinfo, "ResourceConflictException", 409)
    with pytest.raises(ClientError) as excinfo:
        lam.create_alias(FunctionName=unique_name("nobody"), Name="live", FunctionVersion="1")
    client_error(excinfo, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.update_alias(FunctionName=name, Name="ghost", FunctionVersion="1")
    client_error(excinfo, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.update_alias(
            FunctionName=name, Name="taken", RoutingConfig={"AdditionalVersionWeights": {"1": 0.2}}
        )
    client_error(excinfo, "InvalidParameterValueException", 400)
    # A weighted alias keeps its routing when only its version changes, so it cannot move to $LATEST.
    lam.create_alias(
        FunctionName=name, Name="split", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}
    )
    with pytest.raises(ClientError) as excinfo:
        lam.update_alias(FunctionName=name, Name="split", FunctionVersion="$LATEST")
    assert client_error(excinfo, "InvalidParameterValueException", 400) == (
        "$LATEST is not supported for an alias pointing to more than 1 version"
    )
    assert lam.get_alias(FunctionName=name, Name="split")["FunctionVersion"] == "1"


def test_unknown_aliases_are_not_found(lam, two_versions):
    name = two_versions
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Qualifier="nope", Payload=b"{}")
    assert client_error(excinfo, "ResourceNotFoundException", 404) == f"Function not found: {arn(name, 'nope')}"
    with pytest.raises(ClientError) as excinfo:
        lam.get_function(FunctionName=f"{name}:nope")
    client_error(excinfo, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.delete_alias(FunctionName=name, Name="nope")
    client_error(excinfo, "ResourceNotFoundException", 404)


def test_an_alias_of_latest_follows_updates(lam, make_function):
    name = make_function(marked_code("first"), label="edge")["FunctionName"]
    lam.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")
    result = invoke(lam, name, Qualifier="edge")
    assert result.json["marker"] == "first"
    assert result.executed_version == "$LATEST"
    lam.update_function_code(FunctionName=name, ZipFile=marked_code("second"))
    assert invoke_ok(lam, name, Qualifier="edge").json["marker"] == "second"
