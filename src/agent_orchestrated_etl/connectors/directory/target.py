"""A directory of Parquet or CSV files as a destination, committed by atomic symlink swaps.

Layout: ``ROOT/TABLE`` is a symlink to ``ROOT/.aoetl/TABLE/RUN_ID/``, which holds the table's
files. A run writes a new version directory (append hard-links the old files into it; merge
rewrites them), and finishes it with a ``_CHECKPOINT`` file written by rename: a version
directory with that file is complete, and a resumed run skips it. Commit points each symlink
at its new version with one ``rename``, so readers see the old table or the new one, never a
mix; then it records ``ROOT/.aoetl/_commits/RUN_ID`` and removes versions no longer current.

One process at a time writes a table: a run holds ``flock`` on ``ROOT/.aoetl/TABLE/`` from its
first write of the table until commit, discard or close, so a second writer never sees (or
removes) a half-made version, and an append always builds on the version committed last.
Table names are checked before anything is created and every path must resolve under ROOT.
A run that fails as a rerun would (not interrupted) drops its versions at close; a run that
commits nothing removes the folders it made.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from ...data.duck import (
    BadRow,
    Relation,
    connect,
    describe,
    key_match,
    last_per_key,
    quote_literal,
    unique_name,
)
from ...errors import (
    AoetlError,
    FatalError,
    NotSupportedError,
    TransientError,
    UserError,
    classify_duckdb,
)
from .._schema import plan_evolution, shown
from ..base import Checkpoint, LoadResult, StagedTable

_MARK = "_CHECKPOINT"
_RESERVED = ("_commits",)  # aoetl's own folder beside the tables' versions in ROOT/.aoetl
# A file name holds 255 bytes; the commit's temporary link adds a run id to the table's name.
_MAX_NAME_BYTES = 200
_POLL_S = 0.05


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a file or folder name in a target folder, or None if it can."""
    if not name:
        return "it is empty"
    if any(ord(c) < 32 for c in name):
        return "it contains a control character"
    for bad in ("/", "\\", ".."):
        if bad in name:
            return f"it contains {bad!r}"
    if name.startswith("."):
        return "it starts with '.'"
    if name.casefold() in _RESERVED:
        return f"aoetl keeps its own {name!r} folder there"
    if len(name.encode()) > _MAX_NAME_BYTES:
        return f"it is longer than {_MAX_NAME_BYTES} bytes"
    return None


