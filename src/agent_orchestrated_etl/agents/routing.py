"""Routing decisions, as pure functions of a spec's rules and what discovery found.

:func:`decide_workflow` picks the target a whole run goes to from ``route:`` (first match
wins, else the spec's own ``target``) and says why each rule matched or not.
:func:`row_predicates` turns a table's ``routes:`` into one SQL predicate per target table
such that every row meets at most one: route *i* takes the rows its own predicate is true for
and no earlier one is (a NULL is no match), and the unroutable rows are the rest. The pipeline
applies both (see :mod:`pipeline.routing`) and audits them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._text import byte_size, plural
from ..connectors import Resource
from ..connectors.files import FORMATS as FILE_FORMATS
from ..errors import redact_uri
from ..spec import PipelineSpec, TargetSpec
from ..spec.routing import RouteWhen, RowRoute, WorkflowRoute, predicate_sql

UNSIZED = "only files have a size before they are read"


@dataclass(frozen=True)
class SourceFacts:
    """What a workflow rule is judged on: the planned tables' formats, their bytes (None
    when a table is not files: a database's or an API's bytes are unknown before it is read)
    and rows (None when some table's estimate is unknown), the spec's tags and AOETL_ENV."""

    formats: frozenset[str]
    size_bytes: int | None
    row_estimate: int | None
    tags: frozenset[str] = frozenset()
    environment: str | None = None

    @classmethod
    def of(
        cls, spec: PipelineSpec, resources: Sequence[Resource], environment: str | None
    ) -> SourceFacts:
        estimates = [r.row_estimate for r in resources]
        rows = None if any(e is None for e in estimates) else sum(e or 0 for e in estimates)
        sized = all(r.format in FILE_FORMATS for r in resources)
        return cls(
            frozenset(r.format for r in resources),
            sum(r.size_bytes for r in resources) if sized else None,
            rows,
            frozenset(spec.tags),
            environment or None,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "formats": sorted(self.formats),
            "size_bytes": self.size_bytes,
            "row_estimate": self.row_estimate,
            "tags": sorted(self.tags),
            "environment": self.environment,
        }


@dataclass(frozen=True)
class WorkflowDecision:
    """The target a run goes to: ``rule`` is the index of the ``route:`` rule taken (None:
    no rule matched and there is no ``else``, so the spec's own ``target``)."""

    target: TargetSpec
    rule: int | None
    reasons: tuple[str, ...]
    facts: SourceFacts

    @property
    def choice(self) -> str:
        """The target's URI as the audit shows it (a password masked)."""
        return redact_uri(self.target.uri)

    def detail(self) -> dict[str, object]:
        return {"rule": self.rule, "facts": self.facts.to_dict()}


def _judge(when: RouteWhen, facts: SourceFacts) -> list[str]:
    """Why ``when`` does not hold for ``facts`` (empty: it holds)."""
    misses = []
    if when.format and not (facts.formats and facts.formats <= set(when.format)):
        misses.append(
            f"format is {', '.join(sorted(facts.formats)) or 'unknown'}, "
            f"not {' or '.join(when.format)}"
        )
    size = facts.size_bytes
    if (when.min_size is not None or when.max_size is not None) and size is None:
        misses.append(f"the size is unknown ({UNSIZED})")
    elif size is not None and when.min_size is not None and size < when.min_size:
        misses.append(f"size {byte_size(size)} < {byte_size(when.min_size)}")
    elif size is not None and when.max_size is not None and size > when.max_size:
        misses.append(f"size {byte_size(size)} > {byte_size(when.max_size)}")
    for bound, wanted in (("min", when.min_rows), ("max", when.max_rows)):
        if wanted is None:
            continue
        rows = facts.row_estimate
        if rows is None:
            misses.append("the row estimate is unknown")
        elif (rows < wanted) if bound == "min" else (rows > wanted):
            misses.append(
                f"about {plural(rows, 'row')}, {'<' if bound == 'min' else '>'} {wanted:,}"
            )
    lacking = [t for t in when.tags if t not in facts.tags]
    if lacking:
        misses.append(f"tag {', '.join(lacking)} not in the pipeline's tags")
    if when.environment and facts.environment not in when.environment:
        now = f"AOETL_ENV={facts.environment}" if facts.environment else "AOETL_ENV is unset"
        misses.append(f"{now}, not {' or '.join(when.environment)}")
    return misses


def _held(when: RouteWhen, facts: SourceFacts) -> str:
    """What held, in words, for the reason of the rule taken."""
    said = []
    if when.format:
        said.append(f"format {', '.join(sorted(facts.formats))}")
    if when.min_size is not None or when.max_size is not None:
        said.append(f"size {byte_size(facts.size_bytes or 0)}")
    if when.min_rows is not None or when.max_rows is not None:
        said.append(f"about {plural(facts.row_estimate or 0, 'row')}")
    if when.tags:
        said.append(f"tags {', '.join(when.tags)}")
    if when.environment:
        said.append(f"AOETL_ENV={facts.environment}")
    return ", ".join(said)


def decide_workflow(
    rules: Sequence[WorkflowRoute], default: TargetSpec, facts: SourceFacts
) -> WorkflowDecision:
    """The first rule of ``rules`` whose conditions all hold, else its ``else``, else
    ``default`` (the spec's ``target``); the reasons say what each rule met."""
    reasons = []
    for index, rule in enumerate(rules):
        if rule.otherwise is not None:
            reasons.append(f"rule {index + 1} (else) taken: no earlier rule matched")
            return WorkflowDecision(rule.otherwise, index, tuple(reasons), facts)
        assert rule.when is not None and rule.target is not None
        misses = _judge(rule.when, facts)
        if not misses:
            reasons.append(f"rule {index + 1} matched: {_held(rule.when, facts)}")
            return WorkflowDecision(rule.target, index, tuple(reasons), facts)
        reasons.append(f"rule {index + 1} did not match: {'; '.join(misses)}")
    reasons.append("no rule matched and there is no 'else': the spec's own target is used")
    return WorkflowDecision(default, None, tuple(reasons), facts)


def pinned_workflow(
    rules: Sequence[WorkflowRoute],
    default: TargetSpec,
    rule: int | None,
    facts: SourceFacts,
    why: str = "resumed run",
) -> WorkflowDecision:
    """The decision an earlier attempt of the same run made (rule index, None for the
    spec's target), kept so that a resumed run finishes in the target it staged in."""
    if rule is None:
        target = default
    else:
        taken = rules[rule]
        target = taken.otherwise or taken.target or default
    said = f"rule {rule + 1}" if rule is not None else "the spec's own target"
    kept = f"{why}: keeps {said}, the target its first attempt chose and staged in"
    return WorkflowDecision(target, rule, (kept,), facts)


@dataclass(frozen=True)
class RowRouteSql:
    """One target table of a routed source table, and the SQL predicate of its rows."""

    table: str  # the target table
    predicate: str  # DuckDB SQL over the transformed row; exactly this route's rows
    when: str | None  # the rule as written (None: the else route)


@dataclass(frozen=True)
class RowRouting:
    """A source table's routes: each target table's rows, and what becomes of the rest."""

    source: str
    routes: tuple[RowRouteSql, ...]
    unroutable: str  # SQL: the rows no route takes (FALSE with an else route)
    fate: str  # 'else' (there is an else route), 'fail' or 'dlq'
    predicates: tuple[str, ...] = field(default=())  # the rules' own predicates, in order


def _met(predicate: str) -> str:
    # A NULL (a NULL column in a comparison) is no match, as in a WHERE clause. The rule is
    # used as DuckDB prints it back, never as written: see predicate_sql.
    return f"COALESCE(({predicate_sql(predicate)}), FALSE)"


def row_predicates(source: str, rules: Sequence[RowRoute]) -> RowRouting:
    """The SQL of each route of ``source``: route *i* is its predicate and none of the
    earlier ones ("first match wins"); ``else`` is none of them; so is the unroutable rest."""
    whens = [r.when for r in rules if r.when is not None]
    routes = []
    for index, rule in enumerate(r for r in rules if r.when is not None):
        earlier = [f"NOT {_met(p)}" for p in whens[:index]]
        assert rule.to is not None
        routes.append(RowRouteSql(rule.to, " AND ".join([_met(whens[index]), *earlier]), rule.when))
    rest = " AND ".join(f"NOT {_met(p)}" for p in whens)
    last = rules[-1]
    if last.otherwise is not None:
        routes.append(RowRouteSql(last.otherwise, rest, None))
        return RowRouting(source, tuple(routes), "FALSE", "else", tuple(whens))
    return RowRouting(source, tuple(routes), rest, last.unroutable or "fail", tuple(whens))


def row_routings(spec: PipelineSpec) -> dict[str, RowRouting]:
    """Every routed source table of ``spec`` and its routes."""
    return {table: row_predicates(table, rules) for table, rules in spec.routes.items()}
