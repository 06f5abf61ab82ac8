"""PostgreSQL and SQLite as destinations, with the DuckDB destination's exactly-once contract.

The database is ATTACHed through DuckDB's postgres or sqlite extension and everything the
DuckDB destination does runs there: each table is staged (the postgres extension writes with
binary COPY) together with its checkpoint row in ``_aoetl.checkpoints``, in one transaction of
the database; the commit renames, inserts or MERGEs every staged table and records the run, in
one more. Tables and schemas are created with mapped types, and every identifier is quoted.

PostgreSQL keeps 63 bytes of a name and would silently cut a longer one, so a load could land
in (and an old staging drop remove) another table: such names are refused before anything is
written. Its names are case-sensitive when quoted, as aoetl quotes them; SQLite's, like
DuckDB's, ignore the case of ASCII letters.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb

from ...data.duck import Relation, connect, quote_ident, quote_literal
from ...secrets import register_url
from ..base import Location
from ..duckdb.target import _DB, DuckDBDestination
from ._catalog import cannot_connect

_KINDS = {"postgresql": "postgres", "sqlite": "sqlite"}


class SqlDestination(DuckDBDestination):
    """``postgresql://user:${secret:…}@host/db`` or ``sqlite:///file.db``, located once by the
    registry (references resolved, a relative SQLite path anchored)."""

    def __init__(self, where: Location, *, home: Path | None = None) -> None:
        super().__init__(where.display, home=home)
        kind = where.scheme.split("+", 1)[0]
        self._url = where.url  # resolved: never logged
        self._kind = _KINDS[kind]
        # SQLite opens its file again per transaction, so a relative name would follow the
        # process's working directory: it is fixed here, absolute.
        self._file = "" if kind != "sqlite" else _absolute(where.path)
        if self._kind == "sqlite":  # SQLite has no schemas: the bookkeeping tables live in main
            self.CHECKPOINTS, self.COMMITS = "_aoetl_checkpoints", "_aoetl_commits"
            self.CURSORS = "_aoetl_cursors"
            self.MERGE = False
            self.KIND = "SQLite"
        else:
            self.KIND = "PostgreSQL"
            self.MAX_NAME_BYTES = 63  # NAMEDATALEN - 1: a longer name is cut, not refused
            self.FOLDS_CASE = False
            # Other runs may use the bookkeeping schema at the same time: it is never dropped.
            self.SHARED = True
        self.display = where.display
        self._attached = True
        # DuckDB's postgres and sqlite extensions cannot ALTER a column's type.
        self.ALTER_TYPE = False
        self.endpoint = where.endpoint  # keys the circuit breaker

    def _adapt(self, sql: str, incoming: list[tuple[str, str]]) -> str:
        """PostgreSQL cannot take DuckDB's unnamed ENUMs: such columns load as text."""
        enums = [name for name, typ in incoming if typ.startswith("ENUM(")]
        if not enums:
            return sql
        casts = ", ".join(f"CAST({quote_ident(n)} AS VARCHAR) AS {quote_ident(n)}" for n in enums)
        return f"SELECT * REPLACE ({casts}) FROM ({sql})"

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._kind == "postgres":
            target = _pg_url(self._url)
            register_url(target)
        else:
            target = self._file
        con = connect(home=self._home)
        try:
            con.execute(f"LOAD {self._kind}")
            con.execute(f"ATTACH {quote_literal(target)} AS {_DB} (TYPE {self._kind})")
            con.execute(f"USE {_DB}")
        except duckdb.Error as exc:
            con.close()
            raise cannot_connect(self.display, exc) from None
        return con

    def staged(self, table: str) -> Relation:
        """The staging table read through DuckDB's scanner, by any DuckDB connection.

        The prelude ATTACHes the database read-only under a name fixed per run, so a connection
        that reads several staged tables attaches it once; it holds the resolved URL (never
        logged, as for a source's prelude).
        """
        with self._lock:
            stage = self._staged_table(table)
        target = _pg_url(self._url) if self._kind == "postgres" else self._file
        digest = hashlib.sha256(f"{self.display}\0{self.run_id}".encode()).hexdigest()[:12]
        alias = quote_ident(f"_aoetl_staged_{digest}")
        return Relation(
            f"SELECT * FROM {alias}.{stage}",
            prelude=(
                f"LOAD {self._kind}",
                f"ATTACH IF NOT EXISTS {quote_literal(target)} AS {alias} "
                f"(TYPE {self._kind}, READ_ONLY)",
            ),
        )

    def _local_file(self) -> Path | None:
        return Path(self._file) if self._kind == "sqlite" else None


def _pg_url(url: str) -> str:
    """``url`` as libpq takes it (no SQLAlchemy driver suffix, no ``postgres://``)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def _absolute(path: str) -> str:
    return path if path == ":memory:" else str(Path(path).expanduser().absolute())
