"""The exception tree and the driver-error classifiers, on real driver exceptions: each error
below is made to happen (a bad cast in DuckDB, a connection to a closed port, a wrong password
against the test PostgreSQL server, a missing SQLite folder), then classified."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

import agent_orchestrated_etl
from agent_orchestrated_etl import errors
from agent_orchestrated_etl.errors import (
    AoetlError,
    FatalError,
    TransientError,
    UserError,
    classify,
    classify_duckdb,
    classify_libpq,
    classify_sqlalchemy,
    classify_status,
    classify_urllib3,
    kind_of,
    register_secret,
)
from tests.servers import Postgres

PACKAGE = agent_orchestrated_etl.__name__


# -- the tree ----------------------------------------------------------------------------------
def _package_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(agent_orchestrated_etl.__path__, PACKAGE + "."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running it starts the CLI
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith(PACKAGE)
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def _drawn_tree() -> dict[str, tuple[str | None, str]]:
    """Each class in the docstring's drawing: (its drawn parent, the rest of its line)."""
    doc = errors.__doc__ or ""
    start = doc.index("AoetlError   ")
    block = doc[doc.rindex("\n", 0, start) + 1 :].split("\n\n")[0]
    parents: list[str] = []
    drawn: dict[str, tuple[str | None, str]] = {}
    for line in textwrap.dedent(block).splitlines():
        marker = max(line.find("├── "), line.find("└── "))
        if marker < 0 and not line.startswith("AoetlError"):
            continue  # a description's second line
        depth = marker // 4 + 1 if marker >= 0 else 0
        name, _, rest = line[marker + 4 if marker >= 0 else 0 :].partition(" ")
        parents[depth:] = [name]
        drawn[name] = (parents[depth - 1] if depth else None, rest.strip())
    return drawn


def test_every_exception_class_is_in_the_tree_and_drawn_under_its_parent() -> None:
    classes = _package_exceptions()
    drawn = _drawn_tree()
    names = [c.__name__ for c in classes]
    assert len(names) == len(set(names)), "two exception classes share a name"
    assert {"CycleError", "TaskCancelled", "CircuitOpenError", "SecretReferenceError"} <= set(names)
    for cls in classes:
        assert issubclass(cls, AoetlError), f"{cls.__module__}.{cls.__name__} is outside the tree"
        assert cls.__name__ in drawn, f"{cls.__name__} is not drawn in errors.__doc__"
        parent, line = drawn[cls.__name__]
        if cls is not AoetlError:
            assert parent == cls.__bases__[0].__name__, f"{cls.__name__} is drawn under {parent}"
        module = cls.__module__.removeprefix(PACKAGE + ".")
        if module != "errors":
            assert line.startswith(module + ":"), f"{cls.__name__}'s line names {module}"
    assert set(drawn) == set(names), "the drawing names a class the code does not have"


def test_no_exception_shadows_a_builtin() -> None:
    import builtins

    for cls in _package_exceptions():
        assert not hasattr(builtins, cls.__name__), cls.__name__


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (UserError("x"), "bad_input"),
        (errors.SpecError("x"), "bad_input"),
        (TransientError("x"), "transient"),
        (FatalError("x"), "fatal"),
        (errors.NotSupportedError("x"), "fatal"),
        (ValueError("x"), "fatal"),
        (KeyboardInterrupt(), "fatal"),
    ],
)
def test_kind_of(error: BaseException, kind: str) -> None:
    assert kind_of(error) == kind


