"""The HTML quality report, opened in real headless Chromium: every chart is drawn, the file
needs no network, hostile values stay text, and no value of a PII column is written."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agent_orchestrated_etl.quality import (
    Anomaly,
    ColumnProfile,
    Histogram,
    QualityReport,
    Score,
    ScorePoint,
    TableProfile,
    ValueCount,
)
from agent_orchestrated_etl.quality.html import render_html

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE_NAME = "</script><script>alert(1)</script>"
HOSTILE_VALUE = '<img src=x onerror="alert(2)">'
EMAILS = ("ada.lovelace@example.org", "alan.turing@example.com")
T0 = 1_790_000_000.0


def _column(name: str, **kw: object) -> ColumnProfile:
    return ColumnProfile.model_validate({"name": name, "type": "VARCHAR", "count": 3000,
                                         "nulls": 0, **kw})  # fmt: skip


def _reports() -> list[QualityReport]:
    amount = _column(
        "amount", type="DOUBLE", nulls=45, distinct=2811, min=0.5, max=98_000.0, mean=212.4,
        std=1_790.2, median=64.9, quantiles={"0.01": 1.2, "0.25": 31.0, "0.5": 64.9,
        "0.75": 120.5, "0.99": 890.0}, mad=40.1, outliers_iqr=12, outliers_mad=3,
        histogram=Histogram(edges=[0, 100, 200, 300, 400, 500], counts=[2100, 640, 180, 0, 35]),
    )  # fmt: skip
    day = _column(
        "ordered_at", type="TIMESTAMP", distinct=2990, distinct_exact=True,
        min="2026-01-01 00:00:00", max="2026-06-30 23:10:00", quantiles={"0.5": T0},
        histogram=Histogram(edges=[T0 + i * 86400 for i in range(4)], counts=[900, 1200, 900],
                            kind="temporal"),
    )  # fmt: skip
    hostile = _column(
        HOSTILE_NAME, distinct=3, semantic="category", semantic_share=1.0,
        top=[ValueCount(value=HOSTILE_VALUE, count=2000), ValueCount(value="", count=990),
             ValueCount(value="rare", count=10)],
    )  # fmt: skip
    # The profile engine never keeps a PII column's values; the report drops them even when
    # a caller passes them.
    email = _column(
        "email", distinct=2950, pii="email", semantic="email", semantic_share=0.97,
        min=EMAILS[0], max=EMAILS[1], top=[ValueCount(value=e, count=2) for e in EMAILS],
    )  # fmt: skip
    rich = TableProfile(
        resource="orders.csv#orders", table="orders", source="orders.csv", depth="standard",
        rows=3000, columns=[amount, day, hostile, email], duplicate_rows=4,
        candidate_keys=[["ordered_at"]], taken_at=T0, duration_s=0.21,
    )  # fmt: skip
    anomalies = [
        Anomaly(kind="outliers", table="orders", column="amount", method="iqr", value=12,
                threshold=1.5, message="12 values of amount beyond the IQR fences (max 98,000)"),
        Anomaly(kind="rare_category", table="orders", column=HOSTILE_NAME, method="share",
                value=0.003, threshold=0.005, message=f"{HOSTILE_VALUE} is rare"),
        Anomaly(kind="row_count", table="orders", method="change", value=0.6, threshold=0.5,
                message="3,000 rows against 1,875 in the previous profile (+60%)"),
    ]  # fmt: skip
    score = Score(
        table="orders", total=82.4,
        dimensions={"completeness": 98.5, "uniqueness": 99.9, "validity": 97.0,
                    "consistency": 60.0, "freshness": None},
        weights={"completeness": 0.33, "uniqueness": 0.22, "validity": 0.28, "consistency": 0.17},
        columns={"amount": 91.0, "ordered_at": 100.0, HOSTILE_NAME: 100.0, "email": 97.0},
        notes=["amount: 1.5% null", "row count changed by +60%"],
    )  # fmt: skip
    history = [ScorePoint(taken_at=T0 - 86400 * (3 - i), total=t) for i, t in
               enumerate((91.0, 88.5, 90.2))] + [ScorePoint(taken_at=T0, total=82.4)]  # fmt: skip
    long_name = "a_very_long_column_name_" * 8
    empty = TableProfile(
        resource="empty.csv#empty", table="empty", source="empty.csv", depth="quick", rows=0,
        columns=[ColumnProfile(name=long_name, type="BIGINT", count=0, nulls=0)], taken_at=T0,
    )  # fmt: skip
    nulls = TableProfile(
        resource="nulls.csv#nulls", table="nulls", source="nulls.csv", depth="quick", rows=5,
        columns=[ColumnProfile(name="nothing", type="VARCHAR", count=5, nulls=5, distinct=0)],
        taken_at=T0,
    )  # fmt: skip

    def flat(table: str, total: float) -> Score:
        return Score(table=table, total=total, dimensions={"completeness": total},
                     weights={"completeness": 1.0})  # fmt: skip

    return [
        QualityReport(profile=rich, anomalies=anomalies, score=score, history=history),
        QualityReport(profile=empty, score=flat("empty", 100.0)),
        QualityReport(profile=nulls, score=flat("nulls", 0.0)),
    ]


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]  # fmt: skip
    done = subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@dataclass
class _Chart:
    kind: str
    drawn: int | None
    shapes: list[dict[str, str]] = field(default_factory=list)


class _Dom(HTMLParser):
    """The charts of a dumped DOM with the SVG shapes drawn in each, and its tags."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[_Chart] = []
        self.tags: list[str] = []
        self._open: _Chart | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if "data-chart" in found:
            drawn = found.get("data-drawn")
            self._open = _Chart(found["data-chart"], int(drawn) if drawn else None)
            self.charts.append(self._open)
        elif self._open is not None and tag in ("rect", "path", "circle"):
            self._open.shapes.append({"tag": tag, **found})

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._open = None


