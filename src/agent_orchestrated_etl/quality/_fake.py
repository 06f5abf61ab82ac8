"""Fake and masked values by kind of personal data, keeping each value's shape.

A fake is drawn from a Faker whose random state the caller seeded from the value's keyed hash,
so the same value always gets the same fake. A mask keeps the layout and a little of the
value's edges (an email's first letters and top-level domain, a number's last four digits)
and hides the rest: nothing can bring the value back.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import unicodedata
from decimal import Decimal
from typing import Any

from faker import Faker

from ..analysis.pii import luhn

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d")
_RUN = re.compile(r"[^\W_]+")  # a run of letters and digits: a word, a number
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
SHORT = "***"  # the mask of a boolean and of any value of 1-3 characters
_KEEP_FROM = 4  # a word keeps its first letter from this length on: a quarter or less


# -- fake ---------------------------------------------------------------------------------------
def fake_value(fake: Faker, kind: str | None, column: str, value: Any) -> Any:
    """A fake of ``value`` of the same kind and Python type (text for what has no fake of
    its type)."""
    if isinstance(value, dt.datetime):
        return _fake_datetime(fake, value)
    if isinstance(value, dt.date):
        if kind == "birth_date":
            return fake.date_of_birth(minimum_age=18, maximum_age=90)
        return fake.date_between(start_date="-30y", end_date="today")
    if isinstance(value, bool):
        return fake.boolean()
    if isinstance(value, int) and kind in ("card_number", "phone", "ssn"):
        return int(_fake_text(fake, kind, column, str(value)))  # a number written as digits
    if isinstance(value, int):
        digits = _reshape(fake, str(abs(value)), keep_first=False).lstrip("0") or "0"
        return int(digits) * (-1 if value < 0 else 1)
    if isinstance(value, float):
        return round(value * fake.random.uniform(0.5, 1.5), 6)
    if isinstance(value, Decimal):
        return Decimal(_reshape(fake, str(value), keep_first=False))
    return _fake_text(fake, kind, column, str(value))


def _fake_text(fake: Faker, kind: str | None, column: str, text: str) -> str:
    if kind == "email" and "@" in text:
        first, last = _ascii(fake.first_name()), _ascii(fake.last_name())
        # example.com/.net/.org are reserved: a fake address never reaches a real person. The
        # number keeps two people of the same fake name apart, so joins stay one to one.
        return f"{first}.{last}{fake.random.randint(10, 9999)}@{fake.safe_domain_name()}"
    if kind in ("phone", "ssn"):
        return _phone(fake, text) if kind == "phone" else _reshape(fake, text)
    if kind == "card_number":
        return _card(fake, text)
    if kind == "ip_address":
        return fake.ipv6() if ":" in text else fake.ipv4_public()
    if kind == "name":
        return _name(fake, column, text)
    if kind == "birth_date":
        return _date_text(fake, text)
    if kind == "address" and not re.search(r"zip|post", column, re.IGNORECASE):
        return str(fake.street_address())
    if kind == "secret":  # a credential keeps nothing of itself, not even its first letter
        return _reshape(fake, text, keep_first=False)
    return _reshape(fake, text)


def _fake_datetime(fake: Faker, value: dt.datetime) -> dt.datetime:
    made = fake.date_time_between(start_date="-30y", end_date="now")
    return made.replace(tzinfo=value.tzinfo, microsecond=0)


def _name(fake: Faker, column: str, text: str) -> str:
    lower = column.lower()
    if re.search(r"first|given|middle", lower):
        return str(fake.first_name())
    if re.search(r"last|sur|family|maiden", lower):
        return str(fake.last_name())
    return str(fake.name()) if " " in text.strip() else str(fake.first_name())


def _date_text(fake: Faker, text: str) -> str:
    for form in _DATE_FORMATS:
        try:
            dt.datetime.strptime(text, form)
        except ValueError:
            continue
        return fake.date_of_birth(minimum_age=18, maximum_age=90).strftime(form)
    return _reshape(fake, text)


def _phone(fake: Faker, text: str) -> str:
    """Other digits in the same layout; a leading +country code stays (it says little)."""
    code = re.match(r"\+\d{1,3}(?=\D)", text)
    head = code.group(0) if code else ""
    return head + _reshape(fake, text[len(head) :], letters=False)  # 555-0101x86: x stays


def _card(fake: Faker, text: str) -> str:
    """Other digits in the same layout, the network's first digit kept, Luhn-valid."""
    made = list(_reshape(fake, text))
    places = [i for i, c in enumerate(made) if c.isdigit()]
    if not places:
        return "".join(made)
    made[places[0]] = text[places[0]]
    last = places[-1]
    for digit in "0123456789":
        made[last] = digit
        if luhn("".join(made)):
            break
    return "".join(made)


