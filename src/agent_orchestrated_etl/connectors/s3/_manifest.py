"""The objects an S3 destination keeps under its prefix, and each table's manifest.

Layout under ``s3://bucket/PREFIX/``:

* ``TABLE/[col=val/…]part-TIME-RUN-N.parquet``: the table's data files (Hive folders when the
  target is partitioned; TIME the commit's, RUN six digits of the run id, N a sequence);
* ``TABLE/_manifest.json``: the table's current version: which of those files make it up, its
  columns, rows, format, partitioning, the run that wrote it and each pipeline's incremental
  mark. It is the commit point: a reader that honours it sees whole versions only;
* ``_aoetl/staging/RUN_ID/TABLE/``: what a run staged (``part/`` the incoming rows, ``kept/``
  the rows a merge keeps from rewritten files, ``_checkpoint.json`` written last);
* ``_aoetl/publishing/RUN_ID.json``: a commit in progress (the intent a killed run's successor
  finishes); ``_aoetl/commits/RUN_ID.json``: a committed run; ``_aoetl/failed/RUN_ID.json``:
  a commit that could not be finished, set aside with its error.

Names starting with '_' are aoetl's, which is also why readers (aoetl's own S3 source
included) skip them when they list a table's folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...errors import AoetlError, FatalError, UserError, classify_boto
from .._schema import plan_evolution

log = logging.getLogger("aoetl.s3")

META = "_aoetl/"
MANIFEST = "_manifest.json"
CHECKPOINT = "_checkpoint.json"
FORMAT = "aoetl.s3.manifest"
VERSION = 1
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
MULTIPART_AT = 256 << 20  # a publish copy larger than this is copied in parts
PART_SIZE = 128 << 20  # of this size (10,000 parts at most: 1.2 TB)
# The runs whose versions a manifest remembers: a commit finished late by another process
# (see _target_publish) must see that its version was applied, even under later ones.
_RUNS_KEPT = 100


class ConflictError(UserError):
    """A table changed under a merge between its staging and its commit."""


@dataclass(frozen=True)
class Store:
    """boto3 calls under one bucket and prefix; every key given is relative to the prefix."""

    client: Any
    bucket: str
    prefix: str  # '' or ending in '/'

    def url(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{rel}"

    def _fail(self, exc: Exception, rel: str, doing: str) -> AoetlError:
        return classify_boto(exc, f"{doing} {self.url(rel)}")

    def get_json(self, rel: str) -> tuple[dict[str, Any], str] | None:
        """The object's JSON and its ETag, or None when there is no such object."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + rel)
            body = answer["Body"].read()
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._fail(exc, rel, "reading") from None
        try:
            data = json.loads(body)
        except ValueError:
            raise FatalError(f"{self.url(rel)} is not JSON; it was not written by aoetl") from None
        return data, str(answer.get("ETag", ""))

    def put_json(
        self, rel: str, data: dict[str, Any], *, expect: str | bool | None = False
    ) -> bool:
        """Write ``data``; with ``expect`` an ETag (or None: no object yet), only if the object
        is still that version. False when another writer came first."""
        extra: dict[str, str] = {}
        if expect is None:
            extra["IfNoneMatch"] = "*"
        elif isinstance(expect, str):
            extra["IfMatch"] = expect
        body = json.dumps(data, indent=1, sort_keys=True).encode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + rel,
                Body=body,
                ContentType="application/json",
                **extra,
            )
        except Exception as exc:
            if extra and _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise self._fail(exc, rel, "writing") from None
        return True

    def exists(self, rel: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + rel)
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise self._fail(exc, rel, "reading") from None
        return True

    def objects(self, rel: str, *, limit: int | None = None) -> list[tuple[str, int]]:
        """(key relative to the prefix, size) of every object under ``rel``."""
        found: list[tuple[str, int]] = []
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + rel}
        if limit is not None:
            args["MaxKeys"] = limit
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**args):
                for item in page.get("Contents", ()):
                    found.append((item["Key"][len(self.prefix) :], int(item["Size"])))
                if limit is not None and len(found) >= limit:
                    break
        except Exception as exc:
            raise self._fail(exc, rel, "listing") from None
        return found

    def folders(self, rel: str) -> list[str]:
        """The names of the 'folders' right under ``rel`` (common prefixes)."""
        names: list[str] = []
        args = {"Bucket": self.bucket, "Prefix": self.prefix + rel, "Delimiter": "/"}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**args):
                for item in page.get("CommonPrefixes", ()):
                    names.append(item["Prefix"][len(self.prefix + rel) :].rstrip("/"))
        except Exception as exc:
            raise self._fail(exc, rel, "listing") from None
        return names

    def copy(self, src: str, dest: str) -> None:
        """A server-side copy; a source already gone is fine once the copy is there (a
        publish finished by two processes at once)."""
        from boto3.s3.transfer import TransferConfig

        # boto3's managed copy: a multipart copy above the threshold, as one CopyObject
        # request stops at 5 GB (a large partition can pass that).
        config = TransferConfig(
            multipart_threshold=MULTIPART_AT, multipart_chunksize=PART_SIZE, max_concurrency=4
        )
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": self.prefix + src},
                self.bucket,
                self.prefix + dest,
                Config=config,
            )
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404") and self.exists(dest):
                return
            raise self._fail(exc, src, "copying") from None

    def delete(self, rels: Iterable[str]) -> None:
        keys = [{"Key": self.prefix + r} for r in rels]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except Exception as exc:
                raise self._fail(exc, batch[0]["Key"][len(self.prefix) :], "deleting") from None
            errors = [e for e in answer.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise FatalError(
                    f"deleting s3://{self.bucket}/{first.get('Key')}: {first.get('Code')} "
                    f"({first.get('Message')})"
                )

    def delete_under(self, rel: str) -> None:
        """Every object under ``rel``, and every upload to it that never finished (a COPY
        killed mid-write leaves its multipart upload behind: invisible, but stored)."""
        self.delete(key for key, _ in self.objects(rel))
        self.abort_uploads(rel)

    def abort_uploads(self, rel: str) -> None:
        """Best effort: a key without s3:ListBucketMultipartUploads, or a store that does not
        list uploads, keeps them (a bucket lifecycle rule, AbortIncompleteMultipartUpload,
        removes them there); cleaning up never fails a load."""
        args = {"Bucket": self.bucket, "Prefix": self.prefix + rel}
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(**args):
                for upload in page.get("Uploads", ()):
                    with contextlib.suppress(Exception):  # finished or aborted meanwhile
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
        except Exception as exc:
            log.info(
                "unfinished uploads under %s kept: %s", self.url(rel), self._fail(exc, rel, "list")
            )


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = (response.get("Error") or {}).get("Code")
    return str(code or (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or "")


def table_rows(files: list[dict[str, Any]]) -> int:
    return sum(int(f.get("rows") or 0) for f in files)


def evolved(table: str, current: list[list[str]], incoming: list[list[str]]) -> list[list[str]]:
    """The table's columns once ``incoming`` joins it: widened and added as the policy says.

    Raises:
        SchemaConflictError: a type change no widening covers.
    """
    evolution = plan_evolution(table, [(n, t) for n, t in current], [(n, t) for n, t in incoming])
    wider = dict(evolution.widen)
    return [[n, wider.get(n, t)] for n, t in current] + [[n, t] for n, t in evolution.add]


def next_manifest(
    current: dict[str, Any] | None, entry: dict[str, Any], run_id: str, pipeline: str, now: str
) -> dict[str, Any]:
    """The table's version after this run's ``entry`` (from the commit intent) applies.

    Raises:
        ConflictError: a merge whose base version is no longer the current one, or an append
            or merge onto a table another writer gave another format or partitioning.
        SchemaConflictError: an append or merge meets a column of another type.
    """
    table, mode = entry["table"], entry["mode"]
    old_files: list[dict[str, Any]] = list(current["files"]) if current else []
    base = current["run_id"] if current else None
    if mode == "merge" and base != entry["base_run"]:
        raise ConflictError(
            f"table '{table}' was changed by run {base} after run {run_id} staged its merge"
        )
    if current is not None and mode != "replace":
        layout = (current.get("file_format"), list(current.get("partition_by") or ()))
        if layout != (entry["file_format"], list(entry["partition_by"])):
            # another writer replaced the table with another layout after this run staged
            raise ConflictError(
                f"table '{table}' was rewritten as {layout[0]} files partitioned by "
                f"{layout[1] or 'nothing'} by run {base} after run {run_id} staged its {mode}"
            )
    if mode == "replace" or current is None:
        files, superseded, columns = (
            entry["files"],
            [f["path"] for f in old_files],
            entry["columns"],
        )
    else:
        if mode == "merge":
            rewritten = set(entry["rewritten"])
            files = [f for f in old_files if f["path"] not in rewritten] + entry["files"]
            superseded = sorted(rewritten)
        else:
            files, superseded = old_files + entry["files"], []
        columns = evolved(table, current["columns"], entry["columns"])
    runs = [run_id, *(current.get("runs") or [])][:_RUNS_KEPT] if current else [run_id]
    cursors = dict(current.get("cursors") or {}) if current else {}
    if entry.get("high_water") is not None:
        cursors[pipeline] = entry["high_water"]
    return {
        "format": FORMAT,
        "version": VERSION,
        "table": table,
        "run_id": run_id,
        "previous_run_id": base,
        "pipeline": pipeline,
        "mode": mode,
        "committed_at": now,
        "file_format": entry["file_format"],
        "partition_by": entry["partition_by"],
        "columns": columns,
        "rows": table_rows(files),
        "files": files,
        "superseded": superseded,
        "cursors": cursors,
        "runs": runs,
    }


def applied(manifest: dict[str, Any] | None, run_id: str) -> bool:
    """Whether ``run_id``'s version of the table was published (it may be superseded since)."""
    return manifest is not None and run_id in (manifest.get("runs") or ())
