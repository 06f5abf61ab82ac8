"""Helpers the tests share: paths, the CLI runner, DuckDB queries and PostgreSQL DDL.

Test modules import these from here, never from one another or from conftest.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from agent_orchestrated_etl.data.duck import Relation, connect

if TYPE_CHECKING:
    from mcp_types import CallToolResult

    from mcp import ClientSession

FIXTURES = Path(__file__).parent / "fixtures"
AOETL = str(Path(sys.executable).with_name("aoetl"))


def query(db: Path | str, sql: str) -> list[tuple[object, ...]]:
    """Run a read-only query against a DuckDB file."""
    con = duckdb.connect(str(db), read_only=str(db) != ":memory:")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``aoetl`` console script as a new user would."""
    full_env = {**os.environ, "AOETL_HOME": str(cwd / ".aoetl"), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [AOETL, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``run_cli`` started in the background (its environment the same): collect it with
    ``finish_cli`` while the test does something else."""
    env = {**os.environ, "AOETL_HOME": str(cwd / ".aoetl"), "COLUMNS": "200"}
    return subprocess.Popen(
        [AOETL, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_cli(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# Every common PostgreSQL type, and the DuckDB type each loads as (several SQL tests use them).
TYPES_DDL = """
DROP TABLE IF EXISTS t_types, customers, orders CASCADE;
DROP TYPE IF EXISTS mood;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE t_types (
  id serial PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, n numeric(12,3), f4 real,
  f8 double precision, tx text, vc varchar(20), b boolean, d date, tm time, ts timestamp,
  tstz timestamptz, iv interval, u uuid, j json, jb jsonb, arr integer[], tarr text[],
  by bytea, m mood);
INSERT INTO t_types (i2,i4,i8,n,f4,f8,tx,vc,b,d,tm,ts,tstz,iv,u,j,jb,arr,tarr,by,m) VALUES
 (1,2,3,123.456,1.5,2.25,'text','vc',true,'2024-01-02','12:34:56','2024-01-02 03:04:05',
  '2024-01-02 03:04:05+02','1 day 2 hours','a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11','{"a":1}',
  '{"b":[1,2]}','{1,2,3}','{"x","y"}','\\xdeadbeef','happy'),
 (NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,
  NULL,NULL,NULL);
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer REFERENCES customers(id),
  amount numeric(10,2), updated_at timestamptz DEFAULT now());
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 50) g;
INSERT INTO orders (id, customer_id, amount)
  SELECT g, 1 + g % 50, g * 1.25 FROM generate_series(1, 1000) g;
ANALYZE;
"""

EXPECTED_TYPES = {
    "id": "INTEGER",
    "i2": "SMALLINT",
    "i4": "INTEGER",
    "i8": "BIGINT",
    "n": "DECIMAL(12,3)",
    "f4": "FLOAT",
    "f8": "DOUBLE",
    "tx": "VARCHAR",
    "vc": "VARCHAR",
    "b": "BOOLEAN",
    "d": "DATE",
    "tm": "TIME",
    "ts": "TIMESTAMP",
    "tstz": "TIMESTAMP WITH TIME ZONE",
    "iv": "INTERVAL",
    "u": "UUID",
    "j": "VARCHAR",
    "jb": "VARCHAR",
    "arr": "INTEGER[]",
    "tarr": "VARCHAR[]",
    "by": "BLOB",
    "m": "ENUM('sad', 'ok', 'happy')",
}


def said(resource: object) -> list[str]:
    """A resource's decisions as users read them."""
    return [str(d) for d in getattr(resource, "decisions", ())]


def read_relation(relation: Relation, home: Path, sql: str) -> list[tuple[object, ...]]:
    """``sql`` over ``relation`` (written ``{r}``) in a fresh DuckDB connection of its own, as
    a check on staged rows runs it: the relation's prelude attaches what it reads."""
    con = connect(home=home)
    try:
        relation.attach(con)
        return con.execute(sql.replace("{r}", f"({relation.sql})")).fetchall()
    finally:
        con.close()


def shop_export(root: Path, orders: int = 200) -> Path:
    """A database exported as related CSV files: customers (id, email), products (sku),
    orders (order_id, customer_id, updated_at, a mostly-empty note) and order_items (keyed
    by order_id and line, referring to orders and products)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [f"{i},cust {i},c{i}@example.com\n" for i in range(1, 51)]
    (root / "customers.csv").write_text("id,name,email\n" + "".join(rows))
    rows = [f"P{i:04d},thing {i},{i * 1.25:.2f}\n" for i in range(1, 21)]
    (root / "products.csv").write_text("sku,title,price\n" + "".join(rows))
    rows = [
        f"{i},{1 + i % 50},2024-02-{1 + i % 28:02d} 10:00:00,{'' if i % 3 else 'gift'}\n"
        for i in range(1, orders + 1)
    ]
    (root / "orders.csv").write_text("order_id,customer_id,updated_at,note\n" + "".join(rows))
    rows = [
        f"{o},{line},P{1 + (o * line) % 20:04d},{line}\n"
        for o in range(1, orders + 1)
        for line in range(1, 4)
    ]
    (root / "order_items.csv").write_text("order_id,line,sku,qty\n" + "".join(rows))
    return root


@dataclass(frozen=True)
class AirflowHome:
    """A migrated AIRFLOW_HOME and its DAGs folder (the tests/airflow fixture): Airflow's
    commands run in subprocesses, since importing airflow reconfigures the whole process."""

    home: Path
    dags: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Airflow's settings for this home; aoetl's home and state come from the DAG file
        unless ``extra`` gives AOETL_HOME or AOETL_STATE_URL."""
        aoetl = ("AOETL_HOME", "AOETL_STATE_URL")
        return {
            **{k: v for k, v in os.environ.items() if k not in aoetl},
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "NO_COLOR": "1",
            **extra,
        }

    def start(self, *args: str, log: Path, **env: str) -> subprocess.Popen[str]:
        """``airflow ARGS…`` in the background, its output in ``log``."""
        with log.open("w") as out:
            return subprocess.Popen(
                [AIRFLOW, *args], env=self.env(**env), stdout=out, stderr=subprocess.STDOUT,
                text=True, cwd=self.home,
            )  # fmt: skip

    def run(self, *args: str, log: Path, **env: str) -> tuple[int, str]:
        """``airflow ARGS…`` to its end: the exit code and the output."""
        return finish(self.start(*args, log=log, **env), log)

    def copy(self, name: str) -> AirflowHome:
        """Another home on a copy of this metadata database, for a command that runs at the
        same time as one on this home (SQLite takes one writer)."""
        home = self.home.with_name(name)
        home.mkdir()
        shutil.copy2(self.home / "airflow.db", home / "airflow.db")
        return AirflowHome(home, self.dags)


AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def finish(proc: subprocess.Popen[str], log: Path, timeout: float = 420) -> tuple[int, str]:
    """Wait for a command started with its output in ``log``: its exit code and output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode, log.read_text()


def airflow_shop(
    root: Path, *, name: str = "shop", customers: bool = True, lock_timeout_s: int = 0
) -> Path:
    """A small shop for the Airflow tests: orders in two CSV files (one row has a field too
    many: the DLQ's), customers in NDJSON, and ``root/pipeline.yaml`` with a check on each
    table (its target ``root/warehouse.duckdb``, waiting ``lock_timeout_s`` for another
    process's lock)."""
    data = root / "data"
    data.mkdir(parents=True)
    (data / "orders_1.csv").write_text("id,customer,amount\n1,1,10.5\n2,2,20\n3,1,1.5,extra\n")
    (data / "orders_2.csv").write_text("id,customer,amount\n4,2,7.25\n5,1,12\n")
    checks = "- {check: unique, table: orders, columns: [id]}\n"
    if customers:
        people = '{"id": 1, "name": "ann"}\n{"id": 2, "name": "bob"}\n'
        (data / "customers.ndjson").write_text(people)
        checks += "- {check: not_null, table: customers, columns: [id]}\n"
    target = "duckdb:///warehouse.duckdb"
    if lock_timeout_s:
        target = f"{{uri: {target}, lock_timeout_s: {lock_timeout_s}}}"
    (root / "pipeline.yaml").write_text(
        f"name: {name}\nsource: data/\ntarget: {target}\nmax_bad_rows: 10\nchecks:\n{checks}"
    )
    return root / "pipeline.yaml"


# MCP: the SDK's own client against the real `aoetl mcp` (imported late: most tests need no
# MCP, and the SDK takes a while to import).
REPO = Path(__file__).resolve().parents[1]


@contextlib.asynccontextmanager
async def mcp_stdio(
    cwd: Path, *args: str, env: dict[str, str] | None = None, errlog: Path | None = None
) -> AsyncIterator[ClientSession]:
    """A session with ``aoetl mcp ARGS`` started over stdio in ``cwd`` (AOETL_HOME inside
    it), as an MCP client registers it; its stderr goes to ``errlog``."""
    from mcp.client.stdio import stdio_client

    from mcp import ClientSession, StdioServerParameters

    params = StdioServerParameters(
        command=AOETL,
        args=["mcp", *args],
        env={**os.environ, "AOETL_HOME": str(cwd / ".aoetl"), **(env or {})},
        cwd=cwd,
    )
    with (errlog or cwd / "mcp-stderr.log").open("a", encoding="utf-8") as log:
        async with (
            stdio_client(params, errlog=log) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def mcp_http(url: str) -> AsyncIterator[ClientSession]:
    """A session with the ``aoetl mcp --http`` server at ``url`` (…/mcp)."""
    from mcp.client.streamable_http import streamable_http_client

    from mcp import ClientSession

    async with (
        streamable_http_client(url) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def mcp_text(result: CallToolResult) -> str:
    """The one text content of a tool result (aoetl's tools return exactly one)."""
    from mcp_types import TextContent

    assert len(result.content) == 1, result.content
    content = result.content[0]
    assert isinstance(content, TextContent), content
    return content.text


def mcp_data(result: CallToolResult) -> dict[str, Any]:
    """A successful tool result's structured content, checked to equal its text's JSON."""
    text = mcp_text(result)
    assert not result.is_error, text[:2000]
    assert result.structured_content is not None, text[:2000]
    assert json.loads(text) == result.structured_content
    return result.structured_content


def mcp_error(result: CallToolResult) -> str:
    """A failed tool result's one line: 'error: …', never a traceback."""
    text = mcp_text(result)
    assert result.is_error, text[:2000]
    assert text.startswith("error: ") and "\n" not in text, text
    assert "Traceback" not in text, text
    return text


def mcp_everything(result: CallToolResult) -> str:
    """All a client sees of a result: every text content and the structured content."""
    texts = [getattr(c, "text", "") for c in result.content]
    return "\n".join([*texts, json.dumps(result.structured_content)])


def proc_usage(pid: int) -> tuple[int, int]:
    """A live process's open file descriptors and resident memory in bytes (Linux /proc)."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    status = Path(f"/proc/{pid}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return fds, kb * 1024
