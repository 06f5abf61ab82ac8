"""Load a PipelineSpec from YAML or JSON, with errors that name the file, the line and the field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import REFERENCE_PATTERN, SpecError, UserError
from .models import PipelineSpec
from .source import SOURCE_KINDS, kind_of_uri, option_kind
from .uri import anchored, check_target_text, parse_uri

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
    raw = p.read_bytes()
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    except RecursionError:  # too deep to tell exactly: a pipeline if it names a source
        return b'"source"' in raw
    return isinstance(doc, dict) and "source" in doc


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline file.

    Raises:
        SpecError: the file is missing, unparsable or invalid; the message has file:line.
    """
    p = Path(path)
    if not p.is_file():
        raise SpecError("no such pipeline file; check the path", file=str(p))
    text = _read_text(p)
    if _brackets_too_deep(text):
        raise SpecError(_TOO_DEEP, file=str(p))
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SpecError(f"not valid YAML: {exc.problem}", file=str(p), line=line) from exc
    except yaml.YAMLError as exc:  # the reader's: a control character, say
        raise SpecError(f"not valid YAML: {_one_line(exc)}", file=str(p)) from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"not valid JSON: {exc.msg}", file=str(p), line=exc.lineno) from exc
    except RecursionError:  # the parsers recurse once per level
        raise SpecError(_TOO_DEEP, file=str(p)) from None
    if not isinstance(data, dict):
        raise SpecError("a pipeline file must hold a mapping (name, source, target…)", file=str(p))
    _check_shape(data, str(p), node)
    data.setdefault("name", p.stem)
    return load_document(data, p.parent, file=str(p), node=node)


def load_document(
    data: dict[str, Any],
    base_dir: str | Path,
    *,
    file: str | None = None,
    node: yaml.Node | None = None,
) -> PipelineSpec:
    """Validate a pipeline document (what a pipeline file holds, e.g. embedded in an Airflow
    DAG) whose relative paths are relative to ``base_dir``; ``data`` is changed in place."""
    if file is None:
        _check_shape(data, "the pipeline document", None)
    base = Path(base_dir)
    for part in ("source", "target"):
        _anchor_part(data, part, (part,), base, file, node, target=part == "target")
    # A route's target is a target as well: relative to the file, never to the current folder.
    for index, rule in enumerate(data.get("route") or ()):
        if isinstance(rule, dict):
            for key in ("target", "else", "otherwise"):
                _anchor_part(rule, key, ("route", index, key), base, file, node, target=True)
    return validate_spec(data, file=file, node=node)


def _anchor_part(
    data: dict[str, Any],
    key: str,
    loc: tuple[Any, ...],
    base: Path,
    file: str | None,
    node: yaml.Node | None,
    *,
    target: bool = False,
) -> None:
    """``data[key]`` (a URI, or a mapping with one) anchored at the pipeline file's folder;
    a ``target`` is checked first for a mistyped URL, which anchoring would make a path."""
    if isinstance(data.get(key), str):
        data[key] = {"uri": data[key]}
    if isinstance(data.get(key), dict) and isinstance(data[key].get("uri"), str):
        try:
            if target:
                check_target_text(data[key]["uri"])
            uri = anchor_uri(data[key]["uri"], base)
            data[key] = {**data[key], "uri": uri, "base_dir": str(base.resolve())}
        except UserError as exc:
            line = _line_of(node, (*loc, "uri")) if node is not None else None
            field = f"{_field_path(loc)}.uri"
            raise SpecError(str(exc), file=file, line=line, field=field) from None


MAX_DEPTH = 32  # a pipeline needs about 6 levels; deeper is a mistake or an attack
MAX_VALUES = 100_000
# PyYAML's scanner takes time quadratic in the nesting of [ and {: 5,000 levels took 7 s before
# the parser gave up. Brackets are counted before parsing, generously (some may be in strings).
MAX_BRACKETS = 256
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep; a pipeline file needs only a few levels"


def _read_text(p: Path) -> str:
    """The file as UTF-8 text, or a SpecError saying where it is not."""
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SpecError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the pipeline file as UTF-8 YAML or JSON",
            file=str(p),
            line=line,
        ) from None


def _brackets_too_deep(text: str) -> bool:
    """Whether [ and { nest deeper than MAX_BRACKETS in ``text``, strings included."""
    if text.count("[") + text.count("{") <= MAX_BRACKETS:  # the common case, at C speed
        return False
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_BRACKETS:
                return True
        elif char in "]}" and depth:
            depth -= 1
    return False


def _check_shape(data: Any, file: str, node: yaml.Node | None) -> None:
    """Refuse values nested deeper than MAX_DEPTH, or more than MAX_VALUES of them.

    YAML aliases share values, so a small file can stand for a huge or cyclic tree, which
    validation would then walk: the walk here counts values as validation would see them, on
    a stack of its own rather than Python's.
    """
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    seen = 0
    while stack:
        value, loc = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise SpecError(
                f"holds more than {MAX_VALUES:,} values once its YAML aliases are expanded; "
                "use fewer aliases (*name)",
                file=file,
            )
        if len(loc) > MAX_DEPTH:
            line = _line_of(node, loc) if node is not None else None
            raise SpecError(_TOO_DEEP, file=file, line=line, field=f"{_field_path(loc[:3])}.…")
        if isinstance(value, dict):
            stack.extend((v, (*loc, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(value))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def anchor_uri(uri: str, base: Path) -> str:
    """Make a relative local path in a pipeline file relative to the file's folder.

    A URI holding a ``${…}`` reference is left as written: what it names is known only once
    the connector resolves it, which anchors a relative result then (``base_dir``).
    """
    if re.search(REFERENCE_PATTERN, uri):
        return uri
    return anchored(parse_uri(uri), base).raw


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
        if loc[:1] == ("source",) and len(loc) > 1 and loc[1] in SOURCE_KINDS:
            loc = (loc[0], *loc[2:])  # the kind is the union's tag, not a field
        field = _field_path(loc)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = _other_kind(data, loc) or (
                "unknown field; see 'aoetl schema' for the fields allowed here"
            )
        elif first["type"] == "source_kind":
            given = first["input"].get("kind") if isinstance(first["input"], dict) else None
            field = "source.kind"
            message = f"unknown source kind {given!r}; known kinds: {', '.join(SOURCE_KINDS)}"
        elif first["type"] == "missing":
            message = "required field is missing"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        line = _line_of(node, loc) if node is not None else None
        raise SpecError(message + more, file=file, line=line, field=field) from exc


def _other_kind(data: dict[str, Any], loc: tuple[Any, ...]) -> str | None:
    """For an option of another kind of source: which kind has it, and why this one is not."""
    source = data.get("source")
    if len(loc) != 2 or loc[0] != "source" or not isinstance(source, dict):
        return None
    owner = option_kind(str(loc[1]))
    if owner is None:
        return None
    given = source.get("kind")
    kind = given if isinstance(given, str) else kind_of_uri(source.get("uri"))
    why = "as 'kind' says" if given else "from its URI"
    return (
        f"'{loc[1]}' is an option of {owner} sources, but this source is {kind} ({why}); "
        f"remove it, or set source.kind"
    )


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
