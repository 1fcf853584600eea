"""Fixtures of flint's integration tests.

The tests drive a real `target/release/flint serve` with real clients (boto3, the AWS CLI, curl,
the `flint` CLI) and real function code (the `lambda_runtime` binaries `echo` and `probe` of
`crates/test-functions`, bash+curl bootstraps, Python handlers run by awslambdaric, Node
handlers). `scripts/test` builds the binaries and then runs `python3 -m pytest tests`.

Fixtures:

- `flint` (session): one server on a free port of 127.0.0.1 with a temporary data directory,
  ready when it printed `listening on http://127.0.0.1:PORT` and `GET /2015-03-31/functions`
  answered 200 (at most 20 s). It has `.endpoint`, `.port`, `.data_dir`, `.restart()` (SIGTERM,
  then start again on the same directory and port) and `.kill9()`. At the end it is stopped with
  SIGTERM; the session fails if the server panicked, did not stop cleanly, or could not start.
- `flint_factory` (function): starts extra servers (`flint_factory(*extra_serve_args)`) for tests
  that restart, kill or configure a server, so that they never disturb the shared one;
  `user=UID` runs one as that unprivileged user (rootless isolation).
- `lam`: a boto3 Lambda client for the shared server (us-east-1, dummy keys, no retries,
  120 s read timeout). `lambda_client(endpoint, region)` builds others.
- `raw`: a `support.RawApi` for unsigned requests botocore would refuse to send.
- `make_function`: creates a function with a unique name (`make_function(zip_bytes, **fields)`)
  and deletes it when the test ends; returns the CreateFunction answer.

When a test fails, the lines the servers logged during that test are attached to the report.
When the session ends, any process of a function of this run that outlived its server is
reported (the session fails) and ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import botocore.config
import pytest
import requests

from support import (
    DUMMY_KEY_ID,
    DUMMY_SECRET,
    REGION,
    ROLE_ARN,
    RawApi,
    end_processes,
    processes_of_this_run,
    release_binary,
    unique_name,
)

READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 15

# A variable set only in flint's own environment: functions must not inherit it.
HOST_MARKER = ("FLINT_TEST_HOST_MARKER", "host-" + uuid.uuid4().hex)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if pytest dies, the server gets SIGTERM, so an
    interrupted run leaves no server behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FlintServer:
    """One `flint serve` process (restartable) on a fixed port and data directory.

    With `user` (a uid whose group id is the same number, like nobody's), the server runs as that
    unprivileged user: `flint` and `flint-jail` are copied next to the data directory, where
    that user can reach them, and the data directory is given to it."""

    def __init__(self, root: Path, extra_args: tuple[str, ...] = (), user: int | None = None):
        self.binary = release_binary("flint")
        self.user = user
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.data_dir = root / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            root.chmod(0o755)
            bin_dir = root / "bin"
            bin_dir.mkdir(mode=0o755, exist_ok=True)
            for name in ("flint", "flint-jail"):
                shutil.copy2(release_binary(name), bin_dir / name)
            self.binary = bin_dir / "flint"
            os.chown(self.data_dir, user, user)
        self.log_path = root / "flint.log"
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.problems: list[str] = []

    def start(self) -> None:
        """Starts the server and waits until it is ready; fails the test otherwise."""
        assert self.process is None, "server already running"
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        if self.user is not None:
            env["HOME"] = str(self.data_dir)
        env[HOST_MARKER[0]] = HOST_MARKER[1]
        command = [
            str(self.binary),
            "serve",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                preexec_fn=_die_with_parent,
                **self._identity(),
            )
        announcement = f"listening on http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                pytest.fail(
                    f"flint serve exited with {code} before it was ready:\n{self.log_since(offset)}",
                    pytrace=False,
                )
            if announcement in self.log_since(offset) and self._answers():
                return
            if time.monotonic() > deadline:
                self.kill9()
                pytest.fail(
                    f"flint serve was not ready within {READY_TIMEOUT_S} s (expected a line "
                    f"containing {announcement!r} and GET /2015-03-31/functions -> 200):\n"
                    f"{self.log_since(offset)}",
                    pytrace=False,
                )
            time.sleep(0.05)

    def _identity(self) -> dict[str, Any]:
        """Popen's arguments that start a process as this server's user."""
        if self.user is None:
            return {}
        return {"user": self.user, "group": self.user, "extra_groups": []}

    def run_as_user(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Runs this server's `flint` with `args` as the server's user."""
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            **self._identity(),
        )

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.endpoint}/2015-03-31/functions", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        """SIGTERM; records a problem if the server does not exit with status 0 in time."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self.problems.append(f"flint serve did not stop within {STOP_TIMEOUT_S} s of SIGTERM")
        else:
            if code != 0:
                self.problems.append(f"flint serve exited with status {code} after SIGTERM")
        self.process = None

    def kill9(self) -> None:
        """SIGKILL, as a crash or power loss would."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stops the server (SIGTERM) if it runs, then starts it on the same port and data."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log_since(0)

    def log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def finish(self) -> list[str]:
        """Stops the server and returns every problem seen: unclean stops and panics."""
        self.stop()
        problems = list(self.problems)
        log = self.log_text()
        if "panicked at" in log:
            lines = log.splitlines()
            first = next(i for i, line in enumerate(lines) if "panicked at" in line)
            excerpt = "\n".join(lines[max(0, first - 5) : first + 20])
            problems.append(f"flint panicked ({self.log_path}):\n{excerpt}")
        return problems


# Every server started in this session, so that failing tests can show what they logged.
_SERVERS: list[FlintServer] = []


@contextlib.contextmanager
def own_server(prefix: str, *extra_args: str, user: int | None = None) -> Iterator[FlintServer]:
    """A server of a test module's own (for a module-scoped fixture): started on a temporary
    data directory, stopped at the end; fails the module if it panicked or did not stop
    cleanly."""
    with tempfile.TemporaryDirectory(prefix=prefix) as root:
        flint = FlintServer(Path(root), tuple(extra_args), user=user)
        _SERVERS.append(flint)
        try:
            flint.start()
            yield flint
        finally:
            problems = flint.finish()
            _SERVERS.remove(flint)
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


def lambda_client(endpoint: str, region: str = REGION, **config: Any):
    """A boto3 Lambda client for `endpoint` with dummy keys and no retries."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=DUMMY_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET,
        config=botocore.config.Config(
            # One attempt only: a retry would hide server errors and could invoke twice.
            retries={"total_max_attempts": 1, "mode": "standard"},
            read_timeout=120,
            connect_timeout=5,
            max_pool_connections=32,
            **config,
        ),
    )


