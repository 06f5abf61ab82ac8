"""DuckDB plumbing shared by every source, destination and transform.

This is the one place that opens DuckDB connections (with the offline extension directory),
quotes identifiers, defines a Relation, and turns DuckDB's CSV rejects tables into
quarantined rows.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import os
import re
import shutil
import string
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import duckdb

if TYPE_CHECKING:  # pyarrow loads only when a Python step or an Arrow stream needs it
    import pyarrow as pa

from ..errors import AoetlError, FatalError, UserError

DUCKDB_VERSION = "v1.5.5"
# PyPI packages that ship DuckDB extensions, and the canonical name DuckDB loads each as.
_EXTENSION_PACKAGES = ("httpfs", "postgres", "sqlite_scanner", "vss")
_CANONICAL = {"postgres": "postgres_scanner", "sqlite": "sqlite_scanner"}
_names = itertools.count(1)


def unique_name(prefix: str) -> str:
    """A name no other object in this process uses (for temp tables and bindings)."""
    return f"__aoetl_{prefix}_{os.getpid()}_{next(_names)}"


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold(name: str) -> str:
    """``name`` as DuckDB and SQLite compare identifiers: only ASCII letters ignore case."""
    return name.translate(_ASCII_LOWER)


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (and Postgres): double quotes, inner quotes doubled."""
    if "\x00" in name:
        raise UserError(f"identifier {name!r} contains a NUL byte; rename it")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal for DuckDB SQL."""
    return "'" + value.replace("'", "''") + "'"


def extension_directory(home: Path) -> Path:
    """Link DuckDB extensions shipped as PyPI packages into ``home`` so LOAD works offline."""
    return _extensions(home)[0]


_LINKED: dict[Path, tuple[Path, bool]] = {}


def _extensions(home: Path) -> tuple[Path, bool]:
    """:func:`_link_extensions`, done once per home while its directory stays in place."""
    home = home.expanduser().resolve()
    found = _LINKED.get(home)
    if found is None or not found[0].is_dir():
        found = _LINKED[home] = _link_extensions(home)
    return found


def _link_extensions(home: Path) -> tuple[Path, bool]:
    """(the extension directory, whether every file in it is a link to an installed package).

    DuckDB checks an extension's signature on every LOAD, which costs ~80 ms per connection.
    The files here are links to the extensions pip installed beside DuckDB, which aoetl trusts
    as it trusts its own installed code; a file that is anything else is replaced by the link,
    and if links cannot be made (a copy instead), DuckDB keeps checking signatures.
    """
    root = home / "duckdb_extensions"
    platform = duckdb.execute("PRAGMA platform").fetchone()
    target = root / DUCKDB_VERSION / (platform[0] if platform else "linux_amd64")
    trusted, ours = True, set()
    for package in _EXTENSION_PACKAGES:
        spec = importlib.util.find_spec(f"duckdb_extension_{package}")
        if spec is None or not spec.submodule_search_locations:
            continue
        found = Path(next(iter(spec.submodule_search_locations))) / "extensions" / DUCKDB_VERSION
        for source in found.glob("*.duckdb_extension"):
            name = source.name.removesuffix(".duckdb_extension")
            dest = target / f"{_CANONICAL.get(name, name)}.duckdb_extension"
            ours.add(dest.name)
            if dest.is_symlink() and dest.resolve() == source.resolve():
                continue
            target.mkdir(parents=True, exist_ok=True)
            dest.unlink(missing_ok=True)
            try:  # a link costs nothing; DuckDB reads through it
                os.symlink(source, dest)
            except OSError:
                shutil.copyfile(source, dest)
                trusted = False
    others = [p for p in target.glob("*.duckdb_extension") if p.name not in ours]
    return root, trusted and not others


def default_home() -> Path:
    """AOETL_HOME, or ./.aoetl (as :func:`settings.home` decides): where the offline
    extension directory lives when a caller gives no home."""
    from ..settings import home

    return home()


def connect(
    path: str = ":memory:", *, home: Path | None = None, lock_timeout: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with the offline extension directory (when ``home`` is given).

    A file another process holds open fails at once, or after ``lock_timeout`` seconds of
    retrying (DuckDB itself never waits for the lock).
    """
    root, trusted = _extensions(home or default_home())
    # Offline by design: an extension not shipped as a package fails to load, never downloads.
    config: dict[str, Any] = {
        "extension_directory": str(root),
        "autoinstall_known_extensions": False,
    }
    if trusted:  # every extension is a link to a pip-installed file: skip the signature check
        config["allow_unsigned_extensions"] = True
    deadline = time.monotonic() + (lock_timeout or 0.0)
    while True:
        try:
            con = duckdb.connect(path, config=config)
            # aoetl shows its own progress (from query_progress); DuckDB must not print bars
            # into --json output or logs.
            con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise FatalError(f"cannot open DuckDB file {path}: {exc}") from exc
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if lock_timeout:
                raise UserError(
                    f"the DuckDB file {path} was still open in another process after "
                    f"{lock_timeout:g} s; close it and run again, or wait longer (--lock-timeout)"
                ) from exc
            raise UserError(
                f"the DuckDB file {path} is open in another process; close it and run again, "
                f"or wait for it with --lock-timeout SECONDS"
            ) from exc


