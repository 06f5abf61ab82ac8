"""The connector contract, run over every registered source and destination.

A new connector joins with one line: a case in ``SOURCES`` or ``DESTINATIONS`` whose factory
builds a small real instance (a folder of files, a database file, the test PostgreSQL server).
Instances are made through the registry (``source_for``, ``destination_for``), and
:func:`test_every_registered_scheme_has_a_case` fails for a scheme that has no case.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
import pytest

from agent_orchestrated_etl.connectors.base import Destination, Source, StagedTable
from agent_orchestrated_etl.connectors.registry import destination_for, known, source_for
from agent_orchestrated_etl.data.duck import Relation, connect, describe
from agent_orchestrated_etl.errors import FatalError, TransientError, UserError
from agent_orchestrated_etl.spec import validate_spec
from agent_orchestrated_etl.spec.uri import NETWORK_SCHEMES
from tests.helpers import read_relation
from tests.servers import Postgres, RestApi, S3Server, free_port

# Test doubles registered by tests/faults.py: they stand in for faults, not for systems.
DOUBLES = {"faulty", "flaky"}
ITEMS = [(1, "a", 1.5), (2, "b", 2.5), (3, "c", 3.5), (4, "d", 4.5), (5, "e", 5.5)]
SRC_DB, DST_DB = "conformance_src", "conformance_dst"


@dataclass
class Env:
    """Where a case builds its instance."""

    tmp: Path
    home: Path
    pg: Callable[[], Postgres]  # starts the session's PostgreSQL only for the cases that use it
    rest: Callable[[bool], RestApi]  # the test REST API (True: over https), likewise
    s3: Callable[[], S3Server]  # SeaweedFS, with AWS_* pointing this process at it
    setenv: Callable[[str, str], None]  # an environment variable for this test only


# -- sources -----------------------------------------------------------------------------------
@dataclass
class SourceSetup:
    uri: str
    change: Callable[[], None]  # change the data in a way the source's fingerprint can tell
    missing: str  # a URI naming something that does not exist: a UserError
    refused: str | None = None  # a server URI on a closed port: a TransientError
    held: Callable[[], bool] = lambda: False  # whether anything of the source is still open
    close_port: Callable[[], None] | None = None  # points the source at a closed port, where
    # its endpoint is not in its URI (S3: AWS_ENDPOINT_URL); then ``refused`` is opened
    holds_open: bool = False  # a discovered source keeps its database open (held() is True)


@dataclass(frozen=True)
class SourceCase:
    id: str
    scheme: str
    make: Callable[[Env], SourceSetup]
    gaps: tuple[tuple[str, str], ...] = ()  # (test, why): a strict xfail until it is fixed


def _fds(path: Path) -> Callable[[], bool]:
    """Whether this process has ``path`` (or a file in it) open."""
    target = str(path.resolve())

    def held() -> bool:
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith(target):
                    return True
            except OSError:
                continue
        return False

    return held


def _items_sql() -> str:
    values = ", ".join(f"({i}, '{n}', {a})" for i, n, a in ITEMS)
    return f"SELECT * FROM (VALUES {values}) AS v(id, name, amount)"


def _file_case(fmt: str) -> Callable[[Env], SourceSetup]:
    def make(env: Env) -> SourceSetup:
        folder = env.tmp / f"{fmt}-data"
        folder.mkdir()
        path = folder / f"items.{fmt}"
        options = {
            "csv": "FORMAT csv, HEADER",
            "ndjson": "FORMAT json",
            "parquet": "FORMAT parquet",
        }

        def write(rows: int) -> None:
            duckdb.execute(
                f"COPY ({_items_sql()} LIMIT {rows}) TO '{path}' ({options[fmt]})"
            ).fetchall()

        write(5)
        return SourceSetup(
            str(folder),
            change=lambda: write(4),
            missing=str(env.tmp / "no-such-folder"),
            held=_fds(folder),
        )

    return make


def _sqlite_source(env: Env) -> SourceSetup:
    path = env.tmp / "src.db"
    # closing(): sqlite3's own context manager commits but leaves the file open.
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, amount REAL)")
        con.executemany("INSERT INTO items VALUES (?, ?, ?)", ITEMS)

    def change() -> None:
        with closing(sqlite3.connect(path)) as con, con:
            con.execute("ALTER TABLE items ADD COLUMN extra TEXT")

    return SourceSetup(
        f"sqlite:///{path}",
        change,
        f"sqlite:///{env.tmp / 'none' / 'no.db'}",
        held=_fds(path),  # the scanner opens the file per query: not held between them
    )


def _duckdb_source(env: Env) -> SourceSetup:
    path = env.tmp / "src.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE items AS {_items_sql()}")
    con.close()

    def change() -> None:
        with duckdb.connect(str(path)) as con:
            con.execute("ALTER TABLE items ADD COLUMN extra VARCHAR")

    return SourceSetup(
        f"duckdb:///{path}",
        change,
        f"duckdb:///{env.tmp / 'no.duckdb'}",
        held=_fds(path),
        holds_open=True,
    )


def _postgres_source(env: Env) -> SourceSetup:
    pg = env.pg()
    with psycopg.connect(pg.url(SRC_DB), autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS items")
        con.execute("CREATE TABLE items (id bigint PRIMARY KEY, name text, amount float8)")
        with con.cursor() as cur:
            cur.executemany("INSERT INTO items VALUES (%s, %s, %s)", ITEMS)

    def change() -> None:
        with psycopg.connect(pg.url(SRC_DB), autocommit=True) as con:
            con.execute("ALTER TABLE items ADD COLUMN extra text")

    def held() -> bool:
        with psycopg.connect(pg.url(SRC_DB)) as con:
            row = con.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid()",
                [SRC_DB],
            ).fetchone()
        return bool(row and row[0])

    return SourceSetup(
        pg.url(SRC_DB),
        change,
        pg.url("no_such_database"),
        refused=f"postgresql://{pg.user}@127.0.0.1:{free_port()}/{SRC_DB}",
        held=held,
        holds_open=True,
    )


def _rest_source(tls: bool) -> Callable[[Env], SourceSetup]:
    def make(env: Env) -> SourceSetup:
        api = env.rest(tls)
        api.control(reset=True)
        scheme = "https" if tls else "http"

        def change() -> None:
            # A new field: the records changed shape, which a fingerprint of what discovery
            # saw can tell (an API gives no cheap signal for changed values).
            api.control(items_extra=True)

        return SourceSetup(
            f"{api.url}/items",
            change,
            missing=f"{api.url}/no-such-collection",
            refused=f"{scheme}://127.0.0.1:{free_port()}/items",
        )

    return make


def _s3_source(env: Env) -> SourceSetup:
    s3 = env.s3()
    bucket = s3.bucket()
    client = s3.client()

    def write(rows: int) -> None:
        lines = ["id,name,amount", *(f"{i},{n},{a}" for i, n, a in ITEMS[:rows])]
        client.put_object(Bucket=bucket, Key="data/items.csv", Body="\n".join(lines) + "\n")

    write(5)
    uri = f"s3://{bucket}/data/"
    return SourceSetup(
        uri,
        change=lambda: write(4),
        missing=f"s3://{bucket}/no-such-prefix/",
        refused=uri,
        close_port=lambda: env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}"),
    )


SOURCES = [
    SourceCase("files-csv", "file", _file_case("csv")),
    SourceCase("files-ndjson", "file", _file_case("ndjson")),
    SourceCase("files-parquet", "file", _file_case("parquet")),
    SourceCase("sqlite", "sqlite", _sqlite_source),
    SourceCase("duckdb", "duckdb", _duckdb_source),
    SourceCase("postgresql", "postgresql", _postgres_source),
    SourceCase("rest-http", "http", _rest_source(tls=False)),
    SourceCase("rest-https", "https", _rest_source(tls=True)),
    SourceCase("s3", "s3", _s3_source),
]


# -- destinations ------------------------------------------------------------------------------
@dataclass
class TargetSetup:
    uri: str
    read: Callable[[str], list[tuple[object, ...]] | None]  # a committed table, None if absent
    leftovers: Callable[[str], list[str]]  # staging a run left behind
    missing: str  # a target whose place does not exist: a UserError at begin
    refused: str | None = None  # a server URI on a closed port: a TransientError at begin
    close_port: Callable[[], None] | None = None  # as for sources: the endpoint is elsewhere


@dataclass(frozen=True)
class DestinationCase:
    id: str
    scheme: str
    make: Callable[[Env], TargetSetup]


def _stages(rows: list[tuple[object, ...]]) -> list[str]:
    return [str(r[0]) for r in rows if str(r[0]).startswith("_aoetl_stage")]


def _duckdb_target(env: Env) -> TargetSetup:
    path = env.tmp / "w.duckdb"

    def sql(query: str) -> list[tuple[object, ...]] | None:
        if not path.exists():
            return None
        # The same settings as the destination's: this process shares its open database.
        con = connect(str(path), home=env.home)
        try:
            return con.execute(query).fetchall()
        except duckdb.CatalogException:
            return None
        finally:
            con.close()

    return TargetSetup(
        f"duckdb:///{path}",
        lambda t: sql(f'SELECT id, name FROM "{t}" ORDER BY ALL'),
        lambda t: _stages(sql("SELECT table_name FROM duckdb_tables()") or []),
        missing=f"duckdb:///{env.tmp / 'no-such-folder' / 'w.duckdb'}",
    )


def _directory_target(fmt: str) -> Callable[[Env], TargetSetup]:
    def make(env: Env) -> TargetSetup:
        root = env.tmp / f"lake-{fmt}"

        def read(table: str) -> list[tuple[object, ...]] | None:
            if not (root / table).exists():
                return None
            scan = "read_parquet" if fmt == "parquet" else "read_csv"
            glob = root / table / f"*.{fmt}"
            return duckdb.execute(
                f"SELECT id, name FROM {scan}('{glob}', union_by_name=true) ORDER BY ALL"
            ).fetchall()

        def leftovers(table: str) -> list[str]:
            folder = root / ".aoetl" / table
            current = (root / table).resolve() if (root / table).exists() else None
            return [str(p) for p in folder.glob("*") if p != current] if folder.exists() else []

        (env.tmp / "a-file").write_text("a file where the folder should be")
        return TargetSetup(f"{fmt}:///{root}", read, leftovers, f"{fmt}:///{env.tmp / 'a-file'}")

    return make


def _sqlite_target(env: Env) -> TargetSetup:
    path = env.tmp / "w.db"

    def sql(query: str) -> list[tuple[object, ...]] | None:
        if not path.exists():
            return None
        con = sqlite3.connect(path)
        try:
            return con.execute(query).fetchall()
        except sqlite3.OperationalError:  # no such table
            return None
        finally:
            con.close()

    return TargetSetup(
        f"sqlite:///{path}",
        lambda t: sql(f'SELECT id, name FROM "{t}" ORDER BY id, name'),
        lambda t: _stages(sql("SELECT name FROM sqlite_master WHERE type = 'table'") or []),
        missing=f"sqlite:///{env.tmp / 'no-such-folder' / 'w.db'}",
    )


def _postgres_target(env: Env) -> TargetSetup:
    pg = env.pg()
    with psycopg.connect(pg.url(DST_DB), autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS _aoetl CASCADE")
        for (name,) in con.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall():
            con.execute(f"DROP TABLE {name}")

    def sql(query: str) -> list[tuple[object, ...]] | None:
        with psycopg.connect(pg.url(DST_DB)) as con:
            try:
                return con.execute(query).fetchall()
            except psycopg.errors.UndefinedTable:
                return None

    return TargetSetup(
        pg.url(DST_DB),
        lambda t: sql(f'SELECT id, name FROM "{t}" ORDER BY id, name'),
        lambda t: _stages(sql("SELECT tablename FROM pg_tables") or []),
        missing=pg.url("no_such_database"),
        refused=f"postgresql://{pg.user}@127.0.0.1:{free_port()}/{DST_DB}",
    )


def _s3_target(env: Env) -> TargetSetup:
    s3 = env.s3()
    bucket = s3.bucket()
    client = s3.client()
    access = f"SET s3_endpoint = '{s3.endpoint.removeprefix('http://')}'; SET s3_use_ssl = false;"
    access += f"SET s3_url_style = 'path'; SET s3_region = '{s3.region}';"
    access += f"SET s3_access_key_id = '{s3.key}'; SET s3_secret_access_key = '{s3.secret}';"

    def read(table: str) -> list[tuple[object, ...]] | None:
        try:
            body = client.get_object(Bucket=bucket, Key=f"out/{table}/_manifest.json")["Body"]
        except client.exceptions.NoSuchKey:
            return None
        manifest = json.loads(body.read())
        files = [f"s3://{bucket}/out/{table}/{f['path']}" for f in manifest["files"]]
        if not files:
            return []
        con = connect(home=env.home)
        try:
            con.execute("LOAD httpfs;" + access)
            return con.execute(
                f"SELECT id, name FROM read_parquet({files!r}) ORDER BY ALL"
            ).fetchall()
        finally:
            con.close()

    def leftovers(table: str) -> list[str]:
        found = client.list_objects_v2(Bucket=bucket, Prefix="out/_aoetl/staging/")
        return [o["Key"] for o in found.get("Contents", [])]

    return TargetSetup(
        f"s3://{bucket}/out/",
        read,
        leftovers,
        missing="s3://no-such-bucket-zz/out/",
        refused=f"s3://{bucket}/out/",
        close_port=lambda: env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}"),
    )


DESTINATIONS = [
    DestinationCase("duckdb", "duckdb", _duckdb_target),
    DestinationCase("parquet-dir", "parquet", _directory_target("parquet")),
    DestinationCase("csv-dir", "csv", _directory_target("csv")),
    DestinationCase("sqlite", "sqlite", _sqlite_target),
    DestinationCase("postgresql", "postgresql", _postgres_target),
    DestinationCase("s3", "s3", _s3_target),
]


# -- fixtures and helpers ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def databases(postgres: Postgres) -> Postgres:
    """The conformance databases, made once in the session's PostgreSQL."""
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        for db in (SRC_DB, DST_DB):
            con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            con.execute(f"CREATE DATABASE {db}")
    return postgres


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Env:
    home = tmp_path / ".aoetl"
    monkeypatch.setenv("AOETL_HOME", str(home))
    monkeypatch.chdir(tmp_path)

    def rest(tls: bool) -> RestApi:
        api: RestApi = request.getfixturevalue("rest_api_tls" if tls else "rest_api")
        if api.ca:  # the client trusts the API's self-signed certificate, as a private CA
            monkeypatch.setenv("SSL_CERT_FILE", api.ca)
        return api

    def s3() -> S3Server:
        server: S3Server = request.getfixturevalue("s3_server")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        return server

    return Env(
        tmp_path, home, lambda: request.getfixturevalue("databases"), rest, s3, monkeypatch.setenv
    )