def logs_client(endpoint: str, region: str = REGION):
    """A boto3 CloudWatch Logs client for `endpoint` (flint serves it on `POST /`)."""
    return boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=DUMMY_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET,
        config=botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            read_timeout=60,
            connect_timeout=5,
        ),
    )


@pytest.fixture(scope="session")
def flint() -> Iterator[FlintServer]:
    with own_server("flint-it-") as server:
        yield server


@pytest.fixture
def flint_factory() -> Iterator[Callable[..., FlintServer]]:
    roots: list[tempfile.TemporaryDirectory[str]] = []
    servers: list[FlintServer] = []

    def start(*extra_args: str, user: int | None = None) -> FlintServer:
        root = tempfile.TemporaryDirectory(prefix="flint-it-own-")
        roots.append(root)
        server = FlintServer(Path(root.name), tuple(extra_args), user=user)
        servers.append(server)
        _SERVERS.append(server)
        server.start()
        return server

    yield start
    problems = []
    for server in servers:
        problems += server.finish()
        _SERVERS.remove(server)
    for root in roots:
        root.cleanup()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def lam(flint: FlintServer):
    return lambda_client(flint.endpoint)


@pytest.fixture(scope="session")
def logs(flint: FlintServer):
    return logs_client(flint.endpoint)


@pytest.fixture(scope="session")
def raw(flint: FlintServer) -> RawApi:
    return RawApi(flint.endpoint)


@pytest.fixture
def make_function(lam) -> Iterator[Callable[..., dict[str, Any]]]:
    created: list[tuple[Any, str]] = []

    def create(
        zip_bytes: bytes,
        *,
        label: str = "fn",
        runtime: str = "provided.al2023",
        handler: str = "bootstrap",
        client: Any = None,
        **fields: Any,
    ) -> dict[str, Any]:
        client = client or lam
        name = fields.pop("FunctionName", None) or unique_name(label)
        config = client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE_ARN,
            Handler=handler,
            Code={"ZipFile": zip_bytes},
            **fields,
        )
        created.append((client, name))
        return config

    yield create
    for client, name in created:
        try:
            client.delete_function(FunctionName=name)
        except client.exceptions.ResourceNotFoundException:
            pass


# ----------------------------------------------------------------------------------------------
# Reporting: attach what the servers logged during a failing test.


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_LOG_OFFSETS] = {id(server): server.log_size() for server in _SERVERS}


_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    offsets = item.stash.get(_LOG_OFFSETS, {})
    for server in _SERVERS:
        text = server.log_since(offsets.get(id(server), 0))
        if text.strip():
            report.sections.append((f"flint log {server.endpoint}", text[-8000:]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fails the session if function processes outlived the servers, and ends them."""
    deadline = time.monotonic() + 5
    leftover = processes_of_this_run()
    while leftover and time.monotonic() < deadline:
        time.sleep(0.2)
        leftover = processes_of_this_run()
    if not leftover:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"function processes outlived their flint server (pids {leftover}); ending them"
    if reporter is not None:
        reporter.write_line(message, red=True)
    end_processes(leftover)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
