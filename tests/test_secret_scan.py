"""`make lint` refuses hard-coded credentials in src/ and examples/ (detect-secrets)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOOK = str(Path(sys.executable).with_name("detect-secrets-hook"))


def scan(*files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOOK, "--baseline", ".secrets.baseline", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_project_has_no_hard_coded_credentials() -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "src", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    proc = scan(*files)
    assert proc.returncode == 0, proc.stdout


def test_a_hard_coded_credential_fails_the_scan(tmp_path: Path) -> None:
    leaky = tmp_path / "settings.py"
    leaky.write_text(
        'warehouse_password = "Pr0d-Passw0rd-Do-Not-Commit"\n'
    )  # pragma: allowlist secret
    proc = scan(str(leaky))
    assert proc.returncode == 1
    assert "Secret Keyword" in proc.stdout
