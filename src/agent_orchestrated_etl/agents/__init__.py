"""Agents decide; connectors and the engine do the work.

Every step of a run goes to the agent the :class:`Coordinator` selects by capability: the
analyst discovers the source, an extract agent per source family reads it, the transformer
applies steps, the quality agent checks and quarantines, a load agent per target family stages
and commits. The MonitorAgent watches every event. Register your own with
:func:`register_agent`; see docs/agents.md.
"""

from __future__ import annotations

from .base import GENERIC, Agent, Capability, Need, Work
from .coordinator import Candidate, Coordinator, NoCapableAgent, Selection
from .monitor import MonitorAgent
from .registry import (
    all_agents,
    coordinator_for,
    register_agent,
    registered_agents,
    unregister_agent,
)

__all__ = [
    "GENERIC",
    "Agent",
    "Candidate",
    "Capability",
    "Coordinator",
    "MonitorAgent",
    "Need",
    "NoCapableAgent",
    "Selection",
    "Work",
    "all_agents",
    "coordinator_for",
    "register_agent",
    "registered_agents",
    "unregister_agent",
]