def describe(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, str]]:
    """Column names and DuckDB types of a query, without running it."""
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {sql}").fetchall()]


@dataclass
class BadRow:
    """A row that could not be loaded, kept with where it came from and why.

    ``raw`` is the record as it was read: bytes from a file (exactly as stored there, so a
    replay with another encoding or dialect can read it again), text from a database.
    """

    table: str
    file: str | None
    line: int | None
    reason: str
    raw: str | bytes | None

    def redacted_raw(self) -> str | bytes | None:
        """``raw`` with any secret value masked; bytes stay bytes, unchanged when nothing is."""
        from ..secrets import redact

        if isinstance(self.raw, bytes):
            # surrogateescape decodes any bytes and encodes them back exactly.
            text = self.raw.decode("utf-8", "surrogateescape")
            masked = redact(text)
            return self.raw if masked == text else masked.encode("utf-8", "surrogateescape")
        return redact(self.raw) if self.raw else self.raw


@dataclass
class RejectSink:
    """DuckDB CSV rejects tables that a ``read_csv(store_rejects=true)`` fills as it runs.

    The tables are temporary, so they live in whichever connection ran the SQL; ``con`` is set
    when that connection is known.
    """

    table: str
    errors_table: str = field(default_factory=lambda: unique_name("rej_e"))
    scans_table: str = field(default_factory=lambda: unique_name("rej_s"))
    con: duckdb.DuckDBPyConnection | None = None
    # Streams a file's stored bytes (the source's file system: an S3 object's own bytes).
    opener: Callable[[str], BinaryIO] | None = None

    def fetch(self) -> list[BadRow]:
        """The rejected rows, one per (file, line), with all their errors joined.

        Each keeps the record's bytes as they are in the file (see :mod:`._raw`).
        """
        if self.con is None:
            return []
        try:
            rows = self.con.execute(
                f"""
                SELECT s.file_path, e.line, string_agg(e.error_message, '; ' ORDER BY e.column_idx),
                       arg_min(e.csv_line, e.line_byte_position), min(e.line_byte_position),
                       any_value(s.user_arguments)
                FROM (
                    -- one message per kind of error on a line ("missing columns" repeats)
                    SELECT * FROM {self.errors_table}
                    QUALIFY row_number() OVER (
                        PARTITION BY scan_id, file_id, line, error_type,
                        CASE WHEN error_type = 'CAST' THEN column_idx END
                        ORDER BY column_idx) = 1
                ) e
                JOIN {self.scans_table} s USING (scan_id, file_id)
                GROUP BY s.file_path, e.line
                ORDER BY s.file_path, e.line
                """
            ).fetchall()
        except duckdb.CatalogException:
            return []  # the read never ran, so nothing was rejected
        from ._raw import record_bytes

        by_file: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_file.setdefault(row[0], []).append(row)
        bad = []
        for path, found in by_file.items():
            encoding = _ENCODING.search(found[0][5] or "")
            raws = record_bytes(
                path,
                encoding.group(1) if encoding else "utf-8",
                [(r[4], r[3]) for r in found],
                self.opener,
            )
            for r, raw in zip(found, raws, strict=True):
                text = r[3].lstrip("\r\n") if r[3] is not None else None
                # DuckDB's text, when the file cannot be read back (a remote file).
                kept = raw if raw is not None else (text.encode() if text is not None else None)
                bad.append(BadRow(self.table, path, r[1], _reason(r[2]), kept))
        return bad


