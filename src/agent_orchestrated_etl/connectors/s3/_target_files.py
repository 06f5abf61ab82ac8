"""How the S3 destination writes and reads its Parquet or CSV files with DuckDB."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import duckdb

from ...data.duck import describe, quote_ident, quote_literal, sql_list
from ._manifest import Store

# A table's staged (and so published) files stop at about this size: large tables become
# several files, which readers take in parallel and a publish copies in bounded parts.
FILE_SIZE = "512MB"
FILE_COLUMN = "__aoetl_file"  # the column naming each row's file, while a merge finds its files


@dataclass(frozen=True)
class Files:
    """A table's files in ``fmt``, Hive-partitioned by ``partition_by``, under ``store``."""

    store: Store
    fmt: str
    partition_by: tuple[str, ...]

    def copy(self, con: duckdb.DuckDBPyConnection, sql: str, dest: str) -> list[dict[str, Any]]:
        """COPY ``sql`` under ``dest`` (a staging folder); its files: path under ``dest``,
        rows, size."""
        options = ["FORMAT parquet, COMPRESSION zstd" if self.fmt == "parquet" else "FORMAT csv"]
        if self.fmt == "csv":
            options.append("HEADER")
        if self.partition_by:
            parts = ", ".join(quote_ident(p) for p in self.partition_by)
            options.append(f"PARTITION_BY ({parts})")
        else:  # several files past the cap (DuckDB does not combine it with PARTITION_BY)
            options.append(f"FILE_SIZE_BYTES {quote_literal(FILE_SIZE)}")
        if self.fmt == "parquet":
            options.append("RETURN_STATS true")
        target = self.store.url(dest.rstrip("/"))
        answer = con.execute(
            f"COPY ({sql}) TO {quote_literal(target)} ({', '.join(options)})"
        ).fetchall()
        listed = dict(self.store.objects(dest))
        if self.fmt == "parquet":
            counts = {_clean(str(r[0])): int(r[1]) for r in answer}
        elif len(listed) > 1:
            urls = sql_list(self.store.url(k) for k in listed)
            counts = dict(
                con.execute(
                    f"SELECT filename, count(*) FROM read_csv({urls}, header=true, "
                    "all_varchar=true, filename=true, hive_partitioning=false) GROUP BY ALL"
                ).fetchall()
            )
        else:
            counts = {self.store.url(k): int(answer[0][0]) for k in listed}
        files = []
        for rel, size in sorted(listed.items()):
            rows = counts.get(self.store.url(rel), 0)
            if rows == 0 and self.fmt == "csv":
                continue  # a header alone would read back as text columns
            files.append({"path": rel[len(dest) :], "rows": rows, "size": size})
        return files

    def scan(
        self,
        con: duckdb.DuckDBPyConnection,
        folder: str,
        manifest: dict[str, Any],
        paths: list[str],
        *,
        named: bool = False,
    ) -> str:
        """The rows of ``paths`` (under ``folder``) as SELECT SQL in the manifest's columns and
        types; with ``named``, each row's file too."""
        urls = sql_list(self.store.url(f"{folder}{p}") for p in paths)
        parts = list(manifest.get("partition_by") or ())
        types = dict(pairs(manifest["columns"]))
        hive = ", hive_partitioning=false"
        if parts:
            struct = ", ".join(f"{quote_literal(p)}: {quote_literal(types[p])}" for p in parts)
            hive = f", hive_partitioning=true, hive_types={{{struct}}}"
        reader = "read_parquet" if manifest["file_format"] == "parquet" else "read_csv"
        header = ", header=true" if reader == "read_csv" else ""
        named_by = f"filename={quote_literal(FILE_COLUMN)}"
        scan = f"{reader}({urls}, union_by_name=true{header}{hive}, {named_by})"
        have = {n for n, _ in describe(con, f"SELECT * FROM {scan}")}
        return projection(scan, pairs(manifest["columns"]), have, named)


def _clean(url: str) -> str:
    """``s3://b/p//data_0.parquet`` (as COPY's stats may name a file) → ``s3://b/p/data_0…``."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{re.sub('/{2,}', '/', rest)}"


def pairs(columns: list[list[str]]) -> list[tuple[str, str]]:
    return [(str(n), str(t)) for n, t in columns]


def projection(
    scan: str,
    columns: list[tuple[str, str]],
    have: set[str],
    named: bool,
    *,
    empty: bool = False,
) -> str:
    """SELECT ``columns`` (cast to their types) from ``scan``; a column none of the scanned
    files has (added by a later version) reads NULL."""
    cols = [
        f"CAST({quote_ident(n) if n in have else 'NULL'} AS {t}) AS {quote_ident(n)}"
        for n, t in columns
    ]
    if named:
        cols.append(quote_ident(FILE_COLUMN))
    return f"SELECT {', '.join(cols)} FROM {scan}" + (" WHERE false" if empty else "")


def file_stem(run_id: str, at: str) -> str:
    """``part-<commit time>-<6 digits of the run id>``, to which ``-NNNNN.<fmt>`` is added.

    Digits only after ``part``: a reader that groups files differing only by a sequence part
    (aoetl's file source among them) takes a table's files, from any number of runs, for one
    table named after its folder; a run id ("nightly-42") would make each run's files another
    table. The commit time sorts them; the run's digits keep two runs in one second apart.
    """
    stamp = re.sub(r"\D", "", at)[:14]
    digits = int(hashlib.sha256(run_id.encode()).hexdigest(), 16) % 1_000_000
    return f"part-{stamp}-{digits:06d}"
