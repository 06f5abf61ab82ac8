"""The HTML quality report, opened in real headless Chromium: every chart is drawn, the file
needs no network, hostile values stay text, and no value of a PII column is written."""

from __future__ import annotations

import csv
import json
import random
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.quality import (
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
LONG_NAME = "a_very_long_column_name_" * 8
T0 = 1_790_000_000.0


def _write_sources(root: Path) -> tuple[Path, Path]:
    """A small, slightly dirty orders table (hostile names and values, emails, an all-null
    column, an outlier, a long name) and a table with no rows."""
    rng = random.Random(7)
    orders, empty = root / "orders.csv", root / "empty.csv"
    with orders.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "amount", HOSTILE_NAME, "email", "nothing", LONG_NAME, "ordered_at"])
        for i in range(300):
            out.writerow([
                i + 1,
                5000.0 if i == 7 else round(rng.uniform(1, 100), 2),
                HOSTILE_VALUE if i % 3 else rng.choice("bc"),
                EMAILS[i % 2].replace("@", f"{i}@"),
                "",
                rng.randint(1, 3),
                f"2026-05-{1 + i % 28:02d} 10:{i % 60:02d}:00",
            ])  # fmt: skip
    empty.write_text("id,name\n", encoding="utf-8")
    return orders, empty


def _hand_report() -> QualityReport:
    """A report as a careless caller might build it: a PII column holding values, a NaN."""
    email = ColumnProfile(
        name="email", type="VARCHAR", count=2, nulls=0, pii="email", min=EMAILS[0],
        max=EMAILS[1], top=[ValueCount(value=e, count=1) for e in EMAILS],
    )  # fmt: skip
    score = ColumnProfile(
        name="score", type="DOUBLE", count=2, nulls=0, mean=float("nan"), min=1.0, max=2.0,
        histogram=Histogram(edges=[1.0, 1.5, 2.0], counts=[1, 1]),
    )  # fmt: skip
    profile = TableProfile(
        resource="x#people", table="people", source="x", depth="quick", rows=2,
        columns=[email, score], taken_at=T0,
    )  # fmt: skip
    return QualityReport(
        profile=profile,
        score=Score(table="people", total=50.0, dimensions={"completeness": 50.0},
                    weights={"completeness": 1.0}, notes=["</script> in a note"]),
        history=[ScorePoint(taken_at=T0 - 60, total=40.0), ScorePoint(taken_at=T0, total=50.0)],
    )  # fmt: skip


def _chromium(*args: str, profile: Path) -> subprocess.Popen[str]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.Popen([str(CHROMIUM), *flags, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finished(proc: subprocess.Popen[str]) -> str:
    """What a Chromium run printed, once it ended well (killed after 60 s)."""
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("headless Chromium did not finish within 60 s")
    assert proc.returncode == 0, err[-2000:]
    return out


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


def _png_colours(path: Path, enough: int = 12) -> set[bytes]:
    """Distinct pixel colours of a PNG (8-bit RGB or RGBA), read from the top down until
    ``enough`` are found (a blank page has one; decoding it all in Python takes seconds)."""
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
    for y in range(height):
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
        if len(colours) >= enough:
            break
    return colours


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """A real profile's report (the orders table twice, for a trend, and an empty table),
    its DOM after Chromium ran its script, and its screenshot."""
    tmp = tmp_path_factory.mktemp("report")
    orders, empty = _write_sources(tmp)
    orch = DataOrchestrator(home=tmp / ".aoetl")
    orch.profile(str(orders))
    reports = [*orch.profile(str(orders)), *orch.profile(str(empty))]
    html = render_html(reports, title="Orders quality", generated_at=T0)
    ARTIFACTS.mkdir(exist_ok=True)
    report = ARTIFACTS / "quality-report.html"
    report.write_text(html, encoding="utf-8")
    shot = ARTIFACTS / "quality-report.png"
    shot.unlink(missing_ok=True)
    # Both Chromium runs at once: each takes a few seconds to start.
    dom = _chromium("--dump-dom", report.as_uri(), profile=tmp / "dom")
    png = _chromium(f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri(),
                    profile=tmp / "shot")  # fmt: skip
    text = _finished(dom)
    _finished(png)
    return html, text, shot


def test_every_chart_is_drawn_with_real_shapes(page: tuple[str, str, Path]) -> None:
    _, dom, _ = page
    parsed = _Dom()
    parsed.feed(dom)
    kinds = sorted(c.kind for c in parsed.charts)
    # id, amount, ordered_at: histograms; the hostile category and the long-named column of
    # three numbers: bars per value; orders, profiled twice: the trend. The PII column, the
    # all-null one and the empty table draw none.
    assert kinds == ["histogram"] * 3 + ["top"] * 2 + ["trend"], kinds
    for chart in parsed.charts:
        assert chart.drawn and chart.drawn > 0, chart
        bars = [s for s in chart.shapes if s["tag"] == "rect"]
        if chart.kind == "trend":
            assert len([s for s in chart.shapes if s["tag"] == "circle"]) == chart.drawn == 2
            assert any(s["tag"] == "path" and len(s["d"]) > 10 for s in chart.shapes)
        else:
            assert len(bars) == chart.drawn
            assert all(float(b["width"]) > 0 and float(b["height"]) > 0 for b in bars), bars
    assert not re.search(r'class="chart[^"]*failed', dom)
    # every bar and point has its tooltip, and every chart its axis labels
    assert dom.count("<title>") - 1 == sum(c.drawn or 0 for c in parsed.charts)
    assert dom.count('class="axis"') >= 3 * len(parsed.charts)


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
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # the column's name
    assert HOSTILE_NAME not in html and HOSTILE_VALUE not in html
    # The top value reached its chart through textContent: a label, not an element.
    assert "&lt;img src=x onerr" in dom


def test_no_value_of_a_pii_column_is_written(page: tuple[str, str, Path]) -> None:
    html, dom, _ = page
    assert "@example." not in html and "@example." not in dom
    assert "PII · email" in dom


def test_edge_tables_render(page: tuple[str, str, Path]) -> None:
    _, dom, _ = page
    assert "Every value is null." in dom  # the column 'nothing'
    assert "No rows." in dom  # the empty table
    assert LONG_NAME in dom
    assert "The trend shows from this table's second profile on." in dom


def test_screenshot_is_kept_and_not_blank(page: tuple[str, str, Path]) -> None:
    _, _, shot = page
    assert shot.exists() and shot.stat().st_size > 50_000, shot
    assert len(_png_colours(shot)) >= 12


def test_values_a_caller_left_in_a_pii_column_are_dropped() -> None:
    html = render_html([_hand_report()], title="People </script>", generated_at=T0)
    for value in EMAILS:
        assert value not in html
    embedded = re.search(r'<script type="application/json" id="aoetl-data">(.*?)</script>',
                         html, re.S)  # fmt: skip
    assert embedded and "</" not in embedded.group(1)
    data = json.loads(embedded.group(1))  # NaN became null: the browser's JSON.parse takes it
    assert data["reports"][0]["profile"]["columns"][1]["mean"] is None
    assert data["reports"][0]["score"]["notes"] == ["</script> in a note"]
    assert "&lt;/script&gt; in a note" in html


def test_a_password_in_the_title_is_masked() -> None:
    # `aoetl profile postgresql://user:pw@host/db --html f` titles the page with the source.
    html = render_html([], title="Data quality: postgresql://alice:Hunter2Secret@127.0.0.1/shop")
    assert "Hunter2Secret" not in html
    assert "alice:***@127.0.0.1/shop" in html
