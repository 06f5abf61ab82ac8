"""The OrchestratorAgent: takes a pipeline from its spec to its result, in four moves.

1. **plan**: the analyst (chosen by the Coordinator) discovers the source, and the planner
   turns the spec and what was found into a Plan;
2. **route**: the spec's ``route:`` rules pick the workflow's target from what discovery
   found (format, size, rows, tags, environment);
3. **recall**: memory of the same source changes the plan where a past run proved a setting
   or a configuration failed;
4. **execute**: the Executor runs the Plan's tasks, each step by the agent the Coordinator
   picks for it.

The moves themselves are the pipeline's (this layer sits below it): the run hands them over as
callables in :class:`OrchestrateWork`, and the agent decides their order and what flows from
one to the next. A registered agent with an ``orchestrate:pipeline/<family>`` capability takes
over whole runs of that source family (to add an approval step, say).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import Agent, Capability, Need, Work

Move = Callable[[Any], Any]


@dataclass
class OrchestrateWork(Work):
    """A whole run: ``plan()`` gives the planned pipeline; ``route``, ``recall`` each take it
    and give it back changed or not; ``execute`` runs it and gives the result."""

    plan: Callable[[], Any]
    route: Move
    recall: Move
    execute: Move


def orchestrate_need(source_family: str) -> Need:
    return Need.of("orchestrate", f"pipeline/{source_family}")


class OrchestratorAgent(Agent):
    """Runs a pipeline: plan, route, recall, execute."""

    name = "orchestrator"
    description = "runs a pipeline: plans it, routes it, applies memory, executes it"
    builtin = True
    capabilities = (Capability.of("orchestrate", "pipeline", "route", "recall"),)

    def handle(self, work: Work) -> Any:
        if not isinstance(work, OrchestrateWork):
            raise TypeError(
                f"agent orchestrator handles OrchestrateWork, not {type(work).__name__}"
            )
        planned = work.plan()
        planned = work.route(planned)
        planned = work.recall(planned)
        return work.execute(planned)