def open_source(uri: str) -> Source:
    return source_for(validate_spec({"name": "conformance", "source": {"uri": uri}}).source)


def open_destination(uri: str, env: Env) -> Destination:
    spec = validate_spec({"name": "conformance", "source": "x.csv", "target": uri}).target
    return destination_for(spec, home=env.home)


def run_sql(relation: Relation, env: Env, sql: str) -> list[tuple[object, ...]]:
    """``sql`` over ``relation`` (as ``r``) in a fresh DuckDB connection, as a check runs it."""
    return read_relation(relation, env.home, sql)


def registered(kind: str) -> set[str]:
    return {s.removesuffix("://") for s in known(kind).split(", ")} - DOUBLES


# -- the contract: sources ---------------------------------------------------------------------
def test_every_registered_scheme_has_a_case() -> None:
    sources = registered("source") - {c.scheme for c in SOURCES}
    assert not sources, f"add a SourceCase to SOURCES for {sorted(sources)}"
    targets = registered("target") - {c.scheme for c in DESTINATIONS}
    assert not targets, f"add a DestinationCase to DESTINATIONS for {sorted(targets)}"


@pytest.fixture(params=SOURCES, ids=lambda c: c.id)
def source_case(request: pytest.FixtureRequest, env: Env) -> SourceSetup:
    case: SourceCase = request.param
    reason = dict(case.gaps).get(request.node.originalname)
    if reason is not None:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))
    return case.make(env)


