"""A file discovery leaves out is one issue that says why, and no warning says it again."""

from __future__ import annotations

import os
from pathlib import Path

from agent_orchestrated_etl import DataOrchestrator


def test_each_skipped_file_is_an_issue_in_the_words_of_its_reason(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text("a,b\n1,2\n")
    # Binary data named csv (its first byte never '{' or '[', which would read as JSON).
    (tmp_path / "junk.csv").write_bytes(b"\x89" + os.urandom(2999))
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "README.md").write_text("hello\n")
    report = DataOrchestrator().analyze(str(tmp_path))
    by_file = {(Path(i.file).name, i.kind): i.detail for i in report.issues if i.file}
    assert by_file[("junk.csv", "unreadable")].startswith("skipped: named csv, but its content")
    assert ("junk.csv", "empty_file") not in by_file  # not empty: unreadable
    assert by_file[("empty.csv", "empty_file")] == "the file is empty: nothing to load"
    assert by_file[("README.md", "unreadable")].startswith("skipped: not a data file")
    assert report.warnings == []  # each said once, as an issue
    assert [r.name for r in report.resources] == ["ok"]


def test_ndjson_whose_codec_is_not_its_names_is_profiled_without_false_bad_lines(
    tmp_path: Path,
) -> None:
    import gzip

    (tmp_path / "plain.ndjson").write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    (tmp_path / "p2.ndjson.gz").write_bytes(b'{"a": 3}\n{"a": 4}\n')
    report = DataOrchestrator().analyze(str(tmp_path))
    for resource in report.resources:
        assert resource.sampled_rows == 2
        assert [i.kind for i in resource.issues] == ["format_mismatch"]  # no "unreadable"
