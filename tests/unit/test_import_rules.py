"""The dependency rule (app -> memory <- adapters) is checked by import-linter's contracts
in pyproject.toml; this test runs them so a violation fails the suite."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("import-linter is not installed (pip install -e '.[test]')")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_core_imports_no_adapter_or_web_module() -> None:
    code = (
        "import sys, memory.service, memory.filters, memory.events;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'app','graph','vector','history','aiohttp','strawberry','neo4j','hnswlib','sqlmodel','sqlalchemy'}];"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"the core pulled in: {proc.stdout}{proc.stderr}"
