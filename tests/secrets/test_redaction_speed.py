"""Redaction runs on every line aoetl writes, rejected rows included: it must cost linear time.

The URL regex used to backtrack quadratically (40k characters took 2.8 s; a 100 KB table name
hung a run). The budget here is the issue's: 10 MB of each hostile shape in under 50 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys

from agent_orchestrated_etl.secrets import redact

# Measured in a fresh interpreter, with the few values a run registers (one password, in the
# three forms the resolver registers), in CPU time so a busy machine does not fail the test.
_MEASURE = r"""
import json, sys, time
from agent_orchestrated_etl.secrets import redact, register
for value in ("pg-5f0e1d2c3b4a", "pg%2D5f0e1d2c3b4a", "tok-9f8e7d6c5b"):
    register(value)
size = int(sys.argv[1])
times = {}
for shape in sys.argv[2:]:
    text = (shape * (size // len(shape) + 1))[:size]
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        redact(text)
        best = min(best, time.process_time() - start)
    times[shape] = best
print(json.dumps(times))
"""


def measure(size: int, *shapes: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(size), *shapes],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def test_ten_megabytes_of_each_hostile_shape_in_under_50_ms() -> None:
    shapes = (
        "a",  # one long alphanumeric run
        "x7Kq9",  # the same, mixed
        "a://",  # many scheme fragments
        "a://u:",  # ... with a user and a colon, never an '@'
        ":@",  # many ':' and '@'
        "u:p@",
        "${",  # unclosed references
        " ",
    )
    for shape in shapes:  # nothing in them is a secret
        assert redact(shape * 1000) == shape * 1000
    times = measure(10_000_000, *shapes)
    slow = {shape: round(t * 1000, 1) for shape, t in times.items() if t >= 0.05}
    assert not slow, f"ms for 10 MB: {slow}"


def test_denser_shapes_stay_linear() -> None:
    # Every '=' or '://' here starts a match attempt, and some shapes are secrets by the
    # thousand, so these cost more per byte; quadratic behaviour would show as a 16x jump
    # from 250 KB to 1 MB (the old regex: minutes).
    shapes = ("a://@", "://:@", "=", "d=", "rd=", "x password=", "?key=", "password='")
    small, large = measure(250_000, *shapes), measure(1_000_000, *shapes)
    for shape in shapes:
        assert large[shape] < 1.0, f"{shape!r}: 1 MB took {large[shape]:.2f} s"
        ratio = large[shape] / max(small[shape], 0.002)
        assert ratio < 12, f"{shape!r}: 250 KB {small[shape]:.3f} s, 1 MB {large[shape]:.3f} s"