def _reshape(fake: Faker, text: str, *, keep_first: bool = True, letters: bool = True) -> str:
    """Each digit a random digit (a leading 0 stays 0, a leading non-zero stays non-zero),
    each letter (if ``letters``) a random letter of the same case; everything else as it was."""
    rng = fake.random
    out: list[str] = []
    first = True
    for char in text:
        if char.isdigit():
            if first and keep_first:
                out.append("0" if char == "0" else rng.choice("123456789"))
            else:
                out.append(rng.choice("123456789") if first else rng.choice(string.digits))
            first = False
        elif char.isalpha() and letters:
            pool = string.ascii_uppercase if char.isupper() else string.ascii_lowercase
            out.append(rng.choice(pool))
        else:
            out.append(char)
    return "".join(out)


def _ascii(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower()) or "user"


# -- mask ---------------------------------------------------------------------------------------
def mask_value(kind: str | None, value: Any) -> str:
    """``value`` as text with its content hidden and its shape kept. A boolean and a value of
    at most three characters are :data:`SHORT`: their length alone would tell them apart
    (True and False, yes and no)."""
    if isinstance(value, bool) or len(str(value)) <= len(SHORT):
        return SHORT
    if isinstance(value, dt.datetime | dt.date):
        return f"{value.year:04d}-**-**" if kind == "birth_date" else _stars(value.isoformat())
    text = str(value)
    if kind == "email" and "@" in text:
        local, _, domain = text.rpartition("@")
        labels = domain.split(".")
        hidden = [_initial(label) for label in labels[:-1]] + labels[-1:]
        return f"{_initial(local)}@{'.'.join(hidden)}"
    if kind in ("ssn", "card_number"):
        return _last_digits(text, 4)
    if kind == "phone":
        code = re.match(r"\+\d{1,3}(?=\D)", text)
        head = code.group(0) if code else ""
        return head + _last_digits(text[len(head) :], 4)
    if kind == "ip_address":
        sep = ":" if ":" in text else "."
        parts = text.split(sep)
        return sep.join(parts[:1] + ["*" if p else p for p in parts[1:]])
    if kind == "birth_date":
        return _keep_year(text)
    if kind == "secret":  # not even its length
        return "********"
    return _RUN.sub(lambda m: _initial(m.group(0)), text)


def _keep_year(text: str) -> str:
    """A date as text: its year stays, every other letter and digit is a star."""
    year = _YEAR.search(text)
    if year is None:
        return _stars(text)
    start, end = year.span()
    return _stars(text[:start]) + year.group(0) + _stars(text[end:])


def _initial(word: str) -> str:
    """A word's first letter and a star for every other character, when that letter is at
    most a quarter of it; else (a word of 1-3 letters, a number, CJK, where one character
    says much) all stars."""
    if len(word) < _KEEP_FROM or word[0].isdigit() or _wide(word[0]):
        return "*" * len(word)
    return word[0] + "*" * (len(word) - 1)


def _wide(char: str) -> bool:
    """A CJK (wide) character: one of them is a syllable or a word, not a letter."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def _last_digits(text: str, keep: int) -> str:
    """Every digit a star but the last ``keep``; separators stay."""
    digits = sum(c.isdigit() for c in text)
    out: list[str] = []
    seen = 0
    for char in text:
        if char.isdigit():
            seen += 1
            out.append(char if seen > digits - keep else "*")
        elif char.isalpha():
            out.append("*")
        else:
            out.append(char)
    return "".join(out)


def _stars(text: str) -> str:
    return "".join("*" if c.isalnum() else c for c in text)
