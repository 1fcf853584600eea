#!/usr/bin/env python3
"""Idle warm environments per GiB: deploys N copies of the Rust echo on a running flint, invokes
each once so each keeps one idle (frozen) environment, and divides the growth of the host's used
memory (MemTotal - MemAvailable, so page tables, slab and network namespaces count) by N.

    python3 scripts/density.py [--endpoint URL] [--count N] [--echo PATH]

The echo is `target/release/echo` (`cargo build --release -p test-functions`).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import time
import zipfile

import boto3
from botocore.config import Config


def used_kib() -> int:
    fields = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            key, value = line.split(":")
            fields[key] = int(value.split()[0])
    return fields["MemTotal"] - fields["MemAvailable"]


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def settle() -> int:
    """Used memory once it stops moving (freezes, log flushes), as the median of 5 reads."""
    time.sleep(2)
    reads = []
    for _ in range(5):
        reads.append(used_kib())
        time.sleep(0.4)
    return sorted(reads)[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", default="http://127.0.0.1:9000")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--echo", default="target/release/echo")
    args = parser.parse_args()
    client = boto3.client(
        "lambda", endpoint_url=args.endpoint, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        with open(args.echo, "rb") as echo:
            archive.writestr(info, echo.read())
    code = buffer.getvalue()
    prefix = f"density-{os.getpid()}"
    names = [f"{prefix}-{n}" for n in range(args.count)]
    for name in names:
        client.create_function(
            FunctionName=name, Runtime="provided.al2023", Handler="x", MemorySize=128,
            Role="arn:aws:iam::000000000000:role/x", Code={"ZipFile": code},
        )
    before = settle()
    for name in names:
        answer = client.invoke(FunctionName=name, Payload=b'{"n":1}')
        assert json.loads(answer["Payload"].read()) == {"n": 1}, name
    after = settle()
    runtimes = sum(
        1 for pid in os.listdir("/proc") if pid.isdigit() and _comm(pid) == "bootstrap"
    )
    per_env_kib = (after - before) / args.count
    print(f"{args.count} idle warm environments: used memory {before / 1024:.0f} -> "
          f"{after / 1024:.0f} MiB, {per_env_kib:.0f} KiB each, "
          f"{1024 * 1024 / per_env_kib:.0f} per GiB ({runtimes} runtime processes alive)")
    for name in names:
        client.delete_function(FunctionName=name)


if __name__ == "__main__":
    main()
