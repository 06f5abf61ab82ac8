"""JSON Schema (as OpenAPI and Swagger write it) → record fields, and where the records are.

References are already resolved by ``jsonref`` (lazy proxies, so a cycle is fine): this module
only merges ``allOf`` parts, reads ``anyOf``/``oneOf`` with a null variant as a nullable type,
and stops at a fixed depth on recursive schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .report import FieldReport

_DEPTH = 6  # deeper than any record worth a column; recursive schemas stop here
# Names an API gives the list of records in its envelope, most telling first.
RECORD_KEYS = ("data", "items", "results", "records", "entries", "values", "rows", "objects")


def merged(schema: Any, depth: int = 0) -> dict[str, Any]:
    """``schema`` as one plain object schema: ``allOf`` parts merged (properties and required
    joined), one non-null ``anyOf``/``oneOf`` variant taken as the type with ``nullable``,
    OpenAPI 3.1 type lists (['string', 'null']) read the same way."""
    if not isinstance(schema, Mapping) or depth > _DEPTH:
        return {}
    out: dict[str, Any] = {k: v for k, v in schema.items() if k not in ("allOf", "anyOf", "oneOf")}
    if schema.get("nullable") or schema.get("x-nullable"):
        out["nullable"] = True
    kind = schema.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        out["type"] = types[0] if len(types) == 1 else "any"
        if "null" in kind:
            out["nullable"] = True
    for part in schema.get("allOf") or ():
        _merge_into(out, merged(part, depth + 1))
    variants = list(schema.get("anyOf") or ()) + list(schema.get("oneOf") or ())
    if variants:
        parts = [merged(v, depth + 1) for v in variants]
        real = [p for p in parts if p.get("type") != "null"]
        if len(real) < len(parts):
            out["nullable"] = True
        if len(real) == 1:
            _merge_into(out, real[0])
        elif real and all(_kind(p) == "object" for p in real):
            # One of several record shapes: every field any of them has, none required.
            for part in real:
                _merge_into(out, {**part, "required": []})
            out["required"] = []
        elif real:
            out.setdefault("type", "any")
    if "type" not in out:
        if "properties" in out:
            out["type"] = "object"
        elif "items" in out:
            out["type"] = "array"
    return out


def _merge_into(out: dict[str, Any], part: dict[str, Any]) -> None:
    properties = {**(out.get("properties") or {}), **(part.get("properties") or {})}
    required = [*(out.get("required") or ()), *(part.get("required") or ())]
    for key, value in part.items():
        out.setdefault(key, value)
    if properties:
        out["properties"] = properties
    if required:
        out["required"] = list(dict.fromkeys(required))


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    return kind if isinstance(kind, str) else "any"


def type_name(schema: Mapping[str, Any], depth: int = 0) -> str:
    """'integer', 'number', 'string', 'boolean', 'date', 'date-time', 'object', 'array<…>'."""
    kind = _kind(schema)
    if kind == "string" and schema.get("format") in ("date", "date-time"):
        return str(schema["format"])
    if kind == "array":
        item = merged(schema.get("items"), depth + 1)
        return f"array<{type_name(item, depth + 1) if item else 'any'}>"
    return kind


def fields_of(schema: Any, depth: int = 0) -> tuple[FieldReport, ...]:
    """The fields of an object schema, nested objects and arrays of objects included."""
    plain = merged(schema, depth)
    required = set(plain.get("required") or ())
    found: list[FieldReport] = []
    for name, sub in (plain.get("properties") or {}).items():
        prop = merged(sub, depth + 1)
        nested: tuple[FieldReport, ...] = ()
        if depth < _DEPTH:
            if _kind(prop) == "object":
                nested = fields_of(prop, depth + 1)
            elif _kind(prop) == "array" and _kind(merged(prop.get("items"), depth + 2)) == "object":
                nested = fields_of(prop.get("items"), depth + 2)
        found.append(
            FieldReport(
                name=str(name),
                type=type_name(prop, depth + 1),
                required=name in required,
                nullable=bool(prop.get("nullable")),
                fields=nested,
            )
        )
    return tuple(found)


def is_object_list(schema: Any) -> bool:
    """Whether ``schema`` is an array whose items are objects."""
    plain = merged(schema)
    return _kind(plain) == "array" and _kind(merged(plain.get("items"))) == "object"


def records_of(schema: Any) -> tuple[str | None, Any, str] | None:
    """Where a response's records are: (selector, item schema, why), or None when the
    response is not a collection. The selector is None when the body itself is the list, a
    dotted path ('data', 'data.items') when an envelope holds it."""
    plain = merged(schema)
    if is_object_list(plain):
        return None, plain.get("items"), "the response is an array of objects"
    if _kind(plain) != "object":
        return None
    properties = plain.get("properties") or {}
    lists = [name for name, sub in properties.items() if is_object_list(sub)]
    if not lists:
        # One level down: {"data": {"items": [...]}}.
        for name, sub in properties.items():
            inner = merged(sub)
            inner_lists = [
                n for n, s in (inner.get("properties") or {}).items() if is_object_list(s)
            ]
            if _kind(inner) == "object" and len(inner_lists) == 1:
                item = merged(inner["properties"][inner_lists[0]]).get("items")
                path = f"{name}.{inner_lists[0]}"
                return path, item, f"'{path}' is the response's one array of objects"
        return None
    if len(lists) > 1:
        known = [name for name in RECORD_KEYS if name in lists]
        if not known:
            return None
        lists = known[:1]
    name = lists[0]
    return (
        name,
        merged(properties[name]).get("items"),
        f"'{name}' is the response's array of objects",
    )


def envelope(schema: Any, selector: str | None) -> dict[str, str]:
    """The response's scalar fields beside the records, as dotted path -> type name (one
    nested level: 'meta.total'): where totals, cursors, next links and has_more flags are."""
    plain = merged(schema)
    found: dict[str, str] = {}
    for name, sub in (plain.get("properties") or {}).items():
        if name == selector:
            continue
        prop = merged(sub)
        if _kind(prop) == "object":
            for inner, inner_sub in (prop.get("properties") or {}).items():
                path = f"{name}.{inner}"
                if path != selector:
                    found[path] = type_name(merged(inner_sub))
        elif not is_object_list(prop):
            found[str(name)] = type_name(prop)
    return found
