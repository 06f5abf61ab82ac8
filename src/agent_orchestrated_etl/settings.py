"""Where aoetl keeps its state, and which value of a run setting wins: one answer for every face.

The CLI, the Python API (and later the MCP server) all ask this module, so a setting means
the same thing wherever it is given. The precedence, first match wins:

1. the flag (a CLI option, or an argument of ``DataOrchestrator``);
2. the environment (``AOETL_*``);
3. the pipeline file;
4. the default (in the spec's models, or here for ``home`` and ``workers``).

Only the first two are decided here: a :class:`Settings` holds what the flags and the
environment gave, and :meth:`Settings.merge` lays it over a pipeline file's data, which then
validates with the spec's own defaults. Nothing here imports pydantic or the spec, so the
command line can read its settings before any heavy import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import UserError

DEFAULT_HOME = ".aoetl"
# A DuckDB connection made only to check SQL (a predicate, a pattern, a bound) must never reach
# the network: an unknown operator (`>>=` is inet's) would try to install an extension.
DUCKDB_OFFLINE: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

# Each setting the environment may give, its variable, and how its text is read.
ENV_VARS: dict[str, tuple[str, type]] = {
    "target": ("AOETL_TARGET", str),
    "mode": ("AOETL_MODE", str),
    "max_bad_rows": ("AOETL_MAX_BAD_ROWS", int),
    "timeout": ("AOETL_TIMEOUT", float),
    "workers": ("AOETL_WORKERS", int),
}
# Not a run setting: every StateStore of the process reads it (:func:`state_url`), so one run's
# history, checkpoints and DLQ are all in the one store, whichever layer opens it.
STATE_URL_VAR = "AOETL_STATE_URL"


def home(value: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The home given, else ``AOETL_HOME``, else ``./.aoetl`` (relative to the working
    directory, as every relative path a user gives)."""
    if value:
        return Path(value).expanduser()
    env = os.environ if env is None else env
    return Path(env.get("AOETL_HOME") or DEFAULT_HOME).expanduser()


def state_url(env: Mapping[str, str] | None = None) -> str | None:
    """``AOETL_STATE_URL``: the PostgreSQL database (a URL, or a ``${…}`` reference to one)
    that holds the state workers share; None keeps the state in the home (``state.db``)."""
    env = os.environ if env is None else env
    return env.get(STATE_URL_VAR, "").strip() or None


@dataclass(frozen=True)
class Settings:
    """The run settings that flags and the environment gave; None means "not given", so a
    pipeline file or the default decides."""

    home: Path
    target: str | None = None
    mode: str | None = None
    max_bad_rows: int | None = None
    timeout: float | None = None
    workers: int | None = None

    @classmethod
    def load(
        cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Flags (None or absent = not given) over ``AOETL_*`` in ``env`` (default
        ``os.environ``). An environment value that does not parse is a :class:`UserError`
        naming the variable; an unknown flag name is a programming error (``TypeError``)."""
        flags = dict(flags or {})
        unknown = set(flags) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        env = os.environ if env is None else env
        found: dict[str, Any] = {"home": home(flags.pop("home", None), env)}
        for name, (var, kind) in ENV_VARS.items():
            raw = env.get(var)
            if raw:
                try:
                    found[name] = kind(raw)
                except ValueError:
                    raise UserError(
                        f"{var}={raw!r} is not a valid {kind.__name__}; fix or unset it"
                    ) from None
        found.update({k: v for k, v in flags.items() if v is not None})
        return cls(**found)

    def with_flags(self, **flags: Any) -> Settings:
        """These settings with the flags given (not None) laid over them."""
        return replace(self, **{k: v for k, v in flags.items() if v is not None})

    def spec_fields(self) -> dict[str, Any]:
        """The settings that belong in a pipeline spec, under the spec's own names; only the
        ones given (``workers`` and ``home`` are about the process, not the pipeline)."""
        given = {
            "target": self.target,
            "mode": self.mode,
            "max_bad_rows": self.max_bad_rows,
            "timeout_s": self.timeout,
        }
        return {k: v for k, v in given.items() if v is not None}

    def merge(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A pipeline's data (as a file holds it) with these settings laid over it: a given
        setting wins over the file; the rest of the file stays as it is."""
        merged = dict(data)
        for name, value in self.spec_fields().items():
            if name == "target":
                target = merged.get("target")
                if isinstance(target, Mapping):
                    merged["target"] = {**target, "uri": value}
                else:
                    merged["target"] = {"uri": value}
            else:
                merged[name] = value
        return merged