def test_importing_errors_imports_no_driver() -> None:
    code = (
        "import sys, agent_orchestrated_etl.errors\n"
        "loaded = {'duckdb', 'psycopg', 'sqlalchemy', 'adbc_driver_manager', 'pyarrow'}"
        " & set(sys.modules)\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- making driver errors happen ---------------------------------------------------------------
@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("no error was raised")


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    from agent_orchestrated_etl.data.duck import connect

    con = connect()
    yield con
    con.close()


def one_line(error: AoetlError) -> str:
    assert "\n" not in str(error), str(error)
    return str(error)


# -- DuckDB --------------------------------------------------------------------------------------
def test_duckdb_bad_data_is_bad_input_without_the_sql(duck: duckdb.DuckDBPyConnection) -> None:
    exc = raised(lambda: duck.execute("SELECT 'abc'::INTEGER AS n"))
    error = classify_duckdb(exc, "table 'orders'")
    assert type(error) is UserError
    assert one_line(error).startswith("table 'orders': Conversion Error: Could not convert")
    assert "SELECT" not in str(error)


def test_duckdb_keeps_its_own_hint(duck: duckdb.DuckDBPyConnection) -> None:
    duck.execute("CREATE TABLE orders (amount INTEGER)")
    exc = raised(lambda: duck.execute("SELECT amount_x FROM orders"))
    error = classify(exc, "table 'orders'")
    assert type(error) is UserError and "amount" in one_line(error)


def test_duckdb_file_error_is_fatal(duck: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "x.parquet"
    exc = raised(lambda: duck.execute(f"COPY (SELECT 1) TO '{target}'"))
    error = classify_duckdb(exc, "table 'x'")
    assert type(error) is FatalError and kind_of(error) == "fatal"
    assert "x.parquet" in one_line(error) and "IO Error" not in str(error)
    assert str(error).endswith("No such file or directory; check that the folder exists")


def test_duckdb_interrupt_is_a_cancel(duck: duckdb.DuckDBPyConnection) -> None:
    timer = threading.Timer(0.3, duck.interrupt)
    timer.start()
    try:
        exc = raised(lambda: duck.execute("SELECT count(*) FROM range(1e12::BIGINT) a"))
    finally:
        timer.cancel()
    assert type(exc).__name__ == "InterruptException"
    assert str(classify_duckdb(exc, "table 'big'")) == "table 'big': load cancelled"


def test_a_postgres_connection_refused_through_duckdb_is_transient(
    duck: duckdb.DuckDBPyConnection, closed_port: int
) -> None:
    url = f"postgresql://etl:Pw-9xq-secret@127.0.0.1:{closed_port}/shop"
    duck.execute("LOAD postgres")
    exc = raised(lambda: duck.execute(f"ATTACH '{url}' AS pg (TYPE postgres)"))
    assert "Pw-9xq-secret" in str(exc)  # DuckDB quotes the URL, password and all
    error = classify_duckdb(exc, "cannot connect to postgresql://etl:***@127.0.0.1/shop")
    assert type(error) is TransientError
    line = one_line(error)
    assert "Pw-9xq-secret" not in line and "Unable to connect" not in line
    assert line.endswith(
        "Connection refused; check that the server is running and that the host and port are right"
    )


@pytest.mark.e2e
def test_duckdb_relays_the_servers_words(
    duck: duckdb.DuckDBPyConnection, postgres: Postgres
) -> None:
    wrong = postgres.url(password="Wr0ng-pass-4kd")
    duck.execute("LOAD postgres")
    exc = raised(lambda: duck.execute(f"ATTACH '{wrong}' AS bad (TYPE postgres)"))
    error = classify(exc, "cannot connect")
    assert type(error) is UserError and "Wr0ng-pass-4kd" not in str(error)
    assert one_line(error).startswith("cannot connect: password authentication failed")
    assert "; check the user and the password" in str(error)

    duck.execute(f"ATTACH '{postgres.url()}' AS pg (TYPE postgres)")
    duck.execute("CREATE TABLE pg.public.h3_dup (i INTEGER PRIMARY KEY)")
    try:
        exc = raised(lambda: duck.execute("INSERT INTO pg.public.h3_dup VALUES (1), (1)"))
    finally:
        duck.execute("DROP TABLE pg.public.h3_dup")
    error = classify_duckdb(exc, "table 'h3_dup'")
    assert type(error) is UserError
    assert one_line(error).startswith("table 'h3_dup': duplicate key value violates unique")


def test_a_registered_secret_is_masked(duck: duckdb.DuckDBPyConnection) -> None:
    register_secret("tok-77-zebra-quartz")
    exc = raised(lambda: duck.execute("SELECT 'tok-77-zebra-quartz'::DATE"))
    assert "tok-77-zebra-quartz" in str(exc)
    error = classify(exc, "step 'clean'")
    assert "tok-77-zebra-quartz" not in str(error) and "***" in str(error)


# -- psycopg and ADBC ----------------------------------------------------------------------------
def _psycopg(url: str) -> BaseException:
    import psycopg

    return raised(lambda: psycopg.connect(url, connect_timeout=5))


def _adbc(url: str) -> BaseException:
    import adbc_driver_postgresql.dbapi as adbc

    return raised(lambda: adbc.connect(url))


@pytest.mark.parametrize("connect", [_psycopg, _adbc], ids=["psycopg", "adbc"])
def test_a_closed_port_is_transient(
    connect: Callable[[str], BaseException], closed_port: int
) -> None:
    exc = connect(f"postgresql://etl:Pw-9xq-secret@127.0.0.1:{closed_port}/shop")
    error = classify_libpq(exc, "cannot connect to postgresql://etl:***@127.0.0.1/shop")
    assert type(error) is TransientError and kind_of(error) == "transient"
    line = one_line(error)
    assert "Pw-9xq-secret" not in line
    assert "[libpq]" not in line and "connection failed:" not in line
    assert line.startswith(
        f"cannot connect to postgresql://etl:***@127.0.0.1/shop: connection to server at "
        f'"127.0.0.1", port {closed_port} failed: Connection refused; check that the server'
    )


@pytest.mark.parametrize("connect", [_psycopg, _adbc], ids=["psycopg", "adbc"])
def test_a_missing_unix_socket_is_transient(
    connect: Callable[[str], BaseException], tmp_path: Path
) -> None:
    exc = connect(f"postgresql://etl@/shop?host={tmp_path}")
    assert "No such file or directory" in str(exc)  # the words of a missing file, but a server
    error = classify(exc, "cannot connect")
    assert type(error) is TransientError
    assert one_line(error).endswith("; check that the server is running and that the host and "
                                    "port are right")  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("connect", [_psycopg, _adbc], ids=["psycopg", "adbc"])
def test_login_and_database_failures_are_bad_input(
    connect: Callable[[str], BaseException], postgres: Postgres
) -> None:
    error = classify_libpq(connect(postgres.url(password="Wr0ng-pass-4kd")), "cannot connect")
    assert type(error) is UserError and "Wr0ng-pass-4kd" not in str(error)
    assert one_line(error) == (
        'cannot connect: password authentication failed for user "postgres"; check the user '
        "and the password (in the URL, or the ${…} reference that gives it)"
    )
    error = classify_libpq(connect(postgres.url(db="h3_no_such_db")), "cannot connect")
    assert type(error) is UserError
    assert one_line(error) == (
        'cannot connect: database "h3_no_such_db" does not exist; check the database name at '
        "the end of the URL"
    )


@pytest.mark.e2e
def test_sqlstate_decides_once_connected(postgres: Postgres) -> None:
    import adbc_driver_postgresql.dbapi as adbc
    import psycopg

    with psycopg.connect(postgres.url(), autocommit=True) as con:
        error = classify(raised(lambda: con.execute("SELECT 'a'::int")), "query")
        assert type(error) is UserError
        assert one_line(error) == 'query: invalid input syntax for type integer: "a"'
        victim = psycopg.connect(postgres.url(), autocommit=True)
        con.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
        dropped = raised(lambda: victim.execute("SELECT 1"))
        assert getattr(dropped, "sqlstate", None) == "57P01"
        error = classify(dropped, "reading stopped")
        assert type(error) is TransientError
        assert "terminating connection due to administrator command" in one_line(error)

        with adbc.connect(postgres.url(), autocommit=True) as other, other.cursor() as cur:
            error = classify(raised(lambda: cur.execute("SELECT * FROM h3_nope")), "query")
            assert type(error) is UserError
            assert one_line(error) == 'query: relation "h3_nope" does not exist'
            cur.execute("SELECT pg_backend_pid()")
            row = cur.fetchone()
            assert row is not None
            con.execute("SELECT pg_terminate_backend(%s)", (row[0],))
            error = classify(raised(lambda: cur.execute("SELECT 1")), "reading stopped")
            assert type(error) is TransientError


# -- SQLAlchemy and sqlite3 ------------------------------------------------------------------------
def test_sqlalchemy_missing_sqlite_folder_is_bad_input(tmp_path: Path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path}/missing/app.db")
    exc = raised(lambda: engine.connect().close())
    assert type(exc).__name__ == "OperationalError"
    error = classify_sqlalchemy(exc, f"cannot connect to sqlite:///{tmp_path}/missing/app.db")
    assert type(error) is UserError
    assert one_line(error).endswith(
        "unable to open database file; check that the file's folder exists and is writable"
    )
    assert classify(exc, "x").message == error.message.replace(
        f"cannot connect to sqlite:///{tmp_path}/missing/app.db", "x"
    )


def test_sqlalchemy_closed_port_is_transient(closed_port: int) -> None:
    import sqlalchemy as sa

    url = f"postgresql+psycopg://etl:Pw-9xq-secret@127.0.0.1:{closed_port}/shop"
    exc = raised(lambda: sa.create_engine(url).connect().close())
    error = classify_sqlalchemy(exc, "cannot connect")
    assert type(error) is TransientError
    line = one_line(error)
    assert "psycopg.OperationalError" not in line and "sqlalche.me" not in line
    assert "Connection refused; check that the server is running" in line


def test_sqlalchemy_unknown_dialect_is_bad_input() -> None:
    import sqlalchemy as sa

    exc = raised(lambda: sa.create_engine("nosuchdb://h/x"))
    error = classify_sqlalchemy(exc, "cannot connect to nosuchdb://h/x")
    assert type(error) is UserError and one_line(error).endswith("; check the URL")


def test_sqlite_lock_is_transient(tmp_path: Path) -> None:
    import sqlite3

    holder = sqlite3.connect(tmp_path / "app.db")
    holder.execute("CREATE TABLE t (i INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(tmp_path / "app.db", timeout=0)
    try:
        exc = raised(lambda: other.execute("SELECT * FROM t"))
    finally:
        holder.rollback()
        holder.close()
        other.close()
    assert type(classify(exc, "table 't'")) is TransientError


# -- REST APIs (urllib3) -------------------------------------------------------------------------
def test_urllib3_refused_and_timed_out_are_transient(closed_port: int) -> None:
    import urllib3

    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(0.2))
    refused = raised(lambda: pool.request("GET", f"http://127.0.0.1:{closed_port}/x"))
    error = classify(refused, "GET /x")
    assert type(error) is TransientError and "Connection refused" in one_line(error)
    assert "timed out" not in str(error) and str(error).endswith("that the URL is right")
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        slow = raised(lambda: pool.request("GET", f"http://127.0.0.1:{port}/x"))
    error = classify_urllib3(slow, "GET /x")
    assert type(error) is TransientError
    assert one_line(error).startswith("GET /x: timed out (ReadTimeoutError); check that the API")
    bad = raised(lambda: pool.request("GET", "http://127.0.0.1:notaport/x"))
    assert type(classify(bad, "GET /x")) is UserError and str(classify(bad, "x")).endswith("URL")


def test_http_status_rules() -> None:
    busy = classify_status(429, {"Retry-After": "1.5"}, b"slow down", "GET /a")
    assert type(busy) is TransientError and busy.retry_after == 1.5
    assert str(busy) == "GET /a: HTTP 429 (slow down)"
    down = classify_status(503, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"", "GET /a")
    assert type(down) is TransientError and down.retry_after == 0.0
    assert type(classify_status(408, {}, b"", "GET /a")) is TransientError  # request timeout
    assert "check the source's auth settings" in str(classify_status(401, {}, b"", "GET /a"))
    assert type(classify_status(403, {}, b"", "GET /a")) is UserError
    assert str(classify_status(404, {}, b"", "GET /a")).endswith("check the path and the base URL")
    assert type(classify_status(422, {}, b'{"detail": "bad"}', "GET /a")) is UserError
    register_secret("st-secret-4242")
    odd = classify_status(418, {}, b"teapot\nsays st-secret-4242 " + b"x" * 300, "GET /a")
    assert type(odd) is FatalError and "st-secret-4242" not in str(odd)
    assert one_line(odd).startswith("GET /a: HTTP 418 (teapot says ***") and len(str(odd)) < 160


# -- anything else -------------------------------------------------------------------------------
def test_classify_keeps_aoetl_errors_and_types_sockets(closed_port: int) -> None:
    mine = UserError("already one of ours")
    assert classify(mine, "x") is mine
    with socket.socket() as sock:
        refused = raised(lambda: sock.connect(("127.0.0.1", closed_port)))
    assert isinstance(refused, ConnectionRefusedError)
    assert type(classify(refused, "GET /orders")) is TransientError
    error = classify(ValueError("bad\nthing"), "step 'clean'")
    assert type(error) is FatalError and one_line(error) == "step 'clean': bad"


def test_an_http_error_duckdb_relays_as_text_is_typed_by_its_status() -> None:
    import duckdb

    from agent_orchestrated_etl.errors import classify_duckdb

    put = "HTTP Error: Request returned HTTP {} for HTTP PUT to 'http://127.0.0.1:1/b/x.parquet'"
    assert isinstance(classify_duckdb(duckdb.IOException(put.format(500)), "t"), TransientError)
    assert isinstance(classify_duckdb(duckdb.Error(put.format(503)), "t"), TransientError)
    assert isinstance(classify_duckdb(duckdb.IOException(put.format(403)), "t"), UserError)
