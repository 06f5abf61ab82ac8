"""``aoetl sample``: a representative sample of a source's table, anonymised on request."""

from __future__ import annotations
