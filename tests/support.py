"""Helpers shared by flint's integration tests: names, zips, function code, invoke decoding,
raw HTTP requests, log-line patterns and process checks. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
RELEASE_DIR = REPO_ROOT / "target" / "release"
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/flint-tests"
DUMMY_KEY_ID = "AKIAFLINTTESTS000000"
DUMMY_SECRET = "flint-tests-secret"

# Every function a test creates carries this prefix, so a test can find the processes of the
# functions of this run (see `processes_of_function`).
NAME_PREFIX = "it" + uuid.uuid4().hex[:6]

LAST_MODIFIED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LOG_STREAM = re.compile(r"^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$")
TRACE_ID = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}(;|$)")


# ----------------------------------------------------------------------------------------------
# Binaries and names


def release_binary(name: str) -> Path:
    """Path of `target/release/NAME`; fails the test with the command that builds it."""
    path = RELEASE_DIR / name
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: run scripts/test (it builds flint and the test functions "
            "with `cargo build --release -p flint -p test-functions -p test-extensions` before "
            "running pytest)",
            pytrace=False,
        )
    return path


def unique_name(label: str) -> str:
    """A function name no other test uses: `<run prefix>-<label>-<random>`, at most 64 chars."""
    name = f"{NAME_PREFIX}-{label}-{uuid.uuid4().hex[:8]}"
    assert len(name) <= 64, name
    return name


# ----------------------------------------------------------------------------------------------
# Zips


def zip_files(files: dict[str, Any]) -> bytes:
    """Builds a zip in memory.

    Each value is the content (`str` or `bytes`, mode 0o644) or a `(content, mode)` tuple, e.g.
    ``zip_files({"bootstrap": (script, 0o755)})``.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in files.items():
            content, mode = value if isinstance(value, tuple) else (value, 0o644)
            if isinstance(content, str):
                content = content.encode()
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that the mode bits below are honoured.
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def zip_with_symlink(files: dict[str, Any], links: dict[str, str]) -> bytes:
    """Like `zip_files`, plus symlink entries `name -> target` (stored the way `zip -y` does)."""
    buffer = io.BytesIO(zip_files(files))
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, target in links.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def sha256_b64(data: bytes) -> str:
    """`CodeSha256` as Lambda reports it: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@functools.cache
def stripped_binary(name: str) -> bytes:
    """The release binary `name` without debug info (smaller zips, faster tests)."""
    source = release_binary(name)
    strip = shutil.which("strip")
    if strip is None:
        return source.read_bytes()
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / name
        shutil.copyfile(source, copy)
        subprocess.run([strip, "--strip-debug", str(copy)], check=True, timeout=60)
        return copy.read_bytes()


@functools.cache
def rust_zip(name: str) -> bytes:
    """A zip whose `bootstrap` is the `lambda_runtime` binary `echo` or `probe`."""
    return zip_files({"bootstrap": (stripped_binary(name), 0o755)})


# ----------------------------------------------------------------------------------------------
# Function code: bash + curl bootstraps, Python and Node handlers


# The custom-runtime tutorial of the Lambda developer guide, unchanged except for bash instead of
# sh (`set -o pipefail` is not POSIX): it loads `<handler file>.sh` and calls `<handler function>`.
TUTORIAL_BOOTSTRAP = r"""#!/bin/bash
set -euo pipefail

# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)

  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")

  # Send the response
  curl "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response"  -d "$RESPONSE"
done
"""

TUTORIAL_HANDLER = r"""function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"

  echo $RESPONSE
}
"""


def bash_runtime(body: str, init: str = "") -> str:
    """A bash bootstrap: runs `init` once, then for every event runs `body` with `$ID` (request
    id), `$EVENT` (payload), `$HEADERS` (file with the `/next` response headers) and `$API`
    (`http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime`) set; `respond DATA` posts a response."""
    return f"""#!/bin/bash