def test_source_discovers_and_reads(source_case: SourceSetup, env: Env) -> None:
    source = open_source(source_case.uri)
    try:
        resources = source.discover()
        assert [r.name for r in resources] == ["items"]
        assert [n for n, _ in resources[0].columns] == ["id", "name", "amount"]
        relation = source.relation(resources[0])
        con = connect(home=env.home)
        try:
            relation.attach(con)
            assert [n for n, _ in describe(con, relation.sql)] == ["id", "name", "amount"]
        finally:
            con.close()
        got = run_sql(source.relation(resources[0]), env, "SELECT count(*), sum(id) FROM {r}")
        assert got == [(5, 15)]
    finally:
        source.close()


def test_source_fingerprint_is_stable_and_follows_changes(
    source_case: SourceSetup, env: Env
) -> None:
    source = open_source(source_case.uri)
    try:
        resource = source.discover()[0]
        first = source.fingerprint(resource)
        assert source.fingerprint(resource) == first
    finally:
        source.close()
    source_case.change()
    changed = open_source(source_case.uri)
    try:
        assert changed.fingerprint(changed.discover()[0]) != first
    finally:
        changed.close()


def test_source_fingerprint_agrees_across_instances(source_case: SourceSetup, env: Env) -> None:
    """A resumed run (another process) reuses a checkpoint only if it computes the same."""
    prints = []
    for _ in range(2):
        source = open_source(source_case.uri)
        try:
            prints.append(source.fingerprint(source.discover()[0]))
        finally:
            source.close()
    assert prints[0] == prints[1]


