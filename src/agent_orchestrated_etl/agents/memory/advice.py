"""How memory changes a run: a known source's proven settings, and failed ones avoided.

Given the source a run is about to read (its fingerprint), the settings it would use, and the
ones the user set, :func:`advise` looks its past runs up by exact fingerprint, else runs of the
same schema at another URI, else (only when asked: ``AOETL_MEMORY=similar``) the nearest
source by vector search, and decides:

* **proven workers**, where the user did not set them and the plan has tasks that can run
  at once (with one at a time, workers cannot matter): another value is taken only when at
  least ``MIN_RUNS`` successful runs with it and as many with the current value are known,
  its median rows/s is ``MARGIN`` times the current one's, and its slowest run beat the
  current value's fastest (so one lucky run, or timing noise, proves nothing);
* **a configuration that failed before is avoided**: when the newest run that failed with a
  timeout at this ``timeout_s`` is newer than any success at it, the limit is raised threefold;
  when one failed out of memory with at least this many workers, the workers are halved,
  unless the user gave them (then a note says the failure happened with them, and they are
  kept). Failures on bad input, a transient outage or a bug are not about the configuration,
  and change nothing.

Each decision names the memory record it came from (``memory #ID: …``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from ...state import MemoryRecord, MemoryStore
from .records import CONFIG_FAILURES

TIMEOUT_FACTOR = 3.0
# A similar source (cosine distance) close enough to lend its settings.
SIMILAR_DISTANCE = 0.2
# Workers are proven by this many successful runs with each value compared, a median rows/s
# this many times the current value's, and no overlap between the two values' runs: on two
# busy cores one run of the same plan varies by 30-40%.
MIN_RUNS = 3
MARGIN = 1.2

Similar = Callable[[str], list[tuple[MemoryRecord, float]]]


@dataclass(frozen=True)
class Change:
    """One setting memory changed, from which record, and why."""

    setting: str
    old: Any
    new: Any
    memory_id: int
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "old": self.old,
            "new": self.new,
            "memory_id": self.memory_id,
            "why": self.why,
        }


@dataclass
class Advice:
    """What memory found for a source and what it changed."""

    how: str = ""  # fingerprint | schema | similar | "" (nothing known)
    distance: float | None = None  # a similar source's cosine distance
    about: MemoryRecord | None = None  # the remembered source it matched
    runs: int = 0
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    used: list[int] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # the settings to run with
    pinned: bool = False  # read back from the run's first task's audit entry

    def change(self, setting: str, new: Any, record: MemoryRecord, why: str) -> None:
        assert record.id is not None
        old = self.settings.get(setting)
        self.settings[setting] = new
        self.changes.append(Change(setting, old, new, record.id, why))
        self.notes.append(f"memory #{record.id}: {why}")
        if record.id not in self.used:
            self.used.append(record.id)


def _where(how: str, runs: list[MemoryRecord], distance: float | None) -> str:
    if how == "fingerprint":
        return "this source"
    if how == "schema":
        return f"the same schema at {runs[0].uri}"
    return f"a similar source, {runs[0].uri} (distance {distance or 0:.3f})"


def advise(
    memory: MemoryStore,
    source: MemoryRecord,
    current: dict[str, Any],
    explicit: set[str],
    *,
    similar: Similar | None = None,
    parallel: int = 1,
) -> Advice:
    """What memory says about running ``source`` with ``current`` settings; ``parallel`` is
    how many of the plan's tasks can run at once (workers are proven only above 1)."""
    advice = Advice(settings=dict(current))
    how, runs = "fingerprint", memory.by_fingerprint(source.fingerprint, kind="run")
    if not runs:
        others = [
            r
            for r in memory.by_schema(source.schema_hash, kind="run")
            if r.fingerprint != source.fingerprint
        ]
        if others:
            how, runs = "schema", [r for r in others if r.fingerprint == others[0].fingerprint]
    if not runs and similar is not None:
        for record, distance in similar(source.text):
            if record.fingerprint == source.fingerprint or distance > SIMILAR_DISTANCE:
                continue
            runs = memory.by_fingerprint(record.fingerprint, kind="run")
            if runs:
                how, advice.distance = "similar", distance
                break
    if not runs:
        return advice
    advice.how, advice.runs = how, len(runs)
    found = memory.by_fingerprint(runs[0].fingerprint, kind="source", limit=1)
    advice.about = found[0] if found else None
    where = _where(how, runs, advice.distance)
    if parallel > 1 and "workers" not in explicit:
        _proven(advice, runs, where)
    _avoid(advice, runs, explicit, where)
    if not advice.notes:
        anchor = advice.about or runs[0]
        assert anchor.id is not None
        advice.used.append(anchor.id)
        advice.notes.append(
            f"memory #{anchor.id}: {where} has {len(runs)} remembered "
            f"run{'' if len(runs) == 1 else 's'}; nothing to change"
        )
    return advice


