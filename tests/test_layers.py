"""Layers through boto3: PublishLayerVersion and its siblings with Lambda's shapes and errors,
the layer version policy, and functions that use layers: merged into /opt in order, a custom
runtime's `bootstrap` from a layer, a deleted version that keeps working, and the limits (at most
5 layers, 250 MB unzipped together with the code).

Layer files are found through what Lambda gives a function: `/opt/bin` is on PATH, and a program
in a layer finds the rest of its layer relative to itself. So the tests do not depend on where
the server mounts `/opt`."""

from __future__ import annotations

import json
import re

import pytest
import requests

from conftest import lambda_client
from support import (
    ACCOUNT_ID,
    LAST_MODIFIED,
    REGION,
    TUTORIAL_BOOTSTRAP,
    TUTORIAL_HANDLER,
    bash_runtime,
    bash_zip,
    client_error,
    invoke,
    invoke_ok,
    sha256_b64,
    unique_name,
    zip_files,
)

LAYER_ARN = re.compile(rf"^arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:[A-Za-z0-9_-]+$")

# A function that answers with what the layers put in /opt: the output of `layer-probe` (a
# program each test layer puts in /opt/bin) and the files it reads beside itself.
PROBE_FUNCTION = bash_runtime(
    body="""  respond "$(layer-probe)"
""",
)


def probe_layer(label: str, extra: dict[str, str] | None = None) -> bytes:
    """A layer whose `bin/layer-probe` prints a JSON object naming `label` and the data files of
    the merged /opt (`data/*.txt`), which it finds relative to itself."""
    probe = f"""#!/bin/bash
OPT="$(cd "$(dirname "$0")/.." && pwd)"
printf '{{"probe":"{label}","files":{{'
first=1
for f in "$OPT"/data/*.txt; do
  [ $first -eq 1 ] || printf ','
  first=0
  printf '"%s":"%s"' "$(basename "$f")" "$(cat "$f")"
done
printf '}}}}'
"""
    files: dict = {"bin/layer-probe": (probe, 0o755)}
    files.update(extra or {})
    return zip_files(files)


@pytest.fixture
def make_layer(lam):
    """Publishes layer versions with unique names; deletes every version when the test ends."""
    published: list[tuple[str, int]] = []

    def publish(zip_bytes: bytes, *, label: str = "layer", name: str | None = None, **fields):
        name = name or unique_name(label)
        answer = lam.publish_layer_version(LayerName=name, Content={"ZipFile": zip_bytes}, **fields)
        published.append((name, answer["Version"]))
        return answer

    yield publish
    for name, version in published:
        lam.delete_layer_version(LayerName=name, VersionNumber=version)


