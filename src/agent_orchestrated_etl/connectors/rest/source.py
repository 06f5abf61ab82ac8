"""The REST source: each resource of a declarative spec paged through into tables.

Discovery asks each top-level resource for its first page only (concurrently), and pins what
it decided from it: where the records are, the paginator, the primary key, the columns, and
the child tables its nested arrays make (see :mod:`._flatten`). A child resource (``parent``)
is discovered from the first parent record's first page.

Reading a table fetches every page of its resource into scratch NDJSON files, once however
many tables read it (the resource's top table and its nested child tables), and returns DuckDB
SQL over those files: no Arrow bindings, so a DuckDB target loads it in one statement, and
memory holds about one page. Types are inferred over every record (chunk by chunk while pages
still arrive, see :mod:`._scratch`), so they widen across pages; a column whose type differs
from the one discovery pinned from the first page is loaded as the wider type, with a warning
in :attr:`RestSource.notes` (the run's ``warning`` events).

An API has no modification time: a table's fingerprint covers its shape and the resource's
spec only. So a resumed run skips a table it staged already and reads an unstaged one again;
exactly-once comes from the destination's staging and checkpoints (merge on the primary key).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...data.duck import Relation, connect, quote_ident, quote_literal
from ...errors import UserError
from ...spec.rest import PaginatorSpec, RestResourceSpec
from ...spec.source import RestSourceSpec
from ..base import Decision, Location, Resource, RowFilter, shape_fingerprint
from . import _flatten, _resources, _scratch
from ._client import RestClient
from ._paging import detect_paginator, detect_selector, iter_pages, select_records

_BODY = "$[*]"  # the selector that pins "the body itself is the list of records"


@dataclass(frozen=True)
class RestRead:
    """How one table of a REST resource is read, pinned at discovery."""

    resource: str  # the REST resource (its spec's name)
    path: tuple[str, ...]  # the array fields from a record to this table's rows; () the top
    selector: str
    paginator: str  # the pinned PaginatorSpec, as JSON
    key: tuple[str, ...]

    def options(self) -> tuple[tuple[str, str], ...]:
        return (
            ("resource", self.resource),
            ("records", self.selector),
            ("paginator", self.paginator),
            ("array", ".".join(self.path)),
        )

    def assumptions(self) -> list[str]:
        kind = json.loads(self.paginator).get("type", "none")
        where = "the body itself" if self.selector == _BODY else repr(self.selector)
        return [f"records under {where}", f"{kind} paging"]


@dataclass
class _Pinned:
    """What discovery decided for one REST resource."""

    spec: RestResourceSpec
    selector: str
    paginator: PaginatorSpec
    key: tuple[str, ...]
    first: list[dict[str, Any]]  # the first page's object records (a child's: with parent keys)
    tables: frozenset[tuple[str, ...]] = frozenset()  # the array paths discovery made tables of


class RestSource:
    """Reads a REST API: :meth:`discover` its resources, then each table as a :meth:`relation`."""

    def __init__(self, spec: RestSourceSpec, where: Location, home: Path) -> None:
        self.spec = spec
        self.notes: list[str] = []
        self.endpoint = where.endpoint
        self._home = home
        base = where.url
        self._resources = {r.name: r for r in spec.resources}
        if not self._resources:  # the URI itself is the one collection, probed
            base, path = _resources.split(where.url)
            name = spec.table or _resources.table_name(where.display)
            self._resources = {name: RestResourceSpec(name=name, path=path)}
        self._client = RestClient(spec, base, endpoint=where.endpoint)
        self._pinned: dict[str, _Pinned] = {}
        self._con = connect(home=home)
        self._dir: Path | None = None
        self._cache: dict[tuple[str, str | None], _scratch.Scratch] = {}
        self._locks: dict[tuple[str, str | None], threading.Lock] = {}
        self._guard = threading.Lock()
        self._files = itertools.count(1)

    # -- the Source protocol ---------------------------------------------------------------
    def discover(self) -> list[Resource]:
        """One request per resource: the first page, for records, paginator, key and columns."""
        _resources.check_parents(self._resources)
        top = [r for r in self._resources.values() if r.parent is None]
        width = max(1, min(len(top), self.spec.max_concurrency))
        with ThreadPoolExecutor(width, thread_name_prefix="aoetl-rest-discover") as pool:
            found = dict(zip([r.name for r in top], pool.map(self._first, top), strict=True))
        for spec in _resources.parents_first(self._resources):
            if spec.parent is not None:
                found[spec.name] = self._first_child(spec)
        resources: list[Resource] = []
        for spec in self._resources.values():
            resources.extend(found[spec.name])
        return resources

    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        """The table's rows as DuckDB SQL over the resource's scratch file (fetched once)."""
        read = _state(resource)
        pinned = self._pin(read.resource)
        since = where.value if where is not None and pinned.spec.since_param else None
        scratch = self._fetched(read.resource, since)
        tables = self._tables(read, scratch, pinned.tables)
        table = tables.get(read.path)
        now = table.columns if table is not None else ()
        if scratch.rows:  # no records at all (an incremental run with nothing new): no news
            self.notes.extend(_flatten.compare(resource.name, resource.columns, now))
        kept = [f"t.{quote_ident(c)}" for c, _ in now]
        kept += [
            f"CAST(NULL AS {kind}) AS {quote_ident(c)}"
            for c, kind in resource.columns
            if c not in dict(now)
        ]
        scan = scratch.scan()
        if where is not None and read.path:  # a nested table: only its new parents' rows
            cursor = _flatten.column_expr("p", scratch.fields, where.column)
            if cursor is not None:
                bound = f"CAST({quote_literal(where.value)} AS {where.kind})"
                scan = f"(SELECT * FROM {scan} AS p WHERE {cursor} {where.op} {bound})"
        if table is None:
            sql = f"SELECT {', '.join(kept) or 'NULL AS value'} WHERE false"
        else:
            sql = f"SELECT {', '.join(kept)} FROM ({table.select(scan)}) AS t"
        bad = [replace(b, table=resource.name) for b in scratch.bad] if not read.path else []
        relation = Relation(sql, extra_bad_rows=bad)
        # A nested table follows its top table's cursor (``Resource.follows``): the mark
        # goes to the API, and filters the parent records its rows come from (above).
        return where.apply(relation) if where is not None and not read.path else relation

    def _tables(
        self, read: RestRead, scratch: _scratch.Scratch, known: Iterable[tuple[str, ...]]
    ) -> dict[tuple[str, ...], _flatten.Table]:
        """The resource's flat tables over every page. An array discovery did not see (empty
        or absent on the first page) has no table this run: it loads as a JSON text column
        of its parent table, with a note, so nothing is lost."""
        if not scratch.fields:
            return {}
        found = _flatten.flatten(read.resource, scratch.fields, read.key)
        late = frozenset(t.path for t in found if t.path not in set(known))
        if not late:
            return {t.path: t for t in found}
        if not read.path:
            self.notes.extend(
                f"the array {'.'.join(path)} of {read.resource} holds values only after the "
                f"first page, so discovery made no table of it; this run loads it as the JSON "
                f"text column {path[-1]!r} of its parent table"
                for path in sorted(late)
                if path[:-1] in set(known)
            )
        tables = _flatten.flatten(read.resource, scratch.fields, read.key, late)
        return {t.path: t for t in tables}

    def fingerprint(self, resource: Resource) -> str:
        """The table's shape and its resource's spec: an API has no modification time."""
        spec = self._resources.get(_state(resource).resource)
        text = spec.model_dump_json() if spec is not None else ""
        joined = f"{shape_fingerprint(resource)}\0{text}"
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def close(self) -> None:
        """Close the HTTP client and remove the scratch files. A second call does nothing."""
        self._client.close()
        self._con.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._cache.clear()

    # -- discovery -------------------------------------------------------------------------
    def _first(self, spec: RestResourceSpec) -> list[Resource]:
        response = self._client.get(spec.path, params=spec.params, headers=spec.headers)
        body = _resources.json(response.content, self._client.masked(str(response.url)))
        decisions: list[Decision] = []
        selector = self._selector(spec, body, decisions)
        paginator = spec.paginator or self.spec.paginator
        if paginator.type == "auto":
            paginator, why = detect_paginator(
                body, response.headers, None if selector == _BODY else selector, spec.params
            )
            decisions.extend(why)
        records = select_records(body, None if selector == _BODY else selector)
        estimate = _resources.estimate(body, paginator, len(records))
        return self._resources_of(spec, selector, paginator, records, decisions, estimate)

    def _first_child(self, spec: RestResourceSpec) -> list[Resource]:
        assert spec.parent is not None
        parent = self._pin(spec.parent.resource)
        fields = spec.parent.params
        record = next(
            (r for r in parent.first if all(_resources.has(r, f) for f in fields.values())), None
        )
        paginator = spec.paginator or self.spec.paginator
        if record is None:
            why = Decision(
                "columns", "unknown", f"the first page of {parent.spec.name} has no record to "
                "ask for its children; they are inferred when read"
            )  # fmt: skip
            # The paginator and selector stay 'auto': each parent's first answer decides.
            selector = spec.records or _BODY
            return self._resources_of(spec, selector, paginator, [], [why], None)
        path, params = _resources.fill(spec, record)
        response = self._client.get(path, params=params, headers=spec.headers)
        body = _resources.json(response.content, self._client.masked(str(response.url)))
        decisions: list[Decision] = []
        selector = self._selector(spec, body, decisions)
        if paginator.type == "auto":
            paginator, why_paged = detect_paginator(
                body, response.headers, None if selector == _BODY else selector, params
            )
            decisions.extend(why_paged)
        extra = _resources.parent_columns(spec, record)
        records = [
            {**extra, **r} if isinstance(r, dict) else r
            for r in select_records(body, None if selector == _BODY else selector)
        ]
        return self._resources_of(spec, selector, paginator, records, decisions, None)

    def _selector(self, spec: RestResourceSpec, body: Any, decisions: list[Decision]) -> str:
        if isinstance(body, dict) and ("openapi" in body or "swagger" in body):
            raise UserError(
                f"{self._shown(spec.path)} is an OpenAPI document, not a collection; plan a "
                f"pipeline from it with 'aoetl plan {self._shown(spec.path)} -o pipeline.yaml'"
            )
        if spec.records:
            return spec.records
        found = detect_selector(body)
        if found is None and not isinstance(body, list):
            fix = "set the resource's 'records'" if self.spec.resources else (
                "declare it under the source's 'resources' with 'records' set"
            )  # fmt: skip
            raise UserError(
                f"resource {spec.name}: no list of records in the answer of "
                f"{self._shown(spec.path)}; {fix} to where they are (a dotted path such as "
                "'data.items', or a JSONPath)"
            )
        if found is None:
            decisions.append(Decision("records", "the body itself", "the answer is a list"))
            return _BODY
        decisions.append(Decision("records", f"under {found!r}", "the answer's list of objects"))
        return found

    def _resources_of(
        self,
        spec: RestResourceSpec,
        selector: str,
        paginator: PaginatorSpec,
        records: list[Any],
        decisions: list[Decision],
        estimate: int | None,
    ) -> list[Resource]:
        objects = [r for r in records if isinstance(r, dict)]
        parent = (
            tuple(_resources.parent_columns(spec, {}))
            if spec.parent is not None and not spec.primary_key
            else ()
        )
        key = spec.primary_key or _resources.detect_key(spec.name, objects, decisions, parent)
        if spec.primary_key:
            decisions.append(Decision("primary key", ", ".join(key), "set by the resource"))
        fields = self._infer(objects)
        tables = _flatten.flatten(spec.name, fields, key) if fields else []
        paths = frozenset(t.path for t in tables)
        self._pinned[spec.name] = _Pinned(spec, selector, paginator, key, objects, paths)
        if not tables:
            tables = [_flatten.Table(spec.name, (), (), key, "")]
            if not records:
                decisions.append(Decision("columns", "unknown", "the first page is empty"))
        shown = self._shown(spec.path)
        paged = paginator.model_dump_json(exclude_defaults=True)
        out = []
        for table in tables:
            state = RestRead(spec.name, table.path, selector, paged, key)
            why = decisions if not table.path else [
                Decision("table", table.name, f"the array {'.'.join(table.path)} of {spec.name}")
            ]  # fmt: skip
            out.append(
                Resource(
                    table.name,
                    (shown,),
                    "rest",
                    table.columns,
                    tuple(why),
                    state=state,
                    row_estimate=estimate if not table.path else None,
                    primary_key=table.key if table.path or key else (),
                    follows=spec.name if table.path else None,
                )
            )
        return out

    def _infer(self, records: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        """The DuckDB types of a sample of records, read as the whole file will be."""
        if not records:
            return []
        path = self._scratch_dir() / f"sample-{threading.get_ident()}.ndjson"
        writer = _scratch.Writer(path, "", ())
        try:
            writer.page("", records)
            return writer.finish(self._con.cursor()).fields
        finally:
            writer.abandon()  # the sample's files are not read again

    # -- reading ---------------------------------------------------------------------------
    def _pin(self, name: str) -> _Pinned:
        pinned = self._pinned.get(name)
        if pinned is None:  # relation() before discover(): a task run in its own process
            self.discover()
            pinned = self._pinned[name]
        return pinned

    def _fetched(self, name: str, since: str | None) -> _scratch.Scratch:
        """The resource's records in a scratch file, fetched on first use."""
        cache_key = (name, since)
        with self._guard:
            lock = self._locks.setdefault(cache_key, threading.Lock())
        with lock:
            found = self._cache.get(cache_key)
            if found is None:
                found = self._cache[cache_key] = self._fetch(self._pin(name), since)
            return found

    def _fetch(self, pinned: _Pinned, since: str | None) -> _scratch.Scratch:
        spec = pinned.spec
        name = f"{re.sub(r'[^A-Za-z0-9_]', '_', spec.name)}-{next(self._files)}.ndjson"
        # A row number is what a table without a key is keyed on, and what orders parents.
        numbered = not pinned.key or _resources.is_parent(self._resources, spec.name)
        writer = _scratch.Writer(
            self._scratch_dir() / name, spec.name, pinned.key, self._con, numbered=numbered
        )
        params = dict(spec.params)
        if since is not None and spec.since_param:
            params[spec.since_param] = since
        try:
            if spec.parent is None:
                for page in self._pages(pinned, spec.path, params, self.spec.max_concurrency):
                    writer.page(page.url, page.records)
            else:
                self._fetch_children(pinned, params, writer)
            return writer.finish(self._con.cursor())
        except BaseException:
            writer.abandon()
            raise

    def _fetch_children(
        self, pinned: _Pinned, params: dict[str, Any], writer: _scratch.Writer
    ) -> None:
        spec = pinned.spec
        assert spec.parent is not None
        parents = self._parent_records(spec)

        def fetch(record: dict[str, Any]) -> list[tuple[str, list[Any]]]:
            path, filled = _resources.fill(spec, record, params)
            return [(p.url, p.records) for p in self._pages(pinned, path, filled, 1)]

        for record, pages in zip(
            parents, _resources.ordered(fetch, parents, self.spec.max_concurrency), strict=False
        ):
            extra = _resources.parent_columns(spec, record)
            for url, records in pages:
                writer.page(url, records, extra)

    def _parent_records(self, spec: RestResourceSpec) -> list[dict[str, Any]]:
        """Each distinct parent record's fields that the child's params name, in read order."""
        assert spec.parent is not None
        parent = self._fetched(spec.parent.resource, None)
        fields = sorted(set(spec.parent.params.values()))
        names = dict(parent.fields)
        usable = [f for f in fields if f.split(".")[0] in names]
        if len(usable) < len(fields) or not parent.rows:
            return []
        exprs = ", ".join(
            "r." + ".".join(quote_ident(p) for p in f.split(".")) + f" AS {quote_ident(f)}"
            for f in fields
        )
        row = quote_ident(_flatten.ROW_FIELD)
        sql = (
            f"SELECT {', '.join(quote_ident(f) for f in fields)} FROM "
            f"(SELECT {exprs}, r.{row} AS {row} FROM {parent.scan()} AS r) "
            f"GROUP BY ALL ORDER BY min({row})"
        )
        rows = self._con.cursor().execute(sql).fetchall()
        return [dict(zip(fields, r, strict=True)) for r in rows if all(v is not None for v in r)]

    def _pages(
        self, pinned: _Pinned, path: str, params: dict[str, Any], width: int
    ) -> Iterator[Any]:
        return iter_pages(
            self._client,
            path,
            params=params,
            headers=pinned.spec.headers,
            paginator=pinned.paginator,
            selector=None if pinned.selector == _BODY else pinned.selector,
            max_concurrency=width,
            decide=lambda d: self.notes.append(f"resource {pinned.spec.name}: {d}"),
            guessed=(pinned.spec.paginator or self.spec.paginator).type == "auto",
        )

    def _scratch_dir(self) -> Path:
        with self._guard:
            if self._dir is None:
                root = self._home / "scratch"
                root.mkdir(parents=True, exist_ok=True)
                _scratch.remove_orphans(root)
                self._dir = Path(tempfile.mkdtemp(prefix=_scratch.scratch_prefix(), dir=root))
            return self._dir

    def _shown(self, path: str) -> str:
        return self._client.masked(self._client.url(path))


# -- helpers ---------------------------------------------------------------------------------
def _state(resource: Resource) -> RestRead:
    if not isinstance(resource.state, RestRead):
        raise UserError(f"table {resource.name} was not discovered by this REST source")
    return resource.state
