"""The reference syntax: ``${env:NAME}``, ``${env:NAME:-default}``, ``${file:PATH#key}``,
``${secret:vault:MOUNT/PATH#key}`` and ``${secret:aws:SECRET_ID#json_key}``.

A reference stands for a value that is looked up at the last moment, inside a connector. Specs,
run history, events and exported files keep the reference text, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from ..errors import REFERENCE_PATTERN, UserError

_REF = re.compile(REFERENCE_PATTERN)  # no brace inside: a run of "${" is rejected in linear time
PROVIDERS = ("env", "file", "vault", "aws")


@dataclass(frozen=True)
class Reference:
    """One parsed ``${…}`` reference.

    Attributes:
        text: the reference as written, e.g. ``${secret:vault:kv/app#password}``.
        provider: env, file, vault or aws.
        path: the variable name, file path, Vault path or AWS secret id.
        key: the part after ``#``: a key in a JSON/YAML/.env document, or None for the whole.
        default: for ``${env:NAME:-default}``, the value when NAME is unset.
    """

    text: str
    provider: str
    path: str
    key: str | None = None
    default: str | None = None


class SecretReferenceError(UserError):
    """A reference is malformed or names an unknown provider."""


def parse(text: str) -> Reference:
    """Parse one ``${…}`` reference."""
    match = _REF.fullmatch(text.strip())
    if not match:
        raise SecretReferenceError(f"{text!r} is not a reference like ${{env:NAME}}")
    body = match.group(0)[2:-1]
    kind, _, rest = body.partition(":")
    if kind == "env":
        name, sep, default = rest.partition(":-")
        if not name:
            raise SecretReferenceError(f"{text}: name the variable, as in ${{env:NAME}}")
        return Reference(text, "env", name, None, default if sep else None)
    if kind == "file":
        path, _, key = rest.partition("#")
        if not path:
            raise SecretReferenceError(f"{text}: name the file, as in ${{file:.env#KEY}}")
        return Reference(text, "file", path, key or None)
    if kind == "secret":
        provider, _, locator = rest.partition(":")
        if provider not in ("vault", "aws"):
            raise SecretReferenceError(
                f"{text}: unknown secret provider {provider!r}; known: vault, aws "
                f"(as in ${{secret:vault:kv/app#password}} or ${{secret:aws:prod/db#password}})"
            )
        path, _, key = locator.partition("#")
        if not path:
            raise SecretReferenceError(
                f"{text}: name the secret, as in ${{secret:{provider}:PATH#key}}"
            )
        return Reference(text, provider, path, key or None)
    raise SecretReferenceError(
        f"{text}: unknown reference kind {kind!r}; use env, file or secret "
        f"(${{env:NAME}}, ${{file:PATH#key}}, ${{secret:vault:PATH#key}}, ${{secret:aws:ID#key}})"
    )


def find(text: str) -> list[Reference]:
    """Every reference in ``text``, parsed."""
    return [parse(m.group(0)) for m in _REF.finditer(text)]


def has_refs(text: str) -> bool:
    return _REF.search(text) is not None


def without_refs(text: str) -> str:
    """``text`` with each reference masked by as many plain characters, so it parses as a URL
    and every position in it is the same as in ``text``."""
    return _REF.sub(lambda m: "x" * len(m.group(0)), text)


# scheme://userinfo@ : the userinfo ends at the last '@' before the path, query or fragment.
_USERINFO = re.compile(r"^[A-Za-z][\w+.-]*://(?P<info>[^/?#]*)@")


def substitute(text: str, lookup: dict[str, str]) -> str:
    """Replace each reference in ``text`` by ``lookup[reference text]``.

    A value that lands in a URL's user or password is percent-encoded, so a password with
    ``@``, ``/``, ``#`` or ``%`` in it (as secret stores hold them) still makes a valid URL.
    In the user position ``:`` is kept, so ``${env:CREDENTIALS}`` may hold ``user:password``.
    """
    info = _USERINFO.match(without_refs(text))
    lo, hi = info.span("info") if info else (0, 0)
    colon = info.group("info").find(":") if info else -1

    def value(m: re.Match[str]) -> str:
        raw = lookup[m.group(0)]
        if not (lo <= m.start() and m.end() <= hi):
            return raw
        in_password = 0 <= colon < m.start() - lo
        return quote(raw, safe="" if in_password else ":")

    return _REF.sub(value, text)
