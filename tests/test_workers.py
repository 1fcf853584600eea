"""`flint serve --workers N`: several single-threaded event loops share the API's connections.

The shared server runs the default (one loop per two CPUs, one on a two-CPU machine), so the
hand-offs between loops (an invoke arriving on one loop for an environment served by another,
environments started by one loop and stopped at shutdown) are checked here on a server of
three loops.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import lambda_client
from support import (
    create_provided,
    invoke_ok,
    processes_of_function,
    rust_zip,
    wait_until,
)

WORKERS = 3


def thread_names(pid: int) -> list[str]:
    return [(task / "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir()]


def test_several_event_loops_serve_invokes_and_stop_cleanly(flint_factory):
    server = flint_factory("--workers", str(WORKERS))
    names = thread_names(server.process.pid)
    workers = sorted(name for name in names if name.startswith("flint-worker-"))
    assert workers == [f"flint-worker-{n}" for n in range(1, WORKERS)], names

    name = create_provided(lambda_client(server.endpoint), "workers", rust_zip("probe"))

    # Each thread has its own connection (its own client), so the calls land on every loop.
    clients = [lambda_client(server.endpoint) for _ in range(8)]

    def sleep_once(index: int) -> float:
        started = time.monotonic()
        reply = invoke_ok(clients[index], name, {"action": "sleep", "ms": 1000}).json
        assert reply == {"slept_ms": 1000}, reply
        return time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        took = list(pool.map(sleep_once, range(8)))
    assert time.monotonic() - started < 4, took

    def echo_many(index: int) -> int:
        for n in range(25):
            event = {"action": "echo", "client": index, "n": n}
            assert invoke_ok(clients[index], name, event).json == event
        return index

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(echo_many, range(8))) == list(range(8))

    assert processes_of_function(name)
    server.stop()
    assert not server.problems, server.problems
    wait_until(lambda: not processes_of_function(name), 5, "environments to stop with the server")
