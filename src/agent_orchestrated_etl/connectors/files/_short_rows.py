"""Short CSV rows: the file's pattern (trailing fields left out) or damage (a cut line).

Many writers leave out a row's trailing empty fields (``1.1,Buzz,buzz,1993-08-16`` under an
8-field header): Debian's distro-info files, spreadsheet exports, hand-kept lists. pandas,
readr and DuckDB with ``null_padding`` read the missing fields as NULL. A line cut short by a
crash or a partial copy looks the same, but is rare in a file and usually loses most of its
fields. So the sampled records are counted, and short rows are read as NULL only when they
are a pattern:

- at least :data:`SHORT_MIN` short records, and at least :data:`SHORT_SHARE` of the sampled
  records (one or two short lines among complete ones are damage, however small the file);
- every short record keeps at least half of the header's fields (a line cut down to its first
  field or two is more like a truncation than optional trailing fields left empty).

Otherwise they are quarantined, as rows with too many fields always are. ``csv.null_padding``
decides instead when it is set. The sample is the file's first 64 KiB, parsed with the
sniffed dialect by Python's csv module (quotes honoured); it costs no read of its own.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import duckdb

from ..._text import plural
from ...data.duck import quote_literal
from ...spec import CsvOptions
from ..base import Decision
from ._csv_dates import unquote

SHORT_SHARE = 0.05
SHORT_MIN = 3


@dataclass(frozen=True)
class ShortRows:
    """What the sample shows: records read, how many are short, and their field counts."""

    width: int  # the header's fields
    records: int  # sampled records (the header excluded)
    short: int = 0
    fewest: int = 0  # fields of the shortest short record
    most: int = 0  # fields of the longest short record

    @property
    def structural(self) -> bool:
        """Whether the short records are the file's pattern (see the module's rule)."""
        return (
            self.short >= SHORT_MIN
            and self.short >= SHORT_SHARE * self.records
            and 2 * self.fewest >= self.width
        )

    def evidence(self) -> str:
        """'15 of 22 sampled rows lack trailing fields (4 to 7 of 8 fields)'."""
        span = str(self.fewest) if self.fewest == self.most else f"{self.fewest} to {self.most}"
        lack = "lacks" if self.short == 1 else "lack"
        return (
            f"{self.short} of {plural(self.records, 'sampled row')} {lack} trailing fields "
            f"({span} of {self.width} fields)"
        )


def survey(
    head: bytes,
    *,
    encoding: str,
    delim: str,
    quote: str,
    escape: str,
    header: bool,
    skip: int,
    width: int,
) -> ShortRows | None:
    """Count the short records in ``head`` (a file's first bytes, decompressed) read with the
    sniffed dialect; None when Python's csv cannot read that dialect (a delimiter of more than
    one character)."""
    if len(delim) != 1 or len(quote) > 1 or len(escape) > 1 or width < 2:
        return None
    codec = {"utf-16": "utf-16", "latin-1": "latin-1"}.get(encoding, "utf-8")
    text = head.decode(codec, "replace").removeprefix("\ufeff")
    # Whole lines only: the head of a large file ends inside a line.
    lines = text.split("\n")
    lines = [line.removesuffix("\r") for line in lines[skip:-1]]
    options: dict[str, object] = {"delimiter": delim, "strict": False}
    if quote:
        options.update(quotechar=quote, doublequote=escape in ("", quote))
        if escape and escape != quote:
            options["escapechar"] = escape
    else:
        options["quoting"] = csv.QUOTE_NONE
    try:
        records = [r for r in csv.reader(lines, **options) if r]  # type: ignore[arg-type]
    except csv.Error:
        return None
    if header:
        records = records[1:]
    # The last record may be a quoted field the head cut in two.
    if len(head) >= 1 << 16:
        records = records[:-1]
    short = [len(r) for r in records if len(r) < width]
    if not short:
        return ShortRows(width, len(records))
    return ShortRows(width, len(records), len(short), min(short), max(short))


def decide(setting: bool | None, found: ShortRows | None) -> tuple[bool, Decision | None]:
    """(read short rows as NULL?, the plan's sentence). ``setting`` is csv.null_padding."""
    if setting is not None:
        value = "read as NULL" if setting else "quarantined"
        why = "as csv.null_padding says"
        if found is not None and found.short:
            why = f"{found.evidence()}; {why}"
        return setting, Decision("short rows", value, why)
    if found is None or not found.short:
        return False, None
    if found.structural:
        return True, Decision(
            "short rows",
            "read as NULL",
            f"{found.evidence()}, so leaving them out is the file's pattern; set "
            "csv.null_padding: false to quarantine them",
        )
    if 2 * found.fewest < found.width and found.short >= SHORT_MIN:
        why = "the shortest keeps less than half the fields, more like a cut line"
    else:
        why = "too few to be the file's pattern, so damage (a cut line)"
    return False, Decision(
        "short rows",
        "quarantined",
        f"{found.evidence()}: {why}; set csv.null_padding: true to read them as NULL",
    )


def pad(
    con: duckdb.DuckDBPyConnection,
    path: str,
    head: bytes,
    opts: CsvOptions,
    options: dict[str, str],
    columns: list[dict[str, str]],
    decisions: list[Decision],
) -> list[dict[str, str]]:
    """Set ``options`` to read short rows as NULL when they are the file's pattern (or
    csv.null_padding says so), and return the columns typed over every row, short ones
    included. ``columns`` and ``options`` are the first sniff's."""
    found = survey(
        head,
        encoding=unquote(options["encoding"]) or "utf-8",
        delim=unquote(options["delim"]) or "",
        quote=unquote(options["quote"]) or "",
        escape=unquote(options["escape"]) or "",
        header=options["header"] == "true",
        skip=int(options.get("skip", "0")),
        width=len(columns),
    )
    wanted, decision = decide(opts.null_padding, found)
    if decision is not None:
        decisions.append(decision)
    if not wanted:
        return columns
    options["null_padding"] = "true"
    if options["quote"] != "''":
        # DuckDB's parallel reader refuses null_padding once a quoted field holds a line
        # break, which may be anywhere in the file: read it on one thread (about half the
        # speed, paid only by files whose rows are padded).
        options["parallel"] = "false"
    if found is None or not found.short:
        return columns
    # The sniffer typed the columns on the complete rows only (it skips the short ones): a
    # column whose short rows hold other values (version '1.1' where the complete rows say
    # '7') is typed again over them all, the dialect kept.
    args = "".join(f", {k}={v}" for k, v in options.items())
    try:
        row = con.execute(
            f"SELECT Columns FROM sniff_csv({quote_literal(str(path))}, "
            f"sample_size={opts.sample_rows}, ignore_errors=true{args})"
        ).fetchone()
    except duckdb.Error:
        return columns  # the first sniff's types stand; values that do not fit are quarantined
    padded: list[dict[str, str]] = list(row[0]) if row else []
    same = [c["name"] for c in padded] == [c["name"] for c in columns]
    return padded if same else columns