set -uo pipefail
API="http://${{AWS_LAMBDA_RUNTIME_API}}/2018-06-01/runtime"
respond() {{ curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" --data-binary "$1"; }}
{init}
while true; do
  HEADERS="/tmp/next-headers-$$"
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
{body}
done
"""


def bash_zip(bootstrap: str, extra: dict[str, Any] | None = None) -> bytes:
    return zip_files({"bootstrap": (bootstrap, 0o755), **(extra or {})})


# An external extension that leaves its pid in /tmp/from-ext before it registers (for the tests
# that show a function and its extensions share one environment).
SHARING_EXTENSION = r"""#!/bin/bash
set -uo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
echo "$$" > /tmp/from-ext
HEADERS="$(mktemp)"
curl -sS -D "$HEADERS" -o /dev/null -X POST "$API/register" -H "Lambda-Extension-Name: share-ext" -d '{"events":["INVOKE"]}'
ID=$(grep -Fi Lambda-Extension-Identifier "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
while true; do curl -sS -o /dev/null "$API/event/next" -H "Lambda-Extension-Identifier: $ID"; done
"""

# A function that reads what the extension left in /tmp and looks for that process.
SHARING_FUNCTION = bash_zip(
    bash_runtime(
        body="""  PID=$(cat /tmp/from-ext 2>/dev/null || echo none)
  if tr '\\0' ' ' < "/proc/$PID/cmdline" 2>/dev/null | grep -q share-ext; then SEEN=yes; else SEEN=no; fi
  respond "{\\"pid\\": \\"$PID\\", \\"seen\\": \\"$SEEN\\", \\"me\\": \\"$$\\"}"
"""
    )
)


# ----------------------------------------------------------------------------------------------
# Invoking


@dataclass
class Invocation:
    """What `Invoke` answered, decoded."""

    status: int
    payload: bytes
    function_error: str | None
    log_tail: str | None
    executed_version: str | None
    request_id: str
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.payload)


def invoke(
    lam,
    name: str,
    event: Any = None,
    *,
    payload: bytes | None = None,
    tail: bool = True,
    **kwargs: Any,
) -> Invocation:
    """Invokes synchronously (`RequestResponse` unless `InvocationType` is given) and decodes the
    answer. `event` is JSON-encoded; `payload` is sent as is."""
    if payload is None:
        payload = json.dumps({} if event is None else event).encode()
    response = lam.invoke(
        FunctionName=name,
        Payload=payload,
        LogType="Tail" if tail else "None",
        **kwargs,
    )
    log_result = response.get("LogResult")
    return Invocation(
        status=response["StatusCode"],
        payload=response["Payload"].read(),
        function_error=response.get("FunctionError"),
        log_tail=base64.b64decode(log_result).decode("utf-8", "replace") if log_result else None,
        executed_version=response.get("ExecutedVersion"),
        request_id=response["ResponseMetadata"]["RequestId"],
        headers=response["ResponseMetadata"]["HTTPHeaders"],
    )


def invoke_ok(lam, name: str, event: Any = None, **kwargs: Any) -> Invocation:
    """Invokes and asserts that the function succeeded."""
    result = invoke(lam, name, event, **kwargs)
    assert result.status == 200, result
    assert result.function_error is None, result
    return result


# ----------------------------------------------------------------------------------------------
# Log lines


@dataclass
class Report:
    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None
    line: str


REPORT_LINE = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d{2}) ms"
    r"\tBilled Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB"
    r"\tMax Memory Used: (?P<max_memory>\d+) MB"
    r"(?:\tInit Duration: (?P<init>\d+\.\d{2}) ms)?(?P<rest>.*)$",
    re.MULTILINE,
)


def start_line(request_id: str, version: str = "$LATEST") -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_of(log: str, request_id: str) -> Report:
    """Parses the REPORT line of `request_id` in `log`; fails the test if there is none."""
    for match in REPORT_LINE.finditer(log):
        if match["id"] == request_id:
            return Report(
                request_id=match["id"],
                duration_ms=float(match["duration"]),
                billed_ms=int(match["billed"]),
                memory_mb=int(match["memory"]),
                max_memory_mb=int(match["max_memory"]),
                init_ms=float(match["init"]) if match["init"] else None,
                line=match[0],
            )
    pytest.fail(f"no well-formed REPORT line for {request_id} in log:\n{log}")


def tail_request_id(tail: str) -> str:
    """The request id of the START line of a log tail."""
    match = re.search(r"START RequestId: ([0-9a-f-]{36}) Version: ", tail)
    assert match, f"no START line in tail:\n{tail}"
    return match[1]


# ----------------------------------------------------------------------------------------------
# Raw HTTP, for requests botocore refuses to send (it validates some ranges client-side)


class RawApi:
    """Unsigned HTTP requests to flint's Lambda API."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.endpoint + path, **kwargs)

    def create_function(self, body: Any, **kwargs: Any) -> requests.Response:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.request(
            "POST",
            "/2015-03-31/functions",
            data=data,
            headers={"Content-Type": "application/json"},
            **kwargs,
        )


def create_provided(client, label: str, zip_bytes: bytes, **fields: Any) -> str:
    """Creates a `provided.al2023` function named `unique_name(label)` with a boto3 `client`,
    `fields` added to the request; returns its name."""
    name = unique_name(label)
    client.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=ROLE_ARN,
        Handler="bootstrap",
        Code={"ZipFile": zip_bytes},
        **fields,
    )
    return name


def create_body(name: str, zip_bytes: bytes, **fields: Any) -> dict[str, Any]:
    """A CreateFunction JSON body for a `provided.al2023` function, with `fields` merged in."""
    body: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Role": ROLE_ARN,
        "Handler": "bootstrap",
        "Code": {"ZipFile": base64.b64encode(zip_bytes).decode()},
    }
    body.update(fields)
    return body


def assert_aws_error(
    response: requests.Response,
    status: int,
    error_types: str | tuple[str, ...],
    message_contains: str | tuple[str, ...] = (),
) -> dict[str, Any]:
    """Asserts that `response` is an AWS REST-JSON error of one of `error_types` with HTTP
    `status`, a request id and a message containing each of `message_contains`
    (case-insensitive); returns the error body."""
    if isinstance(error_types, str):
        error_types = (error_types,)
    if isinstance(message_contains, str):
        message_contains = (message_contains,)
    assert response.status_code == status, (response.status_code, response.headers, response.text)
    error_type = response.headers.get("x-amzn-ErrorType", "").split(":")[0]
    assert error_type in error_types, (error_type, response.text)
    assert response.headers.get("x-amzn-RequestId"), response.headers
    body = response.json()
    message = body.get("message") or body.get("Message") or ""
    assert message, body
    for fragment in message_contains:
        assert fragment.lower() in message.lower(), (fragment, message)
    return body


def client_error(excinfo: pytest.ExceptionInfo, code: str, status: int) -> str:
    """Checks a botocore `ClientError` and returns its message."""
    error = excinfo.value.response
    assert error["Error"]["Code"] == code, error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status, error
    assert error["ResponseMetadata"].get("RequestId"), error
    return error["Error"].get("Message", "")


# ----------------------------------------------------------------------------------------------
# Processes and waiting


def _function_processes(matches: Callable[[bytes], bool]) -> list[int]:
    """Pids of live processes whose `AWS_LAMBDA_FUNCTION_NAME` satisfies `matches`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        for variable in environ.split(b"\0"):
            if variable.startswith(b"AWS_LAMBDA_FUNCTION_NAME=") and matches(variable.split(b"=", 1)[1]):
                pids.append(int(entry.name))
                break
    return pids


def processes_of_function(name: str) -> list[int]:
    """Pids of live processes whose environment says they belong to function `name`."""
    return _function_processes(lambda value: value == name.encode())


def processes_of_this_run() -> list[int]:
    """Pids of live processes of any function this test run created."""
    return _function_processes(lambda value: value.startswith(NAME_PREFIX.encode()))


def end_processes(pids: list[int]) -> None:
    """Ends processes this run's servers left behind: thaws their cgroup-v1 freezer first (a
    frozen task does not die until thawed), then sends SIGKILL to each pid."""
    for pid in pids:
        try:
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        for line in cgroups.splitlines():
            _, controllers, path = line.split(":", 2)
            if "freezer" in controllers.split(","):
                state = Path("/sys/fs/cgroup/freezer") / path.lstrip("/") / "freezer.state"
                try:
                    state.write_text("THAWED")
                except OSError:
                    pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Polls `predicate` until it returns a truthy value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def aws_cli_env(region: str = REGION) -> dict[str, str]:
    """Environment for `aws` subprocesses: dummy credentials, a region, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=DUMMY_KEY_ID,
        AWS_SECRET_ACCESS_KEY=DUMMY_SECRET,
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_PAGER="",
    )
    return env


# ----------------------------------------------------------------------------------------------
# The flint CLI


@functools.cache
def _endpoint_goes_after_subcommand() -> bool:
    """Whether `--endpoint` is an option of the client subcommands (else of `flint` itself)."""
    flint = str(release_binary("flint"))
    sub = subprocess.run([flint, "ls", "--help"], capture_output=True, text=True, timeout=30)
    if "--endpoint" in sub.stdout:
        return True
    top = subprocess.run([flint, "--help"], capture_output=True, text=True, timeout=30)
    if "--endpoint" in top.stdout:
        return False
    pytest.fail(f"neither `flint ls --help` nor `flint --help` mentions --endpoint:\n{sub.stdout}\n{top.stdout}")


def run_flint(endpoint: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs a client command of the `flint` CLI against `endpoint`."""
    flint = str(release_binary("flint"))
    if _endpoint_goes_after_subcommand():
        command = [flint, args[0], "--endpoint", endpoint, *args[1:]]
    else:
        command = [flint, "--endpoint", endpoint, *args]
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
