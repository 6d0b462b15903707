"""The README's configuration reference matches the settings model, and the set-up commands it
gives are the ones the install script and CI use."""
from __future__ import annotations

from app.ops import reference
from tests.api.test_cli import ROOT

README = ROOT / "README.md"
SERVE = "bash scripts/install.sh && .venv/bin/python -m app serve"
TEST = "bash scripts/install.sh --test && .venv/bin/python -m pytest -q --cov"


def test_the_configuration_reference_in_the_readme_is_up_to_date() -> None:
    block = reference.current_block(README)
    assert block is not None, "README.md lost its configuration reference markers"
    assert block == reference.markdown(), (
        "README.md's configuration reference is stale: run `python -m app config reference --write README.md`"
    )


def test_every_setting_is_in_the_reference() -> None:
    table = reference.markdown()
    for key, _ in reference.rows():
        assert f"| `{key}` |" in table


def test_the_readme_gives_the_two_setup_commands_and_ci_runs_the_second() -> None:
    text = README.read_text()
    assert SERVE in text and TEST in text
    assert (ROOT / ".ci" / "run").read_text().strip().endswith(TEST)


def test_the_operations_docs_exist_and_are_linked() -> None:
    text = README.read_text()
    for doc in ("docs/deploy.md", "docs/troubleshooting.md"):
        assert (ROOT / doc).is_file() and doc in text
