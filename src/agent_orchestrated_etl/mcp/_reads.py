"""The tools that only read: analyze, plan, profile, sample, query, and the run history."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from ..errors import UserError
from ._calls import Calls

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=True)
HISTORY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

Source = Annotated[
    str,
    Field(
        description="A file, folder, glob, s3:// prefix, database URL (postgresql://, "
        "sqlite:///) or REST API URL / OpenAPI document; relative paths are read from the "
        "server's working directory. Secrets as ${env:NAME} or ${secret:vault:path#key}."
    ),
]
RunId = Annotated[
    str, Field(description="A run id from 'runs', or its beginning if only one run has it.")
]
Table = Annotated[str | None, Field(description="One table of the source (default: all).")]


def register(server: MCPServer[Any], calls: Calls) -> None:
    """Add the read-only tools to ``server``."""
    from ..api import DataOrchestrator, build_spec

    @server.tool(annotations=READ_ONLY)
    async def analyze(
        source: Source,
        sample_rows: Annotated[
            int | None, Field(ge=1, description="Rows sampled per table (default 10,000).")
        ] = None,
        base_url: Annotated[
            str | None, Field(description="A REST API's base URL, over its document's.")
        ] = None,
        format: Annotated[
            str | None, Field(description="The file format where the name cannot tell it.")
        ] = None,
    ) -> CallToolResult:
        """What a source holds, without loading it: its tables or collections, fields and
        types with confidence, keys and foreign keys, drift, partitions, quality issues,
        paging and auth; every guess with its evidence. Same as 'aoetl analyze --json'."""

        def work() -> dict[str, Any]:
            report = DataOrchestrator().analyze(
                source, base_url=base_url, sample_rows=sample_rows, fmt=format
            )
            return report.to_dict()

        return await calls.read(work)

    @server.tool(annotations=READ_ONLY)
    async def plan(
        source: Source,
        target: Annotated[
            str | None,
            Field(description="Where to load (default duckdb:///warehouse.duckdb)."),
        ] = None,
        tables: Annotated[
            list[str] | None, Field(description="Only these tables or endpoints (names or globs).")
        ] = None,
        name: Annotated[str | None, Field(description="The pipeline's name.")] = None,
        sample_rows: Annotated[int | None, Field(ge=1)] = None,
    ) -> CallToolResult:
        """Propose a pipeline for a source: the pipeline YAML (give it to 'run' as
        'pipeline'), each proposal with its reason, what discovery found per table, and the
        analysis' guesses with their evidence. Nothing is written or loaded."""

        def work() -> dict[str, Any]:
            orch = DataOrchestrator()
            rest = orch.is_rest(source)
            spec = build_spec(source, target=target, name=name, tables=None if rest else tables)
            if rest:
                proposal = orch.propose(spec, tables=tables)
            else:
                proposal = orch.propose(spec, sample_rows=sample_rows)
            guesses = []
            if proposal.report is not None:
                for resource in proposal.report.to_dict()["resources"]:
                    guesses.append({"table": resource["name"], "decisions": resource["decisions"]})
            text = proposal.to_yaml()
            then = "review the YAML, then call run with pipeline=<the YAML>"
            try:  # a password the plan wrote as ${env:…} must be one the server allows
                calls.options.check_secrets("run", {"pipeline": text})
            except UserError as exc:
                then += f"; as it is, run would refuse it: {str(exc).removeprefix('run: ')}"
            return {
                "pipeline_yaml": text,
                "proposals": proposal.reasons,
                "discovered": proposal.discovered,
                "guesses": guesses,
                "next": then,
            }

        return await calls.read(work)

    @server.tool(annotations=READ_ONLY)
    async def profile(
        source: Source,
        table: Table = None,
        depth: Annotated[
            Literal["quick", "standard", "deep"], Field(description="How much to compute.")
        ] = "standard",
    ) -> CallToolResult:
        """Profile a source's tables: statistics per column, anomalies (also against the
        previous profile of the same table) and a quality score. Same as 'aoetl profile
        --json'; the profile is remembered for the next one's drift."""

        def work() -> dict[str, Any]:
            reports = DataOrchestrator().profile(source, table=table, depth=depth)
            return {"tables": [r.model_dump(mode="json") for r in reports]}

        return await calls.read(work)

    @server.tool(annotations=READ_ONLY)
    async def sample(
        source: Source,
        rows: Annotated[
            int | None, Field(ge=1, description="How many rows to draw (default 10).")
        ] = None,
        table: Table = None,
        method: Literal["random", "head"] = "random",
        anonymize: Annotated[
            bool,
            Field(
                description="Replace values of columns that look like personal data (names, "
                "emails, phones…) by consistent fakes. Turning it off needs a server started "
                "with --allow-raw-samples."
            ),
        ] = True,
        seed: int | None = None,
    ) -> CallToolResult:
        """A few rows of a source's table, personal data anonymised by default."""

        def work() -> dict[str, Any]:
            count = calls.rows(rows, "rows", default=10)
            if not anonymize and not calls.options.allow_raw_samples:
                raise UserError(
                    "sample without anonymize returns personal data as it is, and this server "
                    "does not allow it; restart it with 'aoetl mcp --allow-raw-samples'"
                )
            with tempfile.TemporaryDirectory(prefix="aoetl-mcp-") as folder:
                out = Path(folder) / "sample.ndjson"
                found = DataOrchestrator().sample(
                    source,
                    out,
                    rows=count,
                    table=table,
                    method=method,
                    seed=seed,
                    anonymize=anonymize,
                )
                with out.open(encoding="utf-8") as lines:
                    drawn = [json.loads(line) for line in lines if line.strip()]
            about = found.model_dump(mode="json", exclude={"output"})
            return {**about, "records": drawn}

        return await calls.read(work)

    @server.tool(annotations=READ_ONLY)
    async def query(
        target: Annotated[
            str,
            Field(
                description="A target aoetl loads: duckdb:///file.duckdb, postgresql://…, "
                "sqlite:///file.db."
            ),
        ],
        sql: Annotated[str, Field(description="One read-only statement (SELECT, WITH…).")],
        limit: Annotated[int | None, Field(description="Most rows returned.")] = None,
    ) -> CallToolResult:
        """Run one read-only SQL statement against a target, in a read-only connection;
        at most 'limit' rows come back ('truncated' says when there were more)."""

        def work() -> dict[str, Any]:
            count = calls.rows(limit, "limit")
            # A client's statement could take a superuser's read-only role back: refused.
            found = DataOrchestrator().query(target, sql, limit=count, superuser=False)
            data = found.to_dict()
            # One meaning of 'truncated' in every result: the notes of what was left out.
            if data.pop("truncated"):
                data["truncated"] = [
                    f"rows: the first {count:,} rows shown; the statement returns more: narrow "
                    f"it, or give a larger limit (at most {calls.options.max_rows:,})"
                ]
            return data

        # In turn with the writes: DuckDB refuses a run's connection to a file this process
        # holds open read-only (and the reverse), which would fail the run.
        return await calls.write(work)

    @server.tool(annotations=HISTORY)
    async def runs(
        limit: Annotated[
            int | None, Field(ge=1, description="How many, newest first (default 20).")
        ] = None,
        pipeline: Annotated[str | None, Field(description="Only this pipeline's runs.")] = None,
    ) -> CallToolResult:
        """Recent runs, newest first: id, pipeline, status, rows loaded and rejected,
        duration, target and error. Same as 'aoetl runs --json', without the stored specs."""

        def work() -> dict[str, Any]:
            count = calls.rows(limit, "limit", default=20)
            records = DataOrchestrator().runs(pipeline=pipeline, limit=count)
            return {"runs": [summary(r.__dict__) for r in records]}

        return await calls.read(work)

    @server.tool(annotations=HISTORY)
    async def run_details(run_id: RunId) -> CallToolResult:
        """One run in full: its record and error, what it keeps staged, its quarantined
        rows each with the reason it was rejected, its checks and quality scores. Same as
        'aoetl runs show RUN_ID --json'. Use it to explain a failed run."""
        most = calls.options.max_rows

        def work() -> dict[str, Any]:
            orch = DataOrchestrator()
            exact = orch.run_record(run_id, unique=True).run_id
            details = orch.run_details(exact, quarantined=most)
            data = details.to_dict()
            shown, total = len(details.quarantined), details.quarantined_total
            if total > shown:
                data["truncated"] = [
                    f"quarantined: the first {shown:,} of {total:,} entries shown; 'aoetl dlq "
                    f"list --run {details.record.run_id}' lists every one"
                ]
            data["run"] = summary(data["run"])
            # What says why a row was rejected, without its bytes twice and the reader's
            # settings (each ~1 kB): 'aoetl dlq show ID' has them.
            data["quarantined"] = [
                {k: v for k, v in e.items() if k not in ("payload_base64", "context")}
                for e in data["quarantined"]
            ]
            return data

        return await calls.read(work)

    @server.tool(annotations=HISTORY)
    async def audit(
        run_id: RunId,
        kind: Annotated[
            Literal["select", "route", "memory"] | None, Field(description="Only this kind.")
        ] = None,
    ) -> CallToolResult:
        """Every decision of a run, in order: which agent did each step and why, where
        routing sent the data, which memory changed the plan. Same as 'aoetl audit --run
        RUN_ID --json'."""

        def work() -> dict[str, Any]:
            orch = DataOrchestrator()
            entries = orch.audit(orch.run_record(run_id, unique=True).run_id, kind=kind)
            return {"entries": [e.to_dict() for e in entries]}

        return await calls.read(work)

    @server.tool(annotations=HISTORY)
    async def memory_search(
        text: Annotated[str, Field(description="What to look for, e.g. 'orders csv timeout'.")],
        k: Annotated[int, Field(ge=1, le=50)] = 5,
        exact: Annotated[
            bool, Field(description="Match fingerprints and text exactly, with no model.")
        ] = False,
    ) -> CallToolResult:
        """The remembered sources and runs nearest 'text' in meaning (vector search), with
        the settings that worked and the failures seen."""

        def work() -> dict[str, Any]:
            hits = DataOrchestrator().memory_search(text, k=k, exact=exact)
            return {"hits": [h.to_dict() for h in hits]}

        return await calls.read(work)

    @server.tool(annotations=HISTORY)
    async def agents() -> CallToolResult:
        """The agents a run's Coordinator may pick for each step, with their capabilities."""

        def work() -> dict[str, Any]:
            return {"agents": [a.to_dict() for a in DataOrchestrator.agents()]}

        return await calls.read(work)


def summary(run: dict[str, Any]) -> dict[str, Any]:
    """A run record without its stored spec (the pipeline, as long as it is), its start in
    ISO 8601 and its duration to the millisecond."""
    from .._text import iso_local

    summary = {k: v for k, v in run.items() if k not in ("spec_json", "pid", "host")}
    if isinstance(summary.get("started_at"), float):
        summary["started"] = iso_local(summary["started_at"])
    if isinstance(summary.get("duration_s"), float):
        summary["duration_s"] = round(summary["duration_s"], 3)
    return summary
