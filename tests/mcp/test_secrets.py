"""A secret given to ``aoetl mcp`` as a reference never comes back in any result.

The real PostgreSQL test server, a role of this module's with a password of its own: the
server gets the password in its environment, and every call names it ``${env:…}``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from psycopg import sql

from tests.helpers import REPO, mcp_error, mcp_everything, mcp_stdio
from tests.servers import Postgres

ROLE = "mcp_agent"
OTHER = "other-secret-4f9a1c"  # a variable the server never lets its clients use


@pytest.fixture(scope="module")
def agent_db(postgres: Postgres) -> Iterator[Postgres]:
    """Database mcp_tests, empty, and a role that owns what it loads there."""
    import psycopg

    db = postgres.database("mcp_tests")
    password = "pw-" + os.urandom(10).hex()
    with psycopg.connect(db.url(), autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        con.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(ROLE), sql.Literal(password)
            )
        )
        con.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(ROLE)))
        con.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(ROLE)))
        con.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(db.db), sql.Identifier(ROLE)
            )
        )
    yield Postgres(db.host, db.port, ROLE, password, db.db)


def test_a_secret_reference_never_comes_back(
    agent_db: Postgres, postgres: Postgres, tmp_path: Path
) -> None:
    shutil.copytree(REPO / "examples" / "sample_data", tmp_path / "data")
    password = agent_db.password
    where = f"{agent_db.host}:{agent_db.port}/{agent_db.db}"
    ref = f"postgresql://{ROLE}:${{env:AOETL_TEST_PW}}@{where}"
    literal = f"postgresql://{ROLE}:{password}@{where}"
    errlog = tmp_path / "stderr.log"
    shown: list[str] = []

    async def session() -> None:
        async with mcp_stdio(
            tmp_path,
            "--allow-write",
            "--allow-secret",
            "env:AOETL_TEST_PW",
            "--allow-secret",
            "env:NOPE",  # allowed, and unset: a run that fails on it
            env={"AOETL_TEST_PW": password, "AOETL_TEST_OTHER": OTHER},
            errlog=errlog,
        ) as client:

            async def call(name: str, args: dict[str, Any]) -> Any:
                result = await client.call_tool(name, args)
                shown.append(mcp_everything(result))
                if result.is_error and result.structured_content is None:
                    return mcp_error(result)
                return result.structured_content

            # A reference the server was not told to allow is refused before anything runs:
            # a client could otherwise send its value to a host of its choosing.
            for tool, args in (
                ("analyze", {"source": "data/${env:AOETL_TEST_OTHER}.csv"}),
                ("query", {"target": f"{ref}?application_name=${{env:AOETL_TEST_OTHER}}",
                           "sql": "SELECT current_setting('application_name')"}),
                ("run", {"pipeline": "source: ${env:AOETL_TEST_OTHER}\ntarget: x.duckdb\n"}),
            ):  # fmt: skip
                refused = await call(tool, args)
                assert refused == (
                    f"error: {tool}: ${{env:AOETL_TEST_OTHER}} is a secret this server does "
                    "not resolve for its clients; restart it with --allow-secret "
                    "'env:AOETL_TEST_OTHER' (or a glob such as 'env:*') to let them use it"
                ), refused
            ran = await call("run", {"source": "data", "target": ref})
            assert ran["status"] == "success", ran
            assert ran["tables"]["orders"]["target"].startswith(ref)
            loaded = ran["tables"]["orders"]["rows_loaded"]
            counted = await call("query", {"target": ref, "sql": "SELECT count(*) FROM orders"})
            assert counted["rows"] == [[loaded]]
            planned = await call("plan", {"source": "data", "target": ref})
            assert "${env:AOETL_TEST_PW}" in planned["pipeline_yaml"]
            details = await call("run_details", {"run_id": ran["run_id"]})
            assert details["run"]["target"] == ref
            assert len((await call("runs", {}))["runs"]) == 1
            await call("audit", {"run_id": ran["run_id"]})
            report = await call("analyze", {"source": ref})
            assert {"orders", "customers"} <= {r["name"] for r in report["resources"]}
            drawn = await call("sample", {"source": ref, "table": "customers", "rows": 3})
            assert len(drawn["records"]) == 3
            await call("profile", {"source": ref, "table": "orders", "depth": "quick"})
            await call("export_dag", {"pipeline": planned["pipeline_yaml"]})
            await call("run", {"source": "data", "target": ref, "dry_run": True})

            # Errors that name the target: a missing table, a wrong database, a wrong secret.
            failed = await call("query", {"target": ref, "sql": "SELECT * FROM nosuch"})
            assert "nosuch" in failed
            failed = await call("analyze", {"source": ref.replace(agent_db.db, "nosuchdb")})
            assert "nosuchdb" in failed
            unset = ref.replace("AOETL_TEST_PW", "NOPE")
            failed = await call("run", {"source": "data/products.json", "target": unset})
            # A run that ran and failed: its result, marked an error, and where to look next.
            assert failed["status"] == "failed" and "NOPE" in failed["error"], failed
            assert failed["next"] == f"call run_details with run_id {failed['run_id']} to see why"

            # A literal password in a URI is masked wherever the URI is shown.
            report = await call("analyze", {"source": literal})
            assert "***" in report["source"]
            elsewhere = literal.replace(agent_db.db, "nosuchdb")
            failed = await call("query", {"target": elsewhere, "sql": "SELECT 1"})
            assert "***" in failed
            # A superuser's session is refused: a statement could take back a read-only role.
            root = postgres.database(agent_db.db).url()
            failed = await call("query", {"target": root, "sql": "SELECT 1"})
            assert "connects as a superuser" in failed and "pg_read_all_data" in failed
            failed = await call("plan", {"source": "data", "target": literal})
            assert "***" in failed["pipeline_yaml"]
            resource = await client.read_resource("aoetl://runs/recent")
            shown.append(resource.model_dump_json())

    anyio.run(session)
    assert len(shown) >= 18
    leaked = [text[:300] for text in shown if password in text or OTHER in text]
    assert not leaked, leaked
    assert password not in errlog.read_text() and OTHER not in errlog.read_text()
