"""Profiles of tables: per column statistics, per table rows, duplicates and keys, computed
in DuckDB in a few scans (``aoetl profile``, and runs with ``quality: profile:``).

Depths:

* ``quick``: a sample, then one aggregate over the table (distinct counts approximate,
  quantiles from a t-digest, histograms estimated from 1,001 of its quantiles, top values
  counted for the sample's frequent values, a key confirmed only where the sample points to
  one, duplicate rows by hash when none does); no outlier counts;
* ``standard`` (the default): a second aggregate adds exact histograms, outliers by IQR and
  robust z (the MAD estimated from the quantiles), keys confirmed exactly and duplicate rows
  (none when a key is confirmed, else by a hash of each row);
* ``deep``: exact distinct counts, quantiles, MAD, top values and duplicates, keys of two
  id-like columns, and correlations between numeric columns.

A table of at most SAMPLE_ROWS rows is its own sample: its distinct counts, top values and
duplicates are exact at every depth.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb

from ..connectors import Resource, locate, source_for
from ..data import Relation
from ..data.duck import quote_ident, unique_name
from ..errors import UserError, classify_duckdb
from ..spec import AnomalySpec, Depth
from ..spec.source import SourceSpec
from ..spec.uri import LOCAL_SCHEMES, anchored, parse_uri
from ._profile_finish import finish
from ._profile_sample import SAMPLE_ROWS
from ._profile_table import MAX_CORRELATED, profile_columns
from ._semantic import screen
from .frame import materialize, scratch
from .types import ColumnProfile, Correlation, QualityReport, ScorePoint, TableProfile

__all__ = [
    "MAX_CORRELATED",
    "SAMPLE_ROWS",
    "history_key",
    "profile_relation",
    "profile_source",
    "profile_table",
]

# A relation that only reads local Parquet files, or a table of a DuckDB file, costs less to
# scan again than to copy: 2M rows x 10 columns of Parquet, read into a temporary table, took
# 2.2 s, longer than the profile's three scans of the file.
_LOCAL_PARQUET = re.compile(r"SELECT \* FROM read_parquet\(\[[^\]]*\][^)]*\)", re.S)
_DUCKDB_ATTACH = re.compile(r"ATTACH IF NOT EXISTS '[^']*' AS \S+ \(READ_ONLY\)$")


def history_key(place: str, table: str) -> str:
    """The key of ``table``'s profile history in ``place`` (a source's or target's display):
    a local file or database by its absolute path, so that the same file is one history
    however its path was typed (``c.csv``, ``./c.csv``, ``/abs/c.csv``; a run's
    ``duckdb:////abs/w.duckdb`` and ``aoetl profile duckdb:///w.duckdb``) and files of one
    name in two folders are two; anything else as displayed (no password)."""
    parsed = parse_uri(os.path.expanduser(place) if place.startswith("~") else place)
    if parsed.scheme.split("+")[0] in LOCAL_SCHEMES and not parsed.path.startswith(":"):
        local = anchored(parsed, Path.cwd())
        # A file by its path alone: 'file:///a/c.csv' and '/a/c.csv' are one history.
        place = local.path if parsed.scheme == "file" else local.raw
    return f"{place}#{table}"


def profile_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    table: str,
    resource: str,
    source: str,
    depth: Depth,
    anomalies: AnomalySpec,
    previous: TableProfile | None = None,
    pii: dict[str, str] | None = None,
    run_id: str | None = None,
) -> TableProfile:
    """Profile the table or view ``name`` (quoted as needed) that ``con`` sees.

    ``previous`` (the last profile of the same ``resource``) lends its histogram edges, so
    that drift compares like with like; ``pii`` names columns known to hold personal data.
    """
    taken, start = time.time(), time.perf_counter()
    try:
        rows, cols, found = profile_columns(
            con, name, depth=depth, anomalies=anomalies, previous=previous, pii=pii or {}
        )
    except duckdb.Error as exc:
        raise classify_duckdb(exc, f"table '{table}'") from exc
    complete = rows <= SAMPLE_ROWS
    for key in found["keys"]:
        if len(key) == 1:  # confirmed exactly: as many distinct values as rows
            col = next(c for c in cols if c.name == key[0])
            col.got["distinct"], col.got["distinct_exact"] = rows, True
    columns = [finish(c, rows, depth, anomalies, complete) for c in cols]
    _hide_personal(con, columns, [c.kind for c in cols])
    correlations = found.get("correlations")
    return TableProfile(
        resource=resource,
        table=table,
        source=source,
        depth=depth,
        rows=rows,
        columns=columns,
        duplicate_rows=found["duplicates"],
        duplicates_exact=found["duplicates_exact"],
        candidate_keys=found["keys"],
        correlations=(
            [Correlation(a=a, b=b, r=round(r, 6)) for a, b, r in correlations]
            if correlations is not None
            else None
        ),
        taken_at=taken,
        duration_s=round(time.perf_counter() - start, 4),
        run_id=run_id,
    )


def _hide_personal(
    con: duckdb.DuckDBPyConnection, columns: list[ColumnProfile], kinds: list[str]
) -> None:
    """Flag as personal data, with no value shown, each text column a value of which that
    the profile would show (min, max, top values: the anomalies and reports take theirs
    from these) looks like personal data."""
    shown = {
        c.name: [str(v) for v in (c.min, c.max, *(t.value for t in c.top)) if v is not None]
        for c, kind in zip(columns, kinds, strict=True)
        if kind == "text" and c.pii is None
    }
    found = screen(con, shown)
    for column in columns:
        if column.name in found:
            column.pii, column.min, column.max = found[column.name], None, None
            column.top = []


def profile_relation(
    relation: Relation,
    *,
    home: Path,
    table: str,
    resource: str,
    source: str,
    depth: Depth,
    anomalies: AnomalySpec,
    previous: TableProfile | None = None,
    run_id: str | None = None,
    pii: dict[str, str] | None = None,
) -> TableProfile:
    """Profile ``relation``, reading it exactly once: into a private temporary table, or in
    place when it is local Parquet or a DuckDB table (cheaper to scan again than to copy)."""
    con = scratch(home)
    try:
        if _rescannable(relation):
            relation.attach(con)
            name = quote_ident(unique_name("profiled"))
            con.execute(f"CREATE TEMP VIEW {name} AS {relation.sql}")
        else:
            name = materialize(con, relation, f"table '{table}'")
        profile = profile_table(
            con,
            name,
            table=table,
            resource=resource,
            source=source,
            depth=depth,
            anomalies=anomalies,
            previous=previous,
            pii=pii,
            run_id=run_id,
        )
        # What the reader rejected is not in the table: say how much was left out.
        profile.rejected = len(relation.bad_rows())
        return profile
    except duckdb.Error as exc:
        raised = relation.stream_error()
        if raised is not None:
            raise raised from exc
        raise classify_duckdb(exc, f"table '{table}'") from exc
    finally:
        con.close()


def _rescannable(relation: Relation) -> bool:
    if not relation.fused or relation.rejects or relation.extra_bad_rows:
        return False
    if relation.prelude:
        return all(_DUCKDB_ATTACH.match(p) for p in relation.prelude)
    read = _LOCAL_PARQUET.fullmatch(relation.sql.strip())
    return read is not None and "://" not in read.group(0)


def profile_source(
    spec: SourceSpec,
    *,
    home: Path,
    table: str | None,
    depth: Depth,
    record: bool,
    anomalies: AnomalySpec,
) -> list[QualityReport]:
    """Profile each table of ``spec``'s source (or only ``table``), with its anomalies (also
    against its previous profile) and score; ``record`` stores them in the state DB.

    Raises:
        UserError: the source has no table ``table``, or none at all.
    """
    from ..state import StateStore
    from .anomalies import detect
    from .score import score

    where = locate(spec.uri, spec.base_dir)
    store = StateStore(home)
    reports = []
    source = source_for(spec, home=home, where=where)
    try:
        for resource in _chosen(source.discover(), table, where.display):
            # A local path's URL holds no password: anchored as given, before any display.
            local = where.scheme.split("+")[0] in LOCAL_SCHEMES
            key = history_key(where.url if local else where.display, resource.name)
            earlier = store.quality.profiles(key, limit=20)
            previous = TableProfile.model_validate(earlier[0].profile) if earlier else None
            profile = profile_relation(
                source.relation(resource),
                home=home,
                table=resource.name,
                resource=key,
                source=where.display,
                depth=depth,
                anomalies=anomalies,
                previous=previous,
            )
            found = detect(profile, previous, anomalies)
            scored = score(profile, found)
            history = [
                ScorePoint(taken_at=p.taken_at, total=p.score, run_id=p.run_id)
                for p in reversed(earlier)
                if p.score is not None
            ]
            history.append(ScorePoint(taken_at=profile.taken_at, total=scored.total))
            if record:
                store.quality.add_profile(
                    profile.model_dump(mode="json"),
                    score=scored.model_dump(mode="json"),
                    anomalies=[a.model_dump(mode="json") for a in found],
                )
            reports.append(
                QualityReport(profile=profile, anomalies=found, score=scored, history=history)
            )
    finally:
        source.close()
    return reports


def _chosen(resources: list[Resource], table: str | None, display: str) -> list[Resource]:
    if not resources:
        raise UserError(f"{display} holds no table to profile")
    if table is None:
        return resources
    picked = [r for r in resources if r.name == table]
    if not picked:
        names = ", ".join(sorted(r.name for r in resources))
        raise UserError(f"{display} has no table '{table}'; its tables: {names} (use --table NAME)")
    return picked
