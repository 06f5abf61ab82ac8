"""Distribution drift between two profiles of one column: PSI and a KS statistic, computed
from the histograms and top values the profiles already hold (no second read of the data).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from .types import ColumnProfile, Histogram

# A bin that is empty on one side would make PSI infinite (ln 0); its share is raised to this.
EPSILON = 1e-4
OTHER = "(other)"


def psi(actual: Sequence[float], expected: Sequence[float]) -> float:
    """The population stability index of ``actual`` against ``expected`` (two lists of
    counts over the same buckets): sum of (a - e) * ln(a / e) over bucket shares, each share
    at least :data:`EPSILON`. 0 for an empty side."""
    total_a, total_e = sum(actual), sum(expected)
    if total_a <= 0 or total_e <= 0:
        return 0.0
    value = 0.0
    for a, e in zip(actual, expected, strict=True):
        share_a = max(a / total_a, EPSILON)
        share_e = max(e / total_e, EPSILON)
        value += (share_a - share_e) * math.log(share_a / share_e)
    return value


def ks(actual: Sequence[float], expected: Sequence[float]) -> float:
    """The two-sample Kolmogorov-Smirnov statistic D at the bucket edges: the largest gap
    between the two cumulative shares (a lower bound of the exact D)."""
    total_a, total_e = sum(actual), sum(expected)
    if total_a <= 0 or total_e <= 0:
        return 0.0
    gap = cum_a = cum_e = 0.0
    for a, e in zip(actual, expected, strict=True):
        cum_a += a / total_a
        cum_e += e / total_e
        gap = max(gap, abs(cum_a - cum_e))
    return gap


def rebin(hist: Histogram, edges: Sequence[float]) -> list[float]:
    """``hist``'s counts spread over the bins of ``edges`` plus an underflow bin before them
    and an overflow bin after them (so a shifted range shows as drift). A bin's count is
    split by overlap, as if its values were spread evenly across it; a bin of zero width
    (a constant column) goes whole to the bin holding its value."""
    bounds = [-math.inf, *edges, math.inf]
    out = [0.0] * (len(bounds) - 1)
    for (low, high), count in zip(itertools.pairwise(hist.edges), hist.counts, strict=False):
        if count == 0:
            continue
        if high <= low:
            out[_bin_of(bounds, low)] += count
            continue
        for i, (b_low, b_high) in enumerate(itertools.pairwise(bounds)):
            overlap = min(high, b_high) - max(low, b_low)
            if overlap > 0:
                out[i] += count * overlap / (high - low)
    return out


def _bin_of(bounds: Sequence[float], value: float) -> int:
    # The last bin of a histogram is closed on the right: its maximum belongs to it.
    for i in range(len(bounds) - 1):
        if value < bounds[i + 1] or (i == len(bounds) - 3 and value == bounds[i + 1]):
            return i
    return len(bounds) - 2


def histogram_buckets(now: Histogram, before: Histogram) -> tuple[list[float], list[float]] | None:
    """Both histograms' counts over the same buckets (the earlier one's edges, with under-
    and overflow bins), or None when they cannot be compared."""
    if now.kind != before.kind or len(before.edges) < 2 or not before.counts:
        return None
    if list(now.edges) == list(before.edges):
        return [float(c) for c in now.counts], [float(c) for c in before.counts]
    return rebin(now, before.edges), rebin(before, before.edges)


def category_buckets(
    now: ColumnProfile, before: ColumnProfile
) -> tuple[list[str], list[float], list[float]] | None:
    """Both columns' value counts over the same categories plus an 'other' bucket, or None
    without top values on both sides.

    A category listed on one side only is a bucket of its own when the other side's top
    values are complete (they cover every non-null value, so its count there is 0);
    otherwise its count hides in the other side's 'other' bucket, so it goes to 'other' on
    both sides and the buckets stay exact."""
    if not now.top or not before.top:
        return None
    counts_now = {v.value: v.count for v in now.top}
    counts_before = {v.value: v.count for v in before.top}
    complete_now = sum(counts_now.values()) >= now.count - now.nulls
    complete_before = sum(counts_before.values()) >= before.count - before.nulls
    names = [
        name
        for name in dict.fromkeys([*counts_before, *counts_now])
        if (name in counts_now or complete_now) and (name in counts_before or complete_before)
    ]
    a = [float(counts_now.get(n, 0)) for n in names]
    e = [float(counts_before.get(n, 0)) for n in names]
    names.append(OTHER)
    a.append(max(0.0, (now.count - now.nulls) - sum(a)))
    e.append(max(0.0, (before.count - before.nulls) - sum(e)))
    return names, a, e