def test_publish_get_and_list_have_lambdas_shapes(lam, make_layer):
    content = zip_files({"python/shared.py": "VALUE = 42\n"})
    name = unique_name("shapes")
    first = make_layer(
        content,
        name=name,
        Description="shared code",
        CompatibleRuntimes=["python3.12", "python3.13"],
        CompatibleArchitectures=["x86_64", "arm64"],
        LicenseInfo="MIT",
    )
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["LayerArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}"
    assert LAYER_ARN.match(first["LayerArn"])
    assert first["LayerVersionArn"] == f"{first['LayerArn']}:1"
    assert first["Version"] == 1
    assert first["Description"] == "shared code"
    assert first["CompatibleRuntimes"] == ["python3.12", "python3.13"]
    assert first["CompatibleArchitectures"] == ["x86_64", "arm64"]
    assert first["LicenseInfo"] == "MIT"
    assert LAST_MODIFIED.match(first["CreatedDate"]), first["CreatedDate"]
    assert first["Content"]["CodeSha256"] == sha256_b64(content)
    assert first["Content"]["CodeSize"] == len(content)
    download = requests.get(first["Content"]["Location"], timeout=30)
    assert download.status_code == 200
    assert download.content == content

    second = make_layer(zip_files({"nodejs/index.js": "module.exports = 1;\n"}), name=name)
    assert second["Version"] == 2
    assert "CompatibleRuntimes" not in second

    fetched = lam.get_layer_version(LayerName=name, VersionNumber=1)
    by_arn = lam.get_layer_version_by_arn(Arn=first["LayerVersionArn"])
    by_layer_arn = lam.get_layer_version(LayerName=first["LayerArn"], VersionNumber=1)
    for answer in (fetched, by_arn, by_layer_arn):
        for member in ("LayerArn", "LayerVersionArn", "Version", "Description", "CreatedDate",
                       "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            assert answer[member] == first[member], member
        assert answer["Content"]["CodeSha256"] == first["Content"]["CodeSha256"]

    versions = lam.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1], "newest first"
    assert versions[1]["LayerVersionArn"] == first["LayerVersionArn"]
    assert versions[1]["CompatibleRuntimes"] == ["python3.12", "python3.13"]
    python = lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.13")["LayerVersions"]
    assert [v["Version"] for v in python] == [1]

    listed = [
        layer
        for page in lam.get_paginator("list_layers").paginate(PaginationConfig={"PageSize": 1})
        for layer in page["Layers"]
    ]
    mine = [layer for layer in listed if layer["LayerName"] == name]
    assert len(mine) == 1, listed
    assert mine[0]["LayerArn"] == first["LayerArn"]
    assert mine[0]["LatestMatchingVersion"]["Version"] == 2
    arm = lam.list_layers(CompatibleArchitecture="arm64")["Layers"]
    mine = [layer for layer in arm if layer["LayerName"] == name]
    assert mine[0]["LatestMatchingVersion"]["Version"] == 1, "the newest *matching* version"


def test_layer_errors_take_lambdas_shapes(lam, make_layer, raw):
    name = unique_name("missing")
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as excinfo:
        lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert client_error(excinfo, "ResourceNotFoundException", 404) == (
        "The resource you requested does not exist."
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version_by_arn(Arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:3")
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []

    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.publish_layer_version(LayerName=name, Content={"S3Bucket": "bucket", "S3Key": "key.zip"})
    assert "ZipFile" in client_error(excinfo, "InvalidParameterValueException", 400)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.publish_layer_version(LayerName=name, Content={"ZipFile": b"not a zip"})
    assert "unzip" in client_error(excinfo, "InvalidParameterValueException", 400)

    response = raw.request("GET", "/2018-10-31/layers?find=LayerVersion&Arn=not-an-arn")
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"

    # DeleteLayerVersion of a version that is not there succeeds, as on Lambda.
    lam.delete_layer_version(LayerName=name, VersionNumber=7)


def test_layer_version_policy(lam, make_layer):
    layer = make_layer(zip_files({"a.txt": "a"}), label="policy")
    name, version = layer["LayerArn"].rsplit(":", 1)[1], layer["Version"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version_policy(LayerName=name, VersionNumber=version)

    added = lam.add_layer_version_permission(
        LayerName=name,
        VersionNumber=version,
        StatementId="xaccount",
        Action="lambda:GetLayerVersion",
        Principal="210987654321",
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "xaccount",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "lambda:GetLayerVersion",
        "Resource": layer["LayerVersionArn"],
    }
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.add_layer_version_permission(
            LayerName=name,
            VersionNumber=version,
            StatementId="xaccount",
            Action="lambda:GetLayerVersion",
            Principal="*",
        )
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.add_layer_version_permission(
            LayerName=name,
            VersionNumber=version,
            StatementId="org",
            Action="lambda:GetLayerVersion",
            Principal="*",
            OrganizationId="o-abcdefghij",
            RevisionId="not-the-revision",
        )
    org = lam.add_layer_version_permission(
        LayerName=name,
        VersionNumber=version,
        StatementId="org",
        Action="lambda:GetLayerVersion",
        Principal="*",
        OrganizationId="o-abcdefghij",
        RevisionId=added["RevisionId"],
    )
    assert json.loads(org["Statement"])["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}
    }

    policy = lam.get_layer_version_policy(LayerName=name, VersionNumber=version)
    assert policy["RevisionId"] == org["RevisionId"]
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17"
    assert [s["Sid"] for s in document["Statement"]] == ["xaccount", "org"]

    lam.remove_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="xaccount")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.remove_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="xaccount")
    left = json.loads(lam.get_layer_version_policy(LayerName=name, VersionNumber=version)["Policy"])
    assert [s["Sid"] for s in left["Statement"]] == ["org"]


def test_layers_are_merged_in_order(lam, make_layer, make_function):
    one = make_layer(
        probe_layer("one", {"data/shared.txt": "from one", "data/one.txt": "only in one"}),
        label="merge-one",
    )
    two = make_layer(
        probe_layer("two", {"data/shared.txt": "from two", "data/two.txt": "only in two"}),
        label="merge-two",
    )
    code = bash_zip(PROBE_FUNCTION)

    forward = make_function(code, label="merged", Layers=[one["LayerVersionArn"], two["LayerVersionArn"]])
    assert forward["Layers"] == [
        {"Arn": one["LayerVersionArn"], "CodeSize": one["Content"]["CodeSize"]},
        {"Arn": two["LayerVersionArn"], "CodeSize": two["Content"]["CodeSize"]},
    ]
    got = invoke_ok(lam, forward["FunctionName"]).json
    assert got == {
        "probe": "two",
        "files": {"one.txt": "only in one", "shared.txt": "from two", "two.txt": "only in two"},
    }, "the later layer's files win; the others stay"

    backward = make_function(code, label="merged", Layers=[two["LayerVersionArn"], one["LayerVersionArn"]])
    got = invoke_ok(lam, backward["FunctionName"]).json
    assert got["probe"] == "one"
    assert got["files"]["shared.txt"] == "from one"

    # Changing the layers is a configuration change: a new revision, new environments.
    updated = lam.update_function_configuration(
        FunctionName=backward["FunctionName"], Layers=[one["LayerVersionArn"]]
    )
    assert updated["RevisionId"] != backward["RevisionId"]
    assert [layer["Arn"] for layer in updated["Layers"]] == [one["LayerVersionArn"]]
    got = invoke_ok(lam, backward["FunctionName"]).json
    assert got == {"probe": "one", "files": {"one.txt": "only in one", "shared.txt": "from one"}}
    config = lam.get_function_configuration(FunctionName=backward["FunctionName"])
    assert config["Layers"] == updated["Layers"]


def test_a_custom_runtime_bootstrap_from_a_layer(lam, make_layer, make_function):
    # The developer guide's custom runtime tutorial, with the runtime published as a layer and
    # only the handler in the function.
    runtime = make_layer(bash_zip(TUTORIAL_BOOTSTRAP), label="runtime", CompatibleRuntimes=["provided.al2023"])
    function = make_function(
        zip_files({"function.sh": TUTORIAL_HANDLER}),
        label="layer-runtime",
        handler="function.handler",
        Layers=[runtime["LayerVersionArn"]],
    )
    result = invoke_ok(lam, function["FunctionName"], {"text": "hi"})
    assert result.payload == b"Echoing request: '{\"text\": \"hi\"}'"

    # Without the layer there is no bootstrap at all.
    lam.update_function_configuration(FunctionName=function["FunctionName"], Layers=[])
    failed = invoke(lam, function["FunctionName"])
    assert failed.function_error == "Unhandled"
    assert failed.json["errorType"] == "Runtime.InvalidEntrypoint"


def test_a_deleted_layer_version_keeps_working_for_its_functions(flint_factory, make_function):
    server = flint_factory()
    lam = lambda_client(server.endpoint)
    name = unique_name("deleted")
    layer = lam.publish_layer_version(
        LayerName=name, Content={"ZipFile": probe_layer("kept", {"data/kept.txt": "still here"})}
    )
    function = make_function(
        bash_zip(PROBE_FUNCTION), label="keeps", client=lam, Layers=[layer["LayerVersionArn"]]
    )
    lam.delete_layer_version(LayerName=name, VersionNumber=1)

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version(LayerName=name, VersionNumber=1)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        make_function(bash_zip(PROBE_FUNCTION), client=lam, Layers=[layer["LayerVersionArn"]])
    message = client_error(excinfo, "InvalidParameterValueException", 400)
    assert message == f"Layer version {layer['LayerVersionArn']} does not exist."

    expected = {"probe": "kept", "files": {"kept.txt": "still here"}}
    assert invoke_ok(lam, function["FunctionName"]).json == expected
    # A new environment (after a configuration change) and a restart (which collects unused
    # packages) still find the layer's content.
    lam.update_function_configuration(
        FunctionName=function["FunctionName"], Environment={"Variables": {"AFTER": "delete"}}
    )
    assert invoke_ok(lam, function["FunctionName"]).json == expected
    server.restart()
    assert invoke_ok(lam, function["FunctionName"]).json == expected
    assert lam.get_function(FunctionName=function["FunctionName"])["Configuration"]["Layers"] == [
        {"Arn": layer["LayerVersionArn"], "CodeSize": layer["Content"]["CodeSize"]}
    ]


def test_at_most_five_layers(lam, make_layer, make_function):
    arns = [make_layer(zip_files({f"data/{i}.txt": str(i)}), label=f"five{i}")["LayerVersionArn"] for i in range(6)]
    function = make_function(bash_zip(PROBE_FUNCTION), label="five", Layers=arns[:5])
    assert len(function["Layers"]) == 5
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        make_function(bash_zip(PROBE_FUNCTION), label="six", Layers=arns)
    assert client_error(excinfo, "InvalidParameterValueException", 400) == "Cannot reference more than 5 layers."
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(FunctionName=function["FunctionName"], Layers=arns)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.update_function_configuration(
            FunctionName=function["FunctionName"],
            Layers=[arns[0], f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{unique_name('nope')}:1"],
        )
    assert "does not exist" in client_error(excinfo, "InvalidParameterValueException", 400)


@pytest.mark.slow
def test_code_and_layers_together_fit_in_250_megabytes(lam, make_layer, make_function):
    # Zeros compress to almost nothing, so the uploads are small while the unzipped sizes are
    # what the limit counts.
    big_layer = make_layer(zip_files({"data/zeros.bin": bytes(200_000_000)}), label="big")
    code = zip_files({"bootstrap": (PROBE_FUNCTION, 0o755), "zeros.bin": bytes(62_500_000)})
    code_unzipped = 62_500_000 + len(PROBE_FUNCTION)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        make_function(code, label="too-big", Layers=[big_layer["LayerVersionArn"]])
    message = client_error(excinfo, "InvalidParameterValueException", 400)
    assert message == (
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. "
        f"The actual size is {200_000_000 + code_unzipped} bytes."
    )
    # The same limit holds when the layer comes later.
    function = make_function(code, label="fits")
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.update_function_configuration(
            FunctionName=function["FunctionName"], Layers=[big_layer["LayerVersionArn"]]
        )
    assert "exceeds the maximum allowed size of 262144000 bytes" in client_error(
        excinfo, "InvalidParameterValueException", 400
    )
