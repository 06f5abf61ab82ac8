"""A proposed pipeline as YAML with comments: what was inferred, and why, beside each setting.

PyYAML writes no comments, so the file is put together from one ``safe_dump`` per top-level
key (and per table under ``tasks:``), with the comment lines between them. Whatever the
comments hold (column names, file names, issue details) stays on ``#`` lines: a newline in
it is folded, so it can never become YAML.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

_WIDTH = 96


def commented_yaml(
    document: dict[str, Any],
    comments: dict[str, list[str]],
    checks: Sequence[tuple[str, dict[str, Any]]] = (),
) -> str:
    """``document`` as YAML, each key preceded by its comments (see ``Proposal.comments``).

    Its ``checks:`` are written one check a line. ``checks`` (table, check) pairs from a
    proposer that does not put them in the document are written commented out at the end,
    each saying its table."""
    lines = _comment(comments.get("", []), 0)
    for key, value in document.items():
        lines += _comment(comments.get(key, []), 0)
        if key == "tasks" and isinstance(value, dict) and value:
            lines.append("tasks:")
            for table, options in value.items():
                lines += _comment(comments.get(f"tasks.{table}", []), 2)
                lines += ["  " + line for line in _dump({table: options})]
        elif key == "checks" and isinstance(value, list) and value:
            lines.append("checks:")
            lines += [f"  - {_flow(check)}" for check in value]
        else:
            lines += _dump({key: value})
    if checks:
        lines += _comment(comments.get("checks", []), 0)
        lines.append("# checks:")
        for table, check in checks:
            entry = _flow(check)
            lines.append(f"#   - {entry}  # table {json.dumps(table, ensure_ascii=True)}")
    return "\n".join(lines) + "\n"


def _flow(check: dict[str, Any]) -> str:
    # JSON is YAML's flow style; ASCII-only, every character a YAML reader takes for a line
    # break (\n, \x85, \u2028, \u2029) is escaped: one line, whatever a name holds.
    return json.dumps(check, ensure_ascii=True)


def _dump(value: dict[str, Any]) -> list[str]:
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=_WIDTH)
    return text.rstrip("\n").splitlines()


def _comment(texts: list[str], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for text in texts:
        flat = " ".join(text.split())  # one line, whatever the text held
        out += [f"{pad}# {line}".rstrip() for line in _wrap(flat, _WIDTH - indent - 2)]
    return out


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` (a longer word keeps its own line); continued
    lines are indented so a reader sees they belong together."""
    import textwrap

    return textwrap.wrap(
        text, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    ) or [""]
