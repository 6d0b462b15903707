"""The export/import statements (graph/dump.py) are valid Neo4j 5 Cypher too; ArcadeDB runs
them in tests/integration/test_ops_transfer.py."""
from __future__ import annotations

from graph import dump
from tests.integration.test_cypher_portability import lint, pytestmark  # noqa: F401  (same skips)


def test_dump_and_restore_statements_pass_neo4j_lint() -> None:
    problems = {r["name"]: r["diagnostics"] for r in lint(dump.statements()) if r["diagnostics"]}
    assert problems == {}
