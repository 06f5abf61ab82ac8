"""Redaction: passwords in URLs, query strings and DSNs (:func:`redact_uri`, by patterns that
run in linear time), and the registry of resolved secret values that :func:`redact` masks.

It lives in the lowest layer, beside the exception tree, so that an error's message and a
driver error's classification mask secrets without importing a higher layer.
"""

from __future__ import annotations

import re
import threading

# A ${…} reference names a secret without holding it, so redaction keeps it as written. No
# brace inside: a run of unclosed "${" is then rejected in linear time.
REFERENCE_PATTERN = r"\$\{[^{}]+\}"
MASK = "***"


def _part(stop: str) -> str:
    """A URL part up to one of ``stop``, a whole reference counting as one character, written
    as normal* (special normal*)* so the alternatives exclude each other ('$' opens a
    reference or stands alone) and backtracking stays linear."""
    normal = rf"[^$\s{stop}]*"
    return rf"{normal}(?:(?:{REFERENCE_PATTERN}|\$(?!{REFERENCE_PATTERN[2:]})){normal})*"


# The password in a URL's userinfo (after "user:") runs to the last '@' before the path, as
# urlsplit reads it. Each attempt starts at a "://" (a fast literal scan) and ends by the
# next '/', so attempts never overlap and the whole search is linear.
_PASSWORD_IN_URI = re.compile(rf"://{_part(':/?#@')}:(?!@)(?P<secret>{_part('/?#')})@")


# key=value, in a query string (between '?' or '&' and the next '&') or a libpq DSN (a word
# or a quoted string). Keys are found in the reversed text, lowered as ASCII bytes so every
# index still matches: there each attempt starts at an '=' (a fast literal scan) and reads
# the key forwards, so no attempt rescans the text. A query key (one of _QUERY_KEYS right
# after ? & or ;) has a value up to & # or "; any other key ending in a DSN suffix
# (client_secret, PGPASSWORD) takes the next word or quoted string, as libpq reads it.
QUERY_SECRET_KEYS = _QUERY_KEYS = frozenset(
    ("password", "passwd", "pwd", "token", "access_token", "secret", "api_key", "apikey",
     "key", "sslpassword")
)  # fmt: skip
_KEY_REVERSED = re.compile(
    rb"=(?=[dnty \t])(?P<gap>[ \t]?)"  # every key ends in d n t or y: most "=" stop here
    rb"(?:d(?:rowssap|wssap|wp)|nekot|terces|yek(?:ipa|[_-]ipa|(?=[?&;])))[\w.-]*"
)
_QUERY_VALUE = re.compile("(?P<secret>" + _part('&#"') + ")")  # '"' is never bare in a URL
_DSN_VALUE = re.compile(r"""[ \t]*(?P<secret>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|\S*)""")
# What may stand where a secret goes: nothing, the mask, or references (with the quotes or
# punctuation around them that a whitespace-delimited DSN value swallows).
_NOT_SECRET = re.compile(rf"""(?:['"]?(?:{REFERENCE_PATTERN})+['",;)\]}}]*|\*\*\*)?""")


def _mask_userinfo(match: re.Match[str]) -> str:
    start, end = match.span("secret")
    if _NOT_SECRET.fullmatch(match.string, start, end):
        return match.group(0)
    whole = match.group(0)
    return whole[: start - match.start()] + MASK + whole[end - match.start() :]


def _mask_key_values(text: str) -> str:
    size = len(text)
    # Where each key's '=' is, in the text's order; plain ints, so a text with a million keys
    # keeps no million match objects alive.
    keys = [
        (size - 1 - key.start(), size - key.end(), not key.group("gap"))
        for key in _KEY_REVERSED.finditer(text[::-1].encode("ascii", "replace").lower())
    ]
    out: list[str] = []
    done = 0
    for equals, first, no_gap in reversed(keys):
        if equals < done:
            continue  # inside a value masked already: never scanned twice, so linear
        query = (
            no_gap
            and text[first - 1 : first] in ("?", "&", ";")
            and text[first:equals].lower() in _QUERY_KEYS
        )
        value = (_QUERY_VALUE if query else _DSN_VALUE).match(text, equals + 1)
        assert value is not None  # both match the empty string
        start, end = value.span("secret")
        if not _NOT_SECRET.fullmatch(text, start, end):
            out += (text[done:start], MASK)
            done = end
    return "".join(out) + text[done:] if out else text


def redact_uri(text: str) -> str:
    """``text`` with every password in it replaced by ``***``: in a URL's userinfo
    (``scheme://user:***@host``), in a query parameter (``?password=***``, ``token``,
    ``api_key``…) and in a DSN (``host=x password=*** dbname=y``). ``${…}`` references are
    kept. Linear in the length of ``text``: it runs on every line aoetl writes."""
    # One-character tests first (memchr speed): most text holds neither shape.
    if "@" in text and "/" in text and ":" in text:
        text = _PASSWORD_IN_URI.sub(_mask_userinfo, text)
    if "=" in text:
        text = _mask_key_values(text)
    return text


# The secret values resolved so far, longest first so a value holding another is masked whole;
# replaced, never changed in place, so a reader needs no lock. They live here, not in
# secrets/, so that the classifiers (_classify) mask them without importing a higher layer.
_SECRET_VALUES: tuple[str, ...] = ()
_SECRETS_LOCK = threading.Lock()
_MIN_SECRET = 4  # shorter values would mask ordinary text ("1", "yes")


def register_secret(value: str) -> None:
    """Mask ``value`` from now on in everything :func:`redact` returns."""
    global _SECRET_VALUES
    if len(value) < _MIN_SECRET:
        return
    with _SECRETS_LOCK:
        if value not in _SECRET_VALUES:
            _SECRET_VALUES = tuple(sorted((*_SECRET_VALUES, value), key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret and every password (in a URL's userinfo or query
    string, or in a DSN) replaced by ``***``. Linear in the length of ``text``: one C-speed
    substring search per registered value (a run registers a few), then :func:`redact_uri`."""
    for value in _SECRET_VALUES:
        if value in text:
            text = text.replace(value, MASK)
    return redact_uri(text)
