"""NDJSON lines checked one by one, and JSON documents whose records sit under a key.

DuckDB's ``read_json`` with ``ignore_errors`` loses a valid line after a truncated one (the
parser reads on into it), turns a line of invalid UTF-8 into a row of NULLs, and rejects a
byte-order mark. So each NDJSON file gets one DuckDB pass over its lines first: every line
that is not a JSON object (or ``null``) is quarantined with its number and bytes, and a file
with any such line (or a BOM) is read from a copy where those lines are blank. A clean file
is read as it is, with no copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ...data import lines as _lines
from ...data.duck import BadRow, quote_ident, quote_literal, unique_name
from ...errors import UserError

# Keys that usually hold a document's records, tried in this order when several keys hold
# arrays of objects (GeoJSON's 'features' among them).
RECORD_KEYS = ("data", "features", "records", "items", "results", "rows", "entries", "value")
DUCKDB_OBJECT_SIZE = 16 * 1024 * 1024  # read_json's default maximum_object_size


@dataclass
class CheckedFile:
    """What to read for one NDJSON file, and the lines that cannot be loaded."""

    read_from: str
    bad: list[BadRow]


def check_ndjson(
    con: duckdb.DuckDBPyConnection,
    table: str,
    location: str,
    limit: int,
    scratch: Callable[[], Path],
    opener: _lines.Opener | None = None,
    named: str | None = None,
    compression: str | None = None,
    head: Callable[[], bytes] | None = None,
) -> CheckedFile:
    """Find the lines of ``location`` that are not records; repair the file if there are any.

    ``limit`` is the longest line allowed (bytes); ``scratch`` gives a folder for copies;
    ``opener`` streams ``location`` (an S3 object) where it is not a local file. A file whose
    name tells the wrong codec is read as ``named`` by the line helpers (``opener`` opening
    ``location``), and with DuckDB's ``compression``. ``head`` gives the file's first
    bytes, decompressed, from a read already made (an S3 object is not opened again for them).
    """
    path = named or location
    reasons: dict[int, str] = {}
    scan_from = location
    try:
        reasons = _scan(con, scan_from, limit, compression)
    except duckdb.Error as exc:
        if "maximum line size" not in str(exc).lower():
            raise UserError(f"cannot read {location} as NDJSON: {_first_line(exc)}") from None
        reasons = {
            n: f"line of {size:,} bytes is longer than max_line_size ({limit:,}); raise "
            f"source.max_line_size to load it"
            for n, size in _lines.long_lines(path, limit, opener).items()
        }
        copy, _ = _lines.repaired_copy(path, reasons, scratch(), opener)
        try:
            reasons.update(_scan(con, str(copy), limit))
        finally:
            copy.unlink(missing_ok=True)
    bom = head()[:3] == _lines.BOM if head is not None else _lines.has_bom(path, opener)
    if not reasons and not bom:
        return CheckedFile(location, [])
    copy, raw = _lines.repaired_copy(path, reasons, scratch(), opener)
    bad = [BadRow(table, location, n, reasons[n], raw.get(n)) for n in sorted(reasons)]
    return CheckedFile(str(copy), bad)


def _scan(
    con: duckdb.DuckDBPyConnection, location: str, limit: int, compression: str | None = None
) -> dict[int, str]:
    """{line: reason} for every non-blank line that is not a JSON object or null."""
    errors, scans = unique_name("jl_e"), unique_name("jl_s")
    codec = f", compression={quote_literal(compression)}" if compression else ""
    lines = (
        f"read_csv({quote_literal(location)}{codec}, columns={{'line': 'VARCHAR'}}, "
        f"delim=E'\\x1e', "
        f"quote='', escape='', header=false, auto_detect=false, strict_mode=false, "
        f"max_line_size={limit}, store_rejects=true, "
        f"rejects_table={quote_literal(errors)}, rejects_scan={quote_literal(scans)})"
    )
    rows = con.execute(
        f"""
        SELECT n, CASE WHEN NOT json_valid(line) THEN 'malformed JSON line'
                       WHEN json_type(line) = 'ARRAY' THEN 'a JSON array, not an object'
                       WHEN json_type(line) = 'VARCHAR' THEN 'a JSON string, not an object'
                       WHEN json_type(line) = 'BOOLEAN' THEN 'a JSON boolean, not an object'
                       ELSE 'a JSON number, not an object' END
        FROM (SELECT row_number() OVER () AS n, line FROM {lines})
        WHERE trim(line, E' \\t\\r') <> ''
          AND (NOT json_valid(line) OR json_type(line) NOT IN ('OBJECT', 'NULL'))
        """
    ).fetchall()
    # Lines DuckDB rejected (bytes that are not UTF-8) are missing from the numbering above.
    kinds = dict(
        con.execute(f"SELECT line, any_value(error_type) FROM {errors} GROUP BY line").fetchall()
    )
    con.execute(f"DROP TABLE IF EXISTS {errors}; DROP TABLE IF EXISTS {scans}")
    rejected = sorted(int(n) for n in kinds)
    reasons = {_true_line(int(n), rejected): str(why) for n, why in rows}
    for n, kind in kinds.items():
        reasons[int(n)] = (
            f"line longer than max_line_size ({limit:,} bytes); raise source.max_line_size to "
            f"load it"
            if "LINE SIZE" in str(kind).upper()
            else "bytes that are not UTF-8"
        )
    return reasons


def _true_line(kept_index: int, rejected: list[int]) -> int:
    """The file line of the ``kept_index``-th line that DuckDB did not reject."""
    line = kept_index
    for r in rejected:
        if r <= line:
            line += 1
        else:
            break
    return line


def record_path(
    con: duckdb.DuckDBPyConnection, sql: str, declared: str | None
) -> tuple[str | None, str | None]:
    """(the key whose array holds the records, why) for a JSON document read by ``sql``.

    A document that is an array, or an object with no array of objects, has no record path.
    """
    columns = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {sql}").fetchall()]
    if declared:
        return declared, "as the spec says"
    arrays = [name for name, typ in columns if typ.startswith("STRUCT(") and typ.endswith("[]")]
    if not arrays or len(columns) > 8:
        return None, None
    known = [k for k in RECORD_KEYS if k in arrays]
    chosen = known[0] if known else (arrays[0] if len(arrays) == 1 else None)
    if chosen is None:
        return None, (
            f"the document holds several arrays of objects ({', '.join(arrays)}); set "
            f"source.record_path to load one of them"
        )
    others = [a for a in arrays if a != chosen]
    why = f"the document is an object whose '{chosen}' holds an array"
    if others:
        why += f" (also arrays: {', '.join(others)}; set source.record_path to choose)"
    return chosen, why


def records_sql(sql: str, path: str, keep: tuple[str, ...] = ()) -> str:
    """The records under ``path`` (dotted) of the document ``sql`` reads, one row each, with
    the document's ``keep`` columns (its partitions, the file it came from) beside them."""
    column = ".".join(quote_ident(part) for part in path.split("."))
    kept = "".join(f", {quote_ident(k)}" for k in keep)
    return f"SELECT unnest(r){kept} FROM (SELECT unnest({column}) AS r{kept} FROM ({sql}))"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
