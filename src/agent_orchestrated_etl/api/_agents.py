"""The facade's agent methods: the agents a run may call, a run's audit, and registering an
agent of your own. Mixed into :class:`DataOrchestrator`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..agents import Agent
    from ..state import AuditEntry, RunRecord, StateStore


class _Facade(Protocol):
    home: Path

    def run_record(self, run_id: str) -> RunRecord: ...

    def _store(self) -> StateStore: ...


class AgentMethods:
    """``agents``, ``audit`` and ``register_agent`` (see each)."""

    @staticmethod
    def agents() -> list[Agent]:
        """Every agent a run's Coordinator holds: aoetl's own, then those registered."""
        from ..agents import all_agents

        return all_agents()

    @staticmethod
    def register_agent(agent: Agent) -> Agent:
        """Make ``agent`` a candidate for the work of every later run in this process: it
        runs the work its capabilities match better than any other agent's (see
        docs/agents.md). An agent of the same name replaces the earlier one."""
        from ..agents import register_agent

        return register_agent(agent)

    @staticmethod
    def unregister_agent(name: str) -> bool:
        """Forget the registered agent ``name``; False if there was none."""
        from ..agents import unregister_agent

        return unregister_agent(name)

    def audit(self: _Facade, run_id: str, *, kind: str | None = None) -> list[AuditEntry]:
        """Every decision of the run ``run_id`` (a unique prefix will do), in order: which
        agent did each step and why, where routing sent the data, which memory changed the
        plan. ``kind`` keeps one kind: select, route or memory."""
        record = self.run_record(run_id)
        return self._store().audit.entries(record.run_id, kind=kind)
