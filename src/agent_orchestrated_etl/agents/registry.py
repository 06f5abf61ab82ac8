"""The agents a run may call: aoetl's own, then those a user registered, in that order.

:func:`register_agent` is the extension point: an agent registered here (in the process that
runs the pipeline) is a candidate for every piece of work of every later run, and wins the
work its capabilities match better than a built-in agent's (see :mod:`.coordinator`).
"""

from __future__ import annotations

import threading
import warnings

from ..errors import UserError
from ..state import StateStore
from .base import Agent
from .coordinator import Coordinator
from .journal import AuditJournal
from .work import ACTIONS
from .workers import builtin_agents

_REGISTERED: list[Agent] = []
_LOCK = threading.Lock()


def register_agent(agent: Agent) -> Agent:
    """Make ``agent`` a candidate for the work of every later run in this process.

    An agent of the same name as an earlier registered one replaces it. Returns ``agent``,
    so it can decorate an instance's construction.
    """
    if not isinstance(agent, Agent):
        raise TypeError(f"{agent!r} is not an aoetl Agent; subclass agents.Agent")
    if agent.name == Agent.name:
        raise UserError(
            f"{type(agent).__name__} has no name of its own; set its class attribute 'name' "
            "(the audit and aoetl agents show it)"
        )
    Coordinator([agent])  # the same validation a run applies: at least one capability
    unknown = sorted({c.action for c in agent.capabilities} - set(ACTIONS))
    if unknown:
        warnings.warn(
            f"agent {agent.name!r} declares actions aoetl never asks for: {', '.join(unknown)}"
            f" (it asks for {', '.join(ACTIONS)})",
            stacklevel=2,
        )
    with _LOCK:
        _REGISTERED[:] = [a for a in _REGISTERED if a.name != agent.name] + [agent]
    return agent


def unregister_agent(name: str) -> bool:
    """Forget the registered agent ``name``; False if there was none."""
    with _LOCK:
        before = len(_REGISTERED)
        _REGISTERED[:] = [a for a in _REGISTERED if a.name != name]
        return len(_REGISTERED) != before


def registered_agents() -> list[Agent]:
    """The agents users registered, oldest first."""
    with _LOCK:
        return list(_REGISTERED)


def all_agents() -> list[Agent]:
    """aoetl's own agents, then the registered ones: what a run's Coordinator holds."""
    from .monitor import MonitorAgent
    from .orchestrator import OrchestratorAgent

    return [
        OrchestratorAgent(),
        *builtin_agents(),
        MonitorAgent.descriptor(),
        *registered_agents(),
    ]


def coordinator_for(store: StateStore | None = None) -> Coordinator:
    """A Coordinator over :func:`all_agents`, auditing into ``store`` when given."""
    if store is None:
        return Coordinator(all_agents())
    journal = AuditJournal(store)
    return Coordinator(
        all_agents(),
        audit=journal.record,
        stats=store.audit.stats,
        record_call=journal.record_call,
        flush=journal.flush,
    )