def test_source_close_releases_what_it_held(source_case: SourceSetup, env: Env) -> None:
    source = open_source(source_case.uri)
    source.discover()
    assert source_case.held() == source_case.holds_open  # held() sees what the source holds
    source.close()
    assert not source_case.held()
    source.close()  # a second close is harmless


def test_source_missing_is_a_user_error(source_case: SourceSetup, env: Env) -> None:
    with pytest.raises(UserError):
        open_source(source_case.missing).discover()


@pytest.mark.parametrize(
    "case", [c for c in SOURCES if c.scheme in NETWORK_SCHEMES], ids=lambda c: c.id
)
def test_source_refused_connection_is_transient(case: SourceCase, env: Env) -> None:
    setup = case.make(env)
    assert setup.refused is not None, "a network source's case gives a URI on a closed port"
    if setup.close_port is not None:
        setup.close_port()
    with pytest.raises(TransientError):
        open_source(setup.refused).discover()


# -- the contract: destinations ----------------------------------------------------------------
SEED = [(1, "a"), (2, "b"), (3, "c")]
INCOMING = [(3, "C"), (4, "d"), (5, "e"), (5, "E")]  # key 5 twice: a merge keeps the last
STAGED = {
    "append": sorted(INCOMING),
    "replace": sorted(INCOMING),
    "merge": [(3, "C"), (4, "d"), (5, "E")],
}
AFTER = {
    "append": sorted(SEED + INCOMING),
    "replace": sorted(INCOMING),
    "merge": [(1, "a"), (2, "b"), (3, "C"), (4, "d"), (5, "E")],
}


