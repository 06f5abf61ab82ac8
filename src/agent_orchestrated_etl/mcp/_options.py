"""What a server may do: writes, raw samples, and how much one result may hold."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from ..errors import UserError, redact_uri

MAX_ROWS = 100  # the most rows (list items) one result lists, unless the server says more
MAX_CHARS = 40_000  # the most characters of JSON one result holds (~10k tokens)


@dataclass(frozen=True)
class ServerOptions:
    """How ``aoetl mcp`` was started.

    ``allow_write``: tools that write into a target (``run``, ``dlq_replay``, ``export_dag``
    with a path) are refused without it. ``allow_targets``: shell globs a target URI, as the
    pipeline writes it, must match (none: any target). ``allow_raw_samples``: ``sample`` may
    return rows without anonymising personal data. ``max_rows`` and ``max_chars`` bound every
    result.
    """

    allow_write: bool = False
    allow_targets: tuple[str, ...] = ()
    allow_raw_samples: bool = False
    max_rows: int = MAX_ROWS
    max_chars: int = MAX_CHARS

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise UserError(f"--max-rows {self.max_rows}: give at least 1")
        if self.max_chars < 1_000:
            raise UserError(f"--max-chars {self.max_chars}: give at least 1000")

    def check_write(self, what: str, target: str, *, base: Path | None = None) -> None:
        """Raise a UserError unless ``what`` may write into ``target`` (a relative path in it
        is relative to ``base``, by default the server's working directory)."""
        shown = redact_uri(target)
        if not self.allow_write:
            raise UserError(
                f"{what} would write into {shown}, and this server is read-only; restart it "
                f"with 'aoetl mcp --allow-write' (add --allow-target GLOB to allow only some "
                f"targets), or call {what} with dry_run"
                if what == "run"
                else f"{what} would write into {shown}, and this server is read-only; restart "
                f"it with 'aoetl mcp --allow-write'"
            )
        if self.allow_targets and not self._allowed(target, base or Path.cwd()):
            allowed = ", ".join(self.allow_targets)
            raise UserError(
                f"{what} would write into {shown}, which no --allow-target of this server "
                f"matches ({allowed}); restart it with --allow-target '{shown}' to allow it"
            )

    def _allowed(self, target: str, base: Path) -> bool:
        # A pipeline's relative target arrives anchored at its folder (duckdb:////srv/wh.duckdb),
        # a source's as written (duckdb:///wh.duckdb): both are compared anchored, against each
        # glob as written and anchored, so 'duckdb:///wh*' allows both and '..' cannot step out.
        where = _anchored(target, base)
        globs = {g for glob in self.allow_targets for g in (glob, _anchored(glob, base))}
        return any(fnmatchcase(where, g) for g in globs)


def _anchored(uri: str, base: Path) -> str:
    from ..spec.loader import anchor_uri

    try:
        return anchor_uri(uri, base)
    except UserError:  # not a URI aoetl reads: compared as written
        return uri
