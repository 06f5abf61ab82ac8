"""Secrets in real runs: an encrypted warehouse keyed from Vault, rotation, auth failure, and a
search of everything aoetl wrote for the secret values."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import duckdb
import hvac
import pytest

from agent_orchestrated_etl.data.duck import connect
from tests.helpers import AOETL
from tests.servers import Vault

pytestmark = pytest.mark.e2e


def cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AOETL, *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def opens_with(db: Path, key: str) -> bool:
    con = connect(home=db.parent / ".aoetl")  # with the offline extension directory
    try:
        con.execute("LOAD httpfs")
        con.execute(f"ATTACH '{db}' AS w (ENCRYPTION_KEY '{key}', READ_ONLY)")
        return True
    except duckdb.Error:
        return False
    finally:
        con.close()


@pytest.fixture
def setup(tmp_path: Path, openbao: Vault) -> tuple[Path, dict[str, str], hvac.Client]:
    root = hvac.Client(url=openbao.addr, token=openbao.root_token)
    (tmp_path / "orders.csv").write_text(
        "id,amount\n" + "".join(f"{i},{i}.5\n" for i in range(50)) + "51,1,2\n"
    )
    (tmp_path / "pipeline.yaml").write_text(
        "name: secure\nsource: orders.csv\n"
        "target:\n  uri: duckdb:///${env:WH_NAME}.duckdb\n"
        "  encryption_key: ${secret:vault:secret/warehouse#key}\n"
    )
    env = {
        "VAULT_ADDR": openbao.addr,
        "VAULT_TOKEN": openbao.root_token,
        "WH_NAME": "secure_wh",
        "AOETL_HOME": str(tmp_path / ".aoetl"),
        "COLUMNS": "200",
    }
    return tmp_path, env, root


def test_encrypted_target_rotation_and_no_leaks(
    setup: tuple[Path, dict[str, str], hvac.Client],
) -> None:
    cwd, env, root = setup
    first_key, second_key = "wh-key-AAAA-1111-first", "wh-key-BBBB-2222-second"
    root.secrets.kv.v2.create_or_update_secret(
        path="warehouse", mount_point="secret", secret={"key": first_key}
    )

    check = cli(cwd, env, "secrets", "check", "pipeline.yaml")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok     ${secret:vault:secret/warehouse#key}" in check.stdout

    ok = cli(cwd, env, "-v", "run", "pipeline.yaml", "--monitor", "events.jsonl", "--json")
    assert ok.returncode == 0, ok.stderr
    db = cwd / "secure_wh.duckdb"
    assert opens_with(db, first_key) and not opens_with(db, second_key)

    # Rotation: a new value in Vault is used by the next run (here, for a new warehouse file).
    root.secrets.kv.v2.create_or_update_secret(
        path="warehouse", mount_point="secret", secret={"key": second_key}
    )
    rotated = cli(cwd, {**env, "WH_NAME": "secure_wh2"}, "run", "pipeline.yaml", "--json")
    assert rotated.returncode == 0, rotated.stderr
    assert opens_with(cwd / "secure_wh2.duckdb", second_key)

    # Authentication failure: the first warehouse cannot be opened with the rotated key.
    bad = cli(cwd, env, "-v", "run", "pipeline.yaml", "--monitor", "events.jsonl")
    assert bad.returncode == 2
    error_lines = [line for line in bad.stderr.splitlines() if line.startswith("error: ")]
    # Every resolved value is masked, the ${env:WH_NAME} part of the path included.
    assert error_lines == [
        f"error: the encryption key from ${{secret:vault:secret/warehouse#key}} does not open "
        f"{cwd}/***.duckdb; check the secret, or point the target at another file"
    ]

    # A failing reference names itself and its cause.
    root.secrets.kv.v2.delete_metadata_and_all_versions(path="warehouse", mount_point="secret")
    failed = cli(cwd, env, "secrets", "check", "pipeline.yaml", "--json")
    assert failed.returncode == 1
    rows = {r["reference"]: r for r in json.loads(failed.stdout)}
    assert rows["${env:WH_NAME}"]["ok"] is True
    row = rows["${secret:vault:secret/warehouse#key}"]
    assert row["ok"] is False and "not found" in row["detail"]
    listing = cli(cwd, env, "run", "pipeline.yaml", "--list-tasks", "--json")

    # Search every output stream, log, event file, state DB, DLQ entry and exported file.
    outputs = [check, ok, rotated, bad, failed, listing]
    haystacks = [p.stdout + p.stderr for p in outputs]
    for path in cwd.rglob("*"):
        if path.is_file() and not path.name.endswith(".duckdb") and not path.name.endswith(".wal"):
            haystacks.append(path.read_bytes().decode("utf-8", errors="replace"))
    con = sqlite3.connect(cwd / ".aoetl" / "state.db")
    for table in ("runs", "dlq"):
        haystacks.extend(repr(row) for row in con.execute(f"SELECT * FROM {table}"))
    assert con.execute("SELECT count(*) FROM dlq").fetchone()[0] >= 1  # the ragged row
    con.close()
    for secret in (first_key, second_key, env["VAULT_TOKEN"]):
        leaks = [h[:200] for h in haystacks if secret in h]
        assert not leaks, f"{secret[:6]}… leaked into {leaks}"
    # What was stored keeps the reference, not the value.
    spec_json = (
        sqlite3.connect(cwd / ".aoetl" / "state.db")
        .execute("SELECT spec_json FROM runs")
        .fetchone()[0]
    )
    assert "${secret:vault:secret/warehouse#key}" in spec_json
    assert (
        "encryption key" in bad.stderr and "Traceback" in bad.stderr
    )  # -v showed the redacted traceback
