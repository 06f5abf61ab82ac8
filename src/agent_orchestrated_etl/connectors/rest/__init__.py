"""The REST API source: a declarative spec's resources paged through, nested JSON flattened.

Importing this package imports urllib3; the registry imports it lazily, on the first REST URI.
"""

from ._client import Response, RestClient
from ._detect import detect_paginator, detect_selector, select_records
from ._resources import detect_key, singular
from .source import RestSource

__all__ = [
    "Response",
    "RestClient",
    "RestSource",
    "detect_key",
    "detect_paginator",
    "detect_selector",
    "select_records",
    "singular",
]
