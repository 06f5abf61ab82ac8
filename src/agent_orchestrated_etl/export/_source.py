"""Python source text for a DAG file: string and data literals, text shown outside a literal
(the docstring), and the durations Airflow turns into ``timedelta`` when it imports the file.

Every literal is checked here as it is made, so a value that Python or Airflow would refuse
(a NaN, a duration past ``timedelta``'s range) is an error at export, never an import error
in the scheduler's log.
"""

from __future__ import annotations

import datetime
import json
import math
import unicodedata
from typing import Any

from ..errors import UserError

INLINE = 80  # a list of scalars this short stays on one line
# Past this, a duration is a typo (and Airflow caps a retry delay at a day by default).
MAX_SECONDS = 30 * 24 * 3600.0
# Control, surrogate, line/paragraph separator and format characters (bidi overrides among
# them): text that could end a line, change how the file reads, or not encode as UTF-8.
_HIDDEN = frozenset(("Cc", "Cs", "Zl", "Zp", "Cf"))
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def q(text: str) -> str:
    """A Python string literal in double quotes (JSON's escapes are Python's too), with every
    invisible character escaped: a bidi override cannot make the file read otherwise than it
    runs, and a lone surrogate cannot stop it encoding as UTF-8."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # nothing to escape: most ids and names, and much faster
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted if quoted.isprintable() else _escaped(quoted)


def _escaped(text: str, keep: str = "") -> str:
    out = []
    for char in text:
        if char in keep or unicodedata.category(char) not in _HIDDEN:
            out.append(char)
        elif char in _SHORT:
            out.append(_SHORT[char])
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


def shown(text: str, keep: str = "") -> str:
    """``text`` with every control or invisible character (but those in ``keep``) written as
    a visible escape (``\\x00``, ``\\u202e``): for text read by people (a docstring, a tag, a
    task's doc), which must neither break the file nor reach Airflow's database as is."""
    plain = text
    for char in keep:
        plain = plain.replace(char, "")
    return text if plain.isprintable() else _escaped(text, keep)


def literal(value: Any, indent: int) -> str:
    """``value`` (JSON data) as Python source, four spaces a level."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = "".join(
            f"{inner}{q(str(k))}: {literal(v, indent + 4)},\n" for k, v in value.items()
        )
        return "{\n" + items + pad + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if all(isinstance(v, str | int | float) for v in value):
            inline = "[" + ", ".join(literal(v, 0) for v in value) + "]"
            if len(inline) + indent <= INLINE:
                return inline
        items = "".join(f"{inner}{literal(v, indent + 4)},\n" for v in value)
        return "[\n" + items + pad + "]"
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"cannot embed the number {value} in a DAG file")
    if isinstance(value, str):
        return q(value)
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    raise UserError(f"cannot embed a {type(value).__name__} in a DAG file")


def check_seconds(value: float, setting: str) -> float:
    """``value`` if it is a duration Airflow can hold.

    Raises:
        UserError: above 30 days (or not a finite number), naming ``setting``.
    """
    if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        raise UserError(
            f"{setting} is {value:g} seconds, more than the 30 days ({MAX_SECONDS:.0f} s) an "
            f"exported DAG takes; give {setting} in seconds, at most {MAX_SECONDS:.0f}"
        )
    return value


def seconds(value: float) -> str:
    """``datetime.timedelta(seconds=value)`` as source, made here once so that Airflow's
    import cannot be the first to fail on it."""
    try:
        datetime.timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise UserError(f"{value:g} seconds is not a duration Python can hold") from None
    return f"datetime.timedelta(seconds={value!r})"
