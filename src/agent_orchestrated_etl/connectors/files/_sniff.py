"""Format, encoding and CSV dialect sniffing for the file source.

DuckDB's own sniffer decides the dialect and the types; this module adds what it does not do:
the encoding, and a "dominant type" pass that types a column by what nearly all of its values
are, so a few bad values are quarantined instead of turning the whole column into text.
Every decision is returned as a sentence for the plan.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from ...data.duck import quote_literal
from ...errors import UnknownConnectorError, UserError
from ...spec import CsvOptions
from ..base import Decision
from . import (
    FORMATS,
    SUFFIX_FORMATS,
    _short_rows,
    format_by_content,
    format_by_extension,
    split_suffixes,
)
from ._csv_types import DEFAULT_NULL_VALUES, dominant_types

_ISO_TIMESTAMPS = {
    f"%Y-%m-%d{sep}%H:%M{sec}" for sep in (" ", "T") for sec in ("", ":%S", ":%S.%f")
}
DUCKDB_MAX_LINE = 2_000_000  # read_csv's default max_line_size
# Files that are not data: skipped in a folder (with a note) unless --format names a format.
NOT_DATA = (
    ".txt", ".md", ".rst", ".log", ".pdf", ".html", ".htm", ".xml", ".yaml", ".yml", ".toml",
    ".ini", ".cfg", ".py", ".r", ".sh", ".sql", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".bmp",
    ".tif", ".tiff", ".webp", ".doc", ".docx", ".xls", ".xlsx", ".xlsm", ".ods", ".odt",
    ".ppt", ".pptx", ".zip", ".tar", ".7z", ".rar", ".db", ".sqlite", ".duckdb",
)  # fmt: skip


def detect_format(name: str, head: Callable[[], bytes], declared: str = "auto") -> str | None:
    """The file format from the spec, the name, or the first bytes (``head()``, as stored,
    fetched only when the name says nothing); None if unknown."""
    if declared != "auto":
        return declared
    fmt, compression = format_by_extension(name)
    if fmt is not None:
        return fmt
    if split_suffixes(name)[0] in NOT_DATA:
        return None
    found = format_by_content(head(), compression)
    # Text that splits on commas is not taken for CSV without a name saying so: notes and
    # logs often do, and a wrong guess would load them as tables.
    return found if found != "csv" else None


def unknown_format(name: str, head: bytes) -> UnknownConnectorError:
    """The error for a lone file whose format cannot be told; ``head`` is its start."""
    for scheme, label, found in (
        ("sqlite", "SQLite", head.startswith(b"SQLite format 3")),
        ("duckdb", "DuckDB", head[8:12] == b"DUCK"),
    ):
        if found:
            return UnknownConnectorError(
                f"{name} is a {label} database, not a data file; read it as {scheme}:///{name}"
            )
    return UnknownConnectorError(
        f"cannot tell the format of {name}; known formats are {', '.join(FORMATS)} "
        f"(suffixes {', '.join(sorted(SUFFIX_FORMATS))}, optionally .gz or .zst); "
        f"set it with --format or source.format"
    )


def detect_encoding(sample: bytes) -> tuple[str, str]:
    """(encoding, reason). DuckDB reads utf-8, utf-16 and latin-1 natively."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", "a UTF-16 byte-order mark"
    lines = sample.split(b"\n")[:-1] or [sample]
    bad = wide = 0  # lines that are not UTF-8; lines that are, with characters beyond ASCII
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
        else:
            wide += not line.isascii()
    if bad == 0:
        return "utf-8", "the sample decodes as UTF-8"
    share = bad / len(lines)
    # Latin-1 text almost never forms valid UTF-8 beyond ASCII: lines that do mean a UTF-8
    # file with a few damaged lines, whatever their share.
    if share > 0.2 and wide * 10 < bad:
        return (
            "latin-1",
            f"{share:.0%} of sampled lines are not UTF-8, so the file is read as latin-1",
        )
    return "utf-8", f"{bad} sampled lines have bytes that are not UTF-8; those rows are quarantined"


class LineTooLongError(UserError):
    """A line in the sniffed sample is longer than max_line_size (the file needs a repair)."""


