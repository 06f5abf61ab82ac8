"""A literal password in a URI is masked where aoetl stores or prints it: the stored spec
(state.db), ``aoetl runs`` and its ``--json`` and ``--show``, ``--json`` run results,
``--monitor`` events, the dead-letter queue and the Python API's run records."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg

from agent_orchestrated_etl import DataOrchestrator
from tests.helpers import run_cli
from tests.servers import Postgres

PASSWORD = "hunter2pw"  # pragma: allowlist secret
ROLE = "aoetl_face"


def test_a_literal_password_is_masked_wherever_it_is_stored_or_printed(
    tmp_path: Path, postgres: Postgres
) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute(f"DROP ROLE IF EXISTS {ROLE}")
        con.execute(f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
        con.execute(
            "DROP TABLE IF EXISTS public.face_src, public.face_orders;"
            "CREATE TABLE public.face_src (id int PRIMARY KEY, name text);"
            "INSERT INTO public.face_src SELECT g, 'n' || g FROM generate_series(1, 5) g"
        )
    url = f"postgresql://{ROLE}:{PASSWORD}@{postgres.host}:{postgres.port}/postgres"
    (tmp_path / "orders.csv").write_text("id,amount\n1,2.5\n2,3.5\n3,1.0,extra\n")
    done: dict[str, subprocess.CompletedProcess[str]] = {}

    def cli(name: str, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done[name] = proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == code, f"{name}: {proc.stdout}{proc.stderr}"
        return proc

    cli("as target", "run", "orders.csv", "--to", url, "--table", "face_orders",
        "--json", "--monitor", "events-target.jsonl")  # fmt: skip
    cli("as source", "run", url, "--tables", "public.face_src", "--to", "w.duckdb",
        "--json", "--monitor", "events-source.jsonl")  # fmt: skip
    cli("runs", "runs")
    records = json.loads(cli("runs --json", "runs", "--json").stdout)
    assert len(records) == 2
    target_run = next(r for r in records if r["pipeline"] == "orders")
    assert target_run["target"] == url.replace(PASSWORD, "***")
    for r in records:
        cli(f"show {r['run_id']}", "runs", "--show", r["run_id"])
        shown = json.loads(cli(f"show json {r['run_id']}", "runs", "--show", r["run_id"],
                               "--json").stdout)  # fmt: skip
        assert "***" in shown["run"]["spec_json"]
    dlq = json.loads(cli("dlq list", "dlq", "list", "--json").stdout)
    assert [e["line"] for e in dlq] == [4]

    # A resume has only the masked spec: one line saying what to give instead, exit 2.
    resumed = cli("resume", "run", "--resume", target_run["run_id"], "--fresh", code=2)
    assert len(resumed.stderr.strip().splitlines()) == 1, resumed.stderr
    assert "holds *** where a secret goes" in resumed.stderr, resumed.stderr
    assert "${env:" in resumed.stderr, resumed.stderr

    python = repr(DataOrchestrator(home=tmp_path / ".aoetl").runs())
    haystacks = {name: p.stdout + p.stderr for name, p in done.items()}
    haystacks["python runs()"] = python
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "orders.csv":
            haystacks[str(path.relative_to(tmp_path))] = path.read_bytes().decode("latin-1")
    assert any(name.endswith("state.db") for name in haystacks)
    assert {"events-target.jsonl", "events-source.jsonl"} <= set(haystacks)
    leaks = [name for name, text in haystacks.items() if PASSWORD in text]
    assert not leaks, f"the password is in: {leaks}"
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        assert con.execute("SELECT count(*) FROM public.face_orders").fetchone() == (2,)
        con.execute("DROP TABLE IF EXISTS public.face_src, public.face_orders")
        con.execute("DROP SCHEMA IF EXISTS _aoetl CASCADE")
        con.execute(f"DROP ROLE IF EXISTS {ROLE}")