_LINE_SIZE = re.compile(
    r"Maximum line size of (\d+) bytes exceeded\. Actual Size:\s*(\d+) bytes\.?"
)


def _reason(message: str) -> str:
    """DuckDB's reject message, with the spec option to change where there is one."""
    found = _LINE_SIZE.search(message)
    if found is None:
        return message
    limit, size = int(found.group(1)), int(found.group(2))
    return (
        f"line of {size:,} bytes is longer than max_line_size ({limit:,}); raise "
        f"source.max_line_size to load it"
    )


_ENCODING = re.compile(r"\bencoding='([^']*)'")


@dataclass
class Relation:
    """Data on its way to a destination, as DuckDB SQL.

    ``sql`` is a SELECT any DuckDB connection can run once it has registered ``bindings``
    (Arrow streams, by name). With no bindings the SQL reads files itself, so a DuckDB
    destination can run extract, transform and load as one statement.
    """

    sql: str
    bindings: dict[str, pa.RecordBatchReader] = field(default_factory=dict)
    rejects: list[RejectSink] = field(default_factory=list)
    extra_bad_rows: list[BadRow] = field(default_factory=list)
    # Statements to run first in whichever connection runs ``sql`` (LOAD, ATTACH IF NOT
    # EXISTS …). They may hold a resolved password: never log them.
    prelude: tuple[str, ...] = ()
    # Exceptions raised inside the Arrow streams (see :func:`guarded`), shared by every
    # Relation derived from this one: the engine only reports them as text.
    stream_errors: list[BaseException] = field(default_factory=list)
    # Load with one engine thread. For a driver's stream that needs no Python per row (ADBC),
    # DuckDB then writes whole row groups instead of a partial group per thread, which its
    # checkpoint must merge later: measured on 2M rows, 489 -> 313 MB peak, 4.0 -> 3.8 s. A
    # stream built in Python (SQLAlchemy, python: steps) keeps every thread: there the engine's
    # work overlaps the Python that makes the next batch.
    single_thread: bool = False
    # Rows the source's Arrow streams have handed over so far (see :func:`guarded`), for
    # progress where the engine cannot tell its own; None when nothing counts them.
    rows_read: list[int] | None = None
    # Repaired copies read in place of the user's files: rejects name the original file.
    file_names: dict[str, str] = field(default_factory=dict)

    def wrap(self, sql: str) -> Relation:
        """The same bindings, rejects and prelude under new SQL (a step over this one)."""
        return dataclasses.replace(self, sql=sql)

    def stream_error(self) -> Exception | None:
        """The typed error a stream raised, to report instead of the engine's wrapping of it."""
        return next((e for e in self.stream_errors if isinstance(e, AoetlError)), None)

    @property
    def fused(self) -> bool:
        """True when no Python sits between the source and the engine."""
        return not self.bindings

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Register the Arrow bindings in ``con`` and route pending rejects to it."""
        for statement in self.prelude:
            con.execute(statement)
        for name, reader in self.bindings.items():
            con.register(name, reader)
        for sink in self.rejects:
            if sink.con is None:
                sink.con = con

    def columns(self, home: Path | None = None) -> list[tuple[str, str]] | None:
        """The columns ``sql`` gives, found by binding it over empty stand-ins for its Arrow
        streams (nothing is read); None when it does not bind, which the load then reports."""
        import pyarrow as pa

        con = connect(home=home)
        try:
            for statement in self.prelude:
                con.execute(statement)
            for name, reader in self.bindings.items():
                con.register(name, pa.Table.from_batches([], schema=reader.schema))
            return describe(con, self.sql)
        except duckdb.Error:
            return None
        finally:
            con.close()

    def bad_rows(self) -> list[BadRow]:
        """Every row rejected on the way, from the engine's rejects and from Python checks."""
        rejected = [row for s in self.rejects for row in s.fetch()]
        for row in rejected:
            row.file = self.file_names.get(row.file or "", row.file)
        return [*self.extra_bad_rows, *rejected]

    def to_reader(
        self, batch_rows: int = 122_880, *, home: Path | None = None
    ) -> pa.RecordBatchReader:
        """Run the SQL in a private in-memory connection and stream the result as Arrow."""
        con = connect(home=home)
        self.attach(con)
        reader = con.execute(self.sql).to_arrow_reader(batch_rows)
        # Keep the connection alive as long as the stream (its temp tables hold the rejects).
        return _KeepAlive.wrap(reader, con)


