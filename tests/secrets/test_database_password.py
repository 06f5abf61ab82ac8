"""A database password kept in Vault: PostgreSQL to PostgreSQL, tried as a new user would, and
a search of everything aoetl printed and wrote for the password."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import hvac
import psycopg
import pytest

from tests.helpers import run_cli
from tests.servers import Postgres, Vault

pytestmark = pytest.mark.e2e


def test_postgres_password_from_vault_never_surfaces(
    tmp_path: Path, openbao: Vault, postgres: Postgres
) -> None:
    root = hvac.Client(url=openbao.addr, token=openbao.root_token)
    root.secrets.kv.v2.create_or_update_secret(
        path="shop-db", mount_point="secret", secret={"password": postgres.password}
    )
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute(
            "DROP SCHEMA IF EXISTS vaulted CASCADE; CREATE SCHEMA vaulted; "
            "CREATE TABLE vaulted.items (id int PRIMARY KEY, name text); "
            "INSERT INTO vaulted.items SELECT g, 'item ' || g FROM generate_series(1, 300) g"
        )
    ref = "${secret:vault:secret/shop-db#password}"
    url = f"postgresql://{postgres.user}:{ref}@{postgres.host}:{postgres.port}/postgres"
    (tmp_path / "copy.yaml").write_text(
        f"name: vaulted\nsource:\n  uri: '{url}'\n  tables: ['vaulted.*']\n"
        f"target: '{url}'\nmode: merge\nkey: id\n"
    )
    env = {"VAULT_ADDR": openbao.addr, "VAULT_TOKEN": openbao.root_token}
    try:
        planned = run_cli("plan", url, "--tables", "vaulted.*", "--json", cwd=tmp_path, env=env)
        listed = run_cli("run", "copy.yaml", "--list-tasks", cwd=tmp_path, env=env)
        ran = run_cli("-v", "run", "copy.yaml", "--monitor", "events.jsonl", cwd=tmp_path, env=env)
        again = run_cli("run", "copy.yaml", "--json", cwd=tmp_path, env=env)
        assert planned.returncode == 0, planned.stderr
        assert ran.returncode == 0, ran.stderr
        assert again.returncode == 0, again.stderr
        with psycopg.connect(postgres.url(), autocommit=True) as con:
            rows = con.execute("SELECT count(*), sum(id) FROM public.items").fetchone()
        assert rows == (300, 45150)  # merged on id: the second run changed nothing

        # A wrong password in Vault: one line naming the server and the reference, never the
        # value.
        root.secrets.kv.v2.create_or_update_secret(
            path="shop-db", mount_point="secret", secret={"password": "not-the-" + "password-42"}
        )
        wrong = run_cli("run", "copy.yaml", cwd=tmp_path, env=env)
        assert wrong.returncode == 2
        (line,) = [x for x in wrong.stderr.splitlines() if x.strip()]
        assert line.startswith(f"error: cannot connect to postgresql://{postgres.user}:{ref}@")
        assert "password authentication failed" in line
        assert "not-the-password-42" not in wrong.stdout + wrong.stderr
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as con:
            con.execute("DROP SCHEMA vaulted CASCADE; DROP TABLE IF EXISTS public.items")

    haystacks = [p.stdout + p.stderr for p in (planned, listed, ran, again, wrong)]
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.endswith((".duckdb", ".wal")):
            haystacks.append(path.read_bytes().decode("utf-8", errors="replace"))
    state = sqlite3.connect(tmp_path / ".aoetl" / "state.db")
    for table in ("runs", "dlq"):
        haystacks.extend(repr(row) for row in state.execute(f"SELECT * FROM {table}"))
    state.close()
    assert (tmp_path / "events.jsonl").read_text().count("\n") > 5
    for secret in (postgres.password, openbao.root_token):
        leaks = [h[:200] for h in haystacks if secret in h]
        assert not leaks, f"{secret[:4]}… leaked into {leaks}"


@pytest.mark.parametrize("reader", ["duckdb", "adbc", "sqlalchemy"])
def test_a_password_with_url_characters_works_from_a_reference(
    tmp_path: Path, postgres: Postgres, reader: str
) -> None:
    special = "p@ss/w#rd%:?1 x"  # every character a URL would misread
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_roles WHERE rolname = 'etl_special'").fetchone()
        verb = "ALTER ROLE etl_special" if exists else "CREATE ROLE etl_special LOGIN SUPERUSER"
        con.execute(psycopg.sql.SQL(verb + " PASSWORD {}").format(psycopg.sql.Literal(special)))
    url = f"postgresql://etl_special:${{env:SPECIAL_PW}}@{postgres.host}:{postgres.port}/postgres"
    env = {"SPECIAL_PW": special}
    try:
        sql = "SELECT 1 AS one"
        ran = run_cli(
            "run", url, "--query", sql, "--table", "one", "--reader", reader, "--to", url,
            "--mode", "replace", cwd=tmp_path, env=env,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        with psycopg.connect(postgres.url(), autocommit=True) as con:
            assert con.execute("SELECT one FROM public.one").fetchall() == [(1,)]
        assert special not in ran.stdout + ran.stderr
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as con:
            con.execute("DROP TABLE IF EXISTS public.one")
