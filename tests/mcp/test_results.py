"""Tool results: bounded in rows and characters, secrets masked, errors as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_orchestrated_etl.errors import SourceNotFoundError, UserError
from agent_orchestrated_etl.mcp import ServerOptions
from agent_orchestrated_etl.mcp._results import error_result, fit, result
from tests.helpers import mcp_text


def test_lists_are_cut_to_max_rows_and_noted() -> None:
    shown, text = fit({"rows": list(range(10)), "n": 1}, max_rows=3, max_chars=10_000)
    assert shown == {"rows": [0, 1, 2], "n": 1, "truncated": ["rows: 3 of 10 items shown"]}
    assert json.loads(text) == shown


def test_nothing_cut_has_no_truncated_key() -> None:
    shown, text = fit({"rows": [1, 2], "s": "x" * 100}, max_rows=3, max_chars=10_000)
    assert shown == {"rows": [1, 2], "s": "x" * 100}
    assert text == '{"rows":[1,2],"s":"' + "x" * 100 + '"}'


@pytest.mark.parametrize("max_chars", [1_000, 2_500, 10_000])
def test_long_strings_are_shortened_until_the_json_fits(max_chars: int) -> None:
    data = {"items": [{"name": f"n{i}", "text": "é" * 9_000} for i in range(40)]}
    shown, text = fit(data, max_rows=100, max_chars=max_chars)
    assert len(text) <= max_chars
    assert json.loads(text) == shown
    assert 1 <= len(shown["items"]) < 40
    assert all(item["text"].endswith("…") for item in shown["items"])
    assert any("of 9,000 characters shown" in n for n in shown["truncated"])
    assert any("of 40 items shown" in n for n in shown["truncated"])


def test_a_mapping_that_is_a_collection_is_cut_but_a_record_is_not() -> None:
    reasons = {str(i): "x" * 80 for i in range(1000)}  # dlq_replay's still_bad
    record = {f"field{i}": i for i in range(15)}
    shown, text = fit({"still_bad": reasons, "run": record}, max_rows=100, max_chars=40_000)
    assert len(shown["still_bad"]) == 100 and shown["run"] == record
    assert shown["truncated"] == ["still_bad: 100 of 1,000 entries shown"]
    assert len(text) <= 40_000


def test_a_pipeline_and_a_dag_file_are_never_shortened() -> None:
    whole = "name: x\n" + "# a comment line\n" * 500
    shown, _ = fit({"pipeline_yaml": whole, "other": whole}, max_rows=10, max_chars=40_000)
    assert shown["pipeline_yaml"] == whole
    assert len(shown["other"]) < len(whole)
    assert shown["truncated"] == [f"other: 4,000 of {len(whole):,} characters shown"]


def test_a_result_too_big_even_cut_names_its_keys() -> None:
    data = {"pipeline_yaml": "x" * 5_000, "b": 1}
    shown, text = fit(data, max_rows=10, max_chars=1_000)
    assert len(text) <= 1_000
    assert shown["left_out"] == ["b", "pipeline_yaml"]
    assert "--max-chars 1,000" in shown["truncated"][0]


def test_a_result_too_big_keeps_the_pipeline_when_it_fits_alone() -> None:
    data = {"pipeline_yaml": "y" * 1_700, "guesses": ["g" * 90] * 50, "discovered": ["d" * 90] * 50}
    shown, text = fit(data, max_rows=10, max_chars=2_000)
    assert len(text) <= 2_000 and shown["pipeline_yaml"] == "y" * 1_700
    assert shown["left_out"] == ["discovered", "guesses"]


def test_an_error_line_is_bounded() -> None:
    text = mcp_text(error_result(UserError("no run matches " + "x" * 200_000)))
    assert len(text) < 1_100 and text.endswith("more characters)")


def test_a_tools_own_notes_come_first_and_stay() -> None:
    data = {"rows": list(range(8)), "truncated": ["rows: the first 8 rows shown"]}
    shown, _ = fit(data, max_rows=2, max_chars=10_000)
    assert shown["truncated"] == ["rows: the first 8 rows shown", "rows: 2 of 8 items shown"]


def test_nan_and_other_values_become_json() -> None:
    shown, text = fit(
        {"a": float("nan"), "b": float("inf"), "c": (1, 2), "d": b"x", "e": {3: None}},
        max_rows=10,
        max_chars=10_000,
    )
    assert shown == {"a": None, "b": None, "c": [1, 2], "d": "b'x'", "e": {"3": None}}
    assert "NaN" not in text and "Infinity" not in text


def test_results_mask_literal_passwords_and_keep_references() -> None:
    data = {
        "target": "postgresql://etl:hunter2secret@db:5432/wh",
        "ref": "postgresql://etl:${env:PW}@db/wh",
    }
    shown = result(data, max_rows=10, max_chars=10_000)
    everything = shown.content[0].text + json.dumps(shown.structured_content)  # type: ignore[union-attr]
    assert "hunter2secret" not in everything
    assert "${env:PW}" in everything and shown.is_error is not True


def test_an_error_is_the_clis_one_line() -> None:
    failed = error_result(SourceNotFoundError("source x.csv does not exist;\n  give a file"))
    assert failed.is_error
    assert failed.content[0].text == "error: source x.csv does not exist; give a file"  # type: ignore[union-attr]
    crash = error_result(ValueError("bad\nvalue for postgresql://u:s3cretpw@h/db"))
    text = crash.content[0].text  # type: ignore[union-attr]
    assert text.startswith("error: ValueError: bad value for") and "s3cretpw" not in text


def test_write_permissions(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--allow-write"):
        ServerOptions().check_write("run", "duckdb:///wh.duckdb")
    limited = ServerOptions(allow_write=True, allow_targets=("duckdb:///allowed*",))
    limited.check_write("run", "duckdb:///allowed.duckdb")
    with pytest.raises(UserError, match="no --allow-target") as refused:
        limited.check_write("run", "postgresql://u:s3cretpw@h/db")
    assert "s3cretpw" not in str(refused.value)
    # A relative glob allows the same file written relative or anchored, and no '..' out.
    limited.check_write("run", f"duckdb:///{tmp_path}/allowed.duckdb", base=tmp_path)
    for outside in ("duckdb:///allowed/../other.duckdb", "duckdb:////elsewhere/allowed.duckdb"):
        with pytest.raises(UserError, match="no --allow-target"):
            limited.check_write("run", outside, base=tmp_path)
    anywhere = ServerOptions(allow_write=True, allow_targets=("duckdb:///*",))
    anywhere.check_write("run", "duckdb:////elsewhere/wh.duckdb", base=tmp_path)
    with pytest.raises(UserError, match="--max-rows 0"):
        ServerOptions(max_rows=0)


@pytest.mark.parametrize(
    ("glob", "target", "allowed"),
    [
        ("duckdb:///allowed/*", "duckdb:///allowed/x.duckdb", True),
        ("duckdb:///allowed/*", "allowed/x.duckdb", True),
        ("duckdb:///allowed/*", "duckdb:///allowed/../other/x.duckdb", False),
        ("duckdb:///allowed*", "duckdb:///allowed/../../..${env:AOETL_T_HOME}/x.duckdb", False),
        ("duckdb:///*", "duckdb:////anywhere/x.duckdb", True),
        ("postgresql://*@localhost/*", "postgresql://etl:pw@localhost/dw", True),
        ("postgresql://*@localhost/*", "postgresql://etl:pw@127.0.0.3:1/dw?x=@localhost/", False),
        ("postgresql://*@localhost/*", "postgresql://u@localhost.evil.com/db@localhost/x", False),
        ("postgresql://*@localhost:*/*", "postgresql://e:pw@localhost:5432/dw?sslmode=off", True),
        ("s3://bucket/lake/*", "s3://other/lake/x/", False),
    ],
)
def test_allowed_targets_are_compared_as_the_run_uses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, glob: str, target: str, allowed: bool
) -> None:
    monkeypatch.setenv("AOETL_T_HOME", str(tmp_path))
    (tmp_path / "allowed").mkdir()
    absolute = target.replace("duckdb:///allowed", f"duckdb:///{tmp_path}/allowed")
    for written in {target, absolute}:  # as a source gives it, and as a pipeline anchors it
        options = ServerOptions(allow_write=True, allow_targets=(glob,))
        if allowed:
            options.check_write("run", written, base=tmp_path)
        else:
            with pytest.raises(UserError, match="--allow-target"):
                options.check_write("run", written, base=tmp_path)


def test_a_target_redirected_by_its_query_string_is_refused() -> None:
    options = ServerOptions(allow_write=True, allow_targets=("postgresql://*@localhost/*",))
    for target in [
        "postgresql://etl:pw@localhost/dw?host=10.0.0.2&port=1",
        "postgresql://etl@localhost/dw?dbname=",  # blank: libpq still takes it
        "postgresql://etl@evil.example.net,@localhost/dw",  # libpq: a list of hosts
        "postgresql://etl@%2Ftmp%2Fevil:5432/dw",  # libpq: a socket folder
    ]:
        with pytest.raises(UserError, match=r"could connect elsewhere than its host part"):
            options.check_write("run", target)


def test_only_the_secret_references_a_server_allows_reach_it() -> None:
    options = ServerOptions(allow_secrets=("env:PG*",))
    options.check_secrets("run", {"target": "postgresql://u:${env:PGPASSWORD}@db/x"})
    refused = {"pipeline": "source: data\ntarget: 'x?a=${secret:vault:kv/app#key}'\n"}
    with pytest.raises(UserError, match=r"--allow-secret 'secret:vault:kv/app'"):
        options.check_secrets("run", refused)
    with pytest.raises(UserError, match=r"\$\{env:HOME\} is a secret this server"):
        ServerOptions().check_secrets("query", ["ok", {"k": "${env:HOME}"}])
    # Escapes and anchors make a reference only once the pipeline text is decoded.
    for text in [
        'source: "./\\x24{env:HOME}.csv"\n',
        'source: "./\\u0024{env:HOME}.csv"\n',
        '{"name": "p", "source": "./\\u0024{env:HOME}.csv"}',
        'a: &x "${env:HOME}"\nsource: *x\n',
    ]:
        with pytest.raises(UserError, match=r"\$\{env:HOME\} is a secret this server"):
            ServerOptions().check_secrets("run", {"pipeline": text})
