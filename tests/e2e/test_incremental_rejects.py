"""An incremental file table with an old bad row: a rerun with nothing new still succeeds."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli


def test_an_old_bad_row_does_not_fail_a_rerun_past_the_mark(work: Path) -> None:
    rows = ["id,amount,updated_at", "1,1.5,2024-01-01 00:00:00", "2,oops,2024-01-02 00:00:00"]
    rows += [f"{i},{i}.5,2024-01-0{i % 9 + 1} 00:00:00" for i in range(3, 40)]
    (work / "inc").mkdir()
    (work / "inc" / "items.csv").write_text("\n".join(rows) + "\n")
    pipeline = {
        "name": "inc",
        "source": {"uri": "inc", "incremental": {"items": {"cursor": "updated_at"}}},
        "target": "duckdb:///w.duckdb",
        "mode": "merge",
        "key": "id",
        "max_bad_ratio": 0.01,  # one bad row of 39 is over it on the first run's whole read
    }
    (work / "p.yaml").write_text(json.dumps(pipeline))
    first = run_cli("run", "p.yaml", "--max-bad-ratio", "0.5", "--json", cwd=work)
    assert first.returncode == 0, first.stderr
    again = run_cli("run", "p.yaml", "--json", cwd=work)  # nothing past the mark: 0 rows
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["tables"]["items"]["rows_loaded"] == 0
