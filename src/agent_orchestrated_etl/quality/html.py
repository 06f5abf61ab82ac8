"""The HTML quality report (``aoetl profile --html FILE``): one self-contained file.

Viewing it needs no network: the CSS, the chart script and the data are inline, and a
Content-Security-Policy forbids every fetch. The reports are embedded as JSON in a
``<script type="application/json">`` with ``<``, ``>`` and ``&`` written as JSON escapes, so
no value can close the tag; every text drawn from the data is HTML-escaped (jinja2
autoescape) or set through ``textContent`` by the script. Only the script whose hash the
policy names runs, so even a value that slipped through could not execute.

A column suspected of personal data shows its statistics but none of its values: its top
values, min, max, quantiles and histogram are dropped here too, whatever the caller passed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..errors import UserError, redact_uri
from ..secrets import redact
from .types import Anomaly, ColumnProfile, QualityReport

if TYPE_CHECKING:
    import jinja2

# Semantic types matched by pattern: a share below 1 means some values do not fit.
_PATTERNED = {
    "email": "email addresses",
    "phone": "phone numbers",
    "url": "URLs",
    "uuid": "UUIDs",
    "ip_address": "IP addresses",
    "date_string": "dates",
    "numeric_string": "numbers",
}
_QUANTILES = ("0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99")
_TEMPORAL_TYPES = ("DATE", "TIMESTAMP")
_FEW = 12  # distinct values up to which a numeric column is drawn as bars per value


def render_html(
    reports: Sequence[QualityReport], *, title: str, generated_at: float | None = None
) -> str:
    """One self-contained HTML page showing ``reports`` (one section per table).

    ``generated_at`` (epoch seconds, default now) is printed in the header.

    Raises:
        UserError: jinja2 is not installed (the ``quality`` extra).
    """
    template, css, script = _assets()
    title = redact(redact_uri(title))  # a title made from a source URL may hold its password
    safe = [_without_pii_values(r) for r in reports]
    when = time.time() if generated_at is None else generated_at
    dumped = [_finite(r.model_dump(mode="json")) for r in safe]
    data = {"title": title, "generated_at": when, "reports": dumped}
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return template.render(
        title=title,
        generated=_datetime(when, full=True),
        tables=[_table_view(i, r) for i, r in enumerate(safe)],
        css=css,
        script=script,
        data=_script_json(data),
        csp=(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
        ),
    )


@lru_cache(maxsize=1)
def _assets() -> tuple[jinja2.Template, str, str]:
    try:
        import jinja2
    except ImportError:
        raise UserError(
            "the HTML report needs jinja2: pip install 'agent-orchestrated-etl[quality]'"
        ) from None
    folder = resources.files(__package__) / "templates"
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(num=_num, pct=_pct, value=_value, duration=_duration)
    template = env.from_string((folder / "report.html.j2").read_text("utf-8"))
    return (
        template,
        (folder / "report.css").read_text("utf-8"),
        (folder / "report.js").read_text("utf-8"),
    )


def _script_json(data: Any) -> str:
    """JSON that is safe inside a script element: no ``<`` can start ``</script>`` or a
    comment, and ``&`` never forms an entity."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: Any) -> Any:
    """NaN and infinities become null: JSON.parse refuses them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _without_pii_values(report: QualityReport) -> QualityReport:
    columns = [
        c.model_copy(
            update={
                "top": [],
                "min": None,
                "max": None,
                "median": None,
                "quantiles": {},
                "histogram": None,
            }
        )
        if c.pii
        else c
        for c in report.profile.columns
    ]
    profile = report.profile.model_copy(update={"columns": columns})
    return report.model_copy(update={"profile": profile})


# -- what the template shows -------------------------------------------------------------------
@dataclass
class _Column:
    index: int
    profile: ColumnProfile
    temporal: bool
    chart: str | None  # histogram | top | None
    no_chart: str  # why there is no chart
    score: float | None
    stats: list[tuple[str, str]]
    quantiles: list[tuple[str, str]]
    issues: list[str]
    anomalies: list[Anomaly] = field(default_factory=list)


@dataclass
class _Table:
    index: int
    report: QualityReport
    grade: str
    dimensions: list[tuple[str, float | None, float]]  # name, score, weight
    columns: list[_Column]
    trend: bool
    column_index: dict[str, int]


def _table_view(index: int, report: QualityReport) -> _Table:
    score = report.score
    dims = [(name, value, score.weights.get(name, 0.0)) for name, value in score.dimensions.items()]
    columns = [_column_view(i, c, report) for i, c in enumerate(report.profile.columns)]
    return _Table(
        index=index,
        report=report,
        grade=_grade(score.total),
        dimensions=dims,
        columns=columns,
        trend=len(report.history) >= 2,
        column_index={c.name: i for i, c in enumerate(report.profile.columns)},
    )


def _grade(total: float) -> str:
    return "good" if total >= 90 else "fair" if total >= 75 else "poor"


def _temporal(c: ColumnProfile) -> bool:
    if c.histogram is not None:
        return c.histogram.kind == "temporal"
    return c.type.upper().startswith(_TEMPORAL_TYPES)


def _column_view(index: int, c: ColumnProfile, report: QualityReport) -> _Column:
    temporal = _temporal(c)
    found = [a for a in report.anomalies if a.column == c.name]
    chart: str | None = None
    no_chart = ""
    if c.pii:
        no_chart = "Values hidden: suspected personal data."
    elif c.count and c.nulls == c.count:
        no_chart = "No values to draw."
    elif c.count == 0:
        no_chart = "No rows."
    elif c.top and _few_numbers(c, temporal):
        chart = "top"
    elif c.histogram is not None and sum(c.histogram.counts) > 0:
        chart = "histogram"
    elif c.top:
        chart = "top"
    else:
        no_chart = "No distribution was computed for this column."
    return _Column(
        index=index,
        profile=c,
        temporal=temporal,
        chart=chart,
        no_chart=no_chart,
        score=report.score.columns.get(c.name),
        stats=_stats(c, temporal),
        quantiles=[
            (f"p{round(float(q) * 100)}", _point(c.quantiles[q], temporal))
            for q in _QUANTILES
            if q in c.quantiles
        ],
        issues=_issues(c, flagged={a.kind for a in found}),
        anomalies=found,
    )


def _few_numbers(c: ColumnProfile, temporal: bool) -> bool:
    """A number with a few values (a quantity, a rating) reads better as bars per value than
    as a histogram of mostly empty bins."""
    few = c.distinct is not None and c.distinct <= _FEW
    return c.histogram is not None and not temporal and few and len(c.top) >= (c.distinct or 0)


def _stats(c: ColumnProfile, temporal: bool) -> list[tuple[str, str]]:
    approx = "" if c.distinct_exact else "≈ "
    rows: list[tuple[str, str | None]] = [
        ("Count", _num(c.count)),
        ("Nulls", f"{_num(c.nulls)} ({_pct(c.null_rate)})" if c.count else _num(c.nulls)),
        ("Distinct", None if c.distinct is None else approx + _num(c.distinct)),
        ("Min", _value(c.min, temporal)),
        ("Max", _value(c.max, temporal)),
        ("Mean", None if c.mean is None else _point(c.mean, temporal)),
        ("Median", None if c.median is None else _point(c.median, temporal)),
        ("Std dev", None if c.std is None else _duration(c.std) if temporal else _num(c.std)),
    ]
    if c.length_min is not None and c.length_max is not None:
        mean = "" if c.length_mean is None else f", mean {_num(c.length_mean)}"
        rows.append(("Length", f"{_num(c.length_min)} to {_num(c.length_max)}{mean}"))
    return [(k, v) for k, v in rows if v is not None and v != ""]


def _issues(c: ColumnProfile, *, flagged: set[str]) -> list[str]:
    """What the profile shows wrong with a column, beside its anomalies (``flagged``: their
    kinds, so an outlier count is not said twice)."""
    out: list[str] = []
    present = c.count - c.nulls
    if c.count and c.nulls == c.count:
        out.append("Every value is null.")
    elif c.nulls:
        out.append(f"{_pct(c.null_rate)} null ({_num(c.nulls)} rows).")
    if c.distinct == 1 and present > 1:
        out.append("A single value in every non-null row (constant).")
    if c.outliers_iqr and "outliers" not in flagged:
        out.append(f"{_num(c.outliers_iqr)} outliers beyond the IQR fences.")
    if c.outliers_mad and "outliers" not in flagged:
        out.append(f"{_num(c.outliers_mad)} outliers by robust z-score (MAD).")
    share = c.semantic_share
    if c.semantic in _PATTERNED and share is not None and share < 1:
        out.append(f"{_pct(1 - share)} of values do not look like {_PATTERNED[c.semantic]}.")
    if c.pii:
        out.append(f"Suspected personal data ({c.pii}): its values are left out of this report.")
    return out


# -- formatting ------------------------------------------------------------------------------
def _num(x: float | int | None) -> str:
    """Thousands separators; a few significant digits for fractions."""
    if x is None:
        return "—"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.1f}"
    if abs(x) >= 1:
        return f"{x:,.3f}".rstrip("0").rstrip(".")
    return f"{x:.3g}"


def _pct(share: float | None) -> str:
    if share is None:
        return "—"
    if share == 0:
        return "0%"
    if share < 0.001:
        return "< 0.1%"
    if share > 0.999 and share < 1:
        return "> 99.9%"
    return f"{share * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _value(x: float | str | None, temporal: bool = False) -> str | None:
    if x is None:
        return None
    if isinstance(x, str):
        return x
    return _point(x, temporal)


def _point(x: float, temporal: bool) -> str:
    """A number, or for a temporal column an epoch-seconds instant as a date."""
    return _datetime(x) if temporal else _num(x)


def _datetime(epoch: float, *, full: bool = False) -> str:
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return _num(epoch)
    if not full and moment.hour == moment.minute == moment.second == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if abs(seconds) >= size:
            return f"{_num(round(seconds / size, 1))} {unit}"
    return f"{_num(round(seconds, 2))} s"
