"""Anonymising a sample: which columns hold personal data, and replacing their values.

Columns are suspected by name (:func:`analysis.pii.by_name`) and by their sampled values
(:data:`analysis.pii.VALUE_PATTERNS`, matched in DuckDB), or listed by the user. Each value
is replaced by one of:

- ``hash``: HMAC-SHA256 of the value's text keyed with the salt, hex, the first
  :data:`HASH_CHARS` characters. The same value gives the same token, so joins still work.
- ``mask``: the value's shape with its content hidden (``j***@e******.com``); irreversible.
- ``fake``: a value of the same kind and format from Faker, seeded by the value's HMAC, so the
  same value gets the same fake in every table and sample drawn with the same salt.

Hashes and fakes are pseudonymous: whoever holds the salt can test a guessed value. Values of
these columns never reach a message, a log line or an error.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ..analysis.pii import SPECIFICITY, VALUE_PATTERNS, VALUE_SHARE, by_name, luhn
from ..data.duck import quote_ident, quote_literal, unique_name
from ..errors import FatalError, UserError
from ..secrets import has_refs, register, resolve

if TYPE_CHECKING:
    from faker import Faker

METHODS = ("fake", "hash", "mask")
HASH_CHARS = 16  # 64 bits of the HMAC: no two values of a sample share a token in practice
SALT_FILE = "sample.salt"
SALT_ENV = "AOETL_SAMPLE_SALT"
_CARD_CHECKS = 20  # distinct matching values whose Luhn sum is checked
_FAKER: list[Faker] = []


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
    kinds = detect(con, table, columns)
    for listed in pii:
        found = next((n for n in names if n == listed), None) or next(
            (n for n in names if n.lower() == listed.lower()), None
        )
        if found is None:
            raise UserError(f"--pii {listed}: no such column; the columns: {', '.join(names)}")
        kinds.setdefault(found, None)
    if not kinds:
        return table, {}
    key = salt_key(salt, home) if how != "mask" else b""  # a mask keeps no key: nothing to undo
    data = con.execute(f"SELECT * FROM {table}").to_arrow_table()  # the sample: rows bounded
    done: dict[str, str] = {}
    for name in names:
        if name not in kinds:
            continue
        kind = kinds[name]
        index = data.schema.get_field_index(name)
        try:
            array, as_text = _replace(data.column(index), name, kind, how, key)
        except Exception as exc:  # the message could quote a value: name only its type
            raise FatalError(
                f"could not anonymise column {name} by {how}: {type(exc).__name__}"
            ) from None
        data = data.set_column(index, pa.field(name, array.type), array)
        note = f"{kind or 'listed'}, written as text" if as_text else kind or "listed"
        done[name] = f"{how} ({note})"
    view, out = unique_name("anonymized"), quote_ident(unique_name("anonymized"))
    con.register(view, data)
    try:
        con.execute(f"CREATE TEMP TABLE {out} AS SELECT * FROM {quote_ident(view)}")
    finally:
        con.unregister(view)
    con.execute(f"DROP TABLE {table}")
    return out, done


def detect(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]]
) -> dict[str, str | None]:
    """The columns suspected of personal data and the kind of each: by the share of values
    that match a pattern (the narrowest wins), else by name."""
    exprs: list[str] = []
    slots: list[tuple[str, str]] = []
    for name, type_ in columns:
        text = type_ == "VARCHAR"
        if not (text or type_ in ("BIGINT", "HUGEINT", "UBIGINT") or type_.startswith("DECIMAL")):
            continue
        col = quote_ident(name)
        value = col if text else f"CAST({col} AS VARCHAR)"
        exprs.append(f"count({col})")
        slots.append((name, ""))
        for kind, pattern in VALUE_PATTERNS.items():
            if kind != "card_number" and not text:
                continue
            exprs.append(f"count(*) FILTER (WHERE {_matches(value, kind, pattern)})")
            slots.append((name, kind))
    found: dict[str, str | None] = {}
    if exprs:
        counts = con.execute(f"SELECT {', '.join(exprs)} FROM {table}").fetchone() or ()
        shares: dict[str, dict[str, float]] = {}
        filled = 0
        for (name, kind), count in zip(slots, counts, strict=True):
            if not kind:
                filled = int(count)
            elif filled and count / filled >= VALUE_SHARE:
                shares.setdefault(name, {})[kind] = count / filled
        for name, fits in shares.items():
            kinds = [k for k in SPECIFICITY if k in fits]
            if kinds and kinds[0] == "card_number" and not _cards(con, table, name):
                kinds = kinds[1:]
            if kinds:
                found[name] = kinds[0]
    for name, _ in columns:
        named = by_name(name)
        if name not in found and named is not None:
            found[name] = named
    return found


def _matches(value: str, kind: str, pattern: str) -> str:
    test = f"regexp_full_match({value}, {quote_literal(pattern)})"
    if kind == "phone":
        # Dates and version numbers split like phone numbers; their digits do not.
        digits = f"length(regexp_replace({value}, '[^0-9]', '', 'g'))"
        test += f" AND {digits} BETWEEN 7 AND 15 AND TRY_CAST({value} AS TIMESTAMP) IS NULL"
    return test


def _cards(con: duckdb.DuckDBPyConnection, table: str, name: str) -> bool:
    """Whether most of a few distinct card-like values pass the Luhn check."""
    col = f"CAST({quote_ident(name)} AS VARCHAR)"
    rows = con.execute(
        f"SELECT DISTINCT {col} FROM {table} WHERE {col} IS NOT NULL LIMIT {_CARD_CHECKS}"
    ).fetchall()
    passed = sum(luhn(str(r[0])) for r in rows)
    return bool(rows) and passed / len(rows) >= VALUE_SHARE


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


def _replace(
    column: pa.ChunkedArray, name: str, kind: str | None, how: str, key: bytes
) -> tuple[pa.Array, bool]:
    """The column's values replaced, and whether they had to become text."""
    from ._fake import fake_value, mask_value

    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    made: dict[str, Any] = {}
    out: list[Any] = []
    for value in column.to_pylist():
        if value is None:
            out.append(None)
            continue
        seen = str(value)
        if seen not in made:
            if how == "hash":
                made[seen] = token(key, value)
            elif how == "mask":
                made[seen] = mask_value(kind, value)
            else:
                seed = hmac.new(key, b"fake\x00" + seen.encode(), hashlib.sha256).digest()
                faker = _faker()
                faker.seed_instance(int.from_bytes(seed[:8], "big"))
                made[seen] = fake_value(faker, kind, name, value)
        out.append(made[seen])
    if how != "fake" or text:
        return pa.array(out, pa.string()), not text
    for type_ in (column.type, None):  # an int whose fake outgrew its type: a wider one
        try:
            array = pa.array(out, type_)
            return array, pa.types.is_string(array.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            continue
    return pa.array([None if v is None else str(v) for v in out], pa.string()), True


def _faker() -> Faker:
    """One Faker (en_US) per process: making one takes a tenth of a second."""
    if not _FAKER:
        from faker import Faker

        _FAKER.append(Faker("en_US"))
    return _FAKER[0]