def _png_colours(path: Path, rows: int = 500) -> set[bytes]:
    """The distinct pixel colours of a PNG's top ``rows`` rows (8-bit RGB or RGBA)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + size
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, colours = bytearray(stride), set()
    for y in range(min(rows, height)):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[i : i + 3]) for i in range(0, stride, bpp * 4))
        prev = line
    return colours


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """The report's HTML, its DOM after Chromium ran its script, and its screenshot."""
    ARTIFACTS.mkdir(exist_ok=True)
    html = render_html(_reports(), title="Orders quality", generated_at=T0 + 60)
    report = ARTIFACTS / "quality-report.html"
    report.write_text(html, encoding="utf-8")
    shot = ARTIFACTS / "quality-report.png"
    shot.unlink(missing_ok=True)
    tmp = tmp_path_factory.mktemp("chromium")
    dom = _chromium("--dump-dom", report.as_uri(), profile=tmp / "dom").stdout
    _chromium(f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri(),
              profile=tmp / "shot")  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)
    return html, dom, shot


def test_every_chart_is_drawn_with_real_shapes(page: tuple[str, str, Path]) -> None:
    _, dom, _ = page
    parsed = _Dom()
    parsed.feed(dom)
    kinds = sorted(c.kind for c in parsed.charts)
    # amount and ordered_at: histograms; the hostile category: top values; orders: the trend.
    assert kinds == ["histogram", "histogram", "top", "trend"], kinds
    for chart in parsed.charts:
        assert chart.drawn and chart.drawn > 0, chart
        bars = [s for s in chart.shapes if s["tag"] == "rect"]
        points = [s for s in chart.shapes if s["tag"] == "circle"]
        if chart.kind == "trend":
            assert len(points) == chart.drawn == 4
            assert any(s["tag"] == "path" and len(s["d"]) > 10 for s in chart.shapes)
        else:
            assert len(bars) == chart.drawn
            assert all(float(b["width"]) > 0 and float(b["height"]) > 0 for b in bars), bars
    histograms = [c for c in parsed.charts if c.kind == "histogram"]
    assert {c.drawn for c in histograms} == {4, 3}  # an empty bin draws no bar
    assert not re.search(r'class="chart[^"]*failed', dom)


def test_the_file_needs_no_network(page: tuple[str, str, Path]) -> None:
    html, _, _ = page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in unescape(html)  # the policy forbids every fetch


def test_hostile_values_render_as_text(page: tuple[str, str, Path]) -> None:
    html, dom, _ = page
    parsed = _Dom()
    parsed.feed(dom)
    assert parsed.tags.count("script") == 2  # the data and the chart script, nothing injected
    assert "img" not in parsed.tags
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text
    assert HOSTILE_NAME not in html and HOSTILE_VALUE not in html
    # the top value reaches the chart through textContent: it is a label, not an element
    assert "&lt;img src=x onerror=" in dom


def test_no_value_of_a_pii_column_is_written(page: tuple[str, str, Path]) -> None:
    html, dom, _ = page
    for value in EMAILS:
        assert value not in html and value not in dom
    assert "PII · email" in dom


def test_edge_tables_render(page: tuple[str, str, Path]) -> None:
    _, dom, _ = page
    assert "Every value is null." in dom
    assert "No rows." in dom
    assert "a_very_long_column_name_" * 8 in dom
    assert "The trend shows from this table's second profile on." in dom


def test_screenshot_is_kept_and_not_blank(page: tuple[str, str, Path]) -> None:
    _, _, shot = page
    assert shot.exists() and shot.stat().st_size > 50_000, shot
    assert len(_png_colours(shot)) >= 8
