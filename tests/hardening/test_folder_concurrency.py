"""Two writers of one table: the lock makes them take turns, and no committed row is lost.

The probe behind issue 11 ran two ``aoetl run`` processes into one table of a Parquet folder:
one died with a FileNotFoundError in 10 of 12 trials, and in 2 of 12 both exited 0 and the
table pointed to an empty folder (the seed's rows gone too).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from subprocess import CompletedProcess

import duckdb
import pytest

from tests.helpers import query, run_cli

# Twenty trials of two real processes racing: `make test-hardening`.
pytestmark = pytest.mark.soak

SEED = {1, 2}
LOADS = {"a": {10, 11, 12}, "b": {20, 21, 22, 23}}
BUSY = "is being written by another process"


@pytest.fixture
def seeded(work: Path) -> Path:
    """A folder target whose table ``t`` holds the seed rows, committed by aoetl."""
    (work / "seed.csv").write_text("id,src\n" + "".join(f"{i},seed\n" for i in sorted(SEED)))
    for name, ids in LOADS.items():
        (work / f"{name}.csv").write_text("id,src\n" + "".join(f"{i},{name}\n" for i in ids))
    done = run_cli("run", "seed.csv", "--to", "parquet:///lake0", "--table", "t", cwd=work)
    assert done.returncode == 0, done.stderr
    return work / "lake0"


def ids(lake: Path) -> list[int]:
    found = query(":memory:", f"SELECT id FROM read_parquet('{lake}/t/*.parquet') ORDER BY id")
    return [int(str(row[0])) for row in found]


def race(work: Path, lake: str, *extra: str) -> dict[str, CompletedProcess[str]]:
    """Both loads into ``lake``'s table t, started together as two ``aoetl run`` processes."""

    def load(name: str) -> CompletedProcess[str]:
        args = ("run", f"{name}.csv", "--to", f"parquet:///{lake}", "--table", "t")
        return run_cli(*args, "--name", name, *extra, cwd=work)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(LOADS, pool.map(load, LOADS), strict=True))


@contextmanager
def holding(folder: Path) -> Iterator[None]:
    """Hold the table's lock as another aoetl run would."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def test_two_writers_never_lose_rows(seeded: Path, work: Path) -> None:
    contended = 0
    for trial in range(20):
        lake = f"lake{trial + 1}"
        shutil.copytree(seeded, work / lake, symlinks=True)
        done = race(work, lake)
        codes = {name: p.returncode for name, p in done.items()}
        assert set(codes.values()) <= {0, 2} and 0 in codes.values(), (trial, done)
        expected = set(SEED)
        for name, proc in done.items():
            if proc.returncode == 0:
                expected |= LOADS[name]
            else:
                contended += 1
                lines = proc.stderr.strip().splitlines()
                assert len(lines) == 1 and BUSY in lines[0], (trial, proc.stderr)
                assert "--lock-timeout" in lines[0]
        assert ids(work / lake) == sorted(expected), (trial, codes)
        versions = list((work / lake / ".aoetl" / "t").iterdir())
        assert len(versions) == 1, (trial, versions)  # the loser left no half-made version
    print(f"20 trials: {contended} with a writer refused, 0 rows lost")


def test_with_lock_timeout_both_loads_land(seeded: Path, work: Path) -> None:
    for trial in range(3):
        lake = f"lake{trial + 1}"
        shutil.copytree(seeded, work / lake, symlinks=True)
        done = race(work, lake, "--lock-timeout", "60")
        assert [p.returncode for p in done.values()] == [0, 0], done
        assert ids(work / lake) == sorted(SEED | LOADS["a"] | LOADS["b"])


def test_a_held_table_fails_at_once_and_stays_as_it_was(seeded: Path, work: Path) -> None:
    link = os.readlink(seeded / "t")
    with holding(seeded / ".aoetl" / "t"):
        started = time.monotonic()
        done = run_cli("run", "a.csv", "--to", "parquet:///lake0", "--table", "t", cwd=work)
        assert time.monotonic() - started < 30  # no waiting (a CLI run is ~1 s)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: table 't' in parquet:///lake0 is being written by another process; let it "
        "finish and run again, or wait for it with --lock-timeout SECONDS"
    ]
    assert os.readlink(seeded / "t") == link
    assert ids(seeded) == sorted(SEED)
    assert len(list((seeded / ".aoetl" / "t").iterdir())) == 1


def test_lock_timeout_waits_for_the_other_writer(seeded: Path, work: Path) -> None:
    with holding(seeded / ".aoetl" / "t"):
        expired = run_cli(
            "run", "a.csv", "--to", "parquet:///lake0", "--table", "t", "--lock-timeout", "0.5",
            cwd=work,
        )  # fmt: skip
    assert expired.returncode == 2
    assert "still being written by another process after 0.5 s" in expired.stderr
    released = threading.Event()

    def hold_then_release() -> None:
        with holding(seeded / ".aoetl" / "t"):
            released.wait(1.5)

    holder = threading.Thread(target=hold_then_release)
    holder.start()
    time.sleep(0.2)
    waited = run_cli(
        "run", "a.csv", "--to", "parquet:///lake0", "--table", "t", "--lock-timeout", "30",
        cwd=work,
    )  # fmt: skip
    holder.join()
    assert waited.returncode == 0, waited.stderr
    assert ids(seeded) == sorted(SEED | LOADS["a"])


def test_duckdb_file_lock_timeout(work: Path) -> None:
    (work / "a.csv").write_text("id\n1\n2\n")
    db = work / "w.duckdb"
    duckdb.connect(str(db)).close()
    held = duckdb.connect(str(db))  # holds DuckDB's own lock on the file
    refused = run_cli("run", "a.csv", "--to", "duckdb:///w.duckdb", cwd=work)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "is open in another process" in lines[0], refused.stderr
    threading.Timer(1.5, held.close).start()
    waited = run_cli("run", "a.csv", "--to", "duckdb:///w.duckdb", "--lock-timeout", "30", cwd=work)
    assert waited.returncode == 0, waited.stderr
    assert query(db, "SELECT count(*) FROM a") == [(2,)]
