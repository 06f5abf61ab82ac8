"""Replay dead-letter entries once their cause is fixed, exactly once.

* A quarantined **row** is read again from its stored bytes (exactly as they were in the
  file), with the dialect, encoding and types it was first read with, overridden by a fixed
  pipeline file if one is given (``--pipeline``: its ``source.columns``, ``source.csv``
  delimiter, quote, encoding, null values, null_padding, transforms, target, mode, key). Rows that
  now parse are loaded (a ``replace`` pipeline appends them); rows that still do not stay in
  the queue with the new reason. A routed run's rows go where its routing sent them: the
  target its ``route:`` chose, and for a table in ``routes:`` the table of each row's route.
* A failed **task** is replayed by resuming its run from its checkpoints.
* A **message** between agents whose handler failed (``kind`` 'message', stored by
  ``agents.bus.dlq_sink``) is not replayed: the run whose agents exchanged it has ended.
* A row a **check** quarantined (``file`` is ``check:<name>``) is not replayed: it was read
  fine and the check refused it, so the replay reports it still bad and it stays open.

A replay of a set of entries has a deterministic run id, recorded by the destination in the
same transaction as the data, so a replay that is repeated, or interrupted after its commit,
never loads a row twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..agents.routing import RowRouting, row_routings
from ..connectors import BadRow, Relation, StagedTable, destination_for
from ..data.duck import RejectSink, quote_literal, sql_list
from ..errors import UserError
from ..spec import CsvOptions, FileSourceSpec, PipelineSpec
from ..state import DlqEntry, StateStore
from ..transform import apply_steps
from .checking import CHECK_FILE
from .planner import merge_key, table_mode
from .routing import ROUTE_FILE, routed_relations, run_target_spec, unrouted_count
from .runner import RunOptions, run_pipeline, spec_of_run


@dataclass
class ReplayResult:
    """What a replay did."""

    replayed: list[int] = field(default_factory=list)
    still_bad: dict[int, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "replayed": self.replayed,
            "still_bad": {str(k): v for k, v in self.still_bad.items()},
            "runs": self.runs,
        }


def replay(
    store: StateStore,
    entries: list[DlqEntry],
    *,
    home: Path,
    fixed: PipelineSpec | None = None,
    base_dir: Path | None = None,
) -> ReplayResult:
    """Replay open entries; already replayed ones are skipped (replay is idempotent)."""
    result = ReplayResult()
    groups: dict[tuple[str, str], list[DlqEntry]] = defaultdict(list)
    for entry in entries:
        if entry.status != "open" or entry.id is None or entry.run_id is None:
            continue
        if entry.kind == "task":
            _replay_task(store, entry, home, base_dir, result)
        elif entry.kind == "message":
            # A message between the agents of a run that has ended: no agent is there to take
            # it again. Its failure is a record to read; the run's own entries carry the data.
            result.still_bad[entry.id] = (
                f"a message on topic {entry.table!r} that an agent failed on is not replayed "
                "(the run that sent it has ended); see why with 'aoetl dlq show "
                f"{entry.id}', and rerun the pipeline once its cause is fixed"
            )
        elif (entry.file or "").startswith(ROUTE_FILE):
            result.still_bad[entry.id] = (
                "no route of the pipeline took this row, so it is not replayed: add a route or "
                "an 'else' for it (see docs/routing.md) and run the pipeline again"
            )
        elif (entry.file or "").startswith(CHECK_FILE):
            # The row was read and transformed fine; a check of the pipeline refused it. It
            # stays in the queue (never lost) until the data or the check changes.
            check = entry.file[len(CHECK_FILE) :] if entry.file else ""
            result.still_bad[entry.id] = (
                f"quarantined by check {check}, so it is not replayed: fix the row at the "
                "source and run the pipeline again, or change the check"
            )
        else:
            groups[(entry.run_id, entry.table)].append(entry)
    for (run_id, table), group in groups.items():
        _, spec = spec_of_run(store, run_id)
        # The target the run's routing chose, as its load used it (not the spec's own).
        use = run_target_spec(store, run_id, fixed or spec)
        _replay_rows(store, use, table, group, home, base_dir or Path.cwd(), result)
    return result


def _replay_task(
    store: StateStore, entry: DlqEntry, home: Path, base_dir: Path | None, result: ReplayResult
) -> None:
    assert entry.id is not None and entry.run_id is not None
    run_id, spec = spec_of_run(store, entry.run_id)
    outcome = run_pipeline(
        spec, RunOptions(home=home, base_dir=base_dir or Path.cwd(), run_id=run_id)
    )
    result.runs.append(run_id)
    if outcome.status == "success":
        store.mark_replayed([entry.id], run_id)
        result.replayed.append(entry.id)
    else:
        result.still_bad[entry.id] = outcome.error or "the resumed run failed"
        store.mark_still_bad({entry.id: result.still_bad[entry.id]})


def _replay_rows(
    store: StateStore,
    use: PipelineSpec,
    table: str,
    entries: list[DlqEntry],
    home: Path,
    base_dir: Path,
    result: ReplayResult,
) -> None:
    context = json.loads(entries[0].context or "{}")
    fmt = context.get("format", "csv")
    if fmt == "ndjson":
        entries = _parseable(store, entries, result)
        if not entries:
            return
    ids = sorted(e.id for e in entries if e.id is not None)
    # The same entries at the same attempt give the same id: a replay repeated after its
    # commit is recognised; a new attempt (after a fix) is a new replay.
    attempt = sorted((e.id, e.attempts) for e in entries if e.id is not None)
    replay_id = "replay-" + hashlib.sha256(json.dumps(attempt).encode()).hexdigest()[:12]
    with tempfile.TemporaryDirectory(prefix="aoetl-replay-") as tmp:
        if fmt == "csv":
            relation, by_file = _csv_relation(Path(tmp), entries, context, use, table)
        elif fmt == "ndjson":
            path = Path(tmp) / "replay.jsonl"
            path.write_bytes(b"".join(_payload(e).rstrip(b"\r\n") + b"\n" for e in entries))
            relation = Relation(f"SELECT * FROM read_json({sql_list([str(path)])})")
            by_file = {}
        else:
            if fmt == "rest":
                raise UserError(
                    "rows quarantined from a REST API cannot be replayed; fix the records at "
                    "the API and run the pipeline again"
                )
            raise UserError(f"rows quarantined from {fmt} files cannot be replayed")
        relation = apply_steps(relation, use.transforms, base_dir=base_dir, home=home)
        routing = row_routings(use).get(table)
        refused = _unrouted(routing, relation, len(ids), home)
        if refused is not None:
            store.mark_still_bad(dict.fromkeys(ids, refused))
            result.still_bad.update(dict.fromkeys(ids, refused))
            return
        destination = destination_for(use.target, home=home)
        destination.begin(replay_id, f"{use.name}:replay")
        still: dict[int, str] = {}

        def record_bad(rows: list[BadRow]) -> None:
            for row in rows:
                entry_id = by_file.get(row.file or "")
                if entry_id is not None:
                    still[entry_id] = row.reason

        try:
            if not destination.committed():
                staged = []
                for name, rows in routed_relations(routing, table, relation):
                    # The table's own mode and key (tasks.<table>), as its load used them.
                    mode = table_mode(use, name)
                    mode = "append" if mode == "replace" else mode
                    key = merge_key(use, name)
                    destination.write(
                        name, rows, mode=mode, key=key, fingerprint=replay_id,
                        record_bad=record_bad,
                    )  # fmt: skip
                    staged.append(StagedTable(name, mode, key))
                destination.commit(staged)
        finally:
            destination.close()
    loaded = [i for i in ids if i not in still]
    store.mark_replayed(loaded, replay_id)
    store.mark_still_bad(still)
    result.replayed.extend(loaded)
    result.still_bad.update(still)
    result.runs.append(replay_id)


def _parseable(store: StateStore, entries: list[DlqEntry], result: ReplayResult) -> list[DlqEntry]:
    """The entries whose line is JSON now; the others stay open with the parser's reason (a
    truncated or broken line is fixed at the source, no pipeline setting reads it)."""
    kept, still = [], {}
    for entry in entries:
        try:
            json.loads(_payload(entry))
        except ValueError as exc:  # UnicodeDecodeError is one too
            assert entry.id is not None
            still[entry.id] = (
                f"still not a JSON record ({exc}); fix the line at the source and run the "
                "pipeline again"
            )
        else:
            kept.append(entry)
    store.mark_still_bad(still)
    result.still_bad.update(still)
    return kept


def _unrouted(routing: RowRouting | None, relation: Relation, rows: int, home: Path) -> str | None:
    """Why none of the replayed rows loads when some meet no route of their table (None:
    every row has one). They stay in the queue: the run would not have loaded them."""
    if routing is None or routing.fate == "else":
        return None
    count = unrouted_count(routing, relation, home)
    if not count:
        return None
    table = routing.source
    return (
        f"{count:,} of the {rows:,} replayed rows of table {table} meet no route "
        f"(routes.{table}), so none is replayed; add an 'else' rule or a route for them in "
        "the fixed pipeline (--pipeline) and replay again"
    )


def _csv_relation(
    folder: Path,
    entries: list[DlqEntry],
    context: dict[str, Any],
    spec: PipelineSpec,
    table: str,
) -> tuple[Relation, dict[str, int]]:
    """The entries' rows read as CSV again, with the spec's fixes; and file -> entry id.

    Each row goes into a file of its own, under a header, so a rejected row names its entry
    by its file whatever the new dialect makes of line breaks inside it.
    """
    options = {str(k): str(v) for k, v in context.get("read_options", [])}
    columns = [(str(n), str(t)) for n, t in context.get("columns", [])]
    # Rows quarantined from files are fixed by a files source's options; a database's never.
    files = spec.source if isinstance(spec.source, FileSourceSpec) else None
    overrides = (files.columns if files else None) or {}
    columns = [(n, overrides.get(n, t)) for n, t in columns]
    fixes = files.csv if files else CsvOptions()
    if fixes.delimiter is not None:
        options["delim"] = quote_literal(fixes.delimiter)
    if fixes.quote is not None:
        # A quote doubled inside a quoted field is the escape (RFC 4180), as DuckDB sniffs it.
        options["quote"] = options["escape"] = quote_literal(fixes.quote)
    if fixes.encoding is not None:
        options["encoding"] = quote_literal(fixes.encoding)
    if fixes.null_values is not None:
        options["nullstr"] = "[" + ", ".join(quote_literal(v) for v in fixes.null_values) + "]"
    if fixes.null_padding is not None:
        # parallel=false: DuckDB refuses padding beside a quoted line break otherwise.
        padding = "true" if fixes.null_padding else "false"
        options.update(null_padding=padding, parallel="false")
    delim = _literal(options.get("delim"), ",")
    quote = _literal(options.get("quote"), '"')
    encoding = _CODECS.get(_literal(options.get("encoding"), "utf-8"), "utf-8")
    header = io.StringIO()
    csv.writer(header, delimiter=delim, quotechar=quote, lineterminator="\n").writerow(
        [n for n, _ in columns]
    )
    # The header is skipped: the names come from 'columns' below, so a name the new encoding
    # cannot spell does no harm.
    head = header.getvalue().encode(encoding, errors="replace")
    by_file: dict[str, int] = {}
    for i, entry in enumerate(entries):
        assert entry.id is not None
        path = folder / f"{i:08d}.csv"
        path.write_bytes(head + _payload(entry).rstrip(b"\r\n") + b"\n")
        by_file[str(path)] = entry.id
    options["header"] = "true"
    options.pop("skip", None)
    sink = RejectSink(table)
    cols = "{" + ", ".join(f"{quote_literal(n)}: {quote_literal(t)}" for n, t in columns) + "}"
    options.update(
        columns=cols,
        store_rejects="true",
        rejects_table=quote_literal(sink.errors_table),
        rejects_scan=quote_literal(sink.scans_table),
    )
    args = ", ".join(f"{k}={v}" for k, v in options.items())
    return Relation(f"SELECT * FROM read_csv({sql_list(by_file)}, {args})", rejects=[sink]), by_file


# How Python spells DuckDB's encodings (UTF-16 without a byte-order mark is little-endian).
_CODECS = {"utf-8": "utf-8", "latin-1": "latin-1", "utf-16": "utf-16-le"}


def _literal(sql: str | None, default: str) -> str:
    """The text of a quoted SQL literal such as ``';'``."""
    if sql is None:
        return default
    return sql.strip().removeprefix("'").removesuffix("'").replace("''", "'") or default


def _payload(entry: DlqEntry) -> bytes:
    """The row as read. Older versions stored decoded text; it is all that is left of those."""
    if isinstance(entry.payload, bytes):
        return entry.payload
    return (entry.payload or "").encode("utf-8")
