"""Table names for files: whole stems for lone files, one name for a dated or numbered series.

``v0.7.1.parquet`` is table ``v0_7_1`` and ``2024.sales.v1.csv`` is ``2024_sales_v1``: a lone
file keeps its whole stem, made a safe identifier. Files are grouped into one table only when
two or more differ just by a date or sequence part (``orders_2024-01.csv``,
``orders_2024-02.csv`` -> ``orders``; ``part-0001.parquet`` … -> the folder's name). Two
groups never share a name: a clash is resolved by the format, then by a number, and said.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath

from ...data.lines import COMPRESSIONS
from . import SUFFIX_FORMATS

# Extensions that name a format or a compression; the stem is what precedes them. ('.txt' too:
# a text file read with --format csv is named without it.)
DATA_SUFFIXES = (*SUFFIX_FORMATS, ".txt", *COMPRESSIONS)
_HIVE = re.compile(r"^[^=/]+=[^/]*$")
_SEQUENCE = re.compile(r"([-_. ]?(part|chunk|page)?[-_ ]?\d[\d\-_T:]*)+$", re.IGNORECASE)


@dataclass(frozen=True)
class Named:
    """The table a file loads into, and why (for the plan)."""

    table: str
    reason: str
    group: tuple[str, ...] = ()  # files of one group share this; it tells clashing groups apart


def stem(path: str | PurePath) -> str:
    """The file name without its format and compression suffixes ('a.b.csv.gz' -> 'a.b');
    ``path`` may be a local path or an object's URI."""
    name = PurePosixPath(str(path)).name
    while True:
        lower = name.lower()
        suffix = next((s for s in DATA_SUFFIXES if lower.endswith(s) and len(name) > len(s)), None)
        if suffix is None:
            return name
        name = name[: -len(suffix)]


def safe(text: str) -> str:
    """A lower-case identifier of letters, digits and underscores ('v0.7.1' -> 'v0_7_1')."""
    return re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_").lower() or "data"


def series_base(file_stem: str) -> str | None:
    """The stem without its trailing date or sequence part, or None if it has none."""
    base = _SEQUENCE.sub("", file_stem)
    return base if base != file_stem else None


def assign(files: list[tuple[str, str]]) -> dict[str, Named]:
    """Name the table of each (file, format); a file is a local path or an object's URI."""
    series: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for path, fmt in files:
        base = series_base(stem(path))
        if base is not None:
            series[(str(PurePosixPath(path).parent), base, fmt)].append(path)
    named: dict[str, Named] = {}
    for path, fmt in files:
        dataset = _dataset_folder(path)
        if dataset is not None:
            shown = PurePosixPath(dataset).name or dataset
            named[path] = Named(
                safe(shown),
                f"its files sit in key=value folders under {shown}/, so they load into one table",
                (dataset, fmt),
            )
    for (folder, base, fmt), paths in series.items():
        paths = [p for p in paths if p not in named]
        if len(paths) < 2:
            continue
        table = safe(base) if base.strip("-_. ") else safe(PurePosixPath(folder).name)
        for path in paths:
            named[path] = Named(
                table,
                f"{len(paths)} files named {base or '<sequence>'}… differ only by a date or "
                f"sequence part, so they load into one table",
                (folder, base, fmt),
            )
    for path, fmt in files:
        if path not in named:
            named[path] = Named(
                safe(stem(path)),
                f"named after the file {PurePosixPath(path).name}",
                (str(path), fmt),
            )
    return _without_clashes(files, named)


def _dataset_folder(path: str) -> str | None:
    """The folder above a path's first key=value folder (a partitioned data set), if any."""
    parts = str(path).split("/")[:-1]
    for i, part in enumerate(parts):
        if _HIVE.match(part):
            return "/".join(parts[:i])
    return None


def _without_clashes(files: list[tuple[str, str]], named: dict[str, Named]) -> dict[str, Named]:
    """Groups (of other folders or formats) that got one name are told apart."""
    owners: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for path, _ in files:
        owners[named[path].table].add(named[path].group)
    taken = set(owners)
    renamed: dict[tuple[str, ...], str] = {}
    for table, groups in owners.items():
        if len(groups) < 2:
            continue
        formats = [g[-1] for g in groups]
        for i, group in enumerate(sorted(groups)):
            new = f"{table}_{group[-1]}"
            if new in taken or formats.count(group[-1]) > 1:
                new = f"{table}_{i + 1}"
            taken.add(new)
            renamed[group] = new
    out: dict[str, Named] = {}
    for path, _ in files:
        current = named[path]
        new_name = renamed.get(current.group)
        out[path] = (
            current
            if new_name is None
            else Named(
                new_name,
                f"{current.reason}; named {new_name}, as other files also map to {current.table}",
                current.group,
            )
        )
    return out
