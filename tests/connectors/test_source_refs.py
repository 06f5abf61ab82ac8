"""A source URI is resolved once, when the connector connects: a ${…} reference works as the
whole source of a pipeline file (env and a real OpenBao server), a relative path it names is
anchored at the file's folder, and AOETL_HOME reaches the source's DuckDB."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import hvac
import pytest

from agent_orchestrated_etl.connectors import source_for
from agent_orchestrated_etl.spec import FileSourceSpec, SqlSourceSpec
from tests.helpers import query, run_cli
from tests.servers import Vault


def _project(root: Path, source: str) -> Path:
    """A pipeline folder holding data/orders.csv and p.yaml, run from elsewhere."""
    (root / "proj" / "data").mkdir(parents=True)
    (root / "proj" / "data" / "orders.csv").write_text("id,amount\n1,2.5\n2,4.0\n3,1.0\n")
    (root / "proj" / "p.yaml").write_text(
        f"name: orders\nsource:\n  uri: '{source}'\n  table: orders\ntarget: out.duckdb\n"
    )
    (root / "elsewhere").mkdir()
    return root / "elsewhere"


def test_an_env_reference_to_a_relative_path_is_anchored_at_the_file(tmp_path: Path) -> None:
    cwd = _project(tmp_path, "${env:ORDERS}")
    proc = run_cli("run", "../proj/p.yaml", cwd=cwd, env={"ORDERS": "data/orders.csv"})
    assert proc.returncode == 0, proc.stderr
    assert query(tmp_path / "proj" / "out.duckdb", "SELECT count(*) FROM orders") == [(3,)]
    listed = run_cli("runs", "--json", cwd=cwd)
    assert "${env:ORDERS}" in listed.stdout and "data/orders.csv" not in listed.stdout


@pytest.mark.parametrize("scheme", ["duckdb", "sqlite"])
def test_a_target_reference_to_a_relative_path_is_anchored_at_the_file(
    tmp_path: Path, scheme: str
) -> None:
    cwd = _project(tmp_path, "data/orders.csv")
    pipeline = tmp_path / "proj" / "p.yaml"
    pipeline.write_text(
        pipeline.read_text().replace("target: out.duckdb", f"target: '{scheme}:///${{env:DB}}'")
    )
    proc = run_cli("run", "../proj/p.yaml", cwd=cwd, env={"DB": "t.db"})
    assert proc.returncode == 0, proc.stderr
    assert not (cwd / "t.db").exists()
    db = tmp_path / "proj" / "t.db"
    if scheme == "duckdb":
        assert query(db, "SELECT count(*) FROM orders") == [(3,)]
    else:
        con = sqlite3.connect(db)
        try:
            assert con.execute("SELECT count(*) FROM orders").fetchall() == [(3,)]
        finally:
            con.close()


def test_a_vault_reference_as_the_whole_source(tmp_path: Path, openbao: Vault) -> None:
    root = hvac.Client(url=openbao.addr, token=openbao.root_token)
    root.secrets.kv.v2.create_or_update_secret(
        path="app", mount_point="secret", secret={"path": "data/orders.csv"}
    )
    cwd = _project(tmp_path, "${secret:vault:secret/app#path}")
    env = {"VAULT_ADDR": openbao.addr, "VAULT_TOKEN": openbao.root_token}
    proc = run_cli("run", "../proj/p.yaml", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    assert query(tmp_path / "proj" / "out.duckdb", "SELECT sum(amount) FROM orders") == [(7.5,)]
    # A reference that names nothing says so, with the reference, in one line.
    root.secrets.kv.v2.create_or_update_secret(
        path="app", mount_point="secret", secret={"path": "data/none.csv"}
    )
    missing = run_cli("run", "../proj/p.yaml", cwd=cwd, env=env)
    assert missing.returncode == 2
    (line,) = [x for x in missing.stderr.splitlines() if x.strip()]
    assert line == (
        "error: source ${secret:vault:secret/app#path} does not exist; "
        "give a file, a directory or a glob"
    )


def test_a_reference_to_a_database_url_is_read_by_the_sql_connector(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    con = sqlite3.connect(tmp_path / "proj" / "shop.sqlite")
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    con.executemany("INSERT INTO users VALUES (?, ?)", [(i, f"u{i}") for i in range(5)])
    con.commit()
    con.close()
    (tmp_path / "proj" / "p.yaml").write_text(
        "name: shop\nsource:\n  uri: ${env:SHOP_DB}\ntarget: out.duckdb\n"
    )
    proc = run_cli("run", "proj/p.yaml", cwd=tmp_path, env={"SHOP_DB": "sqlite:///shop.sqlite"})
    assert proc.returncode == 0, proc.stderr
    assert query(tmp_path / "proj" / "out.duckdb", "SELECT count(*) FROM users") == [(5,)]
    # Database options need the kind: the URI is a reference until it is resolved.
    (tmp_path / "proj" / "q.yaml").write_text(
        "name: shop\nsource:\n  uri: ${env:SHOP_DB}\n  kind: sql\n  tables: [users]\n"
        "target: out.duckdb\nmode: replace\n"
    )
    again = run_cli("run", "proj/q.yaml", cwd=tmp_path, env={"SHOP_DB": "sqlite:///shop.sqlite"})
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("kind", ["files", "sqlite"])
def test_home_reaches_the_sources_duckdb(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AOETL_HOME", raising=False)
    (tmp_path / "a.csv").write_text("id\n1\n")
    sqlite3.connect(tmp_path / "a.sqlite").execute("CREATE TABLE t (id INTEGER)").connection.close()
    spec = (
        FileSourceSpec(uri="a.csv") if kind == "files" else SqlSourceSpec(uri="sqlite:///a.sqlite")
    )
    source = source_for(spec, home=tmp_path / "home")
    try:
        assert [r.name for r in source.discover()] in (["a"], ["t"])
    finally:
        source.close()
    assert (tmp_path / "home" / "duckdb_extensions").is_dir()
    assert not (tmp_path / ".aoetl").exists()
