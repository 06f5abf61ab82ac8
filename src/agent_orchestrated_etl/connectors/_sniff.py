"""Format, encoding and CSV dialect sniffing for the file source.

DuckDB's own sniffer decides the dialect and the types; this module adds what it does not do:
the encoding, and a "dominant type" pass that types a column by what nearly all of its values
are, so a few bad values are quarantined instead of turning the whole column into text.
Every decision is returned as a sentence for the plan.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..errors import UnknownConnectorError, UserError
from ..spec import CsvOptions
from ._csv_types import dominant_types
from ._duck import quote_literal

FORMATS = ("csv", "json", "ndjson", "parquet")
COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".psv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def split_suffixes(path: Path) -> tuple[str, str | None]:
    """(format suffix, compression) of a file name, e.g. 'x.csv.gz' -> ('.csv', 'gzip')."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = None
    if suffixes and suffixes[-1] in COMPRESSIONS:
        compression = COMPRESSIONS[suffixes.pop()]
    return (suffixes[-1] if suffixes else ""), compression


def head_bytes(path: Path, size: int = 1 << 16) -> bytes:
    """The first ``size`` bytes of a file, decompressed."""
    _, compression = split_suffixes(path)
    if compression == "gzip":
        with gzip.open(path, "rb") as fh:
            return fh.read(size)
    if compression == "zstd":
        import zstandard

        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as fh:
            return bytes(fh.read(size))
    with path.open("rb") as fh:
        return fh.read(size)


def detect_format(path: Path, declared: str = "auto") -> str | None:
    """The file format from the spec, the suffix, or the first bytes; None if unknown."""
    if declared != "auto":
        return declared
    suffix, _ = split_suffixes(path)
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    head = head_bytes(path, 4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip()
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "ndjson" if b"\n{" in stripped else "json"
    return None


def unknown_format(path: Path) -> UnknownConnectorError:
    head = head_bytes(path, 16) if path.is_file() else b""
    for scheme, label, found in (
        ("sqlite", "SQLite", head.startswith(b"SQLite format 3")),
        ("duckdb", "DuckDB", head[8:12] == b"DUCK"),
    ):
        if found:
            return UnknownConnectorError(
                f"{path} is a {label} database, not a data file; read it as {scheme}:///{path}"
            )
    return UnknownConnectorError(
        f"cannot tell the format of {path}; known formats are {', '.join(FORMATS)} "
        f"(suffixes {', '.join(sorted(_SUFFIX_FORMATS))}, optionally .gz or .zst); "
        f"set it with --format or source.format"
    )


def detect_encoding(sample: bytes) -> tuple[str, str]:
    """(encoding, reason). DuckDB reads utf-8, utf-16 and latin-1 natively."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", "a UTF-16 byte-order mark"
    lines = sample.split(b"\n")[:-1] or [sample]
    bad = 0
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    if bad == 0:
        return "utf-8", "the sample decodes as UTF-8"
    share = bad / len(lines)
    if share > 0.2:
        return (
            "latin-1",
            f"{share:.0%} of sampled lines are not UTF-8, so the file is read as latin-1",
        )
    return "utf-8", f"{bad} sampled lines have bytes that are not UTF-8; those rows are quarantined"


@dataclass
class CsvDialect:
    """How to read one group of CSV files, pinned so every file is read the same way."""

    options: dict[str, str] = field(default_factory=dict)  # read_csv option -> SQL literal
    columns: list[tuple[str, str]] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)


def sniff_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    opts: CsvOptions,
    overrides: dict[str, str] | None,
) -> CsvDialect:
    """Sniff one CSV file: dialect from DuckDB, encoding and dominant types from us."""
    dialect = CsvDialect()
    encoding: str | None = opts.encoding
    if encoding is None:
        encoding, why = detect_encoding(head_bytes(path))
        dialect.decisions.append(f"encoding {encoding}: {why}")
    user: dict[str, str] = {"encoding": quote_literal(encoding)}
    if opts.delimiter is not None:
        user["delim"] = quote_literal(opts.delimiter)
    if opts.quote is not None:
        user["quote"] = quote_literal(opts.quote)
    if opts.header is not None:
        user["header"] = "true" if opts.header else "false"
    if opts.null_values is not None:
        user["nullstr"] = "[" + ", ".join(quote_literal(v) for v in opts.null_values) + "]"
    args = ", ".join(f"{k}={v}" for k, v in user.items())
    try:
        row = con.execute(
            f"SELECT Delimiter, Quote, Escape, HasHeader, Columns, DateFormat, TimestampFormat,"
            f" SkipRows FROM sniff_csv({quote_literal(str(path))}, sample_size={opts.sample_rows},"
            f" ignore_errors=true"
            f"{', ' + args if args else ''})"
        ).fetchone()
    except duckdb.Error as exc:
        raise UserError(f"cannot read {path} as CSV: {_first_line(exc)}") from exc
    assert row is not None
    delim, quote, escape, header, columns, date_fmt, ts_fmt, skip = row
    options = dict(user)
    options["delim"] = quote_literal(delim)
    options["quote"] = quote_literal("" if quote == "(empty)" else quote)
    options["escape"] = quote_literal("" if escape == "(empty)" else escape)
    options["header"] = "true" if header else "false"
    if skip:
        options["skip"] = str(int(skip))
    if date_fmt:
        options["dateformat"] = quote_literal(date_fmt)
    if ts_fmt:
        options["timestampformat"] = quote_literal(ts_fmt)
    dialect.decisions.append(
        f"dialect delimiter={delim!r} quote={quote!r} header={bool(header)} (DuckDB sniffer)"
    )
    cols = [(c["name"], c["type"]) for c in columns]
    cols = dominant_types(con, path, options, cols, opts.sample_rows, dialect.decisions)
    for name, new_type in (overrides or {}).items():
        if name not in {c for c, _ in cols}:
            raise UserError(f"{path}: 'columns' names {name!r}, which is not a column of the file")
        cols = [(c, new_type if c == name else t) for c, t in cols]
        dialect.decisions.append(f"column {name}: {new_type}, as the spec says")
    dialect.options = options
    dialect.columns = cols
    return dialect


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_GROUP_SUFFIX = re.compile(r"([-_. ]?(part|chunk|page)?[-_ ]?\d[\d\-_T:]*)+$", re.IGNORECASE)


def table_name(stem: str, *, strip_sequence: bool, folder: str = "") -> str:
    """A safe table name from a file stem.

    With ``strip_sequence``, 'orders_2024-01' becomes 'orders', and a stem that is nothing but
    a sequence ('part-0001', as Spark writes) takes the name of its ``folder``.
    """
    base = stem
    if strip_sequence:
        stripped = _GROUP_SUFFIX.sub("", stem)
        base = stripped or folder or stem
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", base).strip("_").lower() or "data"
    return f"t_{name}" if name[0].isdigit() else name
