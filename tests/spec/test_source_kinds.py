"""SourceSpec is a union by kind: given or inferred from the URI; another kind's option is a
one-line error; the JSON Schema stays valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_orchestrated_etl.errors import SpecError
from agent_orchestrated_etl.spec import (
    FileSourceSpec,
    SqlSourceSpec,
    json_schema,
    load_spec,
    validate_spec,
)
from tests.helpers import run_cli


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("data/orders.csv", FileSourceSpec),
        ("file:///tmp/x.parquet", FileSourceSpec),
        ("postgresql://u@h/db", SqlSourceSpec),
        ("sqlite:///app.sqlite", SqlSourceSpec),
        ("mysql+pymysql://u@h/db", SqlSourceSpec),
        ({"uri": "${env:ANYTHING}"}, FileSourceSpec),  # inferred again once resolved
        ({"uri": "shop.db", "kind": "sql"}, SqlSourceSpec),
    ],
)
def test_kind_is_given_or_inferred_from_the_scheme(source: object, kind: type) -> None:
    spec = validate_spec({"name": "p", "source": source})
    assert type(spec.source) is kind
    assert spec.source.incremental == {} and spec.source.table is None  # on every kind


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"uri": "orders.csv", "tables": ["a"]},
            "field 'source.tables': 'tables' is an option of sql sources, but this source is "
            "files (from its URI); remove it, or set source.kind",
        ),
        (
            {"uri": "postgresql://u@h/db", "csv": {"delimiter": ";"}},
            "field 'source.csv': 'csv' is an option of files sources, but this source is sql "
            "(from its URI); remove it, or set source.kind",
        ),
        (
            {"uri": "x.csv", "kind": "sql", "format": "csv"},
            "field 'source.format': 'format' is an option of files sources, but this source is "
            "sql (as 'kind' says); remove it, or set source.kind",
        ),
        (
            {"uri": "x", "kind": "ftp"},
            "field 'source.kind': unknown source kind 'ftp'; known kinds: files, s3, sql, rest",
        ),
        (
            {"uri": "x.csv", "nope": 1},
            "field 'source.nope': unknown field; see 'aoetl schema' for the fields allowed here",
        ),
    ],
)
def test_an_option_of_another_kind_is_one_clear_line(source: object, message: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec({"name": "p", "source": source})
    assert str(info.value) == message


def test_the_cli_refuses_a_database_option_on_files_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text("id\n1\n")
    (tmp_path / "p.yaml").write_text("name: p\nsource:\n  uri: orders.csv\n  partitions: 4\n")
    proc = run_cli("run", "p.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert "p.yaml:4" in line and "'partitions' is an option of sql sources" in line
    flags = run_cli("run", "orders.csv", "--partitions", "4", cwd=tmp_path)
    assert flags.returncode == 2 and "'partitions' is an option of sql sources" in flags.stderr


def test_json_schema_is_a_union_by_kind_without_private_fields() -> None:
    schema = json_schema()
    assert {r["$ref"] for r in schema["properties"]["source"]["oneOf"]} == {
        "#/$defs/FileSourceSpec",
        "#/$defs/S3SourceSpec",
        "#/$defs/SqlSourceSpec",
        "#/$defs/RestSourceSpec",
    }
    files, sql = schema["$defs"]["FileSourceSpec"], schema["$defs"]["SqlSourceSpec"]
    assert files["properties"]["kind"]["const"] == "files"
    assert sql["properties"]["kind"]["const"] == "sql"
    assert "tables" in sql["properties"] and "tables" not in files["properties"]
    assert "base_dir" not in files["properties"] and "base_dir" not in sql["properties"]
    rest = schema["$defs"]["RestSourceSpec"]
    assert rest["properties"]["kind"]["const"] == "rest"
    assert {"auth", "resources", "paginator", "max_concurrency"} <= set(rest["properties"])


def test_a_reference_is_kept_as_written_and_the_folder_is_not_dumped(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("source: ${env:DATA}\ntarget: ${env:OUT}\n")
    spec = load_spec(path)
    assert spec.source.uri == "${env:DATA}"  # anchored only once resolved, by the connector
    assert spec.source.base_dir == str(tmp_path.resolve())
    assert spec.target.base_dir == str(tmp_path.resolve())
    dumped = spec.model_dump(mode="json")
    assert "base_dir" not in dumped["source"] and "base_dir" not in dumped["target"]


def test_a_given_kind_that_does_not_fit_the_uri_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "k.yaml").write_text(
        "source:\n  uri: postgresql://u@127.0.0.1:9/db\n  kind: files\n"
    )
    proc = run_cli("run", "k.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line == (
        "error: field 'source.kind': kind 'files' does not fit postgresql://u@127.0.0.1:9/db, "
        "which the sql connector reads; set kind 'sql' or give a files URI"
    )


def test_a_rest_resources_since_param_needs_an_incremental_cursor() -> None:
    source = {"uri": "http://127.0.0.1:9/", "resources": [{"name": "u", "path": "u",
              "since_param": "since"}]}  # fmt: skip
    with pytest.raises(SpecError, match="sets since_param but has no incremental cursor"):
        validate_spec({"name": "p", "source": source})
    source["incremental"] = {"u": {"cursor": "updated_at"}}
    assert validate_spec({"name": "p", "source": source}).source.kind == "rest"