def _proven(advice: Advice, runs: list[MemoryRecord], where: str) -> None:
    """Another ``workers`` where its runs beat the current value's beyond noise."""
    now = advice.settings.get("workers")
    rates: dict[int, list[MemoryRecord]] = {}
    for run in runs:
        workers = run.settings.get("workers")
        if run.status == "success" and isinstance(workers, int) and run.rows_per_s:
            rates.setdefault(workers, []).append(run)
    mine = [r.rows_per_s or 0.0 for r in rates.get(now, [])] if isinstance(now, int) else []
    if len(mine) < MIN_RUNS:
        return  # the current value is not known well enough to be beaten
    best: tuple[float, int, list[MemoryRecord]] | None = None
    for workers, found in rates.items():
        theirs = [r.rows_per_s or 0.0 for r in found]
        if workers == now or len(theirs) < MIN_RUNS:
            continue
        if median(theirs) < MARGIN * median(mine) or min(theirs) <= max(mine):
            continue
        if best is None or median(theirs) > best[0]:
            best = (median(theirs), workers, found)
    if best is None:
        return
    rate, workers, found = best
    fastest = max(found, key=lambda r: r.rows_per_s or 0.0)
    advice.change(
        "workers",
        workers,
        fastest,
        f"workers={workers} (was {now}): {len(found)} runs of {where} with workers={workers} "
        f"ran at a median {rate:,.0f} rows/s, each faster than all {len(mine)} runs with "
        f"workers={now} (median {median(mine):,.0f} rows/s); the fastest was run "
        f"{fastest.run_id}",
    )


def _avoid(advice: Advice, runs: list[MemoryRecord], explicit: set[str], where: str) -> None:
    """Step away from configurations that failed, newest failure first, until none matches.
    Workers the user gave are never changed: an out-of-memory failure with them is a note."""
    kept = "workers" in explicit
    for _ in range(len(runs) + 1):
        culprit = _failed_config(runs, advice.settings, skip=("out_of_memory",) if kept else ())
        if kept and (oom := _failed_config(runs, advice.settings, only="out_of_memory")):
            kept = False  # said once, for the newest such failure
            _note_kept(advice, oom, where)
        if culprit is None:
            return
        assert culprit.failure in CONFIG_FAILURES
        if culprit.failure == "timeout":
            limit = float(advice.settings["timeout_s"])
            raised = round(limit * TIMEOUT_FACTOR, 3)
            advice.change(
                "timeout_s",
                raised,
                culprit,
                f"run {culprit.run_id} of {where} failed with a timeout at timeout_s={limit:g} "
                f"with these settings; timeout_s raised to {raised:g}",
            )
        else:
            workers = int(advice.settings.get("workers") or 1)
            if workers <= 1:
                assert culprit.id is not None
                advice.notes.append(
                    f"memory #{culprit.id}: run {culprit.run_id} of {where} ran out of memory "
                    "with 1 worker; nothing left to lower"
                )
                return
            advice.change(
                "workers",
                max(1, workers // 2),
                culprit,
                f"run {culprit.run_id} of {where} ran out of memory with workers="
                f"{culprit.settings.get('workers')}; workers lowered to {max(1, workers // 2)}",
            )


def _note_kept(advice: Advice, culprit: MemoryRecord, where: str) -> None:
    assert culprit.id is not None
    workers = advice.settings.get("workers")
    advice.notes.append(
        f"memory #{culprit.id}: run {culprit.run_id} of {where} ran out of memory with "
        f"workers={culprit.settings.get('workers')}; workers={workers} was given for this run, "
        "so it is kept (give fewer workers to use less memory)"
    )
    if culprit.id not in advice.used:
        advice.used.append(culprit.id)


def _failed_config(
    runs: list[MemoryRecord],
    settings: dict[str, Any],
    *,
    skip: tuple[str, ...] = (),
    only: str | None = None,
) -> MemoryRecord | None:
    """The newest run that failed for its configuration with ``settings``, unless a later run
    succeeded with the same value of the setting at fault (the machine was busy that once).
    Failures in ``skip`` are left out; with ``only``, only that failure is looked for."""
    for i, record in enumerate(runs):  # newest first
        failure = record.failure or ""
        if failure not in CONFIG_FAILURES or failure in skip or (only and failure != only):
            continue
        if not _same(record, settings, failure):
            continue
        key = _AT_FAULT[failure]
        newer = runs[:i]
        if any(r.status == "success" and r.settings.get(key) == settings.get(key) for r in newer):
            continue
        return record
    return None


_AT_FAULT = {"timeout": "timeout_s", "out_of_memory": "workers"}


def _same(record: MemoryRecord, settings: dict[str, Any], failure: str) -> bool:
    """Whether ``record`` failed with the settings this run would use: the same time limit,
    or (out of memory) no more workers than this run would have."""
    if failure == "timeout":
        limit = record.settings.get("timeout_s")
        return limit is not None and limit == settings.get("timeout_s")
    ran = record.settings.get("workers")
    return isinstance(ran, int) and int(settings.get("workers") or 1) >= ran
