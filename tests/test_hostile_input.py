"""Hostile input: each request answers an AWS-shaped error (or is made harmless) and the server
stays healthy afterwards."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import uuid
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import (
    assert_aws_error,
    client_error,
    create_body,
    invoke,
    invoke_ok,
    rust_zip,
    stripped_binary,
    unique_name,
    zip_with_symlink,
)

INVALID = ("InvalidParameterValueException", "ValidationException")
BAD_BODY = ("InvalidRequestContentException", "InvalidParameterValueException", "ValidationException")


@pytest.fixture(autouse=True)
def server_stays_healthy(lam, flint):
    """After every request of this module the server still lists functions."""
    yield
    assert lam.list_functions(MaxItems=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert flint.process is not None and flint.process.poll() is None, "flint serve died"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'"a string"',
        b"null",
        b'{"FunctionName": "x"' + b" " * 10_000,
        b"{" * 10_000,
    ],
    ids=["truncated", "empty", "binary", "array", "string", "null", "unterminated", "deep-nesting"],
)
def test_malformed_create_bodies(raw, body):
    response = raw.create_function(body)
    assert_aws_error(response, 400, BAD_BODY)


def test_truncated_json_is_invalid_request_content(raw):
    assert_aws_error(raw.create_function(b'{"FunctionName": '), 400, "InvalidRequestContentException")


@pytest.mark.parametrize(
    "fields",
    [
        {"FunctionName": 5},
        {"MemorySize": "big"},
        {"Timeout": 3.5},
        {"Timeout": "3"},
        {"Environment": {"Variables": ["A", "B"]}},
        {"Environment": {"Variables": {"A": 1}}},
        {"Environment": "A=B"},
        {"Code": "zip"},
        {"Code": {"ZipFile": 42}},
        {"Tags": ["a"]},
        {"MemorySize": 10**30},
    ],
    ids=lambda fields: "-".join(f"{k}={type(v).__name__}" for k, v in fields.items()),
)
def test_wrong_json_types(raw, fields):
    body = create_body(unique_name("types"), rust_zip("echo"))
    body.update(fields)
    assert_aws_error(raw.create_function(json.dumps(body)), 400, BAD_BODY)


def test_wrong_types_in_update_configuration(raw, make_function):
    name = make_function(rust_zip("echo"), label="badupd")["FunctionName"]
    response = raw.request(
        "PUT",
        f"/2015-03-31/functions/{name}/configuration",
        data=b'{"Timeout": "soon"}',
        headers={"Content-Type": "application/json"},
    )
    assert_aws_error(response, 400, BAD_BODY)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip at all", os.urandom(4096), b"PK\x03\x04" + os.urandom(200)],
    ids=["empty", "text", "random", "truncated-zip"],
)
def test_bytes_that_are_not_a_zip(raw, content):
    response = raw.create_function(create_body(unique_name("notzip"), content))
    assert_aws_error(response, 400, INVALID)


def test_non_zip_code_update(raw, make_function):
    name = make_function(rust_zip("echo"), label="notzipupd")["FunctionName"]
    response = raw.request(
        "PUT",
        f"/2015-03-31/functions/{name}/code",
        data=json.dumps({"ZipFile": base64.b64encode(b"garbage").decode()}),
        headers={"Content-Type": "application/json"},
    )
    assert_aws_error(response, 400, INVALID)


def created_or_refused(raw, lam, zip_bytes: bytes) -> str | None:
    """Creates a function from a suspicious zip; returns its name if flint accepted it (then it
    must be harmless), None if flint refused it with InvalidParameterValueException."""
    name = unique_name("hostile")
    response = raw.create_function(create_body(name, zip_bytes))
    if response.status_code == 201:
        return name
    assert_aws_error(response, 400, INVALID)
    return None


def slip_zip(entry: str) -> bytes:
    """A probe bootstrap plus one entry whose path tries to escape the extraction directory."""
    buffer = io.BytesIO(rust_zip("probe"))
    with zipfile.ZipFile(buffer, "a") as archive:
        info = zipfile.ZipInfo(entry)
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        archive.writestr(info, "escaped")
    return buffer.getvalue()


@pytest.mark.parametrize("style", ["relative", "absolute", "nested"])
def test_zip_slip_entries_do_not_escape(raw, lam, style):
    target = Path("/tmp") / f"flint-zip-slip-{uuid.uuid4().hex}"
    entry = {
        "relative": "../" * 32 + str(target).lstrip("/"),
        "absolute": str(target),
        "nested": "lib/../../" + "../" * 32 + str(target).lstrip("/"),
    }[style]
    name = created_or_refused(raw, lam, slip_zip(entry))
    if name is not None:
        # Extraction may happen at the first invoke.
        invoke(lam, name, {"action": "echo"})
        lam.delete_function(FunctionName=name)
    assert not target.exists(), f"zip entry {entry!r} was written outside the code directory"


def test_symlink_to_etc_passwd_does_not_expose_it(raw, lam):
    zip_bytes = zip_with_symlink(
        {"bootstrap": (stripped_binary("probe"), 0o755)},
        {"passwd": "/etc/passwd"},
    )
    name = created_or_refused(raw, lam, zip_bytes)
    if name is None:
        return
    env = invoke_ok(lam, name, {"action": "env"}).json
    read = invoke_ok(lam, name, {"action": "read", "path": f"{env['LAMBDA_TASK_ROOT']}/passwd"}).json
    lam.delete_function(FunctionName=name)
    assert "root:" not in read.get("content", ""), "the code directory holds a link to /etc/passwd"


def test_symlinked_directory_cannot_redirect_later_entries(raw, lam):
    outside = Path("/tmp") / f"flint-link-dir-{uuid.uuid4().hex}"
    outside.mkdir()
    try:
        buffer = io.BytesIO(
            zip_with_symlink({"bootstrap": (stripped_binary("probe"), 0o755)}, {"linked": str(outside)})
        )
        with zipfile.ZipFile(buffer, "a") as archive:
            info = zipfile.ZipInfo("linked/planted")
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, "planted")
        name = created_or_refused(raw, lam, buffer.getvalue())
        if name is not None:
            invoke(lam, name, {"action": "echo"})
            lam.delete_function(FunctionName=name)
        assert not (outside / "planted").exists(), "a zip entry was written through a symlink"
    finally:
        for child in outside.iterdir():
            child.unlink()
        outside.rmdir()


def bomb_zip() -> bytes:
    """300 MB of zeros deflated to about 300 KB: over the 250 MB unzipped limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bootstrap", b"#!/bin/sh\n")
        padding_info = zipfile.ZipInfo("padding")
        padding_info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(padding_info, "w", force_zip64=True) as padding:
            chunk = bytes(1 << 20)
            for _ in range(300):
                padding.write(chunk)
    return buffer.getvalue()


