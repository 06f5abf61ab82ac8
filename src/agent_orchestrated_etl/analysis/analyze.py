"""``analyze``: which reading a source needs (a document, a probe, discovery), and its report.

A URL is fetched once through the REST transport: a JSON (or YAML) body with an ``openapi``
or ``swagger`` key is a document, any other JSON a collection endpoint to probe. A local
``.json``/``.yaml``/``.yml`` file with such a key is a document; any other source is asked
what its connector discovers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..connectors import Resource, locate, source_for
from ..errors import TransientError, UserError
from ..resilience import RetryPolicy
from ..spec.source import RestSourceSpec, SourceSpec
from .report import FieldReport, ResourceReport, SourceReport, where

# Analysis is interactive: a URL that does not answer says so soon rather than after the
# patient retries of a load.
_RETRY = RetryPolicy(attempts=2, base_s=0.2, cap_s=1.0)
_DOCUMENT_SUFFIXES = (".json", ".yaml", ".yml")
_LARGEST_DOCUMENT = 64 << 20
_MENTIONS = re.compile(rb"[\"']?(openapi|swagger)[\"']?\s*:")


def is_document_file(path: str) -> bool:
    """Whether ``path`` is a local OpenAPI or Swagger document (JSON or YAML)."""
    file = Path(path).expanduser()
    if file.suffix.lower() not in _DOCUMENT_SUFFIXES or not file.is_file():
        return False
    try:
        if file.stat().st_size > _LARGEST_DOCUMENT:
            return False
        with file.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    if not _MENTIONS.search(head):  # most JSON data never says it: no need to parse it
        return False
    from .openapi import is_document, load_file

    try:
        return is_document(load_file(file))
    except UserError:
        return True  # it says it is one: reading it as a document says what is wrong with it


def analyze(
    spec: SourceSpec,
    *,
    home: Path | None = None,
    base_url: str | None = None,
    sample_rows: int | None = None,
) -> SourceReport:
    """What ``spec``'s source holds. ``base_url`` overrides a document's server URL; files
    and S3 prefixes are profiled on ``sample_rows`` rows per table (default 10,000).

    Raises:
        UserError: the document or URL cannot be read, or holds nothing aoetl can use.
    """
    if isinstance(spec, RestSourceSpec):
        return _from_url(spec, base_url)
    if is_document_file(spec.uri):
        from .openapi import load_file, read_document

        path = Path(spec.uri).expanduser()
        return read_document(load_file(path), display=spec.uri, base_url=base_url)
    if spec.kind in ("files", "s3"):
        from .files import DEFAULT_SAMPLE_ROWS, analyze_files

        if sample_rows is not None and sample_rows < 1:
            raise UserError(f"--sample-rows must be at least 1 (got {sample_rows})")
        return analyze_files(spec, home, sample_rows or DEFAULT_SAMPLE_ROWS)
    return _discovered(spec, home)


def _from_url(spec: RestSourceSpec, base_url: str | None) -> SourceReport:
    from ..connectors.rest import RestClient
    from .openapi import is_document, read_document
    from .probe import probe_response

    where = locate(spec.uri)
    client = RestClient(spec, where.url, endpoint=None, retry=_RETRY)
    try:
        response = client.get(where.url)
    except TransientError as exc:
        raise UserError(str(exc)) from None  # it names the URL and what to check
    finally:
        client.close()
    body = _parse(response.content, response.headers.get("content-type", ""), where)
    parts = urlsplit(where.url)
    # Relative server URLs join the document's own URL, without its user or query.
    plain = urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))
    if parts.port:
        plain = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", ""))
    if is_document(body):
        return read_document(body, display=where.display, url=plain, base_url=base_url)
    return probe_response(where.url, where.display, response.status, response.headers, body)


def _parse(content: bytes, content_type: str, where: Any) -> Any:
    import orjson

    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    if "yaml" in content_type or urlsplit(where.url).path.endswith((".yaml", ".yml")):
        import yaml

        try:
            return yaml.safe_load(content)
        except yaml.YAMLError:
            pass
    start = content[:40].decode("utf-8", "replace").split()
    raise UserError(
        f"{where.display} did not answer JSON (content-type {content_type or 'none'}, starting "
        f"{' '.join(start)[:30]!r}); give a collection endpoint or an OpenAPI document"
    )


def _discovered(spec: SourceSpec, home: Path | None) -> SourceReport:
    source = source_for(spec, home=home)
    try:
        resources = source.discover()
        notes = list(source.notes)
    finally:
        source.close()
    report = SourceReport(kind=spec.kind, source=locate(spec.uri).display, method="discovery")
    report.resources = [_resource(r) for r in resources]
    report.warnings.extend(notes)
    return report


def _resource(resource: Resource) -> ResourceReport:
    return ResourceReport(
        name=resource.name,
        location=where(resource.locations),
        format=resource.format,
        fields=tuple(FieldReport(name, kind) for name, kind in resource.columns),
        primary_key=resource.primary_key,
        foreign_keys=tuple(str(fk) for fk in resource.foreign_keys),
        row_estimate=resource.row_estimate,
        decisions=resource.decisions,
    )
