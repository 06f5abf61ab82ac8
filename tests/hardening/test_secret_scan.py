"""Every secret shape in real runs against PostgreSQL: a literal password in a URL's userinfo,
in its query string and in a DSN, as a source and as a target, succeeding and failing, resumed
and replayed; then every byte aoetl wrote is searched for it.

Searched: stdout and stderr of every command, every file under the working directory (the
--monitor event files, the DuckDB warehouses, AOETL_HOME with state.db and its WAL), the rows
of state.db, and the bookkeeping tables (schema ``_aoetl``) of both targets.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest

from tests.helpers import run_cli
from tests.servers import Postgres

# About a minute of real runs: with the soak trials in `make test-hardening` (CI runs both),
# so `make test` stays within its budget. tests/face/test_redaction.py covers each face fast.
pytestmark = [pytest.mark.e2e, pytest.mark.soak]

ROLE = "aoetl_scan"


@pytest.fixture
def literal(postgres: Postgres) -> Iterator[str]:
    """A role whose password is the literal to hunt for, and a schema it can read."""
    password = "Lit-" + os.urandom(8).hex()
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute(f"DROP ROLE IF EXISTS {ROLE}")
        con.execute(
            psycopg.sql.SQL(f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD {{}}").format(
                psycopg.sql.Literal(password)
            )
        )
        con.execute(
            "DROP SCHEMA IF EXISTS secretscan CASCADE; CREATE SCHEMA secretscan; "
            "CREATE TABLE secretscan.items (id int PRIMARY KEY, name text); "
            "INSERT INTO secretscan.items SELECT g, 'item ' || g FROM generate_series(1, 40) g"
        )
    yield password
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute(
            "DROP SCHEMA IF EXISTS secretscan CASCADE; DROP SCHEMA IF EXISTS _aoetl CASCADE; "
            "DROP TABLE IF EXISTS public.scan_userinfo, public.scan_query"
        )
        con.execute(f"DROP ROLE IF EXISTS {ROLE}")


def _bookkeeping(rows: list[tuple[object, ...]]) -> str:
    return "\n".join(repr(r) for r in rows)


def test_a_literal_password_in_every_shape_is_written_nowhere(
    tmp_path: Path, postgres: Postgres, literal: str
) -> None:
    server = f"{postgres.host}:{postgres.port}"
    userinfo = f"postgresql://{ROLE}:{literal}@{server}/postgres"
    query = f"postgresql://{ROLE}@{server}/postgres?sslmode=disable&password={literal}"
    dsn = f"password={literal} host={postgres.host} port={postgres.port} dbname=postgres"
    (tmp_path / "orders.csv").write_text(
        "id,amount,note\n"
        + "".join(f"{i},{i}.5,ok\n" for i in range(30))
        # A ragged row quoting a connection string: it is quarantined, and masked in the DLQ.
        + f"99,1.0,postgresql://{ROLE}:{literal}@db/x,extra\n"
    )
    env = {"PGCONNECT_TIMEOUT": "5"}
    done: dict[str, subprocess.CompletedProcess[str]] = {}

    def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
        done[name] = run_cli(*args, cwd=tmp_path, env=env)
        return done[name]

    def ok(name: str, *args: str) -> None:
        proc = run(name, *args)
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"

    # As a source, each reader, into DuckDB; --monitor and --json on every one.
    for shape, url in (("userinfo", userinfo), ("query", query)):
        for reader in ("duckdb", "adbc", "sqlalchemy"):
            ok(
                f"source {shape} {reader}", "run", url, "--tables", "secretscan.*",
                "--reader", reader, "--to", f"duckdb:///{shape}.duckdb", "--mode", "replace",
                "--monitor", f"events-{shape}-{reader}.jsonl", "--json", "--fresh",
            )  # fmt: skip
    assert duckdb.connect(str(tmp_path / "query.duckdb"), read_only=True).execute(
        "SELECT count(*) FROM items"
    ).fetchone() == (40,)

    # As a target, with a quarantined row; a pipeline file holding the literal too.
    ok(
        "target userinfo", "run", "orders.csv", "--to", userinfo, "--table", "scan_userinfo",
        "--monitor", "events-target-userinfo.jsonl", "--json",
    )  # fmt: skip
    (tmp_path / "to_query.yaml").write_text(
        "source:\n  uri: orders.csv\n  table: scan_query\n"
        f"target: '{query}'\nmode: merge\nkey: id\n"
    )
    ok("target query", "run", "to_query.yaml", "--monitor", "events-target-query.jsonl")
    assert f"password={literal}" not in done["target query"].stdout
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        assert con.execute("SELECT count(*) FROM public.scan_query").fetchone() == (30,)

    # Failing runs: a database that does not exist (source and target), a DSN given where a
    # source goes, a table that does not exist.
    missing_db = userinfo.replace("/postgres", "/no_such_db")
    failing = {
        "fail source userinfo": ("run", missing_db, "--tables", "x.*", "--to", "f1.duckdb"),
        "fail source query": (
            "run", query.replace("/postgres", "/no_such_db"), "--tables", "x.*",
            "--reader", "adbc", "--to", "f2.duckdb", "--monitor", "events-fail.jsonl",
        ),
        "fail target query": (
            "run", "orders.csv", "--to", query.replace("/postgres", "/no_such_db"), "--json",
        ),
        "fail source dsn": ("run", dsn, "--to", "f3.duckdb", "--json"),
        "fail no table": ("run", userinfo, "--tables", "nowhere.*", "--to", "f4.duckdb"),
    }  # fmt: skip
    for name, args in failing.items():
        proc = run(name, *args)
        assert proc.returncode in (1, 2), f"{name}: {proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr, name
    # -v shows the (masked) traceback of the same failure.
    run("fail verbose", "-v", *failing["fail target query"])

    # The history, as a user reads it.
    listed = run("runs --json", "runs", "--json", "--limit", "100")
    records = json.loads(listed.stdout)
    assert len(records) == len(done) - 2  # every run but runs --json and the -v repeat
    for record in records:
        run(f"show {record['run_id']}", "runs", "--show", record["run_id"])
        run(f"show json {record['run_id']}", "runs", "--show", record["run_id"], "--json")
    run("dlq list", "dlq", "list", "--json")
    rows = [e for e in json.loads(done["dlq list"].stdout) if e["kind"] == "row"]
    assert rows, done["dlq list"].stdout
    run("dlq show", "dlq", "show", str(rows[0]["id"]))
    assert "postgresql://aoetl_scan:***@db/x" in done["dlq show"].stdout

    # A stored pipeline whose literal was masked cannot connect: one line saying why, exit 2.
    userinfo_run = next(r for r in records if r["target"] == "postgresql://aoetl_scan:***@"
                        f"{server}/postgres")  # fmt: skip
    for name, args in (
        ("resume", ("run", "--resume", userinfo_run["run_id"])),
        ("dlq replay", ("dlq", "replay", "--run", userinfo_run["run_id"])),
    ):
        proc = run(name, *args)
        assert proc.returncode == 2, f"{name}: {proc.stdout}{proc.stderr}"
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "holds *** where a secret goes" in lines[0], proc.stderr

    # Every byte: outputs, files (state.db, its WAL, warehouses, events), rows, bookkeeping.
    haystacks = {f"{name} (out)": p.stdout + p.stderr for name, p in done.items()}
    inputs = {"orders.csv", "to_query.yaml"}  # written by this test, not by aoetl
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in inputs]
    assert any(p.name == "state.db" for p in files)
    assert sum(p.name.startswith("events-") for p in files) == 9
    for path in files:
        haystacks[str(path.relative_to(tmp_path))] = path.read_bytes().decode("latin-1")
    state = sqlite3.connect(tmp_path / ".aoetl" / "state.db")
    for table in ("runs", "dlq"):
        haystacks[f"state.db {table}"] = _bookkeeping(
            state.execute(f"SELECT * FROM {table}").fetchall()
        )
    stored = [json.loads(s) for (s,) in state.execute("SELECT spec_json FROM runs")]
    state.close()
    for shape in ("userinfo", "query"):
        wh = duckdb.connect(str(tmp_path / f"{shape}.duckdb"), read_only=True)
        for (table,) in wh.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '_aoetl'"
        ).fetchall():
            haystacks[f"{shape}.duckdb _aoetl.{table}"] = _bookkeeping(
                wh.execute(f'SELECT * FROM _aoetl."{table}"').fetchall()
            )
        wh.close()
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '_aoetl'"
        ).fetchall()
        assert tables, "the PostgreSQL target keeps no bookkeeping"
        for (table,) in tables:
            haystacks[f"postgres _aoetl.{table}"] = _bookkeeping(
                con.execute(f'SELECT t::text FROM _aoetl."{table}" t').fetchall()
            )

    needles = (literal, literal[4:16])  # the whole literal, and a piece of it
    leaks = {
        name: text.count(needle)
        for name, text in haystacks.items()
        for needle in needles
        if needle in text
    }
    print(
        f"\nsecret scan: {len(done)} commands ({len(records)} runs), {len(haystacks)} "
        f"outputs, files and tables searched, {sum(leaks.values())} occurrences"
    )
    assert not leaks, leaks
    # What was stored is masked, not dropped: the history still says where each run went.
    assert {"postgresql://aoetl_scan:***@" + f"{server}/postgres", query.replace(
        literal, "***")} <= {s["target"]["uri"] for s in stored}  # fmt: skip
