"""The loopback shortcut: as root, `flint serve` moves the messages of local connections to its
API (and to each environment's Runtime API) past the TCP stack, while the connections stay TCP
connections to their ends. Seen from a client's own socket: how many segments TCP sent.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct

import pytest

from conftest import lambda_client
from support import create_provided, rust_zip

# `tcpi_segs_out` in `struct tcp_info` (linux/tcp.h): 8 one-byte fields, 24 u32, 4 u64.
TCPI_SEGS_OUT = 136
INVOKES = 50

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the loopback shortcut needs root")


def segments_sent(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("I", info, TCPI_SEGS_OUT)[0]


def invoke_many(endpoint: str, name: str) -> int:
    """Invokes `name` INVOKES times over one keep-alive connection, checks every answer and
    returns how many segments the client's socket sent."""
    host, port = endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for n in range(INVOKES):
            event = {"action": "echo", "n": n}
            connection.request(
                "POST", f"/2015-03-31/functions/{name}/invocations", body=json.dumps(event)
            )
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, body
            assert json.loads(body) == event
        return segments_sent(connection.sock)
    finally:
        connection.close()


def test_local_invokes_send_no_tcp_segments_after_the_handshake(flint, lam):
    name = create_provided(lam, "loopback", rust_zip("probe"))
    sent = invoke_many(flint.endpoint, name)
    assert sent < 10, f"{INVOKES} invokes sent {sent} TCP segments"


def test_without_the_shortcut_tcp_carries_every_request(flint_factory):
    server = flint_factory("--no-loopback-shortcut")
    name = create_provided(lambda_client(server.endpoint), "plain-tcp", rust_zip("probe"))
    sent = invoke_many(server.endpoint, name)
    assert sent >= INVOKES, f"{INVOKES} invokes sent {sent} TCP segments"
