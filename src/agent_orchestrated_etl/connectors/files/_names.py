"""Table names for files: whole stems for lone files, one name for a dated or numbered series.

``v0.7.1.parquet`` is table ``v0_7_1`` and ``2024.sales.v1.csv`` is ``2024_sales_v1``: a lone
file keeps its whole stem, made a safe identifier. Files are grouped into one table when they
differ just by a date or sequence part, in their name (``orders_2024-01.csv``,
``orders_2024-02.csv`` -> ``orders``; ``part-0001.parquet`` … -> the folder's name) or in
their folders (``logs/2024-01-01/app.csv``, ``logs/2024-01-02/app.csv`` -> ``app``). Two
groups never share a name: a clash is resolved by the format, then by the nearest folders
that tell the groups apart (``eu/app.csv``, ``us/app.csv`` -> ``eu_app``, ``us_app``), never
by position, so a name stays put when files are added.
"""

from __future__ import annotations

import hashlib
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
# A folder named by a date or a number (2024-01-01, 07, 0001): a series' varying part.
_VARYING = re.compile(r"^\d[\d\-_.:T]*$")
_SEQUENCE = re.compile(r"([-_. ]?(part|chunk|page)?[-_ ]?\d[\d\-_T:]*)+$", re.IGNORECASE)


@dataclass(frozen=True)
class Named:
    """The table a file loads into, and why (for the plan)."""

    table: str
    reason: str
    group: tuple[str, ...] = ()  # files of one group share this; it tells clashing groups apart
    folders: tuple[str, ...] = ()  # the group's folders, nearest last; dated ones left out


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
    named: dict[str, Named] = {}
    for path, fmt in files:
        dataset = _dataset_folder(path)
        if dataset is not None:
            shown = PurePosixPath(dataset).name or dataset
            named[path] = Named(
                safe(shown),
                f"its files sit in key=value folders under {shown}/, so they load into one table",
                (dataset, fmt),
                _folders(PurePosixPath(dataset).parts),
            )
    # Files whose names and folders differ only by dates or sequence numbers are one series:
    # logs/2024-01-01/app.csv and logs/2024-01-02/app.csv, or d/orders_1.csv and d/orders_2.csv.
    series: dict[tuple[tuple[str, ...], str, str], list[str]] = defaultdict(list)
    for path, fmt in files:
        if path not in named:
            file_stem = stem(path)
            base = series_base(file_stem)
            series[(_pattern(path), file_stem if base is None else base, fmt)].append(path)
    for (pattern, base, fmt), paths in series.items():
        folders = _folders(pattern)
        if len(paths) < 2:
            path = paths[0]
            named[path] = Named(
                safe(stem(path)),
                f"named after the file {PurePosixPath(path).name}",
                (str(path), fmt),
                folders,
            )
            continue
        table = safe(base) if base.strip("-_. ") else safe(folders[-1] if folders else "")
        where = "folders and names" if "*" in pattern else "names"
        if "*" not in pattern and all(stem(p) == base for p in paths):
            why = f"{len(paths)} files named {base} differ only by their suffixes"
        else:
            why = (
                f"{len(paths)} files named {base or '<sequence>'}… differ only by a date or "
                f"sequence part in their {where}"
            )
        for path in paths:
            named[path] = Named(
                table,
                f"{why}, so they load into one table",
                ("/".join(pattern), base, fmt),
                folders,
            )
    return _without_clashes(files, named)


def _pattern(path: str) -> tuple[str, ...]:
    """A path's folders, each named by a date or a number as '*'."""
    return tuple("*" if _VARYING.match(p) else p for p in PurePosixPath(str(path)).parent.parts)


def _folders(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The folders that can name a table: no root, no scheme, no date or number."""
    return tuple(p for p in parts if p not in ("*", "/", ".", "") and not p.endswith(":"))


def _dataset_folder(path: str) -> str | None:
    """The folder above a path's first key=value folder (a partitioned data set), if any."""
    parts = str(path).split("/")[:-1]
    for i, part in enumerate(parts):
        if _HIVE.match(part):
            return "/".join(parts[:i])
    return None


def _without_clashes(files: list[tuple[str, str]], named: dict[str, Named]) -> dict[str, Named]:
    """Groups (of other folders or formats) that got one name are told apart: by their format
    when each has its own, else by the nearest folders that differ. Nothing depends on the
    order of the files, so adding one never renames another group's table."""
    owners: dict[str, dict[tuple[str, ...], tuple[str, ...]]] = defaultdict(dict)
    for path, _ in files:
        owners[named[path].table][named[path].group] = named[path].folders
    taken = set(owners)
    renamed: dict[tuple[str, ...], str] = {}
    for table, groups in sorted(owners.items()):
        if len(groups) < 2:
            continue
        formats = [g[-1] for g in groups]
        names = {g: f"{table}_{g[-1]}" for g in groups}
        if len(set(formats)) < len(formats) or taken & set(names.values()):
            names = _by_folders(table, groups, taken)
        taken.update(names.values())
        renamed.update(names)
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
                current.folders,
            )
        )
    return out


def _by_folders(
    table: str, groups: dict[tuple[str, ...], tuple[str, ...]], taken: set[str]
) -> dict[tuple[str, ...], str]:
    """Names that prefix ``table`` with each group's nearest folders, as few as tell them
    apart (eu/app.csv, us/app.csv -> eu_app, us_app); with the format too if that is not
    enough, and a digest of the group as the last resort (never a position)."""
    deepest = max((len(f) for f in groups.values()), default=0)
    for depth in range(1, deepest + 1):
        for with_format in (False, True):
            names = {
                g: safe("_".join((*folders[-depth:], table, *((g[-1],) if with_format else ()))))
                for g, folders in groups.items()
            }
            if len(set(names.values())) == len(names) and not taken & set(names.values()):
                return names
    return {g: f"{table}_{hashlib.sha256('/'.join(g).encode()).hexdigest()[:6]}" for g in groups}
