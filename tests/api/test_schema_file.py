"""schema.graphql at the repo root is the exported SDL; `python -m app export-schema` writes it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.commands.cli import main
from app.graphql.schema import sdl

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_is_up_to_date() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == sdl(), "schema.graphql is stale: run `python -m app export-schema`"


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    target = tmp_path / "out.graphql"
    assert main(["export-schema", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == sdl()


def test_python_dash_m_app_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "export-schema", "-"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == sdl()
    assert "type Subscription" in done.stdout and "memoryEvents" in done.stdout
