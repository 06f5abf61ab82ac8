"""What an agent is: a name, the capabilities it declares, and ``handle(work)``.

A :class:`Capability` says what an agent can do: an ``action`` (``extract``, ``transform``,
``quarantine``, ``load``, ``check``, ``commit``, ``analyze``, ``route``, ``monitor``…), a
``subject`` and the ``features`` it supports. A subject is ``family/member``
(``files/csv``, ``sql/postgresql``), a bare family (``files``, ``sql``) or ``*`` (anything).

A :class:`Need` is what one piece of work requires, in the same terms, always with a full
``family/member`` subject. The :class:`~.coordinator.Coordinator` matches needs against
capabilities: exact subject first, then the family, then the generic ``*``; an agent that
lacks a feature the need requires is rejected, with the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

GENERIC = "*"


def family_of(subject: str) -> str:
    """``files`` for ``files/csv``; a bare family or ``*`` is its own family."""
    return subject.split("/", 1)[0]


@dataclass(frozen=True)
class Capability:
    """One thing an agent can do: ``Capability("extract", "sql/postgresql", {"incremental"})``."""

    action: str
    subject: str
    features: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.action or not self.subject:
            raise ValueError("a capability needs an action and a subject")
        if not isinstance(self.features, frozenset):
            object.__setattr__(self, "features", frozenset(self.features))

    @classmethod
    def of(cls, action: str, subject: str, *features: str) -> Capability:
        return cls(action, subject, frozenset(features))

    def __str__(self) -> str:
        extra = f" [{', '.join(sorted(self.features))}]" if self.features else ""
        return f"{self.action}:{self.subject}{extra}"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "subject": self.subject, "features": sorted(self.features)}


@dataclass(frozen=True)
class Need:
    """What one piece of work requires of the agent that does it."""

    action: str
    subject: str  # family/member, e.g. files/csv
    features: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not isinstance(self.features, frozenset):
            object.__setattr__(self, "features", frozenset(self.features))

    @classmethod
    def of(cls, action: str, subject: str, *features: str) -> Need:
        return cls(action, subject, frozenset(features))

    @property
    def family(self) -> str:
        return family_of(self.subject)

    def __str__(self) -> str:
        extra = f" [{', '.join(sorted(self.features))}]" if self.features else ""
        return f"{self.action}:{self.subject}{extra}"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "subject": self.subject, "features": sorted(self.features)}


@dataclass
class Work:
    """One piece of work handed to an agent: which run and task it belongs to.

    Each action has its own subclass (see :mod:`.work`) carrying what the agent needs: the
    source and resource to extract, the relation to transform or load, the destination.
    """

    run_id: str
    task_id: str

    # What an agent must return for this work (checked for registered agents), and in words.
    returns: ClassVar[type | tuple[type, ...] | None] = None
    returns_what: ClassVar[str] = ""


class Agent(ABC):
    """Decides how to do the work it is handed and does it through connectors and steps.

    Subclass it, declare ``capabilities``, implement :meth:`handle`, and register an instance
    (``aoetl.agents.register_agent`` or ``DataOrchestrator.register_agent``): from then on the
    Coordinator hands it every piece of work its capabilities match best.
    """

    name: str = "agent"
    description: str = ""
    capabilities: tuple[Capability, ...] = ()
    builtin: bool = False  # aoetl's own agents; a registered one is the user's

    @abstractmethod
    def handle(self, work: Work) -> Any:
        """Do ``work``; return what its action returns (a Relation, a LoadResult…)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "builtin": self.builtin,
            "capabilities": [c.to_dict() for c in self.capabilities],
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
