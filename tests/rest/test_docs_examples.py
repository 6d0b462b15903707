"""The REST examples run as written against a live server with a real API key: the curl block
of docs/rest.md (extracted from the markdown) and examples/python/mem0_rest.py (mem0's own
client)."""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.api.test_examples import live, run  # noqa: F401  (live is a fixture)
from tests.api.test_ops_serve import Server

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "rest.md"
EXAMPLE = ROOT / "examples" / "python" / "mem0_rest.py"


def curl_block() -> str:
    """The first bash block of the "With curl" section."""
    section = DOC.read_text().split("## With curl", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match is not None, "docs/rest.md lost its curl block"
    return match.group(1)


def with_values(script: str, url: str, key: str) -> str:
    """The block with its two placeholders (the server's address, the API key) filled in."""
    lines = script.splitlines()
    settings = {"AGENTMEM": url, "KEY": key}
    for i, line in enumerate(lines):
        name = line.split("=", 1)[0]
        if name in settings:
            lines[i] = f"{name}={settings.pop(name)}"
    assert not settings, f"the block no longer sets {sorted(settings)}"
    return "\n".join(lines)


def client_env(tmp_path: Path) -> dict[str, str]:
    """No proxies, no inherited AgentMem or mem0 settings, mem0's files under tmp_path."""
    env = {k: v for k, v in os.environ.items()
           if "proxy" not in k.lower() and not k.startswith(("MEM0_", "AGENTMEM_"))}
    env.update(MEM0_DIR=str(tmp_path / "mem0"), HOME=str(tmp_path / "home"))
    return env


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq")
async def test_the_curl_examples_in_docs_rest_md_run_as_written(live: tuple[Server, str], tmp_path: Path) -> None:
    server, key = live
    script = with_values(curl_block(), server.url("").rstrip("/"), key)
    code, out = await run("bash", "-euo", "pipefail", "-c", script, env=client_env(tmp_path))
    assert code == 0, out
    lines = out.splitlines()
    assert re.fullmatch(r"added [0-9a-f-]{36}", lines[0]), out
    memory_id = lines[0].split()[1]
    search, got, updated, history, deleted = (json.loads(line) for line in lines[1:6])
    assert [hit["memory"] for hit in search["results"]] == ["I moved to Lisbon in May"]
    assert got["id"] == memory_id and got["user_id"] == "alice"
    assert updated["memory"] == "I moved to Porto in June"
    assert [(h["event"], h["new_memory"]) for h in history] == [
        ("ADD", "I moved to Lisbon in May"), ("UPDATE", "I moved to Porto in June")]
    assert "deleted" in deleted["message"].lower()
    assert lines[6:] == ["404"]


async def test_the_mem0_client_example_runs_green_and_explains_a_refused_key(
    live: tuple[Server, str], tmp_path: Path
) -> None:
    server, key = live
    env = {**client_env(tmp_path), "AGENTMEM_REST_URL": server.url("").rstrip("/"), "AGENTMEM_API_KEY": key}
    code, out = await run(sys.executable, str(EXAMPLE), env=env)
    assert code == 0, out
    assert "add: ADD I moved to Lisbon in May" in out
    assert "search: ['I moved to Lisbon in May']" in out
    assert "update: I moved to Porto in June" in out
    assert "history: ['ADD', 'UPDATE']" in out
    assert "after delete: 0 memories" in out

    # a refused key is a one-line error, not a traceback (one server for both: each start costs seconds)
    code, out = await run(sys.executable, str(EXAMPLE), env={**env, "AGENTMEM_API_KEY": "amk_wrong"})
    assert code == 1 and out.startswith("error: ") and "Traceback" not in out, out
