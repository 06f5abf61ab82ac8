"""What the benchmarks share: scratch folders, running aoetl, errors, uploads, free ports, and
importing a module a bench script's own name hides (bench/mcp.py, bench/profile.py)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _seaweed import S3Server
from _seaweed import free_port as free_port  # the port every bench's servers take

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "analysis"
AOETL = str(Path(sys.executable).with_name("aoetl"))
BUCKET = "bench"


def past_bench(name: str) -> Any:
    """The module ``name`` imported with bench/ off ``sys.path``: Python puts a script's folder
    first, where bench/mcp.py would stand for the ``mcp`` SDK and bench/profile.py for the
    standard library's ``profile`` (which ``cProfile`` imports)."""
    here = [p for p in sys.path if Path(p or ".").resolve() == HERE]
    sys.path[:] = [p for p in sys.path if p not in here]
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:0] = here


class Failed(Exception):
    """A part that could not run, with the reason to print."""


def fresh(name: str) -> Path:
    path = DATA / "scratch" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([AOETL, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise Failed(f"aoetl {args[0]} exited {done.returncode}: {said(done.stdout, done.stderr)}")
    return done


def said(stdout: str, stderr: str) -> str:
    """The error a failed aoetl command gave: its --json ``error``, else its last lines."""
    try:
        error = json.loads(stdout).get("error")
    except (ValueError, AttributeError):
        error = None
    if error:
        return str(error if not isinstance(error, dict) else error.get("message", error))
    return " | ".join((stderr or stdout).strip().splitlines()[-3:])


def upload(server: S3Server, folder: Path, prefix: str) -> int:
    """Every file under ``folder`` to s3://bench/prefix/…, 8 at a time; the bytes sent."""
    client = server.client()
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]

    def put(path: Path) -> int:
        client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder).as_posix()}")
        return path.stat().st_size

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(put, files))


def load() -> list[float]:
    """The load average (1, 5, 15 minutes): others' work on this shared machine."""
    return [round(x, 2) for x in os.getloadavg()]


def reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (
        f"{type(exc).__name__}: {text[0] if text else ''}"
        if not isinstance(exc, Failed)
        else str(exc)
    )
