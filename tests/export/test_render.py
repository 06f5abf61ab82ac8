"""The DAG renderer alone (pure, in-process): which literal secrets it refuses, and text
that could break the file (quotes, backslashes, Jinja) in names and descriptions."""

from __future__ import annotations

import ast
import copy
import datetime
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.engine import Plan, Task
from agent_orchestrated_etl.engine.plan import CommitParams, LoadParams
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.export import DagOptions, embeddable, literal_secrets, render_dag
from agent_orchestrated_etl.pipeline.planner import spec_hash
from agent_orchestrated_etl.spec import load_document, validate_spec

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPTIONS = DagOptions(base_dir="/srv/etl", home="/srv/etl/.aoetl")


def _plan(*tables: str) -> Plan:
    loads = [Task(f"load:{t}", "load", (), LoadParams(t), f'load {t} """ \\ {{x}}') for t in tables]
    commit = Task("commit", "commit", tuple(t.id for t in loads), CommitParams(tables))
    return Plan([*loads, commit])


def test_literal_secrets_are_found_by_field_and_references_pass() -> None:
    document = {
        "source": {
            "uri": "https://api.example.com/v1",
            "auth": {"type": "bearer", "token": "tok-literal"},  # pragma: allowlist secret
            "headers": {"X-Api-Key": "k-literal", "Accept": "application/json"},
            "resources": [{"params": {"access_token": "${env:TOKEN}"}}],
        },
        "target": {
            "uri": "s3://bucket/lake/",
            "s3": {"secret_access_key": "${secret:vault:kv/s3#key}", "access_key_id": "AKIA1"},
        },
        "route": [{"target": "postgresql://u:${env:PW}@db/dw"}],
        "checks": [{"check": "sql", "sql": "SELECT * FROM t WHERE password = 'x'"}],
        "transforms": [{"filter": "token = 'abc'"}],
    }
    assert literal_secrets(document) == [
        "source.auth.token",
        "source.headers.X-Api-Key",
        "target.s3.access_key_id",
    ]
    dsn = {"source": {"uri": "postgresql://etl:hunter22@db/shop"}}  # pragma: allowlist secret
    query = {"source": {"uri": "https://h/x?api_key=abc123"}}  # pragma: allowlist secret
    assert literal_secrets(dsn) == ["source.uri"] and literal_secrets(query) == ["source.uri"]


def test_names_and_descriptions_that_could_break_the_file_are_quoted() -> None:
    spec = validate_spec({"name": 'odd """ name \\ {{ x }}', "source": "data/"})
    text = render_dag(spec, _plan("orders", "order items"), OPTIONS)
    ast.parse(text)  # a docstring closed early or a bad escape would not parse
    module = ast.parse(text)
    doc = ast.get_docstring(module) or ""
    assert doc.startswith('odd """ name \\ {{ x }}: an aoetl pipeline as an Airflow DAG')
    assert 'dag_id="odd_name_x"' in text and 'group_id="order_items"' in text
    with pytest.raises(UserError, match=r"holds Jinja markup"):
        render_dag(spec, _plan("a{{b}}"), OPTIONS)


def test_a_reference_writes_the_path_and_no_spec() -> None:
    spec = validate_spec(
        {"name": "p", "source": "data/", "target": "postgresql://u:pw-lit@db/dw"}
    )  # pragma: allowlist secret
    with pytest.raises(UserError, match=r"literal secret \(target.uri\)"):
        render_dag(spec, _plan("a"), OPTIONS)
    options = DagOptions(base_dir="/srv", home="/srv/.aoetl", reference="/srv/p.yaml")
    text = render_dag(spec, _plan("a"), options)
    assert 'PIPELINE: dict[str, Any] | str = "/srv/p.yaml"' in text and "pw-lit" not in text


def _first_yaml(page: str) -> dict[str, Any]:
    text = (DOCS / page).read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded: dict[str, Any] = yaml.safe_load(block)
    return loaded


