"""``aoetl plan`` for files, folders and S3 prefixes: a runnable pipeline from their analysis.

The source is analysed once (:func:`analysis.analyze`); everything here reads that report:

* each table merges on the key the analysis found (its best candidate key), else appends;
* a table whose values refer to another's key (a foreign key found in the data) loads after
  it (``tasks.<table>.after``), and the reference is written as documentation
  (``references``); where references go round in a circle, the weakest is not used to order;
* a table that appends reads each file once (incremental on ``_object_modified``); a table
  that merges and has an update timestamp reads the rows past its mark;
* checks drawn from the analysis (keys not null and unique, tables not empty) are written
  as ``checks:`` with ``severity: warn``: they are guesses from a sample, so a planned
  pipeline runs as it is and only warns when one does not hold;
* comments say what was inferred and why: the key and its evidence, the mode, each
  reference with its coverage, the cursor, and the issues worth knowing (drift, PII,
  null-heavy or mixed columns).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .._text import byte_size, plural
from ..analysis import Issue, Reference, ResourceReport, SourceReport, analyze
from ..errors import UserError
from ..spec import OBJECT_COLUMNS, PipelineSpec, validate_spec
from .propose import Proposal

_OBJECT_CURSOR = "_object_modified"
_OBJECT_CAVEAT = (
    f"{_OBJECT_CURSOR} assumes files are written once and never back-dated: a file copied "
    "with its old time kept (cp -p, rsync -t, tar x) or an S3 multipart upload begun before "
    "the last run is never read, and a file that grows is read whole again and its rows "
    "appended twice (a run also leaves files modified in the last 2 s to the next run). "
    "Otherwise use mode: replace (every run reads everything), or cursor: _object_key "
    "when new files get names that sort later (events-2024-03-02.csv)"
)
_UPDATED = re.compile(r"updat|modif|chang")
_ISSUES_SHOWN = 8  # per table: a file with hundreds of drifted files says the rest in a count


def propose_files(
    spec: PipelineSpec,
    *,
    home: Path | None = None,
    sample_rows: int | None = None,
    report: SourceReport | None = None,
) -> Proposal:
    """The pipeline file for ``spec``'s files or S3 prefix, from one analysis of it (or from
    ``report``, an analysis of the same source already made: nothing is read again)."""
    if report is None:
        report = analyze(spec.source, home=home, sample_rows=sample_rows)
    if not report.resources:
        seen = "; ".join(str(i) for i in report.issues[:3]) or "no readable file"
        raise UserError(
            f"{report.source} holds no table aoetl can load ({seen}); point 'aoetl plan' at "
            "CSV, JSON, NDJSON or Parquet files"
        )
    data: dict[str, Any] = spec.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("name", spec.name)
    source: dict[str, Any] = dict(data.get("source") or {"uri": spec.source.uri})
    incremental: dict[str, Any] = dict(source.get("incremental") or {})
    order, unordered = _load_order(report)
    comments: dict[str, list[str]] = {"": _header(report)}
    reasons: list[str] = []
    tasks: dict[str, dict[str, Any]] = {}
    checks: list[dict[str, Any]] = []
    for resource in report.resources:
        name = resource.name
        options, notes = _mode(resource)
        reasons.append(f"{name}: {notes[0]}")
        cursor, why = _cursor(resource)
        if name in incremental or "*" in incremental:
            notes.append("incremental: as given")
        elif cursor is not None:
            incremental[name] = {"cursor": cursor}
            notes.append(f"incremental on {cursor}: {why}")
            if cursor == _OBJECT_CURSOR:
                notes.append(_OBJECT_CAVEAT)
            reasons.append(f"{name}: incremental on {cursor}")
        if order.get(name):
            options["after"] = order[name]
            reasons.append(f"{name}: loads after {', '.join(order[name])} (its foreign keys)")
        if resource.references:
            options["references"] = [str(r) for r in resource.references]
            notes += [_reference(name, r, unordered) for r in resource.references]
        notes += _facts(resource)
        notes += _issues(resource.issues)
        comments[f"tasks.{name}"] = notes
        tasks[name] = options
        checks += _checks(resource)
    if incremental:
        source["incremental"] = incremental
    data["source"] = source
    data["tasks"] = tasks
    comments["tasks"] = [
        "Per table: its mode and key, the tables it loads after, and its foreign keys (as "
        "documentation: not enforced). Each table's lines say what the analysis found."
    ]
    if checks:
        data["checks"] = checks
        comments["checks"] = [
            "Checks drawn from the analysis, run on what each run stages, before the commit. "
            "They are guesses from a sample, so each only warns: make one 'severity: fail' to "
            "stop a run that breaks it (nothing is committed), or 'quarantine' (row checks) "
            "to set the failing rows aside in the DLQ and load the rest."
        ]
    validate_spec(data)  # what is written runs: a plan that would not validate is a bug here
    reasons += [f"warning: {w}" for w in report.warnings]
    tables_found = [_discovered(r) for r in report.resources]
    return Proposal(data, reasons, tables_found, comments, report=report)


def _header(report: SourceReport) -> list[str]:
    files = sum(len(r.files) for r in report.resources)
    lines = [
        f"Planned by 'aoetl plan' from {report.source}: "
        f"{plural(len(report.resources), 'table')} in {plural(files, 'file')}, each profiled "
        f"on up to {report.sample_rows or 0:,} rows. Edit freely; 'aoetl run' runs it as it is.",
    ]
    lines += [f"Found: {_issue(i)}" for i in report.issues[:_ISSUES_SHOWN]]
    if len(report.issues) > _ISSUES_SHOWN:
        lines.append(f"... and {len(report.issues) - _ISSUES_SHOWN} more: see 'aoetl analyze'")
    lines += [f"Note: {w}" for w in report.warnings[:_ISSUES_SHOWN]]
    return lines


def _mode(resource: ResourceReport) -> tuple[dict[str, Any], list[str]]:
    """The table's mode and key, and the lines that say why."""
    key = resource.primary_key
    if not key:
        return {"mode": "append"}, [
            "append: no column (or pair of columns) is unique and non-null in the rows "
            "sampled, so there is no key to merge on; a rerun adds the rows it reads"
        ]
    evidence = next((c.reason for c in resource.candidate_keys if c.columns == key), "")
    others = [", ".join(c.columns) for c in resource.candidate_keys if c.columns != key]
    lines = [
        f"merge on {', '.join(key)}: a rerun updates rows in place and never duplicates them",
        f"key {', '.join(key)}: {evidence or 'unique and non-null in the rows sampled'}",
    ]
    if others:
        lines.append(f"other candidate keys: {'; '.join(others[:4])}")
    return {"mode": "merge", "key": list(key)}, lines


