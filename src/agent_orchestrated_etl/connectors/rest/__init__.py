"""The REST API source: a declarative spec's resources paged through, nested JSON flattened.

Importing this package imports httpx; the registry imports it lazily, on the first REST URI.
"""

from .source import RestSource

__all__ = ["RestSource"]
