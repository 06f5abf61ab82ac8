from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_orchestrated_etl.errors import SpecError
from agent_orchestrated_etl.spec import is_spec_file, json_schema, load_spec, parse_uri, target_kind
from agent_orchestrated_etl.spec.models import DedupeStep, PipelineSpec, SqlStep

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_yaml_pipeline_loads_with_string_shorthands(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: orders\nsource: data/\ntarget: parquet:///lake\nmode: merge\nkey: id, day\n"
        "transforms:\n  - sql: SELECT * FROM input\n  - dedupe: [id]\n"
    )
    spec = load_spec(path)
    # Relative local paths in a pipeline file are relative to the file's folder.
    assert spec.source.uri == str(tmp_path.resolve() / "data")
    assert spec.target.uri == f"parquet:///{tmp_path.resolve() / 'lake'}"
    assert spec.key == ("id", "day")
    assert spec.transforms == (SqlStep(sql="SELECT * FROM input"), DedupeStep(dedupe=("id",)))


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "nightly.yml"
    path.write_text("source: x.csv\n")
    assert load_spec(path).name == "nightly"


def test_unknown_step_names_file_line_and_field() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(FIXTURES / "bad_alias.yaml")
    message = str(info.value)
    assert "bad_alias.yaml:5:" in message
    assert "transforms.1" in message
    assert "sql, rename, cast" in message  # lists the known step kinds


def test_unknown_field_is_reported_with_its_line() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(FIXTURES / "unknown_field.yaml")
    assert "unknown_field.yaml:4:" in str(info.value)
    assert "source.fromat" in str(info.value)


def test_merge_without_key_is_refused() -> None:
    with pytest.raises(SpecError, match="merge' needs 'key'"):
        load_spec(FIXTURES / "merge_without_key.yaml")


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsource: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken.yaml:\d+: not valid YAML"):
        load_spec(path)


def test_json_pipeline_and_json_data_are_told_apart(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps({"name": "j", "source": "a.csv", "mode": "replace"}))
    data = tmp_path / "rows.json"
    data.write_text(json.dumps([{"source": 1}]))
    assert is_spec_file(str(pipeline))
    assert not is_spec_file(str(data))
    assert load_spec(pipeline).mode == "replace"


def test_json_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{\n  "name": "j",\n  "source": "a.csv",\n  "mode": "upsert"\n}')
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "p.json:4:" in str(info.value)
    assert "mode" in str(info.value)


def test_spec_is_frozen() -> None:
    spec = PipelineSpec.model_validate({"name": "x", "source": {"uri": "a"}})
    with pytest.raises(ValueError):
        spec.name = "y"  # type: ignore[misc]


def test_json_schema_describes_every_top_level_field() -> None:
    schema = json_schema()
    props = schema["properties"]
    assert isinstance(props, dict)
    for field in ("name", "source", "transforms", "checks", "target", "mode", "key", "retries"):
        assert field in props
        prop = props[field]
        if "$ref" in prop:  # a nested model: its docstring describes it
            prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]  # type: ignore[index]
        assert prop.get("description"), field


@pytest.mark.parametrize(
    ("uri", "scheme", "path"),
    [
        ("data/x.csv", "file", "data/x.csv"),
        ("file:///abs/x.csv", "file", "/abs/x.csv"),
        ("duckdb:///rel.duckdb", "duckdb", "rel.duckdb"),
        ("duckdb:////abs/w.duckdb", "duckdb", "/abs/w.duckdb"),
        ("postgres://u:p@h/db", "postgresql", "u:p@h/db"),
        ("sqlite+pysqlite:///rel.db", "sqlite+pysqlite", "rel.db"),
    ],
)
def test_parse_uri(uri: str, scheme: str, path: str) -> None:
    parsed = parse_uri(uri)
    assert (parsed.scheme, parsed.path) == (scheme, path)


def test_parsed_uri_display_hides_password() -> None:
    assert (
        parse_uri("postgresql://app:hunter2@db:5432/x").display == "postgresql://app:***@db:5432/x"
    )


def test_target_kind_from_plain_paths() -> None:
    assert target_kind("wh.duckdb").scheme == "duckdb"
    assert target_kind("out/").scheme == "parquet"
    assert target_kind("out/", "csv").scheme == "csv"
