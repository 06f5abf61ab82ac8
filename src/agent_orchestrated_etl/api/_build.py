"""Building a pipeline spec from what a user typed: a source, a target and options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import settings as _settings

if TYPE_CHECKING:
    from ..spec import PipelineSpec


def home_dir() -> Path:
    """AOETL_HOME, or ./.aoetl when unset (see :mod:`agent_orchestrated_etl.settings`)."""
    return _settings.home()


def build_spec(
    source: str,
    *,
    target: str | None = None,
    table: str | None = None,
    mode: str | None = None,
    key: str | list[str] | tuple[str, ...] | None = None,
    fmt: str | None = None,
    name: str | None = None,
    max_bad_rows: int | None = None,
    transforms: list[dict[str, Any]] | None = None,
    checks: list[dict[str, Any]] | None = None,
    timeout_s: float | None = None,
    max_bad_ratio: float | None = None,
    lock_timeout_s: float | None = None,
    tables: list[str] | None = None,
    query: str | None = None,
    partitions: int | None = None,
    reader: str | None = None,
    base: PipelineSpec | None = None,
) -> PipelineSpec:
    """A validated spec from arguments, on top of ``base`` (a loaded pipeline file) if given.

    Arguments that are None keep the base's value: explicit arguments win over the file
    (``transforms`` and ``checks`` replace the file's lists).
    """
    data: dict[str, Any] = base.model_dump(exclude_unset=True) if base else {}
    if base:  # the file's folder anchors what its ${…} references resolve to (not dumped)
        data["source"] = {**data["source"], "base_dir": base.source.base_dir}
        data["target"] = {**data.get("target", {}), "base_dir": base.target.base_dir}
    data.setdefault("name", name or _default_name(source))
    if name:
        data["name"] = name
    src = dict(data.get("source") or {})
    if not base:
        src["uri"] = source
    if fmt:
        src["format"] = fmt
    if table:
        src["table"] = table
    if tables:
        src["tables"] = tables
    if query:
        src["query"] = query
    if partitions:
        src["partitions"] = partitions
    if reader:
        src["reader"] = reader
    data["source"] = src
    if target:
        data["target"] = {**(data.get("target") or {}), "uri": target, "base_dir": None}
    if lock_timeout_s is not None:
        data["target"] = {**(data.get("target") or {}), "lock_timeout_s": lock_timeout_s}
    if mode:
        data["mode"] = mode
    if key is not None:
        data["key"] = key
    if max_bad_rows is not None:
        data["max_bad_rows"] = max_bad_rows
    if max_bad_ratio is not None:
        data["max_bad_ratio"] = max_bad_ratio
    if transforms is not None:
        data["transforms"] = transforms
    if checks is not None:
        data["checks"] = checks
    if timeout_s is not None:
        data["timeout_s"] = timeout_s
    from ..spec import validate_spec

    return validate_spec(data)


def _default_name(source: str) -> str:
    """The last name in the source's path; for a URL with no path, its host. A URL's user,
    password, query and fragment never count: they may hold secrets, and the name is printed
    and stored everywhere."""
    from ..secrets import without_refs

    # Read the URL with its references blanked (same positions), so a '/', '?' or '#' inside
    # ${…} splits nothing; the name is then cut from the original, references and all.
    plain = without_refs(source)
    scheme = re.match(r"[A-Za-z][\w+.-]*://", plain)
    name = source
    if scheme:
        end = min((i for i in (plain.find("?"), plain.find("#")) if i >= 0), default=len(plain))
        slash = plain.find("/", scheme.end(), end)
        slash = end if slash < 0 else slash
        path = source[slash:end].rstrip("/")
        host = plain[scheme.end() : slash].rsplit("@", 1)[-1]  # after user:password@
        start = slash - len(host)
        name = path or source[start : start + len(host.split(":")[0])]
    stem = Path(name.rstrip("/")).name.split(".")[0] or "pipeline"
    return stem.replace("*", "all")


def looks_like_document(source: str) -> bool:
    """Whether an http(s) URL names an OpenAPI document ('/openapi.json', '/swagger.yaml',
    '/v3/api-docs'), not a collection endpoint."""
    from urllib.parse import urlsplit

    if not source.lower().startswith(("http://", "https://")):
        return False
    path = urlsplit(source).path.lower()
    return path.endswith((".json", ".yaml", ".yml")) or any(
        word in path for word in ("openapi", "swagger", "api-docs")
    )


def strings_in(obj: Any) -> list[str]:
    """Every string in ``obj`` (keys too), where a reference may stand."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings_in(v)] + [
            s for k in obj for s in strings_in(k)
        ]
    if isinstance(obj, list | tuple):
        return [s for v in obj for s in strings_in(v)]
    return []
