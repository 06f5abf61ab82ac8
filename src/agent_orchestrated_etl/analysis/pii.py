"""Suspected personal data: by a column's name, and by what its sampled values look like.

Values are matched in DuckDB (one ``count(*) FILTER (WHERE regexp_full_match(…))`` per pattern,
inside the profile's single aggregate); card numbers are then checked with the Luhn sum on a
few distinct values. Evidence is a share of values, never a value: a report must not leak the
data it warns about.
"""

from __future__ import annotations

import re

# Each pattern matches a whole value (regexp_full_match, RE2 syntax).
VALUE_PATTERNS: dict[str, str] = {
    # Letters of any script: an address like jürgen.müller@bücher.de is one address, whole.
    "email": r"[\p{L}\p{N}_.%+'-]+@[\p{L}\p{N}_-]+(\.[\p{L}\p{N}_-]+)*\.\p{L}{2,}",
    "phone": r"\+?\(?[0-9]{1,4}\)?([ .-][0-9]{2,5}){2,4}",
    "ssn": r"[0-9]{3}-[0-9]{2}-[0-9]{4}",
    "ip_address": r"((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])"
    r"|[0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{0,4}){2,7}",
    "card_number": r"[0-9]{4}([ -]?[0-9]{4}){2}[ -]?[0-9]{1,7}",
}
# The same in Python's re, which has no \p{…} but whose \w is Unicode letters, digits and '_'.
PYTHON_PATTERNS = {
    **VALUE_PATTERNS,
    "email": r"[\w.%+'-]+@[\w-]+(\.[\w-]+)*\.[^\W\d_]{2,}",
}
LABELS = {
    "email": "email addresses",
    "phone": "phone numbers",
    "ssn": "US social security numbers",
    "ip_address": "IP addresses",
    "card_number": "card numbers (Luhn-valid)",
}
# On a tie the narrower pattern wins: an SSN (123-45-6789) or a card number also matches the
# phone pattern, and a column that is all SSNs must not be reported as phone numbers.
SPECIFICITY = ("ssn", "card_number", "ip_address", "email", "phone")
# The share of a column's sampled non-null values that must match before it is suspected.
VALUE_SHARE = 0.8

_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("email", r"(^|_)e_?mail(_address)?($|_)"),
        ("phone", r"(^|_)(phone|mobile|cell|telephone|tel|fax)(_?(number|no))?($|_)"),
        ("ssn", r"(^|_)(ssn|social_security(_number)?|national_id|nin|tax_id)($|_)"),
        ("card_number", r"(^|_)(card_?(number|no)|credit_?card|cc_?number|pan|iban)($|_)"),
        ("ip_address", r"(^|_)ip(_?addr(ess)?)?($|_)"),
        ("name", r"(^|_)(first|last|middle|full|given|family|sur|maiden)_?name($|_)"),
        # Whose name it is says it is a person's (a product_name or file_name is not).
        (
            "name",
            r"(^|_)(customer|client|contact|person|employee|user|member|patient|student|owner|"
            r"author|buyer|seller|recipient|sender|account_?holder|card_?holder|passenger|"
            r"guest|driver|applicant|beneficiary)_?name($|_)",
        ),
        ("birth_date", r"(^|_)(dob|birth_?(date|day)?|date_of_birth|birthdate)($|_)"),
        ("address", r"(^|_)(street|address(_line)?|addr|zip(_?code)?|postcode|postal_code)($|_)"),
        ("passport", r"(^|_)(passport|driver_?licen[cs]e)(_?(number|no))?($|_)"),
        # Not personal data but worse to show: credentials.
        (
            "secret",
            r"(^|_)(password|passwd|pwd|pass_?phrase|secret(_?key)?|api_?key|access_?key|"
            r"(auth|access|refresh|api)_?token|private_?key|credentials?)($|_)",
        ),
    )
)


def by_name(column: str) -> str | None:
    """The kind of personal data a column's name suggests ('email', 'name'…), or None."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column).lower().replace("-", "_")
    snake = snake.replace(" ", "_")
    for kind, pattern in _NAMES:
        if pattern.search(snake):
            return kind
    return None


def luhn(value: str) -> bool:
    """Whether the digits of ``value`` pass the Luhn check that card numbers carry."""
    digits = [int(c) for c in value if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
