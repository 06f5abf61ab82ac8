"""Staging that unfinished runs keep in their targets for a resume: list it, or remove it.

A killed or interrupted run leaves its staged tables and checkpoints in the target on purpose,
so a rerun skips what was already staged. ``aoetl runs --show`` lists them from the
destination's checkpoints, and ``aoetl runs --clean`` drops them (the run can then no longer
resume from them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..connectors import destination_for
from ..errors import AoetlError
from ..secrets import redact
from ..spec import parse_uri, validate_spec
from ..spec.uri import LOCAL_SCHEMES
from ..state import RunRecord, StateStore
from .routing import run_target_spec

# Runs that cannot be running any more and never committed: their staging waits for a resume.
UNFINISHED = ("failed", "interrupted", "killed")
# A run run one task at a time (aoetl run --task), between its tasks: its staging belongs to
# the orchestrator running it, so it is shown, and removed only when the run is named.
WAITING = "staged"


@dataclass
class Staging:
    """One run's staged tables in its target (table -> rows), or why they cannot be told."""

    run_id: str
    target: str
    tables: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "tables": self.tables,
            "error": self.error,
        }


def staging_of(record: RunRecord, home: Path, *, remove: bool = False) -> Staging:
    """What ``record``'s run has staged in its target; with ``remove``, drop it too.

    Nothing is created to find out: a local target that is not there has nothing staged.
    """
    found = Staging(record.run_id, redact(record.target or ""))
    if record.status not in (*UNFINISHED, WAITING) or not record.spec_json:
        return found
    try:
        spec = validate_spec(json.loads(record.spec_json))
        if spec.route:  # the run staged in the target its routing chose
            spec = run_target_spec(StateStore(home), record.run_id, spec)
        parsed = parse_uri(spec.target.uri)
        if parsed.scheme.split("+")[0] in LOCAL_SCHEMES and not _exists(parsed.path):
            return found  # opening it would create an empty file or folder
        destination = destination_for(spec.target, home=home)
        try:
            destination.begin(record.run_id, spec.name)
            found.tables = {t: c.rows for t, c in sorted(destination.checkpoints().items())}
            if remove and found.tables:
                destination.discard()
        finally:
            destination.close()
    except AoetlError as exc:
        found.error = redact(str(exc))
    return found


def clean(store: StateStore, home: Path, run_id: str | None = None) -> list[Staging]:
    """Drop the staging of one unfinished run (or of a waiting one, when named), or of every
    unfinished one; returns what was removed."""
    store.mark_dead_runs()
    if run_id is not None:
        record = store.find_run(run_id)
        if record is None:
            from ..errors import UserError

            raise UserError(f"no run matches {run_id!r}; list runs with 'aoetl runs'")
        records = [record]
    else:
        records = [r for s in UNFINISHED for r in store.runs(status=s, limit=1_000_000)]
    return [staging_of(r, home, remove=True) for r in records]


def _exists(path: str) -> bool:
    return bool(path) and Path(path).expanduser().exists()