SHAPES: dict[str, dict[str, Any]] = {
    "rest (docs/connectors/rest.md)": _first_yaml("connectors/rest.md"),
    "routing, tags": {
        "name": "sales",
        "source": "exports/",
        "target": "duckdb:///warehouse.duckdb",
        "tags": ["finance"],
        "route": [
            {"when": {"format": "parquet"}, "target": {"uri": "postgresql://etl:${env:PW}@db/w"}},
            {"else": "duckdb:///warehouse.duckdb"},
        ],
        "routes": {
            "orders": [
                {"when": "country = 'DE'", "to": "orders_de"},
                {"else": "orders_other"},
            ]
        },
    },
    "checks, quality, tasks": {
        "name": "q",
        "source": "data/",
        "target": "duckdb:///wh.duckdb",
        "mode": "merge",
        "key": "id",
        "checks": [
            {"check": "not_null", "columns": ["id"]},
            {"check": "unique", "columns": ["id"], "severity": "warn"},
        ],
        "quality": {"profile": "standard", "max_age": "24h"},
        "retries": {"attempts": 3},
        "tasks": {"orders": {"retries": {"attempts": 1}, "timeout_s": 30, "mode": "append"}},
    },
    "s3 blocks and references": {
        "name": "lake",
        "source": {
            "uri": "s3://shop/export/",
            "s3": {
                "endpoint_url": "http://127.0.0.1:8333",
                "region": "us-east-1",
                "access_key_id": "${secret:vault:kv/s3#key_id}",
                "secret_access_key": "${secret:vault:kv/s3#secret}",
            },
        },
        "target": {"uri": "s3://lake/warehouse/", "s3": {"profile": "lake-writer"}},
    },
    "relative paths": {"name": "rel", "source": "./in/../data/o.csv", "target": "out/"},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_embedded_spec_reads_back_on_a_worker_as_the_same_spec(
    shape: str, tmp_path: Path
) -> None:
    spec = load_document(copy.deepcopy(SHAPES[shape]), tmp_path)
    document = embeddable(spec, tmp_path)
    # What agent_orchestrated_etl.airflow.run_task does with PIPELINE and BASE_DIR.
    orch = DataOrchestrator(home=tmp_path / ".aoetl")
    worker = orch.prepare(copy.deepcopy(document), base_dir=tmp_path).spec
    assert spec_hash(worker) == spec_hash(spec)
    assert worker.model_dump(mode="json") == spec.model_dump(mode="json")  # retries too
    # The file holds the document exactly (read back as Python reads it).
    text = render_dag(spec, _plan("t"), DagOptions(base_dir=str(tmp_path), home="/h"))
    assert _pipeline_of(text) == document


def test_a_rest_auth_keeps_its_type_and_the_default_target_is_named(tmp_path: Path) -> None:
    spec = load_document(copy.deepcopy(SHAPES["rest (docs/connectors/rest.md)"]), tmp_path)
    document = embeddable(spec, tmp_path)
    assert document["source"]["auth"] == {"type": "bearer", "token": "${env:SHOP_TOKEN}"}
    # A run's default target is relative to the folder it starts in; a worker's is Airflow's.
    bare = load_document({"name": "b", "source": "data/"}, tmp_path)
    target = embeddable(bare, tmp_path)["target"]["uri"]
    assert target == f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


def _pipeline_of(text: str) -> Any:
    for node in ast.parse(text).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PIPELINE":
            assert node.value is not None
            return ast.literal_eval(node.value)
    raise AssertionError("no PIPELINE in the DAG file")


def test_signed_urls_and_credential_headers_are_literal_secrets_unless_references() -> None:
    signed = (
        "https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20260101&X-Amz-Signature=abc123"
    )
    document = {
        "source": {
            "uri": signed,
            "headers": {"X-Auth-Key": "k1", "X-Api-Key": "k2", "Accept": "text/csv"},
            "resources": [
                {"params": {"sig": "s1", "page": "1"}},
                {"params": {"signature": "${env:SIG}", "x-goog-credential": "c1"}},
            ],
        },
        "target": {"uri": "https://h/x?x-goog-signature=g1&credential=c2"},
        "route": [{"target": "gs://b/x?sig=${env:SIG}"}],
    }
    assert literal_secrets(document) == [
        "source.uri",
        "source.headers.X-Auth-Key",
        "source.headers.X-Api-Key",
        "source.resources[0].params.sig",
        "source.resources[1].params.x-goog-credential",
        "target.uri",
    ]


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"timeout_s": 1e15}, "timeout_s (--timeout) is 1e+15 seconds"),
        ({"retries": {"cap_s": 1e9}}, "retries.cap_s is 1e+09 seconds"),
        ({"retries": {"base_s": 2.6e6}}, "retries.base_s is 2.6e+06 seconds"),
        ({"tasks": {"a": {"timeout_s": 1e300}}}, "tasks.a.timeout_s is 1e+300 seconds"),
        ({"tasks": {"a": {"retries": {"cap_s": 1e12}}}}, "tasks.a.retries.cap_s is 1e+12"),
    ],
)
def test_durations_past_30_days_are_refused_naming_the_setting(
    changes: dict[str, Any], setting: str
) -> None:
    spec = validate_spec({"name": "p", "source": "data/", **changes})
    with pytest.raises(UserError, match=re.escape(setting) + r".*at most 2592000"):
        render_dag(spec, _plan("a"), OPTIONS)