def guarded(
    batches: Iterable[pa.RecordBatch],
    errors: list[BaseException],
    rows_read: list[int] | None = None,
) -> Iterator[Any]:
    """Yield ``batches``; an exception on the way is kept in ``errors``, then propagates.

    An Arrow stream runs inside the engine, which turns whatever it raises into an
    InvalidInputException holding a traceback as text. Keeping the exception lets the
    destination raise it as it was: a TransientError a retry can fix, a FatalError that names
    the python step that failed. ``rows_read[0]``, if given, counts the rows handed over.
    """
    try:
        if rows_read is None:
            yield from batches
            return
        for batch in batches:
            rows_read[0] += batch.num_rows
            yield batch
    except Exception as exc:
        errors.append(exc)
        raise


class _KeepAlive:
    """Ties a DuckDB connection's life to a RecordBatchReader that streams from it."""

    @staticmethod
    def wrap(reader: pa.RecordBatchReader, con: duckdb.DuckDBPyConnection) -> pa.RecordBatchReader:
        import pyarrow as pa

        def batches() -> Iterable[pa.RecordBatch]:
            _ = con
            yield from reader

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


def last_per_key(sql: str, key: tuple[str, ...], columns: Iterable[str] | None = None) -> str:
    """``sql`` with one row per key kept: the last one read (merge and dedupe semantics).

    The read order is numbered in a helper column. Its name must not be one of ``sql``'s
    columns: a user column of that name would be replaced by the number and then dropped. Given
    ``columns``, the name is chosen absent from them (as DuckDB compares names); without them,
    it holds 128 random bits, which no data set can name in advance.
    """
    parts = ", ".join(quote_ident(k) for k in key)
    if columns is None:
        row = f"__aoetl_row_{uuid.uuid4().hex}"
    else:
        taken = {fold(c) for c in columns}
        names = itertools.chain(["__aoetl_row"], (f"__aoetl_row_{i}" for i in itertools.count(1)))
        row = next(name for name in names if name not in taken)
    return (
        f"SELECT * EXCLUDE ({row}) FROM "
        f"(SELECT *, row_number() OVER () AS {row} FROM ({sql})) "
        f"QUALIFY row_number() OVER (PARTITION BY {parts} ORDER BY {row} DESC) = 1"
    )


def key_match(left: str, right: str, key: tuple[str, ...]) -> str:
    """A join condition on ``key`` in which NULL keys match NULL keys."""
    return " AND ".join(
        f"{left}.{quote_ident(k)} IS NOT DISTINCT FROM {right}.{quote_ident(k)}" for k in key
    )


def sql_list(values: Iterable[str]) -> str:
    """A DuckDB list literal of strings."""
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"
