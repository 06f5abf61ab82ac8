"""The S3 destination (being built: it raises until it lands)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from ...errors import NotSupportedError
from ...spec import TargetSpec
from ..base import Location


def S3Destination(spec: TargetSpec, where: Location, *, home: Path) -> NoReturn:
    raise NotSupportedError(f"{where.display}: S3 targets are not supported yet")
