"""The Coordinator: picks the agent for each piece of work by capability, and says why.

Selection, for a :class:`~.base.Need` (``extract:files/csv [incremental]``):

1. Every registered agent is scored by its best capability for the need's action:
   an exact subject (``files/csv``) scores 3, the family (``files``) 2, the generic ``*`` 1.
   A capability that lacks a feature the need requires, or whose subject covers another
   family or member, is rejected, with the reason.
2. The highest score wins. A tie goes to a user's registered agent over a built-in one (a
   user registers an agent to do that work), then to the better track record for that
   action in the state DB: the success rate (smoothed, so an agent never seen counts as
   0.5), then the throughput in rows per second; then to the agent registered last.
3. No candidate at all raises :class:`NoCapableAgent`, listing every agent and why it was
   rejected.

Every selection is recorded in the audit log (``aoetl audit --run ID``) with the candidates'
scores and the reasons, and every call's outcome adds to the chosen agent's record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AoetlError, FatalError, UserError
from ..state import AgentStats, AuditEntry
from .base import GENERIC, Agent, Capability, Need, Work, family_of

EXACT, FAMILY, FALLBACK = 3, 2, 1
LEVELS = {EXACT: "exact", FAMILY: "family", FALLBACK: "generic fallback"}


class NoCapableAgent(UserError):
    """No registered agent can do a piece of work; the message lists the candidates."""

    def __init__(self, need: Need, rejected: dict[str, str]) -> None:
        why = "; ".join(f"{name}: {reason}" for name, reason in rejected.items()) or "none"
        super().__init__(
            f"no agent can do {need}; candidates: {why}. Register an agent with a capability "
            f"for {need.action}:{need.subject} (see docs/agents.md)"
        )
        self.need = need
        self.rejected = rejected


@dataclass(frozen=True)
class Candidate:
    """One agent scored against one need: its score (0 = rejected) and why."""

    agent: Agent
    score: int
    capability: Capability | None
    reason: str
    order: int  # registration order; a later agent wins a full tie
    stats: AgentStats | None = None

    @property
    def level(self) -> str:
        return LEVELS.get(self.score, "rejected")

    def rank(self) -> tuple[int, int, float, float, int]:
        rate = self.stats.success_rate if self.stats is not None else 0.5
        speed = self.stats.rows_per_s if self.stats is not None else 0.0
        # A user's agent outranks a built-in one of the same score: registering it is the
        # user saying who should do that work, and a new agent has no record to win with.
        return (self.score, int(not self.agent.builtin), rate, speed, self.order)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "agent": self.agent.name,
            "score": self.score,
            "level": self.level,
            "reason": self.reason,
        }
        if self.stats is not None:
            data["success_rate"] = round(self.stats.success_rate, 4)
            data["rows_per_s"] = round(self.stats.rows_per_s, 1)
            data["calls"] = self.stats.calls
        return data


@dataclass(frozen=True)
class Selection:
    """The agent chosen for a need, with the reasons and every candidate considered."""

    need: Need
    agent: Agent
    score: int
    reasons: tuple[str, ...]
    candidates: tuple[Candidate, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "need": self.need.to_dict(),
            "agent": self.agent.name,
            "score": self.score,
            "reasons": list(self.reasons),
            "candidates": [c.to_dict() for c in self.candidates],
        }


def match(capability: Capability, need: Need) -> tuple[int, str]:
    """How well ``capability`` covers ``need``: (score, reason); score 0 means rejected."""
    if capability.action != need.action:
        return 0, f"does not {need.action}"
    if capability.subject == need.subject:
        score = EXACT
    elif capability.subject == need.family:
        score = FAMILY
    elif capability.subject == GENERIC:
        score = FALLBACK
    else:
        covered = capability.subject
        if family_of(covered) != need.family:
            return 0, f"{need.action}s {covered}, not {need.family}"
        return 0, f"{need.action}s {covered}, not {need.subject}"
    missing = need.features - capability.features
    if missing:
        return 0, f"{capability} lacks {', '.join(sorted(missing))}"
    return score, f"{LEVELS[score]} match: {capability.action}:{capability.subject}"


Audit = Callable[[AuditEntry], None]
StatsSource = Callable[[], dict[tuple[str, str], AgentStats]]
CallRecorder = Callable[..., None]


class Coordinator:
    """Holds the agents of a run; :meth:`select` picks one, :meth:`dispatch` also runs it.

    ``audit`` receives every decision; ``stats`` gives the agents' track record (read once,
    on the first selection); ``record_call`` receives every call's outcome; ``flush`` waits
    until what they received is stored. All are optional, so a Coordinator works without a
    state DB (``aoetl agents``, the benchmark).
    """

    def __init__(
        self,
        agents: Iterable[Agent] = (),
        *,
        audit: Audit | None = None,
        stats: StatsSource | None = None,
        record_call: CallRecorder | None = None,
        flush: Callable[[], None] | None = None,
    ) -> None:
        self.agents: list[Agent] = []
        self._flush = flush
        self._audit = audit
        self._stats_source = stats
        self._stats: dict[tuple[str, str], AgentStats] | None = None
        self._record_call = record_call
        self._unsettled: dict[tuple[str, str], list[tuple[str, str, float]]] = {}
        self._lock = threading.Lock()
        for agent in agents:
            self.register(agent)

    def flush(self) -> None:
        """Wait until every decision and call recorded so far is stored."""
        if self._flush is not None:
            self._flush()

    def register(self, agent: Agent) -> None:
        """Add ``agent``; one of the same name replaces the earlier one."""
        if not agent.capabilities:
            raise UserError(f"agent {agent.name!r} declares no capabilities; give it at least one")
        with self._lock:
            self.agents = [a for a in self.agents if a.name != agent.name] + [agent]

    def _track(self) -> dict[tuple[str, str], AgentStats]:
        with self._lock:
            if self._stats is None:
                self._stats = self._stats_source() if self._stats_source is not None else {}
            return self._stats

    def candidates(self, need: Need) -> list[Candidate]:
        """Every agent scored against ``need``, best first; rejected ones (score 0) last."""
        track = self._track()
        scored: list[Candidate] = []
        for order, agent in enumerate(self.agents):
            best: tuple[int, str, Capability | None] = (0, f"does not {need.action}", None)
            for capability in agent.capabilities:
                score, reason = match(capability, need)
                if score > best[0] or (best[2] is None and capability.action == need.action):
                    best = (score, reason, capability)
            stats = track.get((agent.name, need.action))
            scored.append(Candidate(agent, best[0], best[2], best[1], order, stats))
        return sorted(scored, key=lambda c: c.rank(), reverse=True)

    def select(self, need: Need, *, run_id: str = "", task_id: str = "") -> Selection:
        """The best agent for ``need``, recorded in the audit log; NoCapableAgent if none."""
        selection = self._choose(need)
        if self._audit is not None:
            self._audit(_entry(selection, run_id, task_id))
        return selection

    def _choose(self, need: Need) -> Selection:
        ranked = self.candidates(need)
        able = [c for c in ranked if c.score > 0]
        if not able:
            doers = [c for c in ranked if c.capability is not None] or ranked
            raise NoCapableAgent(need, {c.agent.name: c.reason for c in doers})
        best = able[0]
        reasons = [best.reason]
        rivals = [c for c in able[1:] if c.score == best.score]
        if rivals:
            reasons.append(_tie_break(best, rivals[0]))
        beaten = [c for c in able[1:] if c.score < best.score]
        if beaten:
            reasons.append(
                "preferred over "
                + ", ".join(f"{c.agent.name} ({c.level})" for c in beaten[:3])
                + (f" and {len(beaten) - 3} more" if len(beaten) > 3 else "")
            )
        return Selection(need, best.agent, best.score, tuple(reasons), tuple(ranked))

    def dispatch(self, need: Need, work: Work, *, lazy: bool = False) -> Any:
        """Select the agent for ``need`` and have it handle ``work``; record the decision and
        how the call went once it is over (a NoCapableAgent is raised before any work).

        The records are written after the call, so the work starts without waiting on the
        state DB; a call that fails or is interrupted is recorded all the same. With
        ``lazy`` the result is work still to run (a Relation an extract or a transform
        agent gave): a successful call is recorded by :meth:`settle`, once the load that
        runs it knows how it went and how many rows it moved.
        """
        selection = self._choose(need)
        chosen_at = time.time()
        started = time.perf_counter()
        ok = False
        result: Any = None
        try:
            result = selection.agent.handle(work)
            if not selection.agent.builtin:
                _check_result(selection.agent, need, work, result)
            ok = True
            return result
        except AoetlError:
            raise  # typed already: retried or not, as any connector's error
        except Exception as exc:
            if selection.agent.builtin:
                raise  # a driver's error: the caller classifies it
            raise FatalError(
                f"agent {selection.agent.name} failed to {need}: "
                f"{type(exc).__name__}: {exc}; fix the agent, or unregister it to let "
                f"aoetl's own agents do this work"
            ) from exc
        finally:
            if self._audit is not None:
                self._audit(_entry(selection, work.run_id, work.task_id, chosen_at))
            if lazy and ok:
                with self._lock:
                    key = (work.run_id, work.task_id)
                    self._unsettled.setdefault(key, []).append(
                        (selection.agent.name, need.action, started)
                    )
            elif self._record_call is not None:
                rows = getattr(result, "rows_loaded", 0) if ok else 0
                self._record_call(
                    selection.agent.name,
                    need.action,
                    ok=ok,
                    rows=rows if isinstance(rows, int) else 0,
                    seconds=time.perf_counter() - started,
                )

    def settle(self, run_id: str, task_id: str, *, ok: bool, rows: int = 0) -> None:
        """Record the lazy calls of ``task_id``: they succeeded (``ok``) with ``rows`` rows."""
        with self._lock:
            calls = self._unsettled.pop((run_id, task_id), [])
        if self._record_call is None:
            return
        now = time.perf_counter()
        for agent, action, started in calls:
            self._record_call(agent, action, ok=ok, rows=rows if ok else 0, seconds=now - started)


def _check_result(agent: Agent, need: Need, work: Work, result: Any) -> None:
    """A registered agent's result is what its work's action returns, else a FatalError
    naming the agent: a wrong result would fail later, far from its cause."""
    expected = work.returns
    if expected is not None and not isinstance(result, expected):
        raise FatalError(
            f"agent {agent.name} returned {type(result).__name__} for {need}; "
            f"an agent doing {need.action} returns {work.returns_what}"
        )


def _entry(selection: Selection, run_id: str, task_id: str, at: float | None = None) -> AuditEntry:
    """The audit record of ``selection``, made at ``at`` (default: now)."""
    return AuditEntry(
        run_id=run_id,
        task_id=task_id,
        kind="select",
        subject=str(selection.need),
        choice=selection.agent.name,
        score=float(selection.score),
        reasons=selection.reasons,
        detail={
            "need": selection.need.to_dict(),
            "candidates": [c.to_dict() for c in selection.candidates if c.capability is not None],
        },
        at=time.time() if at is None else at,
    )


def _tie_break(best: Candidate, rival: Candidate) -> str:
    """Why ``best`` beat ``rival``, which scored the same."""
    ours, theirs = best.rank(), rival.rank()
    if ours[1] != theirs[1]:
        return f"tie with {rival.agent.name} broken by registration: a registered agent wins"
    if ours[2] != theirs[2]:
        return (
            f"tie with {rival.agent.name} broken by success rate "
            f"{ours[2]:.0%} against {theirs[2]:.0%}"
        )
    if ours[3] != theirs[3]:
        return (
            f"tie with {rival.agent.name} broken by throughput "
            f"{ours[3]:,.0f} against {theirs[3]:,.0f} rows/s"
        )
    return f"tie with {rival.agent.name} broken by registration: the later agent wins"
