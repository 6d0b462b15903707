"""bandit over the product code: a new finding fails the suite until it is fixed or carries
`# nosec Bxxx  # reason` on its line. Configuration (the skipped checks, and why) in pyproject.toml."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("app", "memory", "graph", "vector", "history")


def bandit(*targets: str | Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "bandit", "-c", str(ROOT / "pyproject.toml"), "-r", "-q", "-f", "json",
         *map(str, targets)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: findings; anything else: bandit itself failed
    report = json.loads(proc.stdout)
    assert not report["errors"], report["errors"]  # a file bandit cannot parse is not a pass
    return list(report["results"])


def test_the_product_code_has_no_unjustified_finding() -> None:
    findings = bandit(*PRODUCT)
    assert findings == [], "\n".join(
        f"{f['filename']}:{f['line_number']} {f['test_id']} {f['issue_text']}" for f in findings)


def test_the_same_run_reports_a_new_finding(tmp_path: Path) -> None:
    risky = tmp_path / "risky.py"
    risky.write_text(
        "import hashlib, subprocess\n"
        "def run(cmd: str) -> None:\n"
        "    subprocess.call(cmd, shell=True)\n"
        "def digest(data: bytes) -> str:\n"
        "    return hashlib.md5(data).hexdigest()\n"
        "def checked(x: int) -> int:\n"
        "    assert x > 0\n"  # skipped by our configuration (see pyproject.toml)
        "    return x\n"
    )
    found = {(f["test_id"], f["line_number"]) for f in bandit(risky)}
    assert found == {("B404", 1), ("B602", 3), ("B324", 5)}
