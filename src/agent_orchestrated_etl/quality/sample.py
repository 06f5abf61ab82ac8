"""``aoetl sample``: a representative sample of one table of any source, written to a file.

The source's relation is read once, inside DuckDB:

- ``random`` keeps the ``rows`` rows whose key (a hash of the row, the seed and the row's
  copy number among identical rows) is smallest: identical rows are counted and each copy
  gets its own key, so duplicates are drawn in proportion, then one aggregate
  (``min_by(row, key, N)``) holds N rows. The same seed draws the same rows whatever order
  the source hands them over in (a database or an API promises no order; DuckDB's
  ``REPEATABLE`` reservoir follows the read order);
- ``head`` is the first ``rows`` rows (a scan that stops early);
- ``stratified`` reads the table once into a private spilling table, counts each stratum,
  allocates ``rows`` proportionally (largest remainder, at least one per stratum when rows
  allow) and keeps each stratum's rows with the smallest key, numbered as for ``random``.

The file is written beside its destination under a temporary name, then renamed: a failure
leaves no half file.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import secrets as _random
import uuid
from pathlib import Path

import duckdb

from ..connectors import Relation, Resource, locate, source_for
from ..data.duck import quote_ident, quote_literal, unique_name
from ..errors import UserError, classify_duckdb
from ..spec.source import SourceSpec
from ..spec.uri import LOCAL_SCHEMES
from .frame import materialize, scratch
from .types import SampleResult

METHODS = ("random", "head", "stratified")
# Output format by the file's extension, and DuckDB's COPY options for it.
FORMATS = {
    ".csv": "FORMAT csv, HEADER true",
    ".parquet": "FORMAT parquet",
    ".json": "FORMAT json, ARRAY true",
    ".ndjson": "FORMAT json",
    ".jsonl": "FORMAT json",
}
# More strata than this is a key, not a category: each would hold a row or two.
MOST_STRATA = 1_000_000


def sample_source(
    spec: SourceSpec,
    output: Path,
    *,
    home: Path,
    table: str | None,
    rows: int,
    method: str,
    by: str | None,
    seed: int | None,
    anonymize: bool,
    pii: tuple[str, ...],
    anonymize_with: str,
    salt: str | None,
) -> SampleResult:
    """Draw ``rows`` rows of ``spec``'s table by ``method`` and write them to ``output``.

    Raises:
        UserError: bad options, an unknown table or column, or an output that cannot be
            written (or is the source itself).
    """
    _check_options(rows, method, by, anonymize_with)
    copy_options = _output_options(output)
    if seed is None and method != "head":
        seed = _random.randbelow(2**31)  # reported, so the same sample can be drawn again
    source = source_for(spec, home=home)
    try:
        resource = _pick(source.discover(), table, spec.uri)
        _not_the_source(output, resource, spec)
        columns = [name for name, _ in resource.columns]
        if by is not None and columns and by not in columns:
            raise UserError(
                f"--by {by}: table {resource.name} has no such column; its columns: "
                f"{', '.join(columns)}"
            )
        relation = source.relation(resource)
        con = scratch(home)
        try:
            picked, seen = _draw(con, relation, resource.name, rows, method, by, seed)
            anonymized: dict[str, str] = {}
            if anonymize or pii or salt is not None:  # a salt is only for anonymising
                from .anonymize import anonymize_table

                picked, anonymized = anonymize_table(
                    con, picked, pii=pii, how=anonymize_with, salt=salt, home=home
                )
            written = _write(con, picked, output, copy_options)
        finally:
            con.close()
    finally:
        source.close()
    return SampleResult(
        output=str(output),
        table=resource.name,
        rows=written,
        method=method,  # checked against METHODS
        seed=seed if method != "head" else None,
        rows_seen=seen,
        anonymized=anonymized,
        irreversible=bool(anonymized) and all(h.startswith("mask") for h in anonymized.values()),
    )


def _check_options(rows: int, method: str, by: str | None, how: str) -> None:
    if rows < 1:
        raise UserError(f"--rows must be at least 1 (got {rows})")
    if method not in METHODS:
        raise UserError(f"--method {method}: use one of {', '.join(METHODS)}")
    if method == "stratified" and not by:
        raise UserError("--method stratified needs --by COLUMN: the column whose values to keep")
    if by and method != "stratified":
        raise UserError(f"--by {by} is for --method stratified (got --method {method})")
    from .anonymize import METHODS as HOWS

    if how not in HOWS:
        raise UserError(f"--with {how}: use one of {', '.join(HOWS)}")


def _output_options(output: Path) -> str:
    if output.is_dir():  # first: a folder (/) may have no name to tell a format by
        raise UserError(f"{output} is a folder; give a file name such as {output / 'sample.csv'}")
    options = FORMATS.get(output.suffix.lower())
    if options is None:
        raise UserError(
            f"cannot tell the output format of {output.name or output}: name it .csv, "
            f".parquet, .json (one JSON array) or .ndjson/.jsonl (one object a line)"
        )
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {output}: the folder {folder} does not exist; create it")
    if not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {output}: the folder {folder} is not writable")
    return options


def _pick(resources: list[Resource], table: str | None, uri: str) -> Resource:
    names = [r.name for r in resources]
    if not resources:
        raise UserError(f"{locate(uri).display} holds no table to sample")
    if table is None:
        if len(resources) > 1:
            raise UserError(
                f"{locate(uri).display} holds {len(names)} tables; pick one with --table: "
                f"{', '.join(names)}"
            )
        return resources[0]
    for resource in resources:
        if resource.name == table:
            return resource
    folded = [r for r in resources if r.name.lower() == table.lower()]
    if len(folded) == 1:
        return folded[0]
    raise UserError(f"no table {table} in {locate(uri).display}; its tables: {', '.join(names)}")


def _not_the_source(output: Path, resource: Resource, spec: SourceSpec) -> None:
    """A sample written over the file it is drawn from would destroy the source."""
    target = output.expanduser().resolve()
    where = locate(spec.uri, spec.base_dir)
    paths = [loc for loc in resource.locations if "://" not in loc]
    if where.scheme in LOCAL_SCHEMES and where.path:
        paths.append(where.path)
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            if Path(path).expanduser().resolve() == target:
                raise UserError(f"{output} is the source itself; write the sample to another file")


def _draw(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    name: str,
    rows: int,
    method: str,
    by: str | None,
    seed: int | None,
) -> tuple[str, int | None]:
    """The sample as a temporary table of ``con``, and the rows read to draw it (if known)."""
    what = f"table '{name}'"
    picked = quote_ident(unique_name("sample"))
    row = quote_ident(unique_name("row"))  # the whole row as a struct, under a name no column has
    if method == "head":
        _run(
            con,
            relation,
            f"CREATE TEMP TABLE {picked} AS SELECT * FROM ({relation.sql}) LIMIT {rows}",
            what,
        )
        written = _count(con, picked)
        return picked, written if written < rows else None
    if method == "random":
        drawn, copies, copy = (quote_ident(unique_name(n)) for n in ("drawn", "copies", "copy"))
        # Identical rows have one hash, so each copy's key takes its number among them: the
        # copies are counted (GROUP BY every column: distinct rows, spilling to scratch) and
        # numbered 0..n-1, which the read order cannot change. The N smallest keys win.
        _run(
            con,
            relation,
            f"CREATE TEMP TABLE {drawn} AS SELECT "
            f"coalesce(sum({row}.{copies}) FILTER (WHERE {copy}.{copy} = 0), 0) AS seen, "
            f"min_by({row}, hash({row}, {seed}, {copy}.{copy}), {rows}) AS picked "
            f"FROM (SELECT *, count(*) AS {copies} FROM ({relation.sql}) GROUP BY ALL) AS {row}, "
            f"range({row}.{copies}) AS {copy}({copy})",
            what,
        )
        # unnest twice: the list into rows, then each row's struct into its columns.
        con.execute(
            f"CREATE TEMP TABLE {picked} AS SELECT * EXCLUDE ({copies}) FROM "
            f"(SELECT unnest(p) FROM (SELECT unnest(picked) AS p FROM {drawn}))"
        )
        found = con.execute(f"SELECT seen FROM {drawn}").fetchone()
        con.execute(f"DROP TABLE {drawn}")
        return picked, int(found[0]) if found else 0
    assert by is not None
    return _stratified(con, relation, what, picked, row, rows, by, seed)


def _stratified(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    what: str,
    picked: str,
    row: str,
    rows: int,
    by: str,
    seed: int | None,
) -> tuple[str, int]:
    rank = unique_name("rank")
    read = materialize(con, relation, what)
    table = quote_ident(unique_name("ranked"))
    # Identical rows have one hash: each copy's key takes its number among them (copies are
    # interchangeable, so which gets which number does not matter), not the read order.
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT *, hash({row}, {seed}, row_number() OVER "
        f"(PARTITION BY {row})) AS {quote_ident(rank)} FROM {read} AS {row}"
    )
    con.execute(f"DROP TABLE {read}")
    column = quote_ident(by)
    try:
        con.execute(f"SELECT {column} FROM {table} LIMIT 0")
    except duckdb.BinderException:
        names = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()][:-1]
        raise UserError(
            f"--by {by}: the table has no such column; its columns: {', '.join(names)}"
        ) from None
    strata = quote_ident(unique_name("strata"))
    # Strata in an order the seed shuffles, so ties in the allocation fall the same way.
    con.execute(
        f"CREATE TEMP TABLE {strata} AS SELECT row_number() OVER (ORDER BY hash({column}, "
        f"{seed})) AS stratum, {column} AS key, count(*) AS n FROM {table} GROUP BY {column}"
    )
    sizes = [int(r[0]) for r in con.execute(f"SELECT n FROM {strata} ORDER BY stratum").fetchall()]
    if len(sizes) > MOST_STRATA:
        raise UserError(
            f"--by {by} has {len(sizes):,} distinct values; stratify by a column with fewer "
            f"(a category, not a key)"
        )
    takes = allocate(sizes, rows)
    quotas = quote_ident(unique_name("take"))
    con.execute(f"CREATE TEMP TABLE {quotas} (stratum BIGINT, take BIGINT)")
    shares = [(i + 1, take) for i, take in enumerate(takes) if take]
    if shares:  # an empty table has no stratum to share rows among
        con.executemany(f"INSERT INTO {quotas} VALUES (?, ?)", shares)
    ranked, take = quote_ident(unique_name("n")), quote_ident(unique_name("take"))
    con.execute(
        f"CREATE TEMP TABLE {picked} AS SELECT * EXCLUDE ({quote_ident(rank)}, {ranked}, {take}) "
        f"FROM (SELECT t.*, row_number() OVER (PARTITION BY t.{column} ORDER BY "
        f"t.{quote_ident(rank)}) AS {ranked}, q.take AS {take} FROM {table} t "
        f"JOIN {strata} s ON t.{column} IS NOT DISTINCT FROM s.key "
        f"JOIN {quotas} q ON q.stratum = s.stratum) "
        f"WHERE {ranked} <= {take} ORDER BY {column}, {ranked}"
    )
    for temp in (table, strata, quotas):
        con.execute(f"DROP TABLE {temp}")
    return picked, sum(sizes)


def allocate(sizes: list[int], rows: int) -> list[int]:
    """``rows`` shared among strata of ``sizes`` in proportion (largest remainder), each
    stratum at least one row when there are no more strata than rows, none above its size.
    """
    total = sum(sizes)
    if rows >= total:
        return list(sizes)
    quotas = [rows * n / total for n in sizes]
    least = 1 if len(sizes) <= rows else 0
    takes = [min(n, max(least, math.floor(q))) for n, q in zip(sizes, quotas, strict=True)]
    short = rows - sum(takes)
    # Short: the strata furthest below their quota get one more each. Over (the floor of one
    # row lifted small strata): the strata furthest above their quota give one back, again
    # and again if need be.
    if short > 0:
        ahead = heapq.nsmallest(
            short,
            (i for i in range(len(sizes)) if takes[i] < sizes[i]),
            key=lambda i: (takes[i] - quotas[i], i),
        )
        for i in ahead:
            takes[i] += 1
    heap = [(quotas[i] - takes[i], i) for i in range(len(sizes)) if takes[i] > max(least, 0)]
    heapq.heapify(heap)
    while short < 0 and heap:
        _, i = heapq.heappop(heap)
        takes[i] -= 1
        short += 1
        if takes[i] > least:
            heapq.heappush(heap, (quotas[i] - takes[i], i))
    return takes


def _run(con: duckdb.DuckDBPyConnection, relation: Relation, sql: str, what: str) -> None:
    """Run ``sql`` that reads ``relation``; errors as :func:`frame.materialize` raises them."""
    try:
        relation.attach(con)
        con.execute(sql)
    except duckdb.Error as exc:
        raised = relation.stream_error()
        if raised is not None:
            raise raised from exc
        raise classify_duckdb(exc, what) from exc


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    found = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(found[0]) if found else 0


def _write(con: duckdb.DuckDBPyConnection, table: str, output: Path, options: str) -> int:
    """Write ``table`` to ``output`` under a temporary name, then rename it into place."""
    temp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        con.execute(f"COPY (SELECT * FROM {table}) TO {quote_literal(str(temp))} ({options})")
        os.replace(temp, output)
    except (duckdb.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        # DuckDB's I/O message names the file and the cause; other errors could quote a value.
        text = str(exc).splitlines()[0] if isinstance(exc, duckdb.IOException) else ""
        reason = getattr(exc, "strerror", None) or text or type(exc).__name__
        raise UserError(f"cannot write the sample to {output}: {reason}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return _count(con, table)
