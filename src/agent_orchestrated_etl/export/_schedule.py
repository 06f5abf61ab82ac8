"""The schedule of an exported DAG: an Airflow preset, a five-field cron expression, or none.

Checked here, without Airflow, so a typo fails at export with one line instead of as an
import error in the scheduler's log.
"""

from __future__ import annotations

import re

from ..errors import UserError

PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly",
           "@yearly")  # fmt: skip
NONE = ("none", "None", "null")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# name, lowest, highest, names for the values from the lowest on
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_PART = re.compile(r"^(?:(?P<star>\*)|(?P<a>\w+)(?:-(?P<b>\w+))?)(?:/(?P<step>\d+))?$")


def check_schedule(text: str | None) -> str | None:
    """``text`` as the DAG's ``schedule``: a preset, a cron expression, or None for 'none'
    (triggered by hand or by an API call only).

    Raises:
        UserError: anything else, saying what is allowed.
    """
    if text is None or text.strip() in NONE:
        return None
    value = " ".join(text.split())
    if value in PRESETS:
        return value
    fields = value.split(" ")
    if value.startswith("@") or len(fields) != len(_FIELDS):
        raise UserError(
            f"schedule {text!r} is not one Airflow takes; give a cron expression of five "
            f"fields ('30 2 * * *'), one of {', '.join(PRESETS)}, or none"
        )
    for field, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in field.split(","):
            problem = _part_problem(part, low, high, names)
            if problem:
                raise UserError(f"schedule {text!r}: the {name} field {field!r} {problem}")
    return value


def _part_problem(part: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    match = _PART.match(part)
    if match is None:
        return "is not '*', a number, a range 'a-b' or a step '/n'"
    if match["step"] is not None and int(match["step"]) < 1:
        return "has a step of 0"
    if match["star"]:
        return None
    bounds = []
    for raw in (match["a"], match["b"]):
        if raw is None:
            continue
        if raw.isdigit():
            number = int(raw)
        elif raw.lower() in names:
            number = names.index(raw.lower()) + low
        else:
            return f"holds {raw!r}, not a number from {low} to {high}"
        if not low <= number <= high:
            return f"holds {raw}, outside {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"has the range {part!r} backwards"
    return None
