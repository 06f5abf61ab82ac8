"""The DAG renderer alone (pure, in-process): which literal secrets it refuses, and text
that could break the file (quotes, backslashes, Jinja) in names and descriptions."""

from __future__ import annotations

import ast

import pytest

from agent_orchestrated_etl.engine import Plan, Task
from agent_orchestrated_etl.engine.plan import CommitParams, LoadParams
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.export import DagOptions, literal_secrets, render_dag
from agent_orchestrated_etl.spec import validate_spec

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