def rows_relation(rows: list[tuple[int, str]]) -> Relation:
    values = ", ".join(f"({i}::BIGINT, '{n}')" for i, n in rows)
    return Relation(f"SELECT * FROM (VALUES {values}) AS v(id, name)")


def write(dest: Destination, rows: list[tuple[int, str]], mode: str, fp: str = "fp") -> int:
    result = dest.write(
        "t",
        rows_relation(rows),
        mode=mode,
        key=("id",),
        fingerprint=fp,
        record_bad=lambda bad: None,
    )
    return result.rows_loaded


def seed(target: TargetSetup, env: Env) -> None:
    dest = open_destination(target.uri, env)
    dest.begin("seed", "conformance")
    write(dest, SEED, "append")
    dest.commit([StagedTable("t", "append", ("id",))])
    dest.close()
    assert target.read("t") == SEED


@pytest.fixture(params=DESTINATIONS, ids=lambda c: c.id)
def target(request: pytest.FixtureRequest, env: Env) -> TargetSetup:
    case: DestinationCase = request.param
    return case.make(env)


def staged_rows(dest: Destination, env: Env) -> list[tuple[object, ...]]:
    return run_sql(dest.staged("t"), env, "SELECT id, name FROM {r} ORDER BY ALL")


@pytest.mark.parametrize("mode", ["append", "replace", "merge"])
def test_destination_mode_written_twice_commits_exactly_once(
    target: TargetSetup, env: Env, mode: str
) -> None:
    seed(target, env)
    dest = open_destination(target.uri, env)
    dest.begin("run-2", "conformance")
    for _ in range(2):  # a retried write restages the table: it still loads once
        assert write(dest, INCOMING, mode, fp="fp-2") == len(STAGED[mode])
    assert target.read("t") == SEED  # nothing visible before the commit
    assert staged_rows(dest, env) == STAGED[mode]
    assert staged_rows(dest, env) == STAGED[mode]  # read again: a fresh relation each time
    mark = dest.checkpoints()["t"]
    assert (mark.fingerprint, mark.rows) == ("fp-2", len(STAGED[mode]))
    dest.commit([StagedTable("t", mode, ("id",))])
    with pytest.raises(FatalError, match="nothing staged"):
        dest.staged("t")
    dest.close()
    assert target.read("t") == AFTER[mode]
    assert target.leftovers("t") == []
    resumed = open_destination(target.uri, env)  # the same run again: already committed
    resumed.begin("run-2", "conformance")
    assert resumed.committed() and resumed.checkpoints() == {}
    resumed.discard()  # what `aoetl staging --remove` may do: a committed run has no staging
    resumed.close()
    assert target.read("t") == AFTER[mode]


