"""Validation errors of the control plane: AWS error type, HTTP status and a useful message.

Requests go out raw (unsigned, with `requests`) because botocore refuses some of them
client-side (MemorySize below 128, Timeout 0). Lambda reports violations of the service model's
own constraints (name pattern, enum, numeric range) as `ValidationException` and its semantic
checks as `InvalidParameterValueException`, both 400; where flint may reasonably pick either,
both are accepted.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
import requests
from botocore.exceptions import ClientError

from support import (
    ROLE_ARN,
    assert_aws_error,
    client_error,
    create_body,
    rust_zip,
    unique_name,
)

INVALID = ("InvalidParameterValueException", "ValidationException")

RESERVED_KEYS = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
]


@pytest.fixture(autouse=True)
def server_stays_healthy(lam):
    """After every request of this module the server still lists functions."""
    yield
    assert lam.list_functions(MaxItems=1)["ResponseMetadata"]["HTTPStatusCode"] == 200


def create(raw, **fields):
    name = fields.pop("FunctionName", None) or unique_name("invalid")
    return raw.create_function(create_body(name, rust_zip("echo"), **fields))


@pytest.mark.parametrize(
    "name",
    ["has space", "slash/name", "dot.name", "x" * 65, "bad!", "ünïcode"],
)
def test_bad_function_names_are_rejected(raw, name):
    assert_aws_error(create(raw, FunctionName=name), 400, INVALID)


def test_empty_function_name_is_rejected(raw):
    response = raw.create_function(create_body("", rust_zip("echo")))
    assert_aws_error(response, 400, INVALID)


def test_a_64_character_name_is_accepted(raw, lam):
    name = unique_name("long")
    name += "x" * (64 - len(name))
    response = create(raw, FunctionName=name)
    assert response.status_code == 201, response.text
    lam.delete_function(FunctionName=name)


@pytest.mark.parametrize("runtime", ["java21", "dotnet8", "ruby3.3", "go1.x", "python2.7"])
def test_runtimes_flint_cannot_run_are_invalid_parameters(raw, runtime):
    assert_aws_error(
        create(raw, Runtime=runtime, Handler="x.y"),
        400,
        "InvalidParameterValueException",
        runtime,
    )


@pytest.mark.parametrize("runtime", ["cobol1", "", "python3.12 "])
def test_unknown_runtimes_are_rejected(raw, runtime):
    assert_aws_error(create(raw, Runtime=runtime), 400, INVALID)


@pytest.mark.parametrize("memory", [127, 10241, 0, -1])
def test_memory_size_out_of_range(raw, memory):
    assert_aws_error(create(raw, MemorySize=memory), 400, INVALID, "memory")


@pytest.mark.parametrize("memory", [128, 10240])
def test_memory_size_bounds_are_accepted(raw, lam, memory):
    name = unique_name("mem")
    response = create(raw, FunctionName=name, MemorySize=memory)
    assert response.status_code == 201, response.text
    assert response.json()["MemorySize"] == memory
    lam.delete_function(FunctionName=name)


@pytest.mark.parametrize("timeout", [0, 901, -5])
def test_timeout_out_of_range(raw, timeout):
    assert_aws_error(create(raw, Timeout=timeout), 400, INVALID, "timeout")


@pytest.mark.parametrize("timeout", [1, 900])
def test_timeout_bounds_are_accepted(raw, lam, timeout):
    name = unique_name("timeout")
    response = create(raw, FunctionName=name, Timeout=timeout)
    assert response.status_code == 201, response.text
    assert response.json()["Timeout"] == timeout
    lam.delete_function(FunctionName=name)


def test_update_configuration_validates_too(raw, make_function):
    name = make_function(rust_zip("echo"), label="upd")["FunctionName"]
    for body, fragment in (
        ({"MemorySize": 10241}, "memory"),
        ({"Timeout": 0}, "timeout"),
        ({"Runtime": "cobol1"}, ""),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "reserved"),
    ):
        response = raw.request(
            "PUT",
            f"/2015-03-31/functions/{name}/configuration",
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        expected = "InvalidParameterValueException" if "Environment" in body else INVALID
        assert_aws_error(response, 400, expected, fragment or ())


@pytest.mark.parametrize("key", RESERVED_KEYS)
def test_reserved_environment_keys_are_rejected(raw, key):
    response = create(raw, Environment={"Variables": {key: "value"}})
    if key.startswith("_"):
        # These keys already fail the model's key pattern, which Lambda checks first.
        assert_aws_error(response, 400, INVALID, key)
    else:
        assert_aws_error(response, 400, "InvalidParameterValueException", ("reserved", key))


@pytest.mark.parametrize("key", ["1STARTS_WITH_DIGIT", "has-dash", "has space", "a"])
def test_malformed_environment_keys_are_rejected(raw, key):
    assert_aws_error(create(raw, Environment={"Variables": {key: "v"}}), 400, INVALID)


def test_environment_over_4_kb_is_rejected(raw):
    response = create(raw, Environment={"Variables": {"BIG": "x" * 4200}})
    assert_aws_error(response, 400, "InvalidParameterValueException", "4")


def test_environment_just_under_4_kb_is_accepted(raw, lam):
    name = unique_name("env4k")
    response = create(raw, FunctionName=name, Environment={"Variables": {"BIG": "x" * 3900}})
    assert response.status_code == 201, response.text
    lam.delete_function(FunctionName=name)


def test_many_variables_adding_up_over_4_kb_are_rejected(raw):
    variables = {f"KEY_{i}": "v" * 100 for i in range(50)}
    assert_aws_error(create(raw, Environment={"Variables": variables}), 400, "InvalidParameterValueException")


def test_duplicate_function_is_a_conflict(lam, make_function):
    name = make_function(rust_zip("echo"), label="dup")["FunctionName"]
    with pytest.raises(ClientError) as excinfo:
        lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Role=ROLE_ARN,
            Handler="bootstrap",
            Code={"ZipFile": rust_zip("echo")},
        )
    message = client_error(excinfo, "ResourceConflictException", 409)
    assert name in message, message


def test_unknown_function_is_not_found_for_every_operation(lam):
    name = unique_name("missing")
    calls = {
        "GetFunction": lambda: lam.get_function(FunctionName=name),
        "GetFunctionConfiguration": lambda: lam.get_function_configuration(FunctionName=name),
        "UpdateFunctionCode": lambda: lam.update_function_code(FunctionName=name, ZipFile=rust_zip("echo")),
        "UpdateFunctionConfiguration": lambda: lam.update_function_configuration(FunctionName=name, Timeout=5),
        "DeleteFunction": lambda: lam.delete_function(FunctionName=name),
        "Invoke": lambda: lam.invoke(FunctionName=name, Payload=b"{}"),
    }
    for operation, call in calls.items():
        with pytest.raises(ClientError) as excinfo:
            call()
        message = client_error(excinfo, "ResourceNotFoundException", 404)
        assert name in message, (operation, message)


def test_not_found_error_has_the_aws_wire_shape(raw):
    name = unique_name("shape404")
    response = raw.request("GET", f"/2015-03-31/functions/{name}")
    body = assert_aws_error(response, 404, "ResourceNotFoundException", name)
    assert body.get("Type") == "User", body
    assert response.headers.get("Content-Type", "").startswith("application/json")


def test_s3_code_location_says_zipfile_is_supported(raw):
    name = unique_name("s3")
    body = create_body(name, b"")
    body["Code"] = {"S3Bucket": "bucket", "S3Key": "code.zip"}
    assert_aws_error(raw.create_function(body), 400, "InvalidParameterValueException", "ZipFile")


def test_s3_code_update_says_zipfile_is_supported(raw, make_function):
    name = make_function(rust_zip("echo"), label="s3upd")["FunctionName"]
    response = raw.request(
        "PUT",
        f"/2015-03-31/functions/{name}/code",
        data=json.dumps({"S3Bucket": "bucket", "S3Key": "code.zip"}),
        headers={"Content-Type": "application/json"},
    )
    assert_aws_error(response, 400, "InvalidParameterValueException", "ZipFile")


def test_container_images_are_refused(raw):
    name = unique_name("image")
    body = {
        "FunctionName": name,
        "Role": ROLE_ARN,
        "PackageType": "Image",
        "Code": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"},
    }
    assert_aws_error(raw.create_function(body), 400, "InvalidParameterValueException")


def test_zip_function_needs_a_handler(raw):
    body = create_body(unique_name("nohandler"), rust_zip("echo"))
    del body["Handler"]
    assert_aws_error(raw.create_function(body), 400, INVALID)


def test_missing_code_is_rejected(raw):
    body = create_body(unique_name("nocode"), b"")
    body["Code"] = {}
    assert_aws_error(raw.create_function(body), 400, INVALID)


def test_missing_role_is_rejected(raw):
    body = create_body(unique_name("norole"), rust_zip("echo"))
    del body["Role"]
    assert_aws_error(raw.create_function(body), 400, INVALID)


def test_zip_file_that_is_not_base64_is_rejected(raw):
    body = create_body(unique_name("b64"), b"")
    body["Code"] = {"ZipFile": "%%% not base64 %%%"}
    response = raw.create_function(body)
    assert_aws_error(response, 400, ("InvalidParameterValueException", "InvalidRequestContentException"))


def test_zip_over_50_mb_is_rejected(raw):
    # A real zip of incompressible bytes, over the 50 MB limit of direct uploads (AWS refuses the
    # request itself: its base64 body is over 69,905,067 bytes).
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as writer:
        writer.writestr("bootstrap", os.urandom(52_500_000))
    body = create_body(unique_name("huge"), archive.getvalue())
    try:
        response = raw.create_function(body, timeout=120)
    except requests.ConnectionError:
        # Answering early and closing the connection before the whole body arrived is a fair
        # refusal; `server_stays_healthy` still checks the server afterwards.
        return
    assert response.status_code in (400, 413), response.text
    error_type = response.headers.get("x-amzn-ErrorType", "").split(":")[0]
    assert error_type in (
        "InvalidParameterValueException",
        "RequestTooLargeException",
        "RequestEntityTooLargeException",
        "CodeStorageExceededException",
    ), (error_type, response.text[:300])
