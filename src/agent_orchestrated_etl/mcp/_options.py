"""What a server may do: writes, raw samples, and how much one result may hold."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

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

    def check_write(self, what: str, target: str) -> None:
        """Raise a UserError unless ``what`` may write into ``target``."""
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
        if self.allow_targets and not any(fnmatchcase(target, g) for g in self.allow_targets):
            allowed = ", ".join(self.allow_targets)
            raise UserError(
                f"{what} would write into {shown}, which no --allow-target of this server "
                f"matches ({allowed}); restart it with --allow-target '{shown}' to allow it"
            )
