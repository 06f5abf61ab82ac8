"""Seeded generators for the fuzz run: damaged CSV and NDJSON files, and their true record counts.

Every file is built row by row, so the number of records it holds is known; it is checked
again with Python's own readers (``csv`` with the dialect the file was written in, ``json``
per line), which is the count a load must account for. Where no reader can say (random
bytes, a quote that opens a field and never closes), the count is ``None``.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field

LIMIT = 1_000  # max_line_size of the cases that set it: a 'huge' field is longer
DATA_RECORDS = 6  # records of the data file every pipeline case reads (fuzzspecs.DATA)

TEXT = "abcxyz ABC éüß漢字😀\u200b-_.'"


@dataclass(frozen=True)
class Case:
    """One fuzz case: the files of its folder and the ``aoetl run`` arguments."""

    name: str
    files: dict[str, bytes]
    args: tuple[str, ...]
    records: int | None = None  # rows_read the load must report, when an independent reader knows
    expect_exit: int | None = None  # set only where the answer is certain (bad input: 2)
    as_json: bool = True
    labels: tuple[str, ...] = field(default=())


def _text(rng: random.Random, extra: str = "") -> str:
    alphabet = TEXT + extra
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))


def _cell(rng: random.Random, kind: str, delimiter: str) -> str:
    if rng.random() < 0.08:
        return ""
    if kind == "int":
        return str(rng.randint(-(10**6), 10**6))
    if kind == "float":
        return f"{rng.uniform(-1e4, 1e4):.3f}"
    if kind == "date":
        return f"20{rng.randint(10, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "bool":
        return rng.choice(["true", "false"])
    # Text may hold the delimiter, a quote or a line break: csv.writer quotes those.
    return _text(rng, delimiter + '"' + ("\n" if rng.random() < 0.05 else ""))


CSV_ROW_DAMAGE = (
    "extra_field",
    "missing_field",
    "bad_byte",
    "stray_quote",
    "huge",
    "blank",
    "nul",
    "long_field",
)


def damaged_csv(rng: random.Random, *, limit: int | None) -> tuple[bytes, int | None, list[str]]:
    """A CSV file with random damage: (bytes, records by Python's csv reader or None, labels).

    ``limit`` is the case's max_line_size (None: the default, so no field is over it).
    """
    delimiter = rng.choice([",", ",", ",", ";", "\t", "|"])
    width = rng.randint(1, 6)
    kinds = ["int", *(rng.choice(["int", "float", "date", "bool", "text"]) for _ in range(width))]
    end = "\r\n" if rng.random() < 0.3 else "\n"
    names = ["id", *(f"c{i}_{rng.choice(['x', 'é', '名'])}" for i in range(width))]
    labels = [f"delim={delimiter!r}", f"width={width + 1}"] + (["crlf"] if end != "\n" else [])
    rate = rng.choice([0.0, 0.05, 0.2, 0.5])
    lines: list[bytes] = []
    countable = True
    for row_id in range(rng.randint(0, 40)):
        cells = [str(row_id), *(_cell(rng, k, delimiter) for k in kinds[1:])]
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator=end).writerow(cells)
        line = buf.getvalue().removesuffix(end).encode()
        damage = rng.choice(CSV_ROW_DAMAGE) if rng.random() < rate else "none"
        if damage != "none":
            labels.append(damage)
        if damage == "extra_field":
            line += f"{delimiter}extra".encode()
        elif damage == "missing_field":
            line = str(row_id).encode()
        elif damage == "bad_byte":
            line = line + f"{delimiter}caf".encode() + b"\xe9\xff"
        elif damage == "stray_quote":  # inside a field: Python reads it literally
            line = (str(row_id) + "".join(f'{delimiter}x"{i}' for i in range(width))).encode()
        elif damage == "huge":
            line = f"{row_id}{delimiter}".encode() + b"h" * _over(rng, limit)
        elif damage == "long_field":  # long, but within the line limit
            line += delimiter.encode() + b"L" * rng.randint(100, (limit or 100_000) // 2)
        elif damage == "nul":
            line = line + b"\x00"
        elif damage == "blank":
            lines.append(b"")
        lines.append(line)
    header = delimiter.join(names).encode()
    body_lines = [header, *lines]
    tail = end.encode()
    if rng.random() < 0.15:  # a title line above the header
        body_lines.insert(0, b"Sales export, generated 2026-01-01 by ledger")
        labels.append("preamble")
    body = tail.join(body_lines) + tail
    file_damage = rng.choices(
        [
            "none",
            "bom",
            "truncated",
            "no_final_newline",
            "empty",
            "header_only",
            "garbage",
            "open_quote",
        ],
        weights=[10, 3, 2, 2, 1, 1, 1, 1],
    )[0]
    if file_damage == "bom":
        body = b"\xef\xbb\xbf" + body
    elif file_damage == "truncated" and lines:
        last = lines[-1]
        countable = b'"' not in last  # cut inside a quoted field: no reader can tell
        body = body[: len(body) - len(tail) - rng.randint(0, max(0, len(last) - 1))]
    elif file_damage == "no_final_newline":
        body = body.removesuffix(tail)
    elif file_damage == "empty":
        body = b""
    elif file_damage == "header_only":
        body = header + tail
    elif file_damage == "garbage":
        body = rng.randbytes(rng.randint(1, 3000))
        countable = False
    elif file_damage == "open_quote" and lines:  # a quote that opens a field and never closes
        body = body + f'{len(lines)}{delimiter}"never closed'.encode() + tail
        countable = False
    if file_damage != "none":
        labels.append(file_damage)
    records = count_csv(body, delimiter, preamble="preamble" in labels) if countable else None
    return body, records, labels


def count_csv(body: bytes, delimiter: str, *, preamble: bool) -> int | None:
    """Data records by Python's csv reader, in the dialect the file was written in."""
    text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
    csv.field_size_limit(1 << 30)
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]
    except csv.Error:
        return None
    rows = rows[1:] if preamble else rows
    return max(0, len(rows) - 1)  # the header is not a record


