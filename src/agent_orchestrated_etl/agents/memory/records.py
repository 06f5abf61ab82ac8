"""What a memory record says: a source's fingerprint, a run's settings, outcome and cause.

Pure functions over what discovery found and what a run returned; nothing here loads a model
or touches the network. Every string that reaches a record passes through ``errors.redact``
(passwords in URIs, and every secret value resolved in this process).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from ...connectors import Resource
from ...engine import RunResult, TaskTimedOut
from ...errors import UserError, redact
from ...secrets import redact_obj
from ...spec import PipelineSpec
from ...spec.uri import LOCAL_SCHEMES, anchored, parse_uri
from ...state import MemoryRecord

MemoryMode = Literal["on", "off", "similar"]
MODES: tuple[MemoryMode, ...] = ("on", "off", "similar")

# Failures a different configuration can avoid; bad input, a transient outage or a bug in a
# step would fail the same way whatever the settings.
CONFIG_FAILURES = ("timeout", "out_of_memory")

# The settings a run records, and those memory may set on a later run where the user did not.
TUNABLE = ("workers", "timeout_s")


def memory_mode(env: Mapping[str, str] | None = None) -> MemoryMode:
    """``AOETL_MEMORY``: ``on`` (default: exact lookup only), ``off``, or ``similar`` (also a
    vector search for an unknown source when a run is planned, which loads the model)."""
    raw = (os.environ if env is None else env).get("AOETL_MEMORY", "").strip().lower()
    if not raw:
        return "on"
    if raw not in MODES:
        raise UserError(f"AOETL_MEMORY={raw!r} is not one of on, off, similar; fix or unset it")
    return raw


def source_uri(uri: str, base_dir: Path | None = None) -> str:
    """The source as memory keys it: a local path made absolute (``c.csv`` and ``/abs/c.csv``
    are one source), without any secret."""
    try:
        parsed = parse_uri(os.path.expanduser(uri) if uri.startswith("~") else uri)
        if parsed.scheme.split("+")[0] in LOCAL_SCHEMES and not parsed.path.startswith(":"):
            local = anchored(parsed, base_dir or Path.cwd())
            uri = local.path if parsed.scheme == "file" else local.raw
    except Exception:  # a URI that is a ${…} reference: keyed as written, never resolved here
        pass
    return redact(uri)


def schema_of(resources: Iterable[Resource]) -> list[dict[str, Any]]:
    """Each discovered table with its columns and their types, in name order."""
    return [
        {"table": r.name, "format": r.format, "columns": [list(c) for c in r.columns]}
        for r in sorted(resources, key=lambda r: r.name)
    ]


def schema_hash(schema: list[dict[str, Any]]) -> str:
    """A hash of the tables, their columns and types; the same schema at another URI matches."""
    shape = [[t["table"], [[n, str(ty).upper()] for n, ty in t["columns"]]] for t in schema]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def fingerprint(uri: str, schema_digest: str) -> str:
    """A source: its schema and where it is."""
    return hashlib.sha256(f"{uri}\0{schema_digest}".encode()).hexdigest()[:16]


def settings_of(spec: PipelineSpec, workers: int) -> dict[str, Any]:
    """The settings a run used that tune its speed or its limits."""
    found: dict[str, Any] = {
        "workers": workers,
        "timeout_s": spec.timeout_s,
        "retries": spec.retries.attempts,
    }
    source = spec.source
    for name in ("max_concurrency", "requests_per_second", "partitions", "reader"):
        value = getattr(source, name, None)
        if value is not None:
            found[name] = value
    paginator = getattr(source, "paginator", None)
    for name in ("page_size", "limit"):
        value = getattr(paginator, name, None) if paginator is not None else None
        if value is not None:
            found[f"paginator.{name}"] = value
    return found


def explicit_settings(spec: PipelineSpec, *, workers_given: bool) -> set[str]:
    """The tunable settings the user set for this run (a flag, ``AOETL_*`` or the file):
    memory never overrides these with a proven value."""
    given = {"timeout_s"} & spec.model_fields_set
    if workers_given:
        given.add("workers")
    return given


# A failure is a timeout or out of memory by the type of the error or of what caused it (as
# ``RunResult.error_types`` names them), never by its words: a bad value may say anything.
TIMEOUT_TYPES = frozenset({f"{TaskTimedOut.__module__}.{TaskTimedOut.__qualname__}"})
OUT_OF_MEMORY_TYPES = frozenset({"MemoryError", "duckdb.OutOfMemoryException"})


def failure_cause(
    status: str, error_kind: str | None, error_types: Iterable[str] = ()
) -> str | None:
    """Why a run failed, in the terms memory acts on; None for a success. Bad input and a
    transient outage are what they are whatever caused them; only a fatal error is a
    ``timeout`` (its task's time limit stopped it) or ``out_of_memory`` (Python's
    MemoryError or DuckDB's OutOfMemoryException in its chain)."""
    if status == "success":
        return None
    if status == "interrupted":
        return "interrupted"
    if error_kind in ("bad_input", "transient"):
        return error_kind
    types = set(error_types)
    if types & TIMEOUT_TYPES:
        return "timeout"
    if types & OUT_OF_MEMORY_TYPES:
        return "out_of_memory"
    return error_kind or "fatal"


def _columns_text(schema: list[dict[str, Any]], limit: int = 40) -> str:
    parts = []
    for table in schema:
        cols = ", ".join(f"{n} {t}" for n, t in table["columns"][:limit])
        more = f" and {len(table['columns']) - limit} more" if len(table["columns"]) > limit else ""
        parts.append(f"table {table['table']} ({table['format']}): {cols}{more}")
    return "; ".join(parts)


def source_record(kind: str, uri: str, schema: list[dict[str, Any]]) -> MemoryRecord:
    """The record of a source: its fingerprint and what it holds."""
    digest = schema_hash(schema)
    text = redact(f"{kind} source {uri}: {_columns_text(schema)}")
    return MemoryRecord(
        kind="source",
        fingerprint=fingerprint(uri, digest),
        schema_hash=digest,
        uri=uri,
        text=text,
        data={"source_kind": kind, "schema": schema},
    )


def _settings_text(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)


def run_record(
    source: MemoryRecord,
    result: RunResult,
    *,
    spec_hash: str,
    settings: Mapping[str, Any],
    plan: Mapping[str, Any] | None,
    memory_used: Iterable[int] = (),
) -> MemoryRecord:
    """The record of a finished run of ``source``: its plan, settings and outcome."""
    rows = result.rows_loaded
    duration = max(result.duration_s, 0.0)
    rate = rows / duration if duration > 0 else 0.0
    cause = failure_cause(result.status, result.error_kind, result.error_types)
    error = redact(result.error) if result.error else None
    outcome = (
        f"succeeded: {rows:,} rows in {duration:.2f}s ({rate:,.0f} rows/s)"
        if cause is None
        else f"failed ({cause}): {error}"
    )
    tables = ", ".join(sorted(result.tables)) or "none"
    text = redact(
        f"run {result.run_id} of pipeline {result.pipeline} from {source.uri} "
        f"into tables {tables} {outcome}; settings {_settings_text(settings)}"
    )
    return MemoryRecord(
        kind="run",
        fingerprint=source.fingerprint,
        schema_hash=source.schema_hash,
        uri=source.uri,
        text=text,
        run_id=result.run_id,
        pipeline=redact(result.pipeline),
        spec_hash=spec_hash,
        status=result.status,
        failure=cause,
        duration_s=round(duration, 4),
        rows=rows,
        rows_per_s=round(rate, 1),
        settings=dict(settings),
        data={
            "plan": redact_obj(dict(plan)) if plan is not None else None,
            "error": error,
            "error_kind": result.error_kind,
            "error_types": list(result.error_types),
            "tables": {n: t.rows_loaded for n, t in result.tables.items()},
            "memory_used": list(memory_used),
        },
    )