class DirectoryDestination:
    """Writes each table as files under ``ROOT/TABLE/`` in ``fmt`` ('parquet' or 'csv')."""

    endpoint: str | None = None

    def __init__(
        self,
        root: str,
        fmt: str = "parquet",
        *,
        home: Path | None = None,
        lock_timeout: float | None = None,
    ) -> None:
        if fmt not in ("parquet", "csv"):
            raise UserError(f"directory targets write parquet or csv, not {fmt!r}")
        self.root = Path(root).expanduser()
        self.fmt = fmt
        self.display = f"{fmt}:///{root}"
        self.run_id = ""
        self.pipeline = ""
        self._home = home
        self._lock_timeout = lock_timeout
        self._held: dict[str, int] = {}  # table -> the open folder its flock is held on
        self._mutex = threading.Lock()  # tables load on several threads
        self._created: Path | None = None  # the first folder of ROOT's path this run makes
        self._failed = False  # a write failed in a way a rerun would repeat

    def begin(self, run_id: str, pipeline: str) -> None:
        # Nothing is created here: a run that fails before writing leaves no folder behind.
        self.run_id, self.pipeline = run_id, pipeline
        if self.root.exists() and not self.root.is_dir():
            raise UserError(
                f"{self.root} is a file, not a folder; point --to at a folder (parquet:///lake)"
            )
        if self._home is not None and self._meta().resolve() == self._home.resolve():
            raise UserError(
                f"the target folder {self.root} would keep its bookkeeping in AOETL_HOME "
                f"({self._home}); load into a subfolder (--to parquet:///lake) or move AOETL_HOME"
            )
        self._created = _first_missing(self.root)

    def close(self) -> None:
        if self._failed and not self.committed():
            self.discard()  # releases the locks too
        self._release()

    def validate_table(self, table: str) -> None:
        """Refuse a table name that is not one plain folder name under ROOT (exit 2)."""
        problem = name_problem(table)
        if problem is not None:
            shown = repr(table if len(table) <= 60 else table[:57] + "...")
            raise UserError(
                f"table name {shown} cannot be a folder in {self.display}: {problem}; "
                f"choose another name (--table, or 'table' in the pipeline file)"
            )

    def _meta(self) -> Path:
        return self.root / ".aoetl"

    def _version(self, table: str) -> Path:
        return self._meta() / table / self.run_id

    def _inside(self, path: Path) -> Path:
        """``path``, once checked to resolve under ROOT (a symlinked .aoetl could lead away)."""
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise UserError(
                f"{path} leads outside the target folder {root}; remove the link or pick "
                f"another target"
            )
        return path

    def _link(self, table: str) -> Path:
        link = self.root / table
        if link.exists() and not link.is_symlink():
            raise UserError(
                f"{link} exists and was not written by aoetl; move it away or pick another target"
            )
        return link

    # -- one writer per table ----------------------------------------------------------------
    def _hold(self, table: str) -> None:
        """Take the table's lock, waiting up to the lock timeout; kept until commit or close."""
        with self._mutex:
            if table in self._held:
                return
        folder = self._inside(self._meta() / table)
        deadline = time.monotonic() + (self._lock_timeout or 0.0)
        while True:
            fd = _open_folder(folder)
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                else:
                    if _still_there(fd, folder):
                        with self._mutex:
                            self._held[table] = fd
                        return
                    os.close(fd)  # removed by a run that tidied up; lock the new folder
                    continue
            if time.monotonic() >= deadline:
                raise self._busy(table)
            time.sleep(_POLL_S)

    def _busy(self, table: str) -> UserError:
        where = f"table '{table}' in {self.display}"
        if self._lock_timeout:
            return UserError(
                f"{where} was still being written by another process after "
                f"{self._lock_timeout:g} s; run again, or wait longer (--lock-timeout)"
            )
        return UserError(
            f"{where} is being written by another process; let it finish and run again, "
            f"or wait for it with --lock-timeout SECONDS"
        )

    def _release(self) -> None:
        """Drop every lock; folders this run made and left empty go too."""
        with self._mutex:
            held, self._held = self._held, {}
        for table, fd in held.items():
            with contextlib.suppress(OSError):
                os.rmdir(self._meta() / table)  # only while locked, and only if empty
            os.close(fd)  # closing releases the flock
        with contextlib.suppress(OSError):
            os.rmdir(self._meta())
        if self._created is not None:
            folder = self.root.absolute()
            while folder.is_relative_to(self._created):
                try:
                    os.rmdir(folder)
                except OSError:
                    break
                folder = folder.parent

    def checkpoints(self) -> dict[str, Checkpoint]:
        found: dict[str, Checkpoint] = {}
        if self.committed():  # the marks stay in the committed versions; they are spent
            return found
        for mark in self._meta().glob(f"*/{self.run_id}/{_MARK}"):
            data = json.loads(mark.read_text())
            found[data["table"]] = Checkpoint(
                data["table"], data["fingerprint"], data["rows"], data["bad_rows"]
            )
        return found

    def committed(self) -> bool:
        return (self._meta() / "_commits" / self.run_id).exists()

    def cursor(self, table: str) -> str | None:
        return None

    def _files(self, folder: Path) -> list[Path]:
        return sorted(folder.glob(f"*.{self.fmt}"))

    def _scan(self, files: list[Path]) -> str:
        names = "[" + ", ".join(quote_literal(str(f)) for f in files) + "]"
        if self.fmt == "parquet":
            return f"SELECT * FROM read_parquet({names}, union_by_name=true)"
        return f"SELECT * FROM read_csv({names}, union_by_name=true, header=true)"

    def _copy(self, con: duckdb.DuckDBPyConnection, sql: str, dest: Path) -> int:
        options = (
            "FORMAT parquet, COMPRESSION zstd" if self.fmt == "parquet" else "FORMAT csv, HEADER"
        )
        row = con.execute(f"COPY ({sql}) TO {quote_literal(str(dest))} ({options})").fetchone()
        return int(row[0]) if row else 0

    def write(
        self,
        table: str,
        relation: Relation,
        *,
        mode: str,
        key: tuple[str, ...],
        fingerprint: str,
        record_bad: Callable[[list[BadRow]], None],
        on_cancel: Callable[[Callable[[], None]], None] | None = None,
        cursor_column: str | None = None,
    ) -> LoadResult:
        if cursor_column is not None:
            raise NotSupportedError(
                "incremental loads keep their high-water mark in a database target (DuckDB, "
                "PostgreSQL, SQLite); a Parquet or CSV folder cannot hold it yet"
            )
        self.validate_table(table)
        self._hold(table)
        link = self._link(table)
        version = self._inside(self._version(table))
        if link.is_symlink() and link.resolve() == version.resolve():
            raise UserError(
                f"run {self.run_id} was committed meanwhile by another process; "
                f"see 'aoetl runs', and start a new run with --fresh"
            )
        if version.exists():
            shutil.rmtree(version)  # an unfinished attempt of this run
        version.mkdir()
        old_files = self._files(link) if link.exists() else []  # read under the lock
        con = connect(home=self._home)
        try:
            if on_cancel is not None:  # raises if already cancelled: cleaned up below
                on_cancel(con.interrupt)
            relation.attach(con)
            part = version / f"part-{self.run_id}.{self.fmt}"
            added: tuple[str, ...] = ()
            widened: tuple[str, ...] = ()
            if old_files and mode != "replace":
                evolution = plan_evolution(
                    table, describe(con, self._scan(old_files)), describe(con, relation.sql)
                )
                added = tuple(n for n, _ in evolution.add)
                widened = tuple(n for n, _ in evolution.widen)
            if mode == "merge" and old_files:
                rows = self._merge(con, relation.sql, old_files, key, part)
            else:
                if mode == "append":
                    for f in old_files:
                        _link_or_copy(f, version / f.name)
                rows = self._copy(con, relation.sql, part)
            bad = relation.bad_rows()
            record_bad(bad)
            _write_atomic(
                version / _MARK,
                {"table": table, "fingerprint": fingerprint, "rows": rows, "bad_rows": len(bad)},
            )
        except BaseException as exc:
            con.close()
            shutil.rmtree(version, ignore_errors=True)  # unfinished: nothing to resume from
            error = exc
            if isinstance(exc, duckdb.Error):  # classified as the DuckDB target does
                error = relation.stream_error() or classify_duckdb(exc, f"table {shown(table)}")
            # A rerun would meet the same error: the run's other tables go at close. An
            # interruption, an outage or a disk error keeps them for a resume.
            self._failed = self._failed or (
                isinstance(error, AoetlError)
                and not isinstance(error, TransientError)
                and not isinstance(exc, (duckdb.InterruptException, duckdb.IOException))
            )
            if error is exc:
                raise
            raise error from exc
        con.close()
        return LoadResult(table, self.display, rows, bad, relation.fused, added, widened)

    def _merge(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        old_files: list[Path],
        key: tuple[str, ...],
        dest: Path,
    ) -> int:
        stage = unique_name("stage")
        con.execute(f"CREATE TEMP TABLE {stage} AS {last_per_key(sql, key)}")
        on = key_match("o", "s", key)
        # The rows kept from the old version and the incoming rows go to separate files, so
        # the part file holds exactly what this run staged (see staged()).
        kept = dest.with_name(f"kept-{self.run_id}.{self.fmt}")
        old = f"SELECT o.* FROM ({self._scan(old_files)}) o ANTI JOIN {stage} s ON {on}"
        if self._copy(con, old, kept) == 0:
            kept.unlink()  # every old row was replaced (an empty CSV would read as text)
        return self._copy(con, f"SELECT * FROM {stage}", dest)

    def commit(self, tables: list[StagedTable]) -> dict[str, int]:
        for staged in tables:  # a table staged by an earlier attempt is not locked yet
            self.validate_table(staged.table)
            self._hold(staged.table)
        loaded: dict[str, int] = {}
        marks = self.checkpoints()
        for staged in tables:
            version = self._version(staged.table)
            link = self.root / staged.table
            tmp = self.root / f".{staged.table}.{self.run_id}.link"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(os.path.relpath(version, self.root), tmp)
            os.replace(tmp, link)  # atomic: readers see the old version or the new one
            loaded[staged.table] = marks[staged.table].rows if staged.table in marks else 0
        commits = self._meta() / "_commits"
        commits.mkdir(parents=True, exist_ok=True)
        (commits / self.run_id).write_text(self.pipeline)
        for staged in tables:
            current = self._version(staged.table)
            for old in current.parent.iterdir():
                if old != current:
                    shutil.rmtree(old, ignore_errors=True)
        self._release()
        return loaded

    def staged(self, table: str) -> Relation:
        """The part file this run wrote for ``table``: the incoming rows, in any mode."""
        self.validate_table(table)
        version = self._inside(self._version(table))
        part = version / f"part-{self.run_id}.{self.fmt}"
        # After the commit the version is the table itself: nothing is staged any more.
        if self.committed() or not (version / _MARK).exists() or not part.exists():
            raise FatalError(f"table '{table}' has nothing staged in run {self.run_id}")
        return Relation(self._scan([part]))

    def discard(self) -> None:
        if self.committed():  # its versions are the tables now, not staging
            self._release()
            return
        for version in self._meta().glob(f"*/{self.run_id}"):
            if version.parent.name != "_commits":
                shutil.rmtree(version, ignore_errors=True)
        self._release()


def _write_atomic(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _first_missing(path: Path) -> Path | None:
    """The outermost folder on ``path`` that does not exist yet (None if ``path`` exists)."""
    missing = None
    folder = path.absolute()
    while not folder.exists() and folder != folder.parent:
        missing, folder = folder, folder.parent
    return missing


def _open_folder(folder: Path) -> int | None:
    """An open descriptor of ``folder`` (made if missing) to flock, or None to try again."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return None  # another run removed an empty parent between the two steps
    except OSError as exc:
        raise UserError(
            f"cannot write {folder}: {exc.strerror}; choose another target folder"
        ) from exc


def _still_there(fd: int, folder: Path) -> bool:
    """Whether the locked descriptor is still the folder at that path."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(folder))
    except FileNotFoundError:
        return False