JSON_LINE_DAMAGE = (
    "truncated",
    "bad_byte",
    "huge",
    "not_object",
    "empty_object",
    "null",
    "blank",
    "trailing_comma",
    "single_quotes",
    "nested",
    "long_key",
)


def damaged_ndjson(rng: random.Random, *, limit: int | None) -> tuple[bytes, int | None, list[str]]:
    """An NDJSON file with random damage: (bytes, non-blank lines, labels)."""
    end = b"\r\n" if rng.random() < 0.3 else b"\n"
    rate = rng.choice([0.0, 0.05, 0.2, 0.5])
    labels = ["crlf"] if end != b"\n" else []
    lines: list[bytes] = []
    for row_id in range(rng.randint(0, 40)):
        record: dict[str, object] = {"id": row_id, "name": _text(rng), "v": rng.random()}
        if rng.random() < 0.2:
            record["tags"] = [_text(rng) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.1:
            record["v"] = None
        line = json.dumps(record, ensure_ascii=rng.random() < 0.5).encode()
        damage = rng.choice(JSON_LINE_DAMAGE) if rng.random() < rate else "none"
        if damage != "none":
            labels.append(damage)
        if damage == "truncated":
            line = line[: rng.randint(1, len(line) - 1)]
        elif damage == "bad_byte":
            line = line[:-2] + b"\xff" + line[-2:]
        elif damage == "huge":
            line = json.dumps({"id": row_id, "name": "h" * _over(rng, limit)}).encode()
        elif damage == "not_object":
            line = rng.choice([b"5", b"[1, 2]", b'"text"', b"true"])
        elif damage == "empty_object":
            line = b"{}"
        elif damage == "null":
            line = b"null"
        elif damage == "blank":
            line = rng.choice([b"", b"   ", b"\t"])
        elif damage == "trailing_comma":
            line += b","
        elif damage == "single_quotes":
            line = line.replace(b'"', b"'")
        elif damage == "nested":
            line = json.dumps({"id": row_id, "deep": _nest(rng.randint(5, 60))}).encode()
        elif damage == "long_key":
            line = json.dumps({"id": row_id, "k" * rng.randint(100, 900): 1}).encode()
        lines.append(line)
    body = end.join(lines) + (end if lines and rng.random() < 0.9 else b"")
    file_damage = rng.choices(["none", "bom", "empty", "garbage"], weights=[12, 3, 1, 1])[0]
    if file_damage == "bom":
        body = b"\xef\xbb\xbf" + body
    elif file_damage == "empty":
        body = b""
    elif file_damage == "garbage":
        body = rng.randbytes(rng.randint(1, 3000))
    if file_damage != "none":
        labels.append(file_damage)
    return body, (None if file_damage == "garbage" else count_ndjson(body)), labels


def count_ndjson(body: bytes) -> int:
    """Records of an NDJSON file: every line that is not blank, parsable or not."""
    lines = body.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    return sum(1 for line in lines if line.strip())


def _over(rng: random.Random, limit: int | None) -> int:
    """A field longer than the line limit; under the 2 MB default, just a long one (a 2 MB line
    costs DuckDB's sniffer 2 to 9 s, which the suite's time cannot afford three hundred times)."""
    return limit + rng.randint(1, 500) if limit is not None else rng.randint(2_000, 50_000)


def _nest(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"n": value}
    return value


TARGETS = ("duckdb:///w.duckdb", "parquet:///lake", "csv:///out", "sqlite:///s.db", "w2.duckdb")


def build(index: int, seed: int) -> Case:
    """Case ``index`` of the run: four in ten are pipeline files, the rest data files."""
    from .fuzzspecs import pipeline

    rng = random.Random(f"{seed}-{index}")
    as_json = rng.random() < 0.85
    args: tuple[str, ...]
    if index % 10 < 4:
        files, name, expect, keeps, labels = pipeline(rng)
        args = (name, "--json") if as_json else (name,)
        records = DATA_RECORDS if keeps else None
        return Case(f"{index:03d}-spec", files, args, records, expect, as_json, tuple(labels))
    fmt = "csv" if rng.random() < 0.6 else "ndjson"
    limit = LIMIT if rng.random() < 0.5 else None
    make = damaged_csv if fmt == "csv" else damaged_ndjson
    body, records, labels = make(rng, limit=limit)
    stem = "données 😀" if rng.random() < 0.08 else "d"
    data = f"{stem}.{fmt if fmt == 'csv' else rng.choice(['ndjson', 'jsonl'])}"
    target = rng.choice(TARGETS)
    files = {data: body}
    if limit is not None or rng.random() < 0.3:
        source: dict[str, object] = {"uri": data, "max_line_size": limit or 2_000_000}
        spec = {"source": source, "target": target, "max_bad_ratio": 1}
        if rng.random() < 0.1:
            del spec["max_bad_ratio"]  # the default: a mostly bad file fails the run
        files["p.yaml"] = json.dumps(spec, ensure_ascii=False).encode()  # JSON is YAML
        args = ("p.yaml",)
    else:
        args = (data, "--to", target)
        args += ("--max-bad-ratio", "1") if rng.random() < 0.9 else ()
        args += ("--table", "t") if rng.random() < 0.2 else ()
    labels = [fmt, f"max_line_size={limit}", *labels]
    args += ("--json",) if as_json else ()
    return Case(f"{index:03d}-{fmt}", files, args, records, None, as_json, tuple(labels))
