"""The S3 source: objects under a prefix or glob, read as the file source reads files.

Discovery, sniffing, grouping into tables, quarantine and incremental reads are the file
source's, over :class:`~.fs.S3FS`; DuckDB's httpfs reads the objects (ranged, streamed).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ...spec import S3SourceSpec
from ..base import Location
from ..files.source import FileSource
from ._access import connect, split
from .fs import S3FS


def S3Source(spec: S3SourceSpec, where: Location, home: Path | None = None) -> FileSource:
    """A :class:`FileSource` over the store ``spec.s3`` names (boto3's chain by default).

    Raises:
        UserError: the URI has no bucket, or the settings are incomplete.
    """
    bucket, _ = split(where.url)  # an s3:// URI with a bucket, or one clear error
    access = connect(spec.s3)
    where = dataclasses.replace(where, path=where.url, endpoint=access.endpoint)
    return FileSource(spec, where, home, fs=S3FS(access, home, bucket))
