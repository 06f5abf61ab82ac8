"""Anonymising a sample: which columns hold personal data, and replacing their values.

Columns are suspected by name (:func:`analysis.pii.by_name`) and by their sampled values
(:data:`analysis.pii.VALUE_PATTERNS`, matched in DuckDB), or listed by the user. Each value
is replaced by one of:

- ``hash``: HMAC-SHA256 of the value's text keyed with the salt, hex, the first
  :data:`HASH_CHARS` characters. The same value gives the same token, so joins still work.
- ``mask``: the value's shape with its content hidden (``j***@e******.com``); irreversible.
- ``fake``: a value of the same kind and format from Faker, seeded by the value's HMAC, so the
  same value gets the same fake in every table and sample drawn with the same salt.

STRUCT, LIST, MAP, UNION, JSON and BLOB columns are walked value by value: what sits under a
field or key named like personal data, and text that is (or, for emails and SSNs, holds) such
a value, is replaced where it stands; a value whose replacement no longer fits the column's
type is written whole as JSON text (said in the result).

Hashes and fakes are pseudonymous: whoever holds the salt can test a guessed value. Values of
these columns never reach a message, a log line or an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ..analysis.pii import PYTHON_PATTERNS, SPECIFICITY, by_name, luhn
from ..data.duck import quote_ident, unique_name
from ..errors import FatalError, UserError
from ..secrets import has_refs, register, resolve
from ._detect import detect

if TYPE_CHECKING:
    from faker import Faker

METHODS = ("fake", "hash", "mask")
HASH_CHARS = 16  # 64 bits of the HMAC: no two values of a sample share a token in practice
SALT_FILE = "sample.salt"
SALT_ENV = "AOETL_SAMPLE_SALT"
_FAKER: list[Faker] = []
_PLACES = 6  # places named in a nested column's note
# The patterns in Python's dialect; emails and SSNs are also found inside other text.
_WHOLE = {kind: re.compile(pattern) for kind, pattern in PYTHON_PATTERNS.items()}
_INSIDE = re.compile(
    rf"(?P<email>{PYTHON_PATTERNS['email']})|(?<![0-9-])(?P<ssn>{PYTHON_PATTERNS['ssn']})(?![0-9-])"
)


def anonymize_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    pii: tuple[str, ...],
    how: str,
    salt: str | None,
    home: Path,
) -> tuple[str, dict[str, str]]:
    """``table`` (a sample) with its personal data replaced ``how``: the new table's quoted
    name, and per column how it was anonymised ("fake (email)")."""
    columns = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
    names = [name for name, _ in columns]
    kinds, partial = detect(con, table, columns)
    pii_columns: set[str] = set()
    for listed in pii:
        found = next((n for n in names if n == listed), None) or next(
            (n for n in names if n.lower() == listed.lower()), None
        )
        if found is None:
            raise UserError(f"--pii {listed}: no such column; the columns: {', '.join(names)}")
        kinds.setdefault(found, None)
        pii_columns.add(found)
    if not kinds and not any(nested(t) for _, t in columns):
        return table, {}
    key = salt_key(salt, home) if how != "mask" else b""  # a mask keeps no key: nothing to undo
    data = con.execute(f"SELECT * FROM {table}").to_arrow_table()  # the sample: rows bounded
    replacer = _Replacer(how, key)
    done: dict[str, str] = {}
    json_columns = [name for name, type_ in columns if type_ == "JSON"]
    for name, type_ in columns:
        if name not in kinds and not nested(type_):
            continue
        index = data.schema.get_field_index(name)
        try:
            if name in partial and name not in pii_columns:
                array, as_text = _replace_matching(replacer, data.column(index), name)
                note = f"{kinds[name]}, the matching values{', written as text' if as_text else ''}"
            elif nested(type_):
                changed = _replace_nested(
                    replacer, data.column(index), name, type_, kinds, name in pii_columns
                )
                if changed is None:
                    continue
                array, note = changed
            else:
                kind = kinds[name]
                array, as_text = _replace(replacer, data.column(index), name, kind)
                note = f"{kind or 'listed'}, written as text" if as_text else kind or "listed"
        except Exception as exc:  # the message could quote a value: name only its type
            raise FatalError(
                f"could not anonymise column {name} by {how}: {type(exc).__name__}"
            ) from None
        data = data.set_column(index, pa.field(name, array.type), array)
        done[name] = f"{how} ({note})"
    if not done:
        return table, {}
    view, out = unique_name("anonymized"), quote_ident(unique_name("anonymized"))
    # Arrow carries JSON as text: it is JSON again in the sample.
    typed = ", ".join(f"CAST({quote_ident(c)} AS JSON) AS {quote_ident(c)}" for c in json_columns)
    con.register(view, data)
    try:
        con.execute(
            f"CREATE TEMP TABLE {out} AS SELECT * {f'REPLACE ({typed})' if typed else ''} "
            f"FROM {quote_ident(view)}"
        )
    finally:
        con.unregister(view)
    con.execute(f"DROP TABLE {table}")
    return out, done


def salt_key(salt: str | None, home: Path) -> bytes:
    """The salt: ``salt`` (a ``${…}`` reference is resolved), else ``AOETL_SAMPLE_SALT``, else
    a random one made once in ``home``/sample.salt (mode 0600), so a workspace's samples agree.
    """
    given = salt if salt is not None else os.environ.get(SALT_ENV)
    if given is not None:
        text = resolve(given) if has_refs(given) else given
        if not text:
            raise UserError(f"the salt {'--salt' if salt is not None else SALT_ENV} is empty")
        register(text)  # never shown again in logs or errors
        return text.encode()
    path = home / SALT_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
    text = path.read_text().strip()
    if not text:
        raise UserError(f"{path} is empty; delete it and a new salt is made")
    register(text)
    return text.encode()


def token(key: bytes, value: Any) -> str:
    """The ``hash`` of one value: HMAC-SHA256 of its text, hex, :data:`HASH_CHARS` long."""
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()
    return digest[:HASH_CHARS]


class _Replacer:
    """Replacements of values ``how``, each distinct value made once."""

    def __init__(self, how: str, key: bytes) -> None:
        self.how, self.key = how, key
        self.made: dict[tuple[str | None, str, str, str], Any] = {}

    def one(self, kind: str | None, name: str, value: Any) -> Any:
        seen = (kind, name, type(value).__name__, str(value))
        if seen not in self.made:
            self.made[seen] = self._make(kind, name, value)
        return self.made[seen]

    def _make(self, kind: str | None, name: str, value: Any) -> Any:
        from ._fake import fake_value, mask_value

        if self.how == "hash":
            return token(self.key, value)
        if self.how == "mask":
            return mask_value(kind, value)
        seed = hmac.new(self.key, b"fake\x00" + str(value).encode(), hashlib.sha256).digest()
        faker = _faker()
        faker.seed_instance(int.from_bytes(seed[:8], "big"))
        return fake_value(faker, kind, name, value)


def _replace(
    replacer: _Replacer, column: pa.ChunkedArray, name: str, kind: str | None
) -> tuple[pa.Array, bool]:
    """The column's values replaced, and whether they had to become text."""
    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    out = [None if v is None else replacer.one(kind, name, v) for v in column.to_pylist()]
    if replacer.how != "fake" or text:
        return pa.array(out, pa.string()), not text
    for type_ in (column.type, None):  # an int whose fake outgrew its type: a wider one
        try:
            array = pa.array(out, type_)
            return array, pa.types.is_string(array.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            continue
    return pa.array([None if v is None else str(v) for v in out], pa.string()), True


def _replace_matching(
    replacer: _Replacer, column: pa.ChunkedArray, name: str
) -> tuple[pa.Array, bool]:
    """A partial column (:mod:`._detect`): each value that is personal data (or the emails
    and SSNs inside text) replaced by its own kind, the others as they were."""
    walk = _Walk(replacer, json_keys=False)
    out = [walk.value(v, name, None, False, name) for v in column.to_pylist()]
    try:
        return pa.array(out, column.type), False
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # a masked card number
        return pa.array([None if v is None else str(v) for v in out], pa.string()), True


# -- nested values: STRUCT, LIST, ARRAY, MAP, UNION, JSON; and BLOB ------------------------------
def nested(type_: str) -> bool:
    """Whether a DuckDB column type is searched value by value inside (not by one pattern)."""
    head = type_.split("(", 1)[0]
    return head in ("STRUCT", "MAP", "UNION", "JSON", "BLOB") or type_.endswith("]")


def _replace_nested(
    replacer: _Replacer,
    column: pa.ChunkedArray,
    name: str,
    type_: str,
    kinds: dict[str, str | None],
    listed: bool,
) -> tuple[pa.Array, str] | None:
    """A nested column with the personal data inside replaced, and what was found where; None
    when nothing was. A struct field, list element or map value whose name suggests personal
    data (or the whole column, by its name or --pii) is replaced whatever it holds; any other
    text is replaced where it matches a pattern, or the emails and SSNs inside it.
    """
    forced = listed or name in kinds
    walk = _Walk(replacer, json_keys=type_ == "JSON")
    out: list[Any] = []
    for value in column.to_pylist():
        if value is not None and type_ == "JSON":
            value = json.dumps(walk.value(json.loads(value), name, kinds.get(name), forced, name))
        elif value is not None:
            value = walk.value(value, name, kinds.get(name), forced, name)
        out.append(value)
    if not walk.found:
        return None
    places = sorted(walk.found.items())
    note = ", ".join(f"{kind} at {path}" for path, kind in places[:_PLACES])
    note += ", …" if len(places) > _PLACES else ""
    try:
        return pa.array(out, column.type), note
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        # A field whose replacement has another type (a masked number): the whole value as
        # JSON text, its personal data already replaced.
        text = [None if v is None else json.dumps(v, default=str, ensure_ascii=False) for v in out]
        return pa.array(text, pa.string()), f"{note}, written as text"


class _Walk:
    """Walks one nested value, replacing personal data and noting where it was found."""

    def __init__(self, replacer: _Replacer, *, json_keys: bool) -> None:
        self.replacer = replacer
        self.json_keys = json_keys  # a JSON object's keys are data; a struct's are its schema
        self.found: dict[str, str] = {}

    def value(self, value: Any, name: str, kind: str | None, forced: bool, path: str) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):
            if not self.json_keys:
                return {k: self._child(k, v, kind, forced, path) for k, v in value.items()}
            return {
                self._key(k, path): self._child(k, v, kind, forced, path) for k, v in value.items()
            }
        if isinstance(value, list):
            if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):  # a MAP
                return [
                    (self._key(k, path), self._child(k, v, kind, forced, path)) for k, v in value
                ]
            return [self.value(v, name, kind, forced, f"{path}[]") for v in value]
        if isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
            made = self.value(text, name, kind, forced, path)
            return value if made == text else str(made).encode()
        if forced:
            self.found[path] = kind or "listed"
            return self.replacer.one(kind, name, value)
        if isinstance(value, str):
            return self._text(value, name, path)
        number = isinstance(value, int) and not isinstance(value, bool)
        if number and _kind_of(str(value)) == "card_number":
            self.found[path] = "card_number"
            return self.replacer.one("card_number", name, value)
        return value

    def _child(self, key: Any, value: Any, kind: str | None, forced: bool, path: str) -> Any:
        named = by_name(str(key))
        label = str(key) if _kind_of(str(key)) is None else "*"
        if named is not None:
            kind, forced = named, True
        return self.value(value, str(key), kind, forced, f"{path}.{label}")

    def _key(self, key: Any, path: str) -> Any:
        """A JSON object's or a map's key, replaced when it is itself personal data."""
        return self._text(key, "key", f"{path} (key)") if isinstance(key, str) else key

    def _text(self, text: str, name: str, path: str) -> Any:
        kind = _kind_of(text)
        if kind is not None:
            self.found[path] = kind
            return self.replacer.one(kind, name, text)

        def inside(match: re.Match[str]) -> str:
            found = "ssn" if match.group("ssn") else "email"
            self.found[path] = f"{found} in text"
            return str(self.replacer.one(found, name, match.group(0)))

        return _INSIDE.sub(inside, text)


def _kind_of(text: str) -> str | None:
    """The narrowest kind of personal data the whole of ``text`` is, or None."""
    for kind in SPECIFICITY:
        if not _WHOLE[kind].fullmatch(text):
            continue
        if kind == "card_number" and not luhn(text):
            continue
        if kind == "phone" and (not 7 <= sum(c.isdigit() for c in text) <= 15 or _date(text)):
            continue
        return kind
    return None


def _date(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _faker() -> Faker:
    """One Faker (en_US) per process: making one takes a tenth of a second."""
    if not _FAKER:
        from faker import Faker

        _FAKER.append(Faker("en_US"))
    return _FAKER[0]