@dataclass
class CsvDialect:
    """How to read one group of CSV files, pinned so every file is read the same way."""

    options: dict[str, str] = field(default_factory=dict)  # read_csv option -> SQL literal
    columns: list[tuple[str, str]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def sniff_csv(
    con: duckdb.DuckDBPyConnection,
    path: str,
    head: bytes,
    opts: CsvOptions,
    overrides: dict[str, str] | None,
    max_line_size: int = DUCKDB_MAX_LINE,
    compression: str | None = None,
) -> CsvDialect:
    """Sniff one CSV file: dialect from DuckDB, encoding, preamble and dominant types from us.

    ``path`` is what DuckDB reads (a connection reading s3:// has run the store's prelude);
    ``head`` is the file's first 64 KB, decompressed.
    """
    dialect = CsvDialect()
    encoding: str | None = opts.encoding
    if encoding is None:
        encoding, why = detect_encoding(head)
        dialect.decisions.append(Decision("encoding", encoding, why))
    user = _user_options(opts, encoding, max_line_size)
    if compression is not None:  # the content's codec, where the name says another
        user["compression"] = quote_literal(compression)
    row, preamble, named = _sniff(con, path, opts.sample_rows, user, head)
    delim, quote, escape, header, columns, date_fmt, ts_fmt, skip = row
    options = dict(user)
    options["delim"] = quote_literal(delim)
    if quote == "(empty)" and "quote" not in user and _quoting_likely(head, delim):
        # No quote in the sample says nothing about the rest of the file: a quoted field
        # further on (a delimiter or a line break inside it) must still read as one field.
        # And quoted fields in the sample that hold a line break are quoted fields, even when
        # a ragged row among them made the sniffer prefer no quote at all.
        quote = escape = '"'
    options["quote"] = quote_literal("" if quote == "(empty)" else quote)
    options["escape"] = quote_literal("" if escape == "(empty)" else escape)
    options["header"] = "true" if header else "false"
    if skip:
        options["skip"] = str(int(skip))
    padding: list[Decision] = []
    columns = _short_rows.pad(con, path, head, opts, options, columns, padding)
    if preamble:
        dialect.decisions.append(_preamble(head, preamble, delim, len(columns)))
    if named:
        dialect.decisions.append(
            Decision(
                "header",
                "true",
                "the first line has empty names (an unnamed index column) over complete "
                "columns, so it names the columns; set csv.header to change this",
            )
        )
    # DuckDB reads ISO dates and timestamps natively, faster than through a format string
    # (2M rows: 1.80 s -> 1.45 s); only another form needs one.
    if date_fmt and date_fmt != "%Y-%m-%d" and "dateformat" not in user:
        options["dateformat"] = quote_literal(date_fmt)
    if ts_fmt and ts_fmt not in _ISO_TIMESTAMPS:
        options["timestampformat"] = quote_literal(ts_fmt)
    dialect.decisions.append(
        Decision(
            "dialect",
            f"delimiter={delim!r} quote={quote!r} header={bool(header)}",
            "DuckDB's sniffer",
        )
    )
    dialect.decisions.extend(padding)
    cols = [(c["name"], c["type"]) for c in columns]
    nulls = tuple(opts.null_values) if opts.null_values is not None else DEFAULT_NULL_VALUES
    cols = dominant_types(
        con,
        path,
        options,
        cols,
        opts.sample_rows,
        dialect.decisions,
        null_tokens=nulls,
    )
    for name, new_type in (overrides or {}).items():
        if name not in {c for c, _ in cols}:
            raise UserError(f"{path}: 'columns' names {name!r}, which is not a column of the file")
        cols = [(c, new_type if c == name else t) for c, t in cols]
        dialect.decisions.append(Decision(f"column {name}", new_type, "as the spec says"))
    dialect.options = options
    dialect.columns = cols
    return dialect


def _user_options(opts: CsvOptions, encoding: str, max_line_size: int) -> dict[str, str]:
    """read_csv options the spec sets (and the null tokens), as SQL literals."""
    user: dict[str, str] = {"encoding": quote_literal(encoding)}
    if opts.delimiter is not None:
        user["delim"] = quote_literal(opts.delimiter)
    if opts.quote is not None:
        user["quote"] = quote_literal(opts.quote)
    if opts.header is not None:
        user["header"] = "true" if opts.header else "false"
    skip = opts.header_row - 1 if opts.header_row is not None else opts.skip_rows
    if skip is not None:
        user["skip"] = str(skip)
    nulls = opts.null_values if opts.null_values is not None else DEFAULT_NULL_VALUES
    user["nullstr"] = "[" + ", ".join(quote_literal(v) for v in nulls) + "]"
    if opts.decimal_separator is not None:
        user["decimal_separator"] = quote_literal(opts.decimal_separator)
    if opts.date_format is not None:
        user["dateformat"] = quote_literal(opts.date_format)
    if max_line_size != DUCKDB_MAX_LINE:
        user["max_line_size"] = str(max_line_size)
    return user


def _sniff(
    con: duckdb.DuckDBPyConnection, path: str, sample: int, user: dict[str, str], head: bytes
) -> tuple[tuple[Any, ...], int | None, bool]:
    """DuckDB's sniffer result, the lines skipped as a preamble if we found some, and whether
    we found the header DuckDB took for data (see :func:`unnamed_header`).

    The sniffer runs ignoring rows it cannot read, so a few ragged rows do not decide the
    dialect. That also lets a short preamble line pass for the header (rejecting every real
    row), so the head of the file is checked for lines before the header, and if there are
    some, the sniffer runs again skipping them.
    """
    args = "".join(f", {k}={v}" for k, v in user.items())
    query = (
        "SELECT Delimiter, Quote, Escape, HasHeader, Columns, DateFormat, TimestampFormat, "
        f"SkipRows FROM sniff_csv({quote_literal(str(path))}, sample_size={sample}, "
        "ignore_errors=true{}" + args + ")"
    )
    try:
        row = con.execute(query.format("")).fetchone()
        assert row is not None
        forced = (user["delim"][1:-1].replace("''", "'"),) if "delim" in user else None
        skip = None if "skip" in user else preamble_lines(head, forced or (*_DELIMITERS, row[0]))
        extra = f", skip={skip}" if skip else ""
        named = not row[3] and "header" not in user and unnamed_header(head, row[0], skip or 0)
        if named:
            extra += ", header=true"
        if extra:
            row = con.execute(query.format(extra)).fetchone()
            assert row is not None
    except duckdb.Error as exc:
        if "maximum line size" in str(exc).lower():
            raise LineTooLongError(f"{path} has a line longer than max_line_size") from None
        raise UserError(f"cannot read {path} as CSV: {_first_line(exc)}") from None
    return tuple(row), skip, named


_DELIMITERS = (",", ";", "\t", "|")


def preamble_lines(head: bytes, delimiters: tuple[str, ...] = _DELIMITERS) -> int:
    """How many lines before the header are a preamble (a title, an export note, metadata).

    For each candidate delimiter, the file's first records are parsed (quotes honoured) and
    the width most of the later records share is found; when the first records are of
    another width and the first record of that width holds names (no numbers), the lines
    above it are the preamble. The delimiter whose records agree best decides. Skipped lines
    are not records, so a doubtful case skips nothing: its rows are then quarantined and
    counted, never dropped.
    """
    lines = head.decode("utf-8", "replace").split("\n")[:-1][:300]  # whole lines only
    best: tuple[float, int, int] = (0.0, 0, 0)  # (agreement, width, lines to skip)
    for delim in dict.fromkeys(d for d in delimiters if len(d) == 1):
        found = _preamble_for(lines, delim)
        if found is not None and found[:2] > best[:2]:
            best = found
    return best[2]


def _preamble_for(lines: list[str], delim: str) -> tuple[float, int, int] | None:
    """(agreement of the data's widths, that width, preamble lines) for one delimiter."""
    records: list[tuple[int, list[str]]] = []  # (first physical line, fields)
    reader = csv.reader(lines, delimiter=delim)
    try:
        while len(records) < 200:
            start = reader.line_num
            fields = next(reader)
            if any(f.strip() for f in fields):
                records.append((start, fields))
    except (StopIteration, csv.Error):
        pass
    if len(records) < 4:
        return None
    widths = [len(fields) for _, fields in records]
    tail = widths[len(widths) // 2 :]
    mode = max(set(tail), key=tail.count)
    if mode < 2:
        return None
    first = widths.index(mode)
    rest = widths[first:]
    agreement = rest.count(mode) / len(rest)
    if agreement < 0.8 or len(rest) < 4 or first > 20:
        return None
    if first == 0:
        return agreement, mode, 0
    # The record the data starts under must be a header: names, none of them a number, and
    # none empty but the first (a pandas index column). An empty name further on is a
    # delimiter inside a one-column file's values ('v<TAB>'), not a column.
    line, header = records[first]
    if any(_number(name.strip()) for name in header) or not all(n.strip() for n in header[1:]):
        return None
    return agreement, mode, line


def _quoting_likely(head: bytes, delim: str) -> bool:
    """No '"' in the sample, or a '"'-quoted field holding a line break or the delimiter."""
    if b'"' not in head:
        return True
    if len(delim) != 1:
        return False
    d = re.escape(delim)
    field = re.compile(rf'(?:^|{d})"((?:[^"]|"")*)"(?={d}|\r?$)', re.MULTILINE)
    text = head[: 1 << 15].decode("utf-8", "replace")  # bounded: a regex scan per field start
    return any("\n" in m.group(1) or delim in m.group(1) for m in field.finditer(text))


def unnamed_header(head: bytes, delim: str, skip: int) -> bool:
    """Whether the first line is a header with empty names that the sniffer took for data.

    DuckDB reads an empty header name (a pandas index column) as NULL, and with text columns
    beside it the line then looks like data. The line is a header when, column by column,
    something says so (an empty cell where the column is never empty, or a word over numbers)
    and nothing says otherwise (a number over numbers), and its named cells are not numbers.
    """
    if not delim or len(delim) != 1:
        return False
    text = head.decode("utf-8", "replace").split("\n")
    rows = list(csv.reader(text[skip:-1], delimiter=delim))
    if len(rows) < 3 or "" not in rows[0]:
        return False
    first, rest = rows[0], rows[1:]
    for_header = 0
    for i, value in enumerate(first):
        column = [r[i] for r in rest if len(r) > i]
        numeric = any(column) and all(_number(v) for v in column if v)
        if value == "":
            for_header += all(column)
        elif _number(value):
            return False
        else:
            for_header += numeric
    return for_header > 0


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _preamble(head: bytes, skip: int, delim: str, width: int) -> Decision:
    """The plan's sentence for lines skipped before the header, with the evidence."""
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    shown = first if len(first) <= 60 else first[:57] + "..."
    fields = first.count(delim) + 1 if delim else 1
    return Decision(
        "lines skipped before the header",
        str(skip),
        f"line 1 ({shown!r}) has {fields} field{'s' if fields != 1 else ''} where the header "
        f"has {width}; set csv.skip_rows or csv.header_row to change this",
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
