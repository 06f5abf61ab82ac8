"""The facade's data-quality methods: profile, sample, the HTML report, a run's checks and
scores. Mixed into :class:`DataOrchestrator`, which gives them ``home`` and the state store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..quality import CheckResult, QualityReport, SampleResult
    from ..spec import AnomalySpec, Depth
    from ..state import RunRecord, StateStore


class _Facade(Protocol):
    home: Path

    def run_record(self, run_id: str) -> RunRecord: ...

    def _store(self) -> StateStore: ...


class QualityMethods:
    """``profile``, ``sample``, ``render_html`` and ``run_quality`` (see each)."""

    def profile(
        self: _Facade,
        source: str,
        *,
        table: str | None = None,
        depth: Depth = "standard",
        fmt: str | None = None,
        record: bool = True,
        anomalies: AnomalySpec | None = None,
    ) -> list[QualityReport]:
        """Profile every table of ``source`` (or only ``table``): statistics per column,
        anomalies (against the previous profile of the same table too) and the quality
        score. ``record`` stores the profile in the state DB, for the next one's drift and
        the score's trend.

        Raises:
            UserError: the source cannot be read, or has no table ``table``.
        """
        from ..quality.profile import profile_source
        from ..spec import AnomalySpec
        from ._build import build_spec

        spec = build_spec(source, fmt=fmt).source
        return profile_source(
            spec,
            home=self.home,
            table=table,
            depth=depth,
            record=record,
            anomalies=anomalies or AnomalySpec(),
        )

    def sample(
        self: _Facade,
        source: str,
        output: str | Path,
        *,
        rows: int,
        table: str | None = None,
        method: str = "random",
        by: str | None = None,
        seed: int | None = None,
        anonymize: bool = False,
        pii: tuple[str, ...] = (),
        anonymize_with: str = "fake",
        salt: str | None = None,
        fmt: str | None = None,
    ) -> SampleResult:
        """Write ``rows`` rows of ``source``'s table to ``output`` (.csv, .parquet, .json or
        .ndjson), drawn by ``method`` (random, head, or stratified ``by`` a column), each
        source row read once. ``anonymize`` replaces the values of columns suspected of
        personal data, and of ``pii``, by ``anonymize_with`` (fake, hash or mask).

        Raises:
            UserError: bad options, an unknown table or column, or an unwritable output.
        """
        from ..quality.sample import sample_source
        from ._build import build_spec

        spec = build_spec(source, fmt=fmt).source
        return sample_source(
            spec,
            Path(output),
            home=self.home,
            table=table,
            rows=rows,
            method=method,
            by=by,
            seed=seed,
            anonymize=anonymize,
            pii=pii,
            anonymize_with=anonymize_with,
            salt=salt,
        )

    @staticmethod
    def render_html(reports: list[QualityReport], *, title: str) -> str:
        """``reports`` as one self-contained HTML page (no network needed to view it)."""
        from ..quality.html import render_html

        return render_html(reports, title=title)

    def run_quality(self: _Facade, run_id: str) -> tuple[list[CheckResult], list[QualityReport]]:
        """What a run's checks found, and the profile, anomalies and score of each table it
        profiled with the scores of the same table before it (the trend, oldest first)."""
        from ..quality import Anomaly, CheckResult, QualityReport, Score, ScorePoint, TableProfile

        record = self.run_record(run_id)
        history = self._store().quality
        checks = [CheckResult.model_validate(c) for c in history.check_results(record.run_id)]
        reports = []
        for found in history.run_profiles(record.run_id):
            if found.score_detail is None:
                continue
            earlier = history.profiles(found.resource, limit=20, before=found.taken_at)
            points = [
                ScorePoint(taken_at=p.taken_at, total=p.score, run_id=p.run_id)
                for p in reversed(earlier)
                if p.score is not None
            ]
            points.append(ScorePoint(taken_at=found.taken_at, total=found.score or 0.0,
                                     run_id=found.run_id))  # fmt: skip
            reports.append(
                QualityReport(
                    profile=TableProfile.model_validate(found.profile),
                    anomalies=[Anomaly.model_validate(a) for a in found.anomalies],
                    score=Score.model_validate(found.score_detail),
                    history=points,
                )
            )
        return checks, reports