def _cursor(resource: ResourceReport) -> tuple[str | None, str]:
    """The incremental cursor to plan, and why; None when a rerun should read everything."""
    key = set(resource.primary_key)
    in_data = [c for c in resource.cursors if c not in OBJECT_COLUMNS and c not in key]
    if resource.primary_key:
        # A merge rereads an updated row only if its cursor moves when it changes: an update
        # time does, a creation time ('ordered_at') does not, so only the former is used.
        updated = [c for c in in_data if _UPDATED.search(c.lower())]
        if updated:
            return updated[0], (
                "a rerun reads only rows updated since the last one and merges them (a row "
                f"whose {updated[0]} is not past the mark is not read again)"
            )
        return None, ""
    if _OBJECT_CURSOR in resource.cursors:
        return _OBJECT_CURSOR, (
            "each file is read once: a rerun reads only files new or changed since the "
            f"last (a changed file is read whole again); the table gets a {_OBJECT_CURSOR} "
            "column"
        )
    if in_data:
        return in_data[0], f"a rerun reads only rows whose {in_data[0]} is past the last mark"
    return None, ""


def _load_order(report: SourceReport) -> tuple[dict[str, list[str]], set[tuple[str, str]]]:
    """Each table's tables to load first (from its references), and the references left out
    because they would close a circle. Stronger references (by coverage) order first."""
    names = {r.name for r in report.resources}
    edges = sorted(
        (
            (-ref.coverage, r.name, ref.table)
            for r in report.resources
            for ref in r.references
            if ref.table != r.name and ref.table in names
        ),
    )
    after: dict[str, list[str]] = {}
    left_out: set[tuple[str, str]] = set()
    for _, table, referenced in edges:
        if referenced in after.get(table, []):
            continue
        if _reaches(after, referenced, table):
            left_out.add((table, referenced))
            continue
        after.setdefault(table, []).append(referenced)
    return after, left_out


