"""Publishing a run's staged tables: the commit intent, the copies, the manifests.

S3 has no rename, so a commit is a sequence made restartable by its intent object
(``_aoetl/publishing/RUN_ID.json``), written before anything becomes visible:

1. server-side copy each staged file to its final key under ``TABLE/``;
2. write each table's ``_manifest.json``, only if it is still the version read (a conditional
   PUT: two writers never lose each other's version), which publishes the new version;
3. delete the files the new version superseded;
4. record ``_aoetl/commits/RUN_ID.json``, drop the intent and the run's staging.

A process killed anywhere in these steps leaves the intent, and every step can be done again:
the next run on the target finishes it first (roll forward: the staged data is complete), so
no version is lost and none is applied twice (a manifest remembers the runs it holds).
"""

from __future__ import annotations

import datetime
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...errors import TransientError
from ._manifest import MANIFEST, META, ConflictError, Store, applied, next_manifest

log = logging.getLogger("aoetl.s3")
_COPY_THREADS = 8  # copies are server-side: threads only wait on the store
_RACES = 5  # conditional manifest writes lost to other writers before giving up


def intent_key(run_id: str) -> str:
    return f"{META}publishing/{run_id}.json"


def commit_key(run_id: str) -> str:
    return f"{META}commits/{run_id}.json"


def staging_key(run_id: str) -> str:
    return f"{META}staging/{run_id}/"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def publish(store: Store, intent: dict[str, Any]) -> dict[str, int]:
    """Carry out ``intent`` (again, if a process was killed in it); rows loaded per table.

    Raises:
        ConflictError: a table's merge base changed meanwhile (another writer committed):
            that table is left as the other writer made it; the other tables are published.
        TransientError: another writer kept changing a manifest.
    """
    run_id, pipeline = intent["run_id"], intent["pipeline"]
    copies = [(src, dest) for entry in intent["tables"] for src, dest in entry["copies"]]
    if copies:
        with ThreadPoolExecutor(min(_COPY_THREADS, len(copies))) as pool:
            list(pool.map(lambda pair: store.copy(*pair), copies))
    loaded: dict[str, int] = {}
    conflict: ConflictError | None = None
    for entry in intent["tables"]:
        try:
            manifest = _publish_table(store, entry, run_id, pipeline, intent["at"])
        except ConflictError as exc:
            store.delete(dest for _, dest in entry["copies"])
            conflict = conflict or exc
            continue
        if manifest is not None and manifest["run_id"] == run_id:
            table = entry["table"]
            store.delete(f"{table}/{path}" for path in manifest["superseded"])
        loaded[entry["table"]] = int(entry["rows"])
    record = {"run_id": run_id, "pipeline": pipeline, "committed_at": now(), "tables": loaded}
    store.put_json(commit_key(run_id), record)
    store.delete([intent_key(run_id)])
    store.delete_under(staging_key(run_id))
    if conflict is not None:
        raise conflict
    return loaded


def _publish_table(
    store: Store, entry: dict[str, Any], run_id: str, pipeline: str, at: str
) -> dict[str, Any] | None:
    """Write the table's new manifest unless it holds this run already; the current one."""
    key = f"{entry['table']}/{MANIFEST}"
    for _ in range(_RACES):
        found = store.get_json(key)
        current, etag = found if found is not None else (None, None)
        if applied(current, run_id):
            return current
        manifest = next_manifest(current, entry, run_id, pipeline, at)
        if store.put_json(key, manifest, expect=etag):
            return manifest
        log.debug("manifest of %s changed while publishing run %s; again", entry["table"], run_id)
    raise TransientError(
        f"table '{entry['table']}': another writer kept changing {store.url(key)} while run "
        f"{run_id} published it; the next run on this target finishes the commit"
    )


def roll_forward(store: Store) -> list[str]:
    """Finish every commit a killed process left half done; what was finished, as notes."""
    notes: list[str] = []
    for key, _ in store.objects(f"{META}publishing/"):
        found = store.get_json(key)
        if found is None:  # finished by another process meanwhile
            continue
        intent = found[0]
        try:
            publish(store, intent)
        except ConflictError as exc:
            notes.append(f"run {intent['run_id']}: {exc}")
            continue
        notes.append(
            f"finished the commit of run {intent['run_id']}, which stopped while publishing"
        )
    return notes
