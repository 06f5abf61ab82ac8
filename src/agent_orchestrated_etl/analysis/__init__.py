"""Source analysis: what a source holds, before any pipeline exists (``aoetl analyze``).

:func:`analyze` reads a REST API's OpenAPI or Swagger document (a URL or a local file), or
probes a collection endpoint that has none, or asks any other source's connector what it
discovers; the answer is a typed :class:`SourceReport`. :func:`plan_rest` turns a REST
report into the ``source`` of a pipeline that runs without edits.
"""

from __future__ import annotations

from .analyze import analyze, is_document_file
from .cursors import cursor_candidates
from .report import (
    AuthScheme,
    EndpointReport,
    FieldReport,
    FileReport,
    Issue,
    KeyCandidate,
    Reference,
    ResourceReport,
    SourceReport,
    TypeConflict,
)
from .rest_plan import RestPlan, plan_rest

__all__ = [
    "AuthScheme",
    "EndpointReport",
    "FieldReport",
    "FileReport",
    "Issue",
    "KeyCandidate",
    "Reference",
    "ResourceReport",
    "RestPlan",
    "SourceReport",
    "TypeConflict",
    "analyze",
    "cursor_candidates",
    "is_document_file",
    "plan_rest",
]
