"""The shared PostgreSQL store as deployments meet it: idle connections the server drops,
URLs whose password holds special characters, libpq options kept as written, a schema made
for a user without CREATE on the database, bad option values, and one resolution of a
referenced URL per process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.state import DlqEntry, StateStore
from tests.helpers import run_cli
from tests.servers import Postgres


@pytest.fixture(scope="module")
def idle_pg(postgres: Postgres) -> Postgres:
    """A database whose sessions the server ends after 200 ms idle (idle_session_timeout)."""
    pg = postgres.database("state_idle")
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute("ALTER DATABASE state_idle SET idle_session_timeout = '200ms'")
    return pg


def _backend_pid(store: StateStore) -> int:
    with store._connect() as con:
        return int(con.execute("SELECT pg_backend_pid()").fetchone()[0])


def test_a_connection_the_server_ended_while_idle_is_replaced(
    idle_pg: Postgres, tmp_path: Path
) -> None:
    url = idle_pg.url() + "?schema=idle_" + os.urandom(4).hex()
    store = StateStore(tmp_path, url=url)
    store.start_run("r", "p", "t")
    first = _backend_pid(store)
    for call in (
        lambda: store.start_run("r", "p", "t"),  # a transaction
        lambda: store.add_dlq("r", [DlqEntry("t", "f.csv", 1, "bad", b"x")]),  # executemany
        lambda: store.runs(),  # a read
    ):
        time.sleep(0.3)  # the server ends the session meanwhile (SQLSTATE 57P05)
        call()
    assert _backend_pid(store) != first
    (run,) = store.runs()
    assert (run.attempts, len(store.dlq_entries("r"))) == (2, 1)


@pytest.mark.parametrize(
    "password", ["pa/ss-w0rd", "pa#ss-w0rd", "pa?ss-w0rd", "p@ss-w0rd", "pa:ss w0rd"]
)
def test_a_password_with_special_characters_is_never_shown(password: str, tmp_path: Path) -> None:
    url = f"postgresql://aoetl:{password}@db.internal:5432/etl"
    with pytest.raises(UserError) as caught:
        StateStore(tmp_path, url=url)
    said = str(caught.value)
    assert "postgresql://***@db.internal:5432/etl" in said, said
    assert "percent-encode" in said and "ss-w0rd" not in said and "ss w0rd" not in said, said


def test_a_bad_percent_escape_in_the_password_is_not_quoted(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="percent-encoded token") as caught:
        StateStore(tmp_path, url="postgresql://u:pa%zz%41w0rd@127.0.0.1:1/db")
    assert "w0rd" not in str(caught.value)


def test_an_unparsable_url_in_the_variable_is_a_user_error_naming_it(tmp_path: Path) -> None:
    url = "postgresql://aoetl:s3cret-pw@[::1:5432/etl"  # an unclosed IPv6 bracket
    out = run_cli("runs", "--json", cwd=tmp_path, env={"AOETL_STATE_URL": url})
    said = out.stdout + out.stderr
    assert out.returncode == 2 and "AOETL_STATE_URL" in said and "percent-encode" in said, said
    assert "s3cret" not in said and len(said.strip().splitlines()) == 1


def test_libpq_options_reach_the_server_as_written(pg_url: str, tmp_path: Path) -> None:
    store = StateStore(tmp_path, url=pg_url + "&options=-c%20statement_timeout%3D4321")
    with store._connect() as con:
        assert con.execute("SHOW statement_timeout").fetchone()[0] == "4321ms"


@pytest.mark.parametrize("option", ["sslmode=bogus", "connect_timeout=abc"])
def test_a_bad_option_value_is_a_user_error(option: str, pg_url: str, tmp_path: Path) -> None:
    url = f"{pg_url}&{option}"
    with pytest.raises(UserError, match="fix the option in the URL") as caught:
        StateStore(tmp_path, url=url)
    assert "postgresql://postgres:***@" in str(caught.value)


def test_a_schema_made_for_a_user_without_create_on_the_database(
    state_pg: Postgres, tmp_path: Path
) -> None:
    role, password = "etl_" + os.urandom(4).hex(), "pw-" + os.urandom(6).hex()
    schema = f"{role}_state"
    with psycopg.connect(state_pg.url(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f"REVOKE CREATE ON DATABASE {state_pg.db} FROM PUBLIC")
        admin.execute(f"CREATE SCHEMA {schema}")
        admin.execute(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}")
    base = f"postgresql://{role}:{password}@{state_pg.host}:{state_pg.port}/{state_pg.db}"
    try:
        store = StateStore(tmp_path, url=f"{base}?schema={schema}")
        store.start_run("r", "p", "t")
        assert [r.run_id for r in StateStore(tmp_path, url=f"{base}?schema={schema}").runs()] == [
            "r"
        ]
        with pytest.raises(UserError, match="permission denied") as caught:
            StateStore(tmp_path, url=f"{base}?schema={role}_missing")  # it may not create one
        assert password not in str(caught.value)
    finally:
        with psycopg.connect(state_pg.url(), autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_a_referenced_url_is_not_looked_up_again_by_each_store(pg_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "state_url"
    secret.write_text(pg_url)
    written = f"${{file:{secret}}}"
    StateStore(tmp_path, url=written).start_run("r", "p", "t")
    secret.write_text("postgresql://nobody:wrong@127.0.0.1:1/none")  # no second lookup reads it
    assert [r.run_id for r in StateStore(tmp_path, url=written).runs()] == ["r"]
