"""Replay dead-letter entries once their cause is fixed, exactly once.

* A quarantined **row** is read again from its stored raw text, with the dialect and types it
  was first read with, overridden by a fixed pipeline file if one is given (``--pipeline``:
  its ``source.columns``, ``source.csv`` options, transforms, target, mode and key). Rows that
  now parse are loaded (a ``replace`` pipeline appends them); rows that still do not stay in
  the queue with the new reason.
* A failed **task** is replayed by resuming its run from its checkpoints.

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

from ..connectors import BadRow, Relation, StagedTable, destination_for
from ..connectors._duck import RejectSink, quote_literal, sql_list
from ..errors import UserError
from ..spec import PipelineSpec
from ..state import DlqEntry, StateStore
from ..transform import apply_steps
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
        else:
            groups[(entry.run_id, entry.table)].append(entry)
    for (run_id, table), group in groups.items():
        _, spec = spec_of_run(store, run_id)
        _replay_rows(store, spec, fixed, table, group, home, base_dir or Path.cwd(), result)
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
    spec: PipelineSpec,
    fixed: PipelineSpec | None,
    table: str,
    entries: list[DlqEntry],
    home: Path,
    base_dir: Path,
    result: ReplayResult,
) -> None:
    use = fixed or spec
    context = json.loads(entries[0].context or "{}")
    fmt = context.get("format", "csv")
    ids = sorted(e.id for e in entries if e.id is not None)
    # The same entries at the same attempt give the same id: a replay repeated after its
    # commit is recognised; a new attempt (after a fix) is a new replay.
    attempt = sorted((e.id, e.attempts) for e in entries if e.id is not None)
    replay_id = "replay-" + hashlib.sha256(json.dumps(attempt).encode()).hexdigest()[:12]
    with tempfile.TemporaryDirectory(prefix="aoetl-replay-") as tmp:
        path = Path(tmp) / f"replay.{'jsonl' if fmt == 'ndjson' else fmt}"
        if fmt == "csv":
            relation, by_line = _csv_relation(path, entries, context, use, table)
        elif fmt == "ndjson":
            path.write_text("".join((e.payload or "") + "\n" for e in entries), encoding="utf-8")
            relation = Relation(f"SELECT * FROM read_json({sql_list([str(path)])})")
            by_line = {}
        else:
            raise UserError(f"rows quarantined from {fmt} files cannot be replayed")
        relation = apply_steps(relation, use.transforms, base_dir=base_dir)
        destination = destination_for(use.target, home=home)
        mode = "append" if use.mode == "replace" else use.mode
        destination.begin(replay_id, f"{use.name}:replay")
        still: dict[int, str] = {}

        def record_bad(rows: list[BadRow]) -> None:
            for row in rows:
                entry_id = by_line.get(row.line or -1)
                if entry_id is not None:
                    still[entry_id] = row.reason

        try:
            if not destination.committed():
                destination.write(
                    table,
                    relation,
                    mode=mode,
                    key=use.key,
                    fingerprint=replay_id,
                    record_bad=record_bad,
                )
                destination.commit([StagedTable(table, mode, use.key)])
        finally:
            destination.close()
    loaded = [i for i in ids if i not in still]
    store.mark_replayed(loaded, replay_id)
    store.mark_still_bad(still)
    result.replayed.extend(loaded)
    result.still_bad.update(still)
    result.runs.append(replay_id)


def _csv_relation(
    path: Path,
    entries: list[DlqEntry],
    context: dict[str, Any],
    spec: PipelineSpec,
    table: str,
) -> tuple[Relation, dict[int, int]]:
    options = {str(k): str(v) for k, v in context.get("read_options", [])}
    columns = [(str(n), str(t)) for n, t in context.get("columns", [])]
    overrides = spec.source.columns or {}
    columns = [(n, overrides.get(n, t)) for n, t in columns]
    delim = options.get("delim", "','").strip("'").replace("''", "'") or ","
    quote = options.get("quote", "'\"'").strip("'").replace("''", "'") or '"'
    header = io.StringIO()
    csv.writer(header, delimiter=delim, quotechar=quote, lineterminator="\n").writerow(
        [n for n, _ in columns]
    )
    lines, by_line, line_no = [header.getvalue()], {}, 2
    for entry in entries:
        raw = (entry.payload or "").rstrip("\n")
        assert entry.id is not None
        by_line[line_no] = entry.id
        lines.append(raw + "\n")
        line_no += raw.count("\n") + 1
    path.write_text("".join(lines), encoding="utf-8")
    options["encoding"] = "'utf-8'"
    options["header"] = "true"
    options.pop("skip", None)
    if spec.source.csv.null_values is not None:
        options["nullstr"] = (
            "[" + ", ".join(quote_literal(v) for v in spec.source.csv.null_values) + "]"
        )
    sink = RejectSink(table)
    cols = "{" + ", ".join(f"{quote_literal(n)}: {quote_literal(t)}" for n, t in columns) + "}"
    options.update(
        columns=cols,
        store_rejects="true",
        rejects_table=quote_literal(sink.errors_table),
        rejects_scan=quote_literal(sink.scans_table),
    )
    args = ", ".join(f"{k}={v}" for k, v in options.items())
    return Relation(
        f"SELECT * FROM read_csv({sql_list([str(path)])}, {args})", rejects=[sink]
    ), by_line
