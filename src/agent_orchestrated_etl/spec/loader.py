"""Load a PipelineSpec from YAML or JSON, with errors that name the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import SpecError
from .models import PipelineSpec
from .uri import LOCAL_SCHEMES, parse_uri

if TYPE_CHECKING:  # PyYAML loads only when a pipeline file does (a run from flags needs none)
    import yaml

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def is_spec_file(path: str) -> bool:
    """Whether ``path`` names a pipeline file rather than data.

    ``.yaml``/``.yml`` files always are. A ``.json`` file is a pipeline when its top level is an
    object with a ``source`` key; otherwise it is JSON data.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return True
    if suffix != ".json" or not p.is_file():
        return False
    with p.open("rb") as fh:
        head = fh.read(1 << 16).lstrip()
    if not head.startswith(b"{"):
        return False
    try:
        doc = json.loads(p.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and "source" in doc


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline file.

    Raises:
        SpecError: the file is missing, unparsable or invalid; the message has file:line.
    """
    p = Path(path)
    if not p.is_file():
        raise SpecError("no such pipeline file; check the path", file=str(p))
    text = p.read_text(encoding="utf-8")
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SpecError(f"not valid YAML: {exc.problem}", file=str(p), line=line) from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"not valid JSON: {exc.msg}", file=str(p), line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise SpecError("a pipeline file must hold a mapping (name, source, target…)", file=str(p))
    data.setdefault("name", p.stem)
    for part in ("source", "target"):
        if isinstance(data.get(part), str):
            data[part] = {"uri": data[part]}
        if isinstance(data.get(part), dict) and isinstance(data[part].get("uri"), str):
            data[part] = {**data[part], "uri": anchor_uri(data[part]["uri"], p.parent)}
    return validate_spec(data, file=str(p), node=node)


def anchor_uri(uri: str, base: Path) -> str:
    """Make a relative local path in a pipeline file relative to the file's folder."""
    parsed = parse_uri(uri)
    local = parsed.scheme.split("+")[0] in LOCAL_SCHEMES
    if not local or not parsed.path or Path(parsed.path).is_absolute():
        return uri
    if parsed.path.startswith("~"):
        return uri
    anchored = str((base / parsed.path).resolve())
    if parsed.scheme == "file" and parsed.raw == parsed.path:
        return anchored
    if parsed.scheme == "file":
        return "file://" + anchored
    return f"{parsed.scheme}:///{anchored}"


def validate_spec(
    data: dict[str, Any], *, file: str | None = None, node: yaml.Node | None = None
) -> PipelineSpec:
    """Validate a mapping as a PipelineSpec, turning the first error into one SpecError line."""
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(first["loc"])
        field = _field_path(loc)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field; see 'aoetl schema' for the fields allowed here"
        elif first["type"] == "missing":
            message = "required field is missing"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        line = _line_of(node, loc) if node is not None else None
        raise SpecError(message + more, file=file, line=line, field=field) from exc


def _field_path(loc: tuple[Any, ...]) -> str | None:
    # A tagged union repeats the tag in the location ('transforms', 0, 'sql', 'sql').
    parts: list[str] = []
    for part in loc:
        if not parts or parts[-1] != str(part):
            parts.append(str(part))
    return ".".join(parts) or None


def _line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree; return a 1-based line."""
    import yaml

    current: yaml.Node = node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == part:
                    current = value_node
                    break
            else:
                break
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                break
            current = current.value[part]
        else:
            break
    return current.start_mark.line + 1
