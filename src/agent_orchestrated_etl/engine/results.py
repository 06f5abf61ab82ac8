"""Typed results of a run and of each table, as the CLI prints them with --json."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import AoetlError, ErrorKind, kind_of


@dataclass
class TableResult:
    """One table's outcome."""

    rows_loaded: int
    rows_rejected: int
    target: str
    fused: bool = False
    columns_added: tuple[str, ...] = ()
    columns_widened: tuple[str, ...] = ()
    duration_s: float = 0.0
    # Records the source gave: staged (loaded at commit) plus quarantined. Without transforms
    # that filter, every input record is one of the two.
    rows_read: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.rows_loaded / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "rows_read": self.rows_read,
            "target": self.target,
            "duration_s": round(self.duration_s, 4),
            "fused": self.fused,
            "columns_added": list(self.columns_added),
            "columns_widened": list(self.columns_widened),
        }


def types_of(error: BaseException, limit: int = 8) -> tuple[str, ...]:
    """``error``'s type and those of what caused it (``__cause__``, else ``__context__``:
    a classifier's ``raise … from None`` still leaves the driver's error there)."""
    found: list[str] = []
    seen: BaseException | None = error
    while seen is not None and len(found) < limit:
        kind = type(seen)
        module = kind.__module__.lstrip("_")
        found.append(kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}")
        seen = seen.__cause__ or seen.__context__
    return tuple(found)


@dataclass
class RunResult:
    """A run's outcome, or one task's (``task`` set, from ``aoetl run … --task``).

    ``status`` is 'success', 'failed' or 'interrupted'; ``error_kind`` says what kind of
    failure it was (None on success), and the exit code derives from the error.
    """

    run_id: str
    pipeline: str
    status: str
    duration_s: float
    tables: dict[str, TableResult] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)
    traceback: str | None = None  # shown with -v; never in --json or history
    error_kind: ErrorKind | None = None
    # The error's type, then its causes' (``module.Name``; builtins bare), so a reader can
    # tell a timeout or an out-of-memory from words in a message. Not in --json.
    error_types: tuple[str, ...] = ()
    task: str | None = None
    # Each check's result (``CheckResult`` JSON), and each profiled table's quality score
    # (``Score`` JSON) when the spec's quality.profile is on.
    checks: list[dict[str, Any]] = field(default_factory=list)
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fail(self, error: BaseException, traceback: str | None = None) -> None:
        """Record ``error`` as what ended the run: its text, exit code and kind."""
        if isinstance(error, AoetlError):
            self.error, self.exit_code = str(error), error.exit_code
        else:  # an unexpected failure is still a recorded, failed run
            self.error, self.exit_code = f"{type(error).__name__}: {error}", 1
        self.error_kind = kind_of(error)
        self.error_types = types_of(error)
        self.traceback = traceback

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables.values())

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "status": self.status,
            "duration_s": round(self.duration_s, 4),
            "tables": {name: t.to_dict() for name, t in self.tables.items()},
            "error": self.error,
            "error_kind": self.error_kind,
            "notes": self.notes,
            "checks": self.checks,
            "quality": self.quality,
        }
        if self.task is not None:
            data["task"] = self.task
        return data
