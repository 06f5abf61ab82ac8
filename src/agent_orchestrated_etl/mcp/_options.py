"""What a server may do: writes, raw samples, and how much one result may hold."""

from __future__ import annotations

import os
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
    allow_secrets: tuple[str, ...] = ()
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

    def check_secrets(self, tool: str, arguments: object) -> None:
        """Raise a UserError for a ``${…}`` reference in ``arguments`` (strings at any depth,
        a pipeline's YAML text too) that no ``allow_secrets`` glob matches."""
        from ..secrets import find

        for text in _strings(arguments, decode=True):
            for ref in find(text):
                name = f"{'secret:' if ref.provider in ('vault', 'aws') else ''}{ref.provider}:"
                name += ref.path
                if not any(fnmatchcase(name, glob) for glob in self.allow_secrets):
                    raise UserError(
                        f"{tool}: {ref.text} is a secret this server does not resolve for its "
                        f"clients; restart it with --allow-secret '{name}' (or a glob such as "
                        f"'{name.rsplit(':', 1)[0]}:*') to let them use it"
                    )

    def _allowed(self, target: str, base: Path) -> bool:
        # Compared as the run will use it: references resolved, a local path anchored at the
        # server's folder, '..' and symlinks resolved; a server URL part by part (a '*' in a
        # glob's host never reaches into its path), with no query parameter moving it
        # elsewhere (libpq's ?host=, ?port=, ?dbname=…).
        from ..secrets import has_refs, resolve

        where = _place(resolve(target) if has_refs(target) else target, base)
        if where is None:
            raise UserError(
                f"{redact_uri(target)} could connect elsewhere than its host part says (a "
                f"?host=, ?port=, ?dbname= or ?user= in its query string, several hosts or "
                f"users, or an encoded socket folder), which a server with --allow-target "
                f"refuses; give one host, user and database in the URL itself"
            )
        return any(_matches(where, _place(glob, base, glob=True)) for glob in self.allow_targets)


# Query parameters with which a driver (libpq, SQLAlchemy) connects somewhere the URL's own
# host, port, database or user do not say.
_REDIRECTS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "database",
        "user",
        "service",
        "servicefile",
        "unix_socket",
    }
)


def _place(uri: str, base: Path, *, glob: bool = False) -> tuple[str, ...] | None:
    """(scheme, user, host, path) of a target or a glob, matched part by part so a '*' never
    crosses from one into another: a local file's absolute real path (no user, no host); a
    server's user (no password), ``host:port`` and path; None for a target whose query
    string or host part could take it elsewhere than it says."""
    from urllib.parse import parse_qsl, urlsplit

    from ..spec import target_kind
    from ..spec.uri import LOCAL_SCHEMES

    try:
        parsed = target_kind(uri, None)
    except UserError:
        return ("", "", "", uri)
    scheme = parsed.scheme.split("+")[0]
    if scheme in LOCAL_SCHEMES or "://" not in uri:
        if glob and parsed.path[:1] in ("*", "?", "["):
            return (scheme, "", "", parsed.path)  # duckdb:///*: every such file, anywhere
        path = os.path.join(base, os.path.expanduser(parsed.path))
        return (scheme, "", "", _real_glob(path) if glob else os.path.realpath(path))
    parts = urlsplit(uri)
    if not glob:
        asked = parse_qsl(parts.query, keep_blank_values=True)  # '?host=' redirects too
        if any(k.lower() in _REDIRECTS for k, _ in asked):
            return None
        # libpq reads 'h1,@h2' as a list of hosts and '%2F…' as a socket folder: a host part
        # a glob could be fooled by is refused, not matched.
        if parts.netloc.count("@") > 1 or any(c in parts.netloc.rsplit("@", 1)[-1] for c in ",%"):
            return None
    user, _, host = parts.netloc.rpartition("@")
    user = user.split(":", 1)[0]
    if glob and "@" not in parts.netloc:
        user = "*"  # a glob naming no user allows any
    return (parsed.scheme, user, host, parts.path)


def _real_glob(path: str) -> str:
    """A path glob with the folders before its first wildcard resolved as a target's are."""
    cut = min((i for i in (path.find(c) for c in "*?[") if i >= 0), default=len(path))
    head, rest = os.path.split(path[:cut])
    return os.path.join(os.path.realpath(head), rest + path[cut:])


def _matches(target: tuple[str, ...] | None, glob: tuple[str, ...] | None) -> bool:
    if target is None or glob is None:
        return False
    return all(fnmatchcase(t, g) for t, g in zip(target, glob, strict=True))


def is_document(text: str) -> bool:
    """Whether a tool's string argument is a YAML or JSON document (a pipeline's text) rather
    than a path or a URL."""
    return "\n" in text or text.lstrip()[:1] in ("{", "[")


def _strings(value: object, *, decode: bool = False) -> list[str]:
    """Every string in ``value``, keys too; with ``decode``, also every string of a text that
    is a YAML or JSON document (a pipeline), as the tool will read it: escapes such as
    ``"\x24{…}"`` or ``"\u0024{…}"`` and anchors make a reference only once decoded."""
    if isinstance(value, str):
        found = [value]
        if decode and is_document(value):
            import yaml

            try:
                document = yaml.safe_load(value)
            except yaml.YAMLError:
                return found  # the tool refuses it as it is
            if not isinstance(document, str):
                found += _strings(document)
        return found
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v, decode=decode))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v, decode=decode)]
    return []