def test_thirty_days_is_the_longest_duration_and_makes_a_file_python_runs() -> None:
    month = 30 * 24 * 3600.0
    spec = validate_spec(
        {"name": "p", "source": "data/", "timeout_s": month, "retries": {"cap_s": month}}
    )
    text = render_dag(spec, _plan("a"), OPTIONS)
    durations = re.findall(r"datetime\.timedelta\(seconds=([0-9.e+]+)\)", text)
    assert "2592000.0" in durations and f"{month * 1.1!r}" in durations  # with the grace
    for value in durations:  # what Airflow evaluates when it imports the file
        assert datetime.timedelta(seconds=float(value)) <= datetime.timedelta(days=33)


def test_control_characters_are_escaped_in_the_docstring_tags_and_docs() -> None:
    name = "orders\x00x\r\u202etxt.exe\n"
    spec = validate_spec({"name": name, "source": "data/", "tags": ["a\x00b"]})
    plan = Plan([Task("load:a", "load", (), LoadParams("a"), "load a\x00b\nline two")])
    text = render_dag(spec, plan, OPTIONS)
    assert "\x00" not in text and "\r" not in text and "\u202e" not in text
    module = ast.parse(text)
    doc = ast.get_docstring(module) or ""
    assert doc.startswith("orders\\x00x\\r\\u202etxt.exe\\n: an aoetl pipeline")
    assert 'tags=["aoetl", "orders\\\\x00x\\\\r\\\\u202etxt.exe\\\\n", "a\\\\x00b"]' in text
    assert 'doc_md="load a\\\\x00b\\nline two"' in text  # a newline stays one
    assert _pipeline_of(text)["name"] == name  # the spec itself keeps the name exactly


def test_dag_id_owner_and_tags_are_refused_in_one_line() -> None:
    spec = validate_spec({"name": "p", "source": "data/"})
    for options, message in [
        ({"dag_id": "abc\n"}, "DAG id 'abc\\\\n' is not one Airflow takes"),
        ({"owner": ""}, "--owner is empty"),
        ({"owner": " "}, "--owner is empty"),
        ({"tags": ("",)}, "--tag is empty"),
        ({"tags": ("a\x00b",)}, "--tag 'a\\\\x00b' holds a control character"),
        ({"tags": ("t" * 101,)}, "longer than Airflow's 100 characters"),
    ]:
        bad = DagOptions(base_dir="/srv", home="/srv/.aoetl", **options)
        with pytest.raises(UserError, match=message) as caught:
            render_dag(spec, _plan("a"), bad)
        assert "\n" not in str(caught.value)


def test_the_home_comment_says_what_is_stored_where() -> None:
    spec = validate_spec({"name": "p", "source": "data/"})
    text = render_dag(spec, _plan("a"), OPTIONS)
    comment = text.split("AOETL_HOME = ")[0].rsplit("BASE_DIR = ", 1)[1]
    assert "dead-letter payloads" not in comment
    assert "state.db" in comment and "unless AOETL_STATE_URL" in comment
    assert "vector index" in comment
