"""The client examples in examples/ run green against a live server with a real API key."""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.api.test_cli import ROOT
from tests.api.test_ops_serve import Server, poll, start

EXAMPLES = ROOT / "examples"
JS_MODULES = EXAMPLES / "js" / "node_modules" / "graphql-ws"


async def run(*argv: str, env: dict[str, str], cwd: Path = ROOT) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[Server, str]]:
    """A server with authentication enforced, and an admin API key for it."""
    env = {**os.environ, "AGENTMEM_DATA_DIR": str(tmp_path), "AGENTMEM_GRAPH__ENABLED": "false"}
    code, out = await run(sys.executable, "-m", "app", "create-api-key", "--role", "admin", "--name", "examples",
                          env={**env, "PYTHONWARNINGS": "ignore"})
    assert code == 0, out
    key = next(line for line in out.splitlines() if line and " " not in line)
    server = await start(env={"AGENTMEM_DATA_DIR": str(tmp_path), "AGENTMEM_GRAPH__ENABLED": "false"})
    try:
        async with aiohttp.ClientSession() as http:
            await poll(http, server, "/health/ready", 200)
        yield server, key
    finally:
        assert await server.stop() == 0


def client_env(server: Server, key: str) -> dict[str, str]:
    return {**os.environ, "AGENTMEM_URL": server.url("/graphql"), "AGENTMEM_API_KEY": key}


async def test_the_python_example_runs_green(live: tuple[Server, str]) -> None:
    server, key = live
    code, out = await run(sys.executable, str(EXAMPLES / "python" / "quickstart.py"), env=client_env(server, key))
    assert code == 0, out
    assert "event: ADD I am allergic to peanuts" in out and "search:" in out


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(not JS_MODULES.is_dir(), reason="run `npm ci` in examples/js (scripts/install.sh --test does)")
async def test_the_javascript_example_runs_green(live: tuple[Server, str]) -> None:
    server, key = live
    code, out = await run("node", "quickstart.mjs", env=client_env(server, key), cwd=EXAMPLES / "js")
    assert code == 0, out
    assert "event: ADD I prefer window seats on long flights" in out and "search:" in out


async def test_the_examples_refuse_a_wrong_key(live: tuple[Server, str]) -> None:
    server, _ = live
    code, out = await run(sys.executable, str(EXAMPLES / "python" / "quickstart.py"),
                          env=client_env(server, "not-a-key"))
    assert code != 0 and "error: Transport" in out and "Traceback" not in out
