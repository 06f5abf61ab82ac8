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

Every table is checked against its current version before the intent is written (the
target's ``_entry``), so a commit that cannot apply copies nothing. A table another writer
changes after that check is skipped at step 2 (its copies deleted) and the error says which
tables were committed; an intent that cannot be finished at all is moved to
``_aoetl/failed/`` by the run that finds it, so it never blocks the runs after it.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...errors import AoetlError, TransientError, UserError
from ._manifest import MANIFEST, META, ConflictError, Store, applied, next_manifest

log = logging.getLogger("aoetl.s3")
_COPY_THREADS = 8  # copies are server-side: threads only wait on the store
_RACES = 5  # conditional manifest writes lost to other writers before giving up


def intent_key(run_id: str) -> str:
    return f"{META}publishing/{run_id}.json"


def failed_key(run_id: str) -> str:
    return f"{META}failed/{run_id}.json"


def commit_key(run_id: str) -> str:
    return f"{META}commits/{run_id}.json"


def staging_key(run_id: str) -> str:
    return f"{META}staging/{run_id}/"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def publish(store: Store, intent: dict[str, Any]) -> dict[str, int]:
    """Carry out ``intent`` (again, if a process was killed in it); rows loaded per table.

    Raises:
        ConflictError: another writer changed a table meanwhile so that this run's version no
            longer applies (its merge base, a column's type, the layout): that table is left
            as the other writer made it and its copies are deleted; the other tables are
            published, and the message says which were and which not. The intent is gone.
        TransientError: another writer kept changing a manifest (the intent stays: the next
            run finishes it).
    """
    run_id, pipeline = intent["run_id"], intent["pipeline"]
    copies = [(src, dest) for entry in intent["tables"] for src, dest in entry["copies"]]
    if copies:
        with ThreadPoolExecutor(min(_COPY_THREADS, len(copies))) as pool:
            list(pool.map(lambda pair: store.copy(*pair), copies))
    loaded: dict[str, int] = {}
    failed: dict[str, UserError] = {}
    for entry in intent["tables"]:
        try:
            manifest = _publish_table(store, entry, run_id, pipeline, intent["at"])
        except UserError as exc:  # ConflictError, SchemaConflictError: it no longer applies
            store.delete(dest for _, dest in entry["copies"])
            failed[entry["table"]] = exc
            continue
        if manifest is not None and manifest["run_id"] == run_id:
            table = entry["table"]
            store.delete(f"{table}/{path}" for path in manifest["superseded"])
        loaded[entry["table"]] = int(entry["rows"])
    if loaded or not failed:
        record = {"run_id": run_id, "pipeline": pipeline, "committed_at": now(), "tables": loaded}
        store.put_json(commit_key(run_id), record)
    # Committed: what is left is cleaning up, and a failure there must not make the run look
    # failed (a rerun of an append would load it twice); the next discard or run removes it.
    try:
        store.delete([intent_key(run_id)])
        store.delete_under(staging_key(run_id))
    except AoetlError as exc:
        log.warning("run %s committed; its staging was not removed: %s", run_id, exc)
    if failed:
        raise _incomplete(run_id, loaded, failed)
    return loaded


def _incomplete(run_id: str, loaded: dict[str, int], failed: dict[str, UserError]) -> ConflictError:
    first = next(iter(failed.values()))
    if not loaded:
        return ConflictError(
            f"{first}; nothing of run {run_id} was committed: run the pipeline again with "
            "--fresh to load into the table as it is now"
        )
    done, missed = _names(loaded), _names(failed)
    return ConflictError(
        f"{first}; run {run_id} committed {done} but not {missed}: load {missed} again on "
        f"its own (with --fresh), since running the whole pipeline again would load {done} "
        "a second time"
    )


def _names(tables: dict[str, Any]) -> str:
    return ", ".join(f"'{t}'" for t in tables)


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
    """Finish every commit a killed process left half done; what was done, as notes.

    A commit that cannot be finished (another writer changed its tables; its staged files are
    gone; the intent is damaged) never blocks the runs after it: its copies that no manifest
    holds are deleted, the intent moves to ``_aoetl/failed/`` and it is reported once.

    Raises:
        TransientError: the store failed meanwhile (the intent stays for the next run).
    """
    notes: list[str] = []
    for key, _ in store.objects(f"{META}publishing/"):
        found = store.get_json(key)
        if found is None:  # finished by another process meanwhile
            continue
        intent = found[0]
        run_id = str(intent.get("run_id") or key.rsplit("/", 1)[-1].removesuffix(".json"))
        try:
            publish(store, intent)
        except TransientError:
            raise
        except ConflictError as exc:  # published what still applied; the intent is gone
            notes.append(f"run {run_id}: {exc}")
            continue
        except Exception as exc:
            notes.append(_set_aside(store, key, run_id, intent, exc))
            continue
        notes.append(f"finished the commit of run {run_id}, which stopped while publishing")
    return notes


def _set_aside(store: Store, key: str, run_id: str, intent: dict[str, Any], exc: Exception) -> str:
    """Move an intent that cannot be carried out to ``_aoetl/failed/``, deleting the copies
    it made that no table's manifest holds."""
    reason = str(exc) or type(exc).__name__
    for entry in intent.get("tables") or ():
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            found = store.get_json(f"{entry['table']}/{MANIFEST}")
            if not applied(found[0] if found else None, run_id):
                store.delete(dest for _, dest in entry["copies"])
    aside = failed_key(run_id)
    store.put_json(aside, {**intent, "error": reason, "set_aside_at": now()})
    store.delete([key])
    store.delete_under(staging_key(run_id))
    log.warning("set aside the commit of run %s: %s", run_id, reason)
    return (
        f"run {run_id}: its commit could not be finished ({reason}); its tables are as they "
        f"were, and the intent was moved to {store.url(aside)}"
    )
