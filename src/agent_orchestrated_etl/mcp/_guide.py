"""What a client can read and offer besides tools: the pipeline JSON Schema, the docs
pages, recent run summaries (resources), and prompts that start the usual work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.resources import FunctionResource

# The docs folder of the checkout aoetl runs from (an editable install): src/<package>/mcp/.
DOCS = Path(__file__).resolve().parents[3] / "docs"
RECENT_RUNS = 20
ERROR_CHARS = 300  # of each run's error in the recent runs


def register(server: MCPServer[Any]) -> None:
    from ..api import DataOrchestrator

    @server.resource(
        "aoetl://schema/pipeline",
        name="pipeline-schema",
        description="The JSON Schema of a pipeline file (what 'plan' writes and 'run' takes).",
        mime_type="application/schema+json",
    )
    def pipeline_schema() -> str:
        return json.dumps(DataOrchestrator.schema())

    @server.resource(
        "aoetl://runs/recent",
        name="recent-runs",
        description=f"The {RECENT_RUNS} newest runs: id, pipeline, status, rows, error.",
        mime_type="application/json",
    )
    def recent_runs() -> str:
        from ..secrets import redact_obj
        from ._reads import summary

        records = DataOrchestrator().runs(limit=RECENT_RUNS)
        runs = [summary(r.__dict__) for r in records]
        for run in runs:  # a summary: the first line of each error ('run_details' has all)
            if isinstance(run.get("error"), str) and len(run["error"]) > ERROR_CHARS:
                run["error"] = run["error"][:ERROR_CHARS] + "…"
        return json.dumps(redact_obj({"runs": runs}))

    for page in sorted(DOCS.glob("*.md")) if DOCS.is_dir() else []:
        server.add_resource(
            FunctionResource(
                uri=f"aoetl://docs/{page.stem}",
                name=f"docs-{page.stem}",
                description=_title(page),
                mime_type="text/markdown",
                fn=_reader(page),
            )
        )

    @server.prompt(
        name="load_new_source",
        description="Take an undescribed source to a loaded, checked warehouse.",
    )
    def load_new_source(source: str, target: str = "duckdb:///warehouse.duckdb") -> str:
        return (
            f"Load {source} into {target} with aoetl, step by step. "
            f"1. Call analyze with source={source!r} and tell me what it holds: tables, keys, "
            "types with low confidence, and every quality issue, with the evidence. "
            f"2. Call plan with source={source!r} and target={target!r}; show me the pipeline "
            "YAML and the reasons, and suggest checks for the issues analyze found. "
            "3. Call run with pipeline=<the YAML> and dry_run=true, and show me the tasks. "
            "4. When I agree, call run with the pipeline. "
            "5. Report rows loaded and rejected per table; if any were rejected or the run "
            "failed, call run_details and explain why, quoting the reasons. "
            "6. Check the result with query (SELECT count(*) … per table)."
        )

    @server.prompt(
        name="explain_failed_run",
        description="Explain why a run failed or rejected rows, and how to fix it.",
    )
    def explain_failed_run(run_id: str = "") -> str:
        which = (
            f"the run {run_id}"
            if run_id
            else "the newest failed run (call runs and pick the first whose status is not success)"
        )
        return (
            f"Explain {which}. Call run_details for it; read its error, its failed checks and "
            "its quarantined rows with their reasons; call audit for the decisions the agents "
            "made. Say in plain words what went wrong, which rows or settings caused it, and "
            "the smallest change to the pipeline that fixes it; if the rows can be loaded once "
            "fixed, say that dlq_replay with the fixed pipeline file loads them."
        )


def _title(page: Path) -> str:
    with page.open(encoding="utf-8") as text:
        for line in text:
            if line.startswith("# "):
                return line[2:].strip()
    return page.stem


def _reader(page: Path) -> Any:
    def read() -> str:
        return page.read_text(encoding="utf-8")

    return read
