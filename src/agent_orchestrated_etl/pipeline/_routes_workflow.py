"""Workflow routing applied to a run (``route:``), behind :mod:`.routing`: after planning
(discovery gives the facts) and before the destination opens, :func:`route_workflow` gives
the run's plan the chosen target and records the decision. The spec's hash and the stored
spec stay those of the pipeline as written, so a rerun finds and resumes the run; an attempt
of a run that already decided (a resume, the next ``--task``) keeps that decision, so a run
never stages in one target and commits in another.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from ..agents.routing import SourceFacts, WorkflowDecision, decide_workflow, pinned_workflow
from ..connectors import Resource
from ..spec import PipelineSpec
from ..state import AuditEntry, StateStore

if TYPE_CHECKING:
    from .planner import PipelinePlan

WORKFLOW = "workflow"  # the audit subject of a workflow's routing decision
ENV_VAR = "AOETL_ENV"


def environment() -> str | None:
    """The environment a workflow rule's ``environment`` is judged on: AOETL_ENV."""
    return os.environ.get(ENV_VAR) or None


def reading(planned: PipelinePlan, resource: Resource) -> Resource:
    """The resource a load reads: for a routed table, the source table it takes rows of."""
    routed = planned.routed.get(resource.name)
    return routed.source if routed is not None else resource


def source_resources(planned: PipelinePlan) -> list[Resource]:
    """The resources as discovered (each routed table once), for facts and fingerprints."""
    seen: dict[str, Resource] = {}
    for resource in planned.resources:
        found = reading(planned, resource)
        seen.setdefault(found.name, found)
    return list(seen.values())


# -- the workflow --------------------------------------------------------------------------------
def route_workflow(planned: PipelinePlan, store: StateStore, run_id: str) -> PipelinePlan:
    """``planned`` with the target ``route:`` chooses (the spec's own without rules); the
    decision is recorded once per run and kept by its later attempts."""
    spec = planned.spec
    if not spec.route:
        return planned
    facts = SourceFacts.of(spec, source_resources(planned), environment())
    # Each attempt records what it used: the first its decision, a later one the pinning.
    pinned = _pinned(spec, store, run_id, facts)
    if pinned is not None:
        _record(store, run_id, pinned)
    decided = pinned or decide_workflow(spec.route, spec.target, facts)
    decision = pinned or settle_decision(spec, store, run_id, decided)
    store.set_run_target(run_id, decision.target.uri)
    said = f"target {decision.choice}, chosen by route: {decision.reasons[-1]}"
    routed = routed_spec(spec, decision)
    return dataclasses.replace(planned, spec=routed, notes=[*planned.notes, said])


def settle_decision(
    spec: PipelineSpec, store: StateStore, run_id: str, decision: WorkflowDecision
) -> WorkflowDecision:
    """Record ``decision``, made by an attempt that found none recorded for ``run_id``, and
    return the run's decision: the first one recorded. Two first attempts of a run at once
    (two ``aoetl run --task`` of the same run id) may both decide; both then keep the same."""
    _record(store, run_id, decision)
    first = _pinned(spec, store, run_id, decision.facts, why="another attempt decided first")
    if first is None or first.rule == decision.rule:
        return decision
    _record(store, run_id, first)
    return first


def _record(store: StateStore, run_id: str, decision: WorkflowDecision) -> None:
    store.audit.record(
        AuditEntry(
            run_id, "route", WORKFLOW, decision.choice, decision.reasons, task_id="plan",
            detail=decision.detail(),
        )
    )  # fmt: skip


def routed_spec(spec: PipelineSpec, decision: WorkflowDecision) -> PipelineSpec:
    """``spec`` with the decision's target, anchored where the pipeline file is."""
    target = decision.target
    if target.base_dir is None and spec.target.base_dir is not None:
        target = target.model_copy(update={"base_dir": spec.target.base_dir})
    return spec.model_copy(update={"target": target})


def _pinned(
    spec: PipelineSpec,
    store: StateStore,
    run_id: str,
    facts: SourceFacts,
    why: str = "resumed run",
) -> WorkflowDecision | None:
    """The decision the first attempt of ``run_id`` recorded, if its rule is still there
    (the first recorded: every later entry of the run repeats or adopts it)."""
    decided = [e for e in store.audit.entries(run_id, kind="route") if e.subject == WORKFLOW]
    for entry in sorted(decided, key=lambda e: e.id or 0)[:1]:
        rule = entry.detail.get("rule")
        if rule is None or (isinstance(rule, int) and 0 <= rule < len(spec.route)):
            return pinned_workflow(spec.route, spec.target, rule, facts, why)
    return None


def run_target_spec(store: StateStore, run_id: str, spec: PipelineSpec) -> PipelineSpec:
    """The spec of ``run_id`` with the target its routing chose (for a run's staging); the
    spec itself when it has no ``route:`` or the run never decided."""
    if not spec.route:
        return spec
    facts = SourceFacts(frozenset(), 0, None)
    decision = _pinned(spec, store, run_id, facts)
    return routed_spec(spec, decision) if decision is not None else spec