def test_destination_discard_leaves_the_target_as_it_was(target: TargetSetup, env: Env) -> None:
    seed(target, env)
    dest = open_destination(target.uri, env)
    dest.begin("run-2", "conformance")
    write(dest, INCOMING, "replace")
    early = dest.staged("t")
    dest.discard()
    assert dest.checkpoints() == {}
    with pytest.raises(FatalError, match="nothing staged"):
        dest.staged("t")
    with pytest.raises(duckdb.Error):  # a relation taken before the discard reads nothing
        run_sql(early, env, "SELECT count(*) FROM {r}")
    dest.close()
    assert target.read("t") == SEED
    assert target.leftovers("t") == []


def test_destination_checkpoints_survive_to_a_resumed_run(target: TargetSetup, env: Env) -> None:
    seed(target, env)
    dest = open_destination(target.uri, env)
    dest.begin("run-2", "conformance")
    write(dest, INCOMING, "append", fp="fp-2")
    dest.close()  # interrupted before the commit: the staging is kept for a resume
    assert target.read("t") == SEED
    resumed = open_destination(target.uri, env)
    resumed.begin("run-2", "conformance")
    assert not resumed.committed()
    mark = resumed.checkpoints()["t"]
    assert (mark.table, mark.fingerprint, mark.rows, mark.bad_rows) == ("t", "fp-2", 4, 0)
    assert staged_rows(resumed, env) == STAGED["append"]
    resumed.commit([StagedTable("t", "append", ("id",))])
    resumed.close()
    resumed.close()  # a second close is harmless
    assert target.read("t") == AFTER["append"]
    assert target.leftovers("t") == []


def test_destination_close_before_begin_is_harmless(target: TargetSetup, env: Env) -> None:
    open_destination(target.uri, env).close()
    assert target.read("t") is None


def test_destination_missing_place_is_a_user_error(target: TargetSetup, env: Env) -> None:
    dest = open_destination(target.missing, env)
    with pytest.raises(UserError):
        dest.begin("run", "conformance")
    dest.close()


@pytest.mark.parametrize(
    "case", [c for c in DESTINATIONS if c.scheme in NETWORK_SCHEMES], ids=lambda c: c.id
)
def test_destination_refused_connection_is_transient(case: DestinationCase, env: Env) -> None:
    setup = case.make(env)
    refused = setup.refused
    assert refused is not None, "a network destination's case gives a URI on a closed port"
    if setup.close_port is not None:
        setup.close_port()
    dest = open_destination(refused, env)
    with pytest.raises(TransientError):
        dest.begin("run", "conformance")
    dest.close()
