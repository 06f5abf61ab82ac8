"""The pipeline document a DAG embeds, and the proof that a worker reads it back as the spec.

The document holds the fields the spec was given (``exclude_unset``), its source and target
anchored, rather than the fields that differ from a default: a discriminator equal to its
class's default (a REST ``auth: {type: bearer}``) is what tells the worker which class to
build, so it must stay. Whatever the dump's rule, the document is validated here as the
worker validates it (``load_document``, which ``agent_orchestrated_etl.airflow.run_task``
reaches through ``DataOrchestrator.prepare``) and must give the spec back; else the export
stops instead of writing a DAG whose every task would fail.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

from ..errors import FatalError, UserError, redact
from ..spec import PipelineSpec, load_document
from ._secrets import literal_secrets
from ._source import literal

_BUG = "this is a bug in aoetl's DAG export; please report it with the pipeline file"


def embeddable(
    spec: PipelineSpec, base_dir: str | Path | None = None, *, from_file: bool = False
) -> dict[str, Any]:
    """The pipeline document the DAG embeds: the spec's fields as given, references kept as
    written, checked to validate on a worker (its relative paths read from ``base_dir``, the
    current folder by default) into the same spec. ``from_file``: the spec came from a
    pipeline file, which the DAG could name instead (the hint of a refusal says so).

    Raises:
        UserError: the spec holds a literal secret (a password in a URI, a token...).
        FatalError: the document does not read back as the spec (a bug).
    """
    base = Path(base_dir or Path.cwd())
    expected = _worker_spec(spec.model_dump(mode="json"), spec.name, base)
    document: dict[str, Any] = spec.model_dump(mode="json", exclude_unset=True)
    document["name"] = spec.name
    # The source and target as the worker anchors them at BASE_DIR: however the SOURCE was
    # spelled (./a.csv or a.csv) the file is the same, and the default target, relative to
    # the folder a run starts in (Airflow's, on a worker), is named where the export ran.
    for part in ("source", "target"):
        document[part] = {**document.get(part, {}), "uri": getattr(expected, part).uri}
    found = literal_secrets(document)
    if found:
        raise UserError(
            f"pipeline '{spec.name}' holds a literal secret ({', '.join(found[:3])}), which "
            f"an exported DAG would show to everyone who reads it; {_fix(from_file)}"
        )
    got = _worker_spec(copy.deepcopy(document), spec.name, base)
    if got != expected:
        before, after = expected.model_dump(mode="json"), got.model_dump(mode="json")
        fields = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        raise FatalError(
            f"the pipeline to embed would read back on a worker with other values in "
            f"{', '.join(fields) or 'a field'}; {_BUG}"
        )
    return document


def _fix(from_file: bool) -> str:
    if from_file:
        return (
            "write it in the pipeline file as a reference (${env:NAME} or "
            "${secret:vault:path#key}), or pass --reference to name the file instead of "
            "embedding it"
        )
    return (
        "give it as a reference (${env:NAME} or ${secret:vault:path#key}, e.g. --to "
        "'postgresql://etl:${env:PGPASSWORD}@host/db'), or write a pipeline file with "
        "'aoetl plan SOURCE -o pipeline.yaml', put references in it and export that file"
    )


def _worker_spec(document: dict[str, Any], name: str, base_dir: Path) -> PipelineSpec:
    """The spec a worker builds from ``document`` (changed in place)."""
    document["name"] = name
    try:
        return load_document(document, base_dir)
    except UserError as exc:
        raise FatalError(
            f"the pipeline to embed does not validate again ({redact(str(exc))}); {_BUG}"
        ) from None


def embedded_source(document: dict[str, Any]) -> str:
    """``document`` as the Python literal the DAG holds, checked to evaluate back to it."""
    text = literal(document, 0)
    try:
        same = ast.literal_eval(text) == document
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        same = False
    if not same:
        raise FatalError(f"the embedded pipeline does not read back as written; {_BUG}")
    return text
