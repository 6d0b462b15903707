"""Every statement graph/cypher.py can produce is valid Neo4j 5 Cypher, per Neo4j's own parser.

ArcadeDB runs the statements for real in the other integration tests; this keeps them inside
the Neo4j grammar too. Needs `npm ci` in tools/cypher-lint (CI does it); skipped without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from graph import cypher

LINT_DIR = Path(__file__).resolve().parents[2] / "tools" / "cypher-lint"
PACKAGE = LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not PACKAGE.is_dir(), reason=f"run `npm ci` in {LINT_DIR} to install Neo4j's Cypher linter"
    ),
]


def lint(statements: list[tuple[str, str]]) -> list[dict[str, Any]]:
    payload = json.dumps([{"name": name, "query": query} for name, query in statements])
    done = subprocess.run(
        ["node", str(LINT_DIR / "lint.mjs")], input=payload, capture_output=True, text=True, timeout=120
    )
    assert done.returncode in (0, 1), done.stderr
    report: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(report) == len(statements)
    return report


def test_every_statement_passes_neo4j_lint_without_errors_or_warnings() -> None:
    statements = list(cypher.all_statements("WORKS_AT"))
    # the collection really covers the templated statements and the module's constants
    names = {name for name, _ in statements}
    assert {"merge_relations(WORKS_AT)", "neighbourhood_entities(3)", "RELATIONS_PAGE"} <= names
    assert len(statements) >= 20
    problems = {r["name"]: r["diagnostics"] for r in lint(statements) if r["diagnostics"]}
    assert problems == {}


def test_the_lint_catches_a_typo_and_a_deprecation() -> None:
    broken = cypher.RELATIONS_PAGE.replace("RETURN", "RETRUN", 1)
    report = lint([("typo", broken), ("deprecated", "MATCH (n) WHERE id(n) = $id RETURN n")])
    assert any(d["severity"] == 1 and "RETRUN" in d["message"] for d in report[0]["diagnostics"])
    assert any(d["severity"] == 2 for d in report[1]["diagnostics"])
