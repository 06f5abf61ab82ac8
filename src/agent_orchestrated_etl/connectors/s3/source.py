"""The S3 source (being built: it raises until it lands)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from ...errors import NotSupportedError
from ...spec import S3SourceSpec
from ..base import Location


def S3Source(spec: S3SourceSpec, where: Location, home: Path) -> NoReturn:
    raise NotSupportedError(f"{where.display}: S3 sources are not supported yet")
