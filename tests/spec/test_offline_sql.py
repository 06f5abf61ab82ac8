"""SQL that aoetl checks before a run (a route's predicate, a check's SQL) never makes DuckDB
try to install an extension from the network: an operator only an extension has is an error
naming it, at once."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli


def test_an_extension_only_operator_in_a_route_is_refused_without_an_install(work: Path) -> None:
    (work / "o.csv").write_text("id,amount\n1,5\n2,2000\n")
    (work / "p.yaml").write_text(
        "name: inet\nsource: o.csv\ntarget: duckdb:///w.duckdb\nroutes:\n  o:\n"
        '    - when: "amount >>= 1000"\n      to: big\n    - else: small\n'
    )
    done = run_cli("run", "p.yaml", cwd=work)
    assert done.returncode == 2
    assert "routes.o rule 1" in done.stderr and "exists in the inet extension" in done.stderr
    assert "install" not in done.stderr