def _reaches(after: dict[str, list[str]], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        current = stack.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(after.get(current, []))
    return False


def _reference(table: str, ref: Reference, left_out: set[tuple[str, str]]) -> str:
    coverage = f"{ref.coverage:.1%}" if ref.coverage < 1 else "all"
    line = f"references {ref}: {coverage} of its distinct values are found there"
    if ref.coverage < 1:
        line += " (the rest are orphans)"
    if (table, ref.table) in left_out:
        line += "; not used to order the loads, since the references go round in a circle"
    return line


def _facts(resource: ResourceReport) -> list[str]:
    """The table's files, rows and columns with their types."""
    files = len(resource.files)
    size = f", {byte_size(resource.size_bytes)}" if resource.size_bytes else ""
    rows = f", ~{resource.row_estimate:,} rows" if resource.row_estimate is not None else ""
    lines = [f"{resource.format}: {plural(files, 'file')}{size}{rows}"]
    if resource.partitions:
        lines.append(f"partitions (key=value folders, read as columns): "
                     f"{', '.join(resource.partitions)}")  # fmt: skip
    columns = []
    for f in resource.fields:
        text = f"{f.name} {f.type}"
        if f.confidence is not None and f.confidence < 1:
            text += f" ({f.confidence:.0%} of values fit)"
        columns.append(text)
    if columns:
        lines.append("columns: " + ", ".join(columns))
    return lines


def _issues(issues: tuple[Issue, ...]) -> list[str]:
    """One line per kind of problem: the same issue in many files is one line naming them."""
    grouped: dict[tuple[str, str, str | None, str], list[Issue]] = {}
    for issue in issues:
        grouped.setdefault((issue.severity, issue.kind, issue.column, issue.detail), []).append(
            issue
        )
    shown = []
    for (severity, _, _, _), same in list(grouped.items())[:_ISSUES_SHOWN]:
        files = [Path(i.file).name for i in same if i.file]
        if len(files) < 2:
            shown.append(f"{severity}: {_issue(same[0])}")
            continue
        first = same[0]
        named = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        where = f" ({first.column})" if first.column else ""
        shown.append(
            f"{severity}: {first.kind.replace('_', ' ')}{where} in {len(files)} files "
            f"({named}): {first.detail}"
        )
    if len(grouped) > _ISSUES_SHOWN:
        shown.append(f"... and {len(grouped) - _ISSUES_SHOWN} more: see 'aoetl analyze'")
    return shown


def _issue(issue: Issue) -> str:
    where = issue.column or (Path(issue.file).name if issue.file else "") or issue.resource
    return f"{issue.kind.replace('_', ' ')} ({where}): {issue.detail}" if where else issue.detail


def _checks(resource: ResourceReport) -> list[dict[str, Any]]:
    name, key = resource.name, list(resource.primary_key)
    found: list[dict[str, Any]] = []
    if key:
        found.append({"table": name, "check": "not_null", "columns": key, "severity": "warn"})
        found.append({"table": name, "check": "unique", "columns": key, "severity": "warn"})
    if resource.row_estimate:
        found.append({"table": name, "check": "row_count", "min": 1, "severity": "warn"})
    return found


def _discovered(resource: ResourceReport) -> dict[str, object]:
    """A table as the analysis found it (the keys ``aoetl plan``'s table shows)."""
    return {
        "table": resource.name,
        "from": [resource.location],
        "kind": resource.format,
        "row_estimate": resource.row_estimate,
        "size_bytes": resource.size_bytes,
        "columns": [f.to_dict() for f in resource.fields],
        "primary_key": ", ".join(resource.primary_key) or None,
        "foreign_keys": [str(r) for r in resource.references],
        "decisions": [str(d) for d in resource.decisions],
    }
