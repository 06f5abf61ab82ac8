"""The resources of a REST spec: names, parent chains, placeholders, first-page facts.

Pure helpers of :mod:`.source`: nothing here sends a request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import orjson

from ...errors import UserError
from ...spec.rest import PaginatorSpec, RestResourceSpec
from ..base import Decision
from ._detect import MISSING, get_path
from ._flatten import SEP

T = TypeVar("T")
R = TypeVar("R")


def split(url: str) -> tuple[str, str]:
    """(base URL, path of the collection) of a URI that names one collection: the path's last
    segment is the collection, so the base URL keeps its query (an API key) for every page."""
    parts = urlsplit(url)
    head, _, last = parts.path.rstrip("/").rpartition("/")
    if not last:
        return url, ""
    return urlunsplit((parts.scheme, parts.netloc, head + "/", parts.query, "")), last


def table_name(display: str) -> str:
    """A table's name from the URI's last path segment (or its host)."""
    parts = urlsplit(display)
    last = parts.path.rstrip("/").rpartition("/")[2] or (parts.hostname or "data").split(".")[0]
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", last).strip("_").lower() or "data"
    return f"t_{name}" if name[0].isdigit() else name


def check_parents(resources: dict[str, RestResourceSpec]) -> None:
    for spec in resources.values():
        seen = [spec.name]
        current = spec
        while current.parent is not None:
            current = resources[current.parent.resource]
            if current.name in seen:
                raise UserError(
                    f"REST resources {' -> '.join([*seen, current.name])} are each other's "
                    "parents; a parent chain must end at a resource without 'parent'"
                )
            seen.append(current.name)


def is_parent(resources: dict[str, RestResourceSpec], name: str) -> bool:
    return any(r.parent is not None and r.parent.resource == name for r in resources.values())


def parents_first(resources: dict[str, RestResourceSpec]) -> list[RestResourceSpec]:
    def depth(spec: RestResourceSpec) -> int:
        return 0 if spec.parent is None else 1 + depth(resources[spec.parent.resource])

    return sorted(resources.values(), key=depth)


def json(content: bytes, shown: str) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        start = " ".join(content[:60].decode("utf-8", "replace").split())
        raise UserError(
            f"GET {shown} did not answer JSON (it starts {start!r}); give the URL of a JSON "
            "collection endpoint"
        ) from None


def detect_key(
    noun: str,
    records: list[dict[str, Any]],
    decisions: list[Decision],
    parent: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """The primary key of records of ``noun``: 'id', else '<noun>_id' (singular or not),
    the first set and unique in every sampled record. A child resource's (``parent``: its
    ``_<parent>_<field>`` columns) comes after those columns: its ids may repeat across
    parents."""
    for name in ("id", f"{singular(noun)}_id", f"{noun}_id"):
        values = [r.get(name) for r in records]
        if records and None not in values and len(set(map(repr, values))) == len(values):
            why = f"'{name}' is set and unique in all {len(records)} sampled records"
            if parent:
                why += ", under the parent's key (ids may repeat across parents)"
            key = (*parent, name)
            decisions.append(Decision("primary key", ", ".join(key), why))
            return key
    decisions.append(
        Decision("primary key", "none", "no 'id' or '<resource>_id' set and unique in every "
                 "sampled record; set primary_key")
    )  # fmt: skip
    return ()


def singular(word: str) -> str:
    """'users' -> 'user', 'categories' -> 'category' (good enough for key names)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def estimate(body: Any, paginator: PaginatorSpec, page_records: int) -> int | None:
    total = path_value(body, paginator.total_path)
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    pages = path_value(body, paginator.total_pages_path)
    if isinstance(pages, int) and not isinstance(pages, bool) and page_records:
        return pages * page_records
    return None


def path_value(body: Any, path: str | None) -> Any:
    """The value at dotted ``path`` in ``body``; None when it is not there."""
    value = get_path(body, path) if path is not None else MISSING
    return None if value is MISSING else value


def has(record: dict[str, Any], field: str) -> bool:
    return path_value(record, field) is not None


def fill(
    spec: RestResourceSpec, record: dict[str, Any], params: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """A child's path with the parent record's fields in its placeholders; fields whose
    placeholder is not in the path go as query parameters."""
    assert spec.parent is not None
    path, query = spec.path, dict(spec.params if params is None else params)
    for placeholder, field in spec.parent.params.items():
        value = path_value(record, field) if "." in field else record.get(field)
        token = "{" + placeholder + "}"
        if token in path:
            path = path.replace(token, quote(str(value), safe=""))
        else:
            query[placeholder] = value
    return path, query


def parent_columns(spec: RestResourceSpec, record: dict[str, Any]) -> dict[str, Any]:
    """``_<parent>_<field>`` for each parent field the child's params name."""
    assert spec.parent is not None
    return {
        f"_{spec.parent.resource}_{field.replace('.', SEP)}": (
            path_value(record, field) if "." in field else record.get(field)
        )
        for field in dict.fromkeys(spec.parent.params.values())
    }


def ordered(fn: Callable[[T], R], items: Sequence[T], width: int) -> Iterator[R]:
    """``fn`` over ``items`` on ``width`` threads, results in order, at most twice width pending."""
    with ThreadPoolExecutor(width, thread_name_prefix="aoetl-rest-parents") as pool:
        pending: list[Future[R]] = []
        it = iter(items)
        try:
            for item in it:
                pending.append(pool.submit(fn, item))
                if len(pending) >= 2 * width:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            for future in pending:
                future.cancel()