def test_zip_bomb_is_refused(raw):
    response = raw.create_function(create_body(unique_name("bomb"), bomb_zip()), timeout=120)
    assert_aws_error(response, 400, INVALID)


def test_zip_whose_header_understates_the_size_is_refused_or_harmless(raw, lam):
    # The central directory claims 10 bytes while the deflated stream holds 300 MB: extraction
    # has to count the bytes it writes, not trust the header.
    lied = lie_about_size(bytearray(bomb_zip()), b"padding", 10)
    name = created_or_refused(raw, lam, bytes(lied))
    if name is not None:
        invoke(lam, name, {})
        lam.delete_function(FunctionName=name)


def lie_about_size(data: bytearray, entry: bytes, size: int) -> bytearray:
    """Rewrites the uncompressed size of `entry` in its local and central headers (or in their
    zip64 extra fields when the 32-bit field says 0xFFFFFFFF)."""
    headers = ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24))
    index = data.find(entry)
    while index >= 0:
        for signature, header_size, size_offset in headers:
            start = index - header_size
            if start >= 0 and data[start : start + 4] == signature:
                field = start + size_offset
                if data[field : field + 4] == b"\xff\xff\xff\xff":
                    extra = index + len(entry)
                    assert data[extra : extra + 2] == b"\x01\x00", "expected a zip64 extra field"
                    data[extra + 4 : extra + 12] = size.to_bytes(8, "little")
                else:
                    data[field : field + 4] = size.to_bytes(4, "little")
        index = data.find(entry, index + len(entry))
    return data


def test_huge_environment_variable(raw):
    body = create_body(unique_name("hugeenv"), rust_zip("echo"))
    body["Environment"] = {"Variables": {"HUGE": "x" * 1_000_000}}
    assert_aws_error(raw.create_function(body, timeout=60), 400, "InvalidParameterValueException")


def test_huge_number_of_environment_variables(raw):
    body = create_body(unique_name("manyenv"), rust_zip("echo"))
    body["Environment"] = {"Variables": {f"K{i}": "v" for i in range(20_000)}}
    assert_aws_error(raw.create_function(body, timeout=60), 400, "InvalidParameterValueException")


def test_huge_description_and_handler(raw):
    body = create_body(unique_name("hugefields"), rust_zip("echo"))
    body["Description"] = "d" * 100_000
    assert_aws_error(raw.create_function(body), 400, INVALID)
    body = create_body(unique_name("hugefields"), rust_zip("echo"))
    body["Handler"] = "h" * 100_000
    assert_aws_error(raw.create_function(body), 400, INVALID)


def test_invoke_payload_over_6_mb_is_too_large(lam, make_function):
    name = make_function(rust_zip("echo"), label="big-req")["FunctionName"]
    payload = json.dumps({"blob": "a" * 7_000_000}).encode()
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=payload)
    client_error(excinfo, "RequestTooLargeException", 413)


def test_invoke_payload_under_6_mb_is_delivered(lam, make_function):
    name = make_function(rust_zip("echo"), label="5mb")["FunctionName"]
    payload = json.dumps({"blob": "b" * 5_000_000}).encode()
    result = invoke_ok(lam, name, payload=payload, tail=False)
    # lambda_runtime re-serialises the event, so compare values, not bytes.
    assert result.json == json.loads(payload)


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"\xff\xfe", b"{\"a\": 1", b"undefined"],
    ids=["broken", "binary", "truncated", "word"],
)
def test_invoke_with_invalid_json_payload(lam, make_function, payload):
    name = make_function(rust_zip("echo"), label="badjson")["FunctionName"]
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=payload)
    client_error(excinfo, "InvalidRequestContentException", 400)


def test_invoke_with_unknown_invocation_type(raw, make_function):
    name = make_function(rust_zip("echo"), label="badtype")["FunctionName"]
    response = raw.request(
        "POST",
        f"/2015-03-31/functions/{name}/invocations",
        data=b"{}",
        headers={"X-Amz-Invocation-Type": "Sometimes"},
    )
    assert_aws_error(response, 400, BAD_BODY)


def test_unknown_routes_answer_aws_shaped_errors(raw):
    for method, path in (
        ("GET", "/no/such/route"),
        ("DELETE", "/2015-03-31/functions"),
        ("PATCH", "/2015-03-31/functions/x"),
    ):
        response = raw.request(method, path)
        assert 400 <= response.status_code < 500, (method, path, response.status_code)


def test_many_bad_requests_in_a_row(raw):
    for index in range(200):
        response = raw.create_function(b"{" + str(index).encode())
        assert response.status_code == 400
