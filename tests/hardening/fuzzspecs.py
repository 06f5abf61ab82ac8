"""Seeded pipeline files for the fuzz run: a valid pipeline, then one to three random mutations.

Each mutation says whether it makes the file certainly bad input (exit 2), keeps it valid, or
leaves the outcome open; and whether it keeps the number of rows read equal to the records
in the data file (a filter or a skipped line does not).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import yaml

BAD, OK, MAYBE = "bad", "ok", "maybe"
TIMEOUT = "timeout"  # a time limit may end the run before a bad field is noticed
HUGE = "t" * 100_000

DATA = b"id,name,amount,day\n1,ann,1.5,2024-01-02\n2,bob,2.25,2024-02-03\n3,cy,,2024-03-04\n" + (
    b"4,d\xc3\xa9,4.0,2024-04-05\n5,eve,5.5,2024-05-06\n5,eve2,6.5,2024-06-07\n"
)
DATA_RECORDS = 6

Outcome = tuple[str, bool, str]  # (verdict, rows read = records, label)
Mutation = Callable[[random.Random, dict[str, Any], dict[str, bytes]], Outcome]


def _src(spec: dict[str, Any]) -> dict[str, Any]:
    source = spec["source"]
    if not isinstance(source, dict):
        source = spec["source"] = {"uri": source}
    return source


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}…({len(text)} chars)"


def _set(path: str, values: list[tuple[Any, str, bool]]) -> Mutation:
    """A mutation setting ``path`` (dotted, under the pipeline) to one of ``values``."""

    def mutate(rng: random.Random, spec: dict[str, Any], files: dict[str, bytes]) -> Outcome:
        value, verdict, keeps = rng.choice(values)
        label = f"{path}={_short(value)}"
        parts = path.split(".")
        node = _src(spec) if parts[0] == "source" else spec
        for part in parts[1 if parts[0] == "source" else 0 : -1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                return MAYBE, False, label
        node[parts[-1]] = value
        return verdict, keeps, label

    return mutate


def _step(values: list[tuple[Any, str, bool]]) -> Mutation:
    def mutate(rng: random.Random, spec: dict[str, Any], files: dict[str, bytes]) -> Outcome:
        step, verdict, keeps = rng.choice(values)
        transforms = spec.setdefault("transforms", [])
        if not isinstance(transforms, list):
            return MAYBE, False, "step"
        transforms.append(step)
        return verdict, keeps, f"step {_short(step)}"

    return mutate


def _python_step(rng: random.Random, spec: dict[str, Any], files: dict[str, bytes]) -> Outcome:
    """A user module: each case gets its own name, since one process imports them all."""
    module = f"fz_step_{rng.getrandbits(40):x}"
    body, verdict, keeps = rng.choice(
        [
            ("def f(batch):\n    return batch\n", OK, True),
            ("def f(batch):\n    raise RuntimeError('boom from the step')\n", MAYBE, False),
            ("def f(batch):\n    return None\n", MAYBE, False),
            ("def f(batch):\n    return {'a': 1}\n", MAYBE, False),
            ("def f(batch:\n", BAD, False),  # a syntax error in the module
            ("g = 1\n", BAD, False),  # no function f
        ]
    )
    files[f"{module}.py"] = body.encode()
    transforms = spec.setdefault("transforms", [])
    if not isinstance(transforms, list):
        return MAYBE, False, "python step"
    transforms.append({"python": f"{module}:f"})
    return verdict, keeps, f"python step {_short(body)}"


def _target_dir_is_file(
    rng: random.Random, spec: dict[str, Any], files: dict[str, bytes]
) -> Outcome:
    files["afile"] = b"not a folder\n"
    spec["target"] = rng.choice(["afile/w.duckdb", "parquet:///afile/lake", "afile"])
    return BAD, True, f"target under a file: {spec['target']}"


def _merge(rng: random.Random, spec: dict[str, Any], files: dict[str, bytes]) -> Outcome:
    spec["mode"] = "merge"
    key = rng.choice([None, "id", "nocol", ["id", "name"], ""])
    if key is not None:
        spec["key"] = key
    verdict = BAD if key in (None, "", "nocol") else MAYBE
    return verdict, True, f"merge key={key!r}"


def _deep(rng: random.Random, spec: dict[str, Any], files: dict[str, bytes]) -> Outcome:
    value: Any = 1
    depth = rng.randint(33, 300)
    for _ in range(depth):
        value = {"k": value}
    spec["extra"] = value
    return BAD, True, f"nested {depth} levels"


def _unknown(rng: random.Random, spec: dict[str, Any], files: dict[str, bytes]) -> Outcome:
    where = rng.choice(["top", "source", "target", "csv"])
    node = spec if where == "top" else _src(spec)
    if where == "target":
        target = spec.get("target")
        node = spec["target"] = target if isinstance(target, dict) else {"uri": "w.duckdb"}
    elif where == "csv":
        node = _src(spec).setdefault("csv", {})
    key = rng.choice(["surce", "delim", "transform", "ünïcode", "__class__"])
    node[key] = 1
    return BAD, True, f"unknown field {where}.{key}"


MUTATIONS: list[Mutation] = [
    _set(
        "name",
        [
            ("", BAD, True),
            ("x" * 300, BAD, True),
            (123, BAD, True),
            (HUGE, BAD, True),
            ("пайплайн 😀 \u202e", OK, True),
            ("a/../../b", OK, True),
        ],
    ),
    _set(
        "source.uri",
        [
            ("nope.csv", BAD, True),
            (HUGE + ".csv", BAD, True),
            ("foo://bar/x", BAD, True),
            ("postgresql://u@localhost:70000/db", BAD, True),
            ("", BAD, True),
            ("*.csv", OK, True),
            (".", MAYBE, False),
            (["d.csv"], BAD, True),
        ],
    ),
    _set(
        "source.format",
        [
            ("xlsx", BAD, True),
            (7, BAD, True),
            ("ndjson", MAYBE, False),
            ("parquet", MAYBE, False),
            ("json", MAYBE, False),
            ("csv", OK, True),
        ],
    ),
    _set(
        "source.table",
        [
            ("t", OK, True),
            ("", MAYBE, True),
            (HUGE, MAYBE, True),
            ("../escape", MAYBE, True),
            (".aoetl", MAYBE, True),
            ("a/b", MAYBE, True),
            ("таблица", OK, True),
            ("select", OK, True),
            ('a"b;--', MAYBE, True),
            ("é" * 40, MAYBE, True),
            ("_commits", MAYBE, True),
            (5, BAD, True),
        ],
    ),
    _set(
        "source.csv.delimiter",
        [
            (";;", MAYBE, False),
            ("", MAYBE, False),
            (5, BAD, True),
            (",", OK, True),
            ("abcde", MAYBE, False),
            ("\n", MAYBE, False),
        ],
    ),
    _set("source.csv.header", [("yes", OK, True), (3, BAD, True), (False, MAYBE, False)]),
    _set("source.csv.quote", [("'", MAYBE, False), ("ab", MAYBE, False), ("", MAYBE, False)]),
    _set(
        "source.csv.encoding",
        [("ebcdic", BAD, True), ("latin-1", OK, True), ("utf-16", MAYBE, False)],
    ),
    _set(
        "source.csv.null_values",
        [
            ("NA", BAD, True),
            ([1, 2], BAD, True),
            ([], MAYBE, True),
            (["ann"], OK, True),
            ([""], OK, True),
        ],
    ),
    _set(
        "source.csv.skip_rows",
        [
            (-1, BAD, True),
            ("x", BAD, True),
            (10**12, MAYBE, False),
            (3, MAYBE, False),
            (0, OK, True),
        ],
    ),
    _set(
        "source.csv.header_row",
        [(0, BAD, True), (99, MAYBE, False), (1, OK, True), (2, MAYBE, False)],
    ),
    _set("source.csv.decimal_separator", [("..", BAD, True), (",", MAYBE, False)]),
    _set(
        "source.csv.date_format",
        [("%Q", MAYBE, False), ("", MAYBE, False), ("%d/%m/%Y", MAYBE, False)],
    ),
    _set("source.csv.sample_rows", [(0, BAD, True), (1, OK, True), (10**9, OK, True)]),
    _set("source.csv", [("x", BAD, True), (None, BAD, True), ([], BAD, True)]),
    _set(
        "source.columns",
        [
            ({"id": "NOTATYPE"}, BAD, True),
            ({"nocol": "INTEGER"}, MAYBE, True),
            ({"id": "VARCHAR"}, OK, True),
            ({"name": "INTEGER"}, MAYBE, False),
            ({"amount": "DECIMAL(99,99)"}, BAD, True),
        ],
    ),
    _set(
        "source.max_line_size",
        [(999, BAD, True), ("big", BAD, True), (1 << 31, BAD, True), (1000, OK, True)],
    ),
    _set("source.record_path", [("data.items", MAYBE, False)]),
    _set(
        "source.incremental",
        [
            ({"*": {"cursor": "id"}}, MAYBE, False),
            ({"*": {"cursor": "nocol"}}, MAYBE, False),
            ({"*": "id"}, BAD, True),
        ],
    ),
    _set("source.partitions", [(1, BAD, True), (65, BAD, True)]),
    _set("source.query", [("SELECT 1", MAYBE, False)]),
    _step(
        [
            ({"sql": "SELECT * FROM input"}, OK, True),
            ({"sql": "SELEC * FROM input"}, BAD, False),
            ({"sql": "SELECT * FROM nope"}, BAD, False),
            ({"sql": "SELECT nocol FROM input"}, BAD, False),
            ({"sql": "SELECT 1; DROP TABLE input"}, MAYBE, False),
            ({"sql": HUGE}, BAD, False),
            ({"sql": ""}, MAYBE, False),
            ({"sql": "SELECT *, 1/0 AS z FROM input"}, MAYBE, False),
        ]
    ),
    _step(
        [
            ({"filter": "id > 1"}, OK, False),
            ({"filter": "nocol > 1"}, BAD, False),
            ({"filter": "id >"}, BAD, False),
            ({"filter": "nosuchfunc(id)"}, BAD, False),
            ({"filter": "amount / 0 > 1"}, MAYBE, False),
        ]
    ),
    _step(
        [
            ({"derive": {"y": "id * 2"}}, OK, True),
            ({"derive": {"y": "nosuchfunc(id)"}}, BAD, False),
            ({"derive": {"y": "upper(nocol)"}}, BAD, False),
            ({"derive": {"id": "'x'"}}, MAYBE, True),
            ({"derive": {"": "1"}}, MAYBE, False),
            ({"derive": {"y": "CAST(name AS INTEGER)"}}, MAYBE, False),
            ({"derive": {"y": "repeat('x', 1000000)"}}, MAYBE, False),
        ]
    ),
    _step(
        [
            ({"rename": {"id": "key"}}, OK, True),
            ({"rename": {"nocol": "x"}}, BAD, False),
            ({"rename": {"id": "name"}}, MAYBE, False),
        ]
    ),
    _step(
        [
            ({"cast": {"id": "VARCHAR"}}, OK, True),
            ({"cast": {"id": "NOTATYPE"}}, BAD, False),
            ({"cast": {"name": "INTEGER"}}, MAYBE, False),
            ({"cast": {"nocol": "INT"}}, BAD, False),
        ]
    ),
    _step(
        [
            ({"drop": ["amount"]}, OK, True),
            ({"drop": ["nocol"]}, BAD, False),
            ({"drop": ["id", "name", "amount", "day"]}, MAYBE, False),
        ]
    ),
    _step(
        [
            ({"dedupe": ["id"]}, OK, False),
            ({"dedupe": []}, OK, False),
            ({"dedupe": ["nocol"]}, BAD, False),
        ]
    ),
    _step(
        [
            ({"python": "../../etc/passwd:x"}, BAD, False),
            ({"python": "nosuchmod_zz:f"}, BAD, False),
            ({"python": "os:getcwd"}, MAYBE, False),
            ({"python": "a/b:c"}, BAD, False),
            ({"sql": "SELECT 1", "filter": "x"}, BAD, False),
            ({"map": "x"}, BAD, False),
            ("sql", BAD, False),
            ([{"sql": "SELECT 1"}], BAD, False),
        ]
    ),
    _python_step,
    _set(
        "target",
        [
            ("/proc/self/environ", BAD, True),
            ("d.csv", BAD, True),
            ("duckdb:///d.csv", BAD, True),
            ("postgresql://u@localhost:99999/db", BAD, True),
            ("foo://bar", BAD, True),
            ("", BAD, True),
            ("parquet:///proc/fz", MAYBE, True),
            ("sqlite:///nodir/x/s.db", MAYBE, True),
            ({"uri": "lake", "format": "xlsx"}, BAD, True),
            ({"uri": "out", "format": "csv"}, OK, True),
            ({"lock_timeout_s": -1}, BAD, True),
            (5, BAD, True),
            ("sqlite:///s.db", OK, True),
            ("csv:///out", OK, True),
            ("parquet:///lake", OK, True),
            ("duckdb:///w.duckdb", OK, True),
        ],
    ),
    _target_dir_is_file,
    _set("mode", [("replace", OK, True), ("upsert", BAD, True), (3, BAD, True)]),
    _merge,
    _set("key", [(5, BAD, True), ("nocol", MAYBE, True), ("id", MAYBE, True)]),
    _set(
        "retries",
        [
            ({"attempts": 0}, BAD, True),
            ({"attempts": 1}, OK, True),
            ({"attempts": "x"}, BAD, True),
            ({"base_s": -1}, BAD, True),
        ],
    ),
    _set("timeout_s", [(0, BAD, True), (-1, BAD, True), (0.001, TIMEOUT, False), (60, OK, True)]),
    _set("breaker", [({"failure_threshold": 0}, BAD, True), ({"cooldown_s": 1}, OK, True)]),
    _set(
        "tasks",
        [
            ({"d": {"timeout_s": 0.001}}, TIMEOUT, False),
            ({"nope": {}}, MAYBE, True),
            ({"d": {"retries": "x"}}, BAD, True),
        ],
    ),
    _set("max_bad_rows", [(-1, BAD, True), ("x", BAD, True), (0, OK, True), (10**30, MAYBE, True)]),
    _set("max_bad_ratio", [(1.5, BAD, True), (-0.1, BAD, True), (0, OK, True), (1, OK, True)]),
    _set(
        "checks",
        [
            ([{"check": "not_null", "columns": ["id"]}], OK, True),
            ([{"check": "nope"}], BAD, True),
            ("x", BAD, True),
        ],
    ),
    _set("transforms", [("x", BAD, True), (None, BAD, True), ({}, BAD, True)]),
    _deep,
    _unknown,
]

# Files that are not a pipeline mapping at all: (text, certainly bad).
BROKEN_TEXT = [
    ("source: 'd.csv\n", True),
    ("source:\n\turi: d.csv\n", True),
    ("source: d.csv\x00\n", True),
    ("", True),
    ("null\n", True),
    ("- source: d.csv\n", True),
    ("source: d.csv\nsource: e.csv\n", True),
    ("source: d.csv\n" + "x: " + "[" * 300 + "]" * 300 + "\n", True),
    ("source: &a d.csv\ntarget: *a\n", True),
    ("source: d.csv\nname: !!python/object/apply:os.system ['echo pwned']\n", True),
    ("\ufeffsource: d.csv\n", False),
    ("source: d.csv\nmax_bad_rows: .inf\n", True),
    ("source: {uri: d.csv, csv: {delimiter: ','}\n", True),
]


def pipeline(rng: random.Random) -> tuple[dict[str, bytes], str, int | None, bool, list[str]]:
    """(files, pipeline file name, expected exit or None, rows read = records, labels)."""
    files: dict[str, bytes] = {"d.csv": DATA}
    if rng.random() < 0.08:
        text, certain = rng.choice(BROKEN_TEXT)
        files["p.yaml"] = text.encode()
        return files, "p.yaml", 2 if certain else None, False, [f"text {_short(text)}"]
    if rng.random() < 0.02:  # broken JSON is not a pipeline: it is read as JSON data
        files["p.json"] = b'{"source": "d.csv",}'
        return files, "p.json", None, False, ["broken json"]
    spec: dict[str, Any] = {"source": rng.choice(["d.csv", {"uri": "d.csv"}])}
    if rng.random() < 0.5:
        spec["target"] = rng.choice(["duckdb:///w.duckdb", "parquet:///lake", "csv:///out"])
    labels, verdicts, keeps_all = [], [], True
    for _ in range(rng.choice([1, 1, 2, 3])):
        verdict, keeps, label = rng.choice(MUTATIONS)(rng, spec, files)
        labels.append(label)
        verdicts.append(verdict)
        keeps_all = keeps_all and keeps
    name = "p.json" if rng.random() < 0.3 else rng.choice(["p.yaml", "p.yml"])
    if name == "p.json":
        text = json.dumps(spec, ensure_ascii=rng.random() < 0.5)
    else:
        text = yaml.safe_dump(spec, allow_unicode=True, width=1 << 20, sort_keys=False)
    files[name] = text.encode()
    bad = BAD in verdicts and TIMEOUT not in verdicts
    return files, name, 2 if bad else None, keeps_all and BAD not in verdicts, labels
