"""`python -m app serve` as a process: the listener answers during start-up, readiness flips
to 200 when the components are up, SIGHUP reloads what can change live, and a database the
code cannot use stops the start with a clear message."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from history import migrate
from tests.api.test_cli import ROOT, free_port
from tests.integration.test_migrations import set_revision


class Server:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process, self.port = process, port
        self.output: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.output.append(line.decode(errors="replace").rstrip())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_for_line(self, needle: str, timeout: float = 20) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for line in self.output:
                    if needle in line:
                        return line
                await asyncio.sleep(0.05)

    async def stop(self, signal_first: bool = True) -> int:
        if signal_first and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            code = await self.process.wait()
        await self._reader
        return code


async def start(*args: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", "--port", str(port), *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    return Server(process, port)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def poll(http: aiohttp.ClientSession, server: Server, path: str, until: int, timeout: float = 90) -> list[int]:
    """Statuses seen on `path` until it answers `until`."""
    seen: list[int] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                async with http.get(server.url(path)) as resp:
                    seen.append(resp.status)
                    if resp.status == until:
                        return seen
            except aiohttp.ClientConnectionError:
                assert server.process.returncode is None, "\n".join(server.output)
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_readiness_flips_from_503_to_200_as_the_embedded_graph_comes_up(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    server = await start("--set", f"data_dir={tmp_path}", "--set", "auth.mode=development")
    try:
        await poll(http, server, "/health/live", 200)
        async with http.get(server.url("/health/ready")) as resp:
            early = (resp.status, await resp.json())
        seen = await poll(http, server, "/health/ready", 200)
        async with http.post(server.url("/graphql"), json={"query": "{ __typename }"}) as resp:
            assert resp.status == 200
    finally:
        assert await server.stop() == 0
    # the JVM takes a second or two: the probe answered 503 naming what it waited for
    assert early[0] == 503 and early[1]["status"] == "starting", early
    assert early[1]["waiting_for"] and \
        set(early[1]["waiting_for"]) <= {"migrations", "graph", "vector_index", "embedder", "service"}
    assert seen[0] == 503 and seen[-1] == 200


async def test_sighup_applies_live_keys_and_names_those_needing_a_restart(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = tmp_path / "agentmem.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nlog_format = "json"\n[graph]\nenabled = false\n'
                      '[auth]\nmode = "development"\n')
    server = await start("--config", str(config))
    try:
        await poll(http, server, "/health/ready", 200)
        await http.get(server.url("/health/live"), headers={"X-Request-ID": "before-hup"})
        config.write_text(config.read_text().replace('log_format = "json"', 'log_format = "json"\nlog_level = "DEBUG"\n'
                                                      "max_body_bytes = 2048000"))
        server.process.send_signal(signal.SIGHUP)
        line = json.loads(await server.wait_for_line("configuration reloaded"))
        assert line["message"] == "configuration reloaded: applied log_level; needs a restart: max_body_bytes"
        async with http.get(server.url("/health/live"), headers={"X-Request-ID": "after-hup"}) as resp:
            assert resp.status == 200
        # health polls log at DEBUG: visible only now that the level was lowered live
        await server.wait_for_line('"request_id": "after-hup"')
        assert not any('"before-hup"' in line for line in server.output)
    finally:
        assert await server.stop() == 0


async def test_a_database_ahead_of_the_code_stops_the_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'agentmem.db'}"
    await migrate.upgrade(url)
    await set_revision(url, "9999_future")
    server = await start("--set", f"data_dir={tmp_path}", "--set", "graph.enabled=false")
    code = await server.stop(signal_first=False)
    assert code == 1
    assert any("9999_future" in line and "newer release" in line for line in server.output), server.output


async def test_a_database_behind_without_auto_migrate_stops_the_start(tmp_path: Path) -> None:
    server = await start("--set", f"data_dir={tmp_path}", "--set", "graph.enabled=false",
                         "--set", "auto_migrate=false")
    code = await server.stop(signal_first=False)
    assert code == 1
    message = "\n".join(server.output)
    assert "python -m app migrate upgrade" in message and "auto_migrate" in message


async def test_a_taken_port_is_reported_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", "serve", "--port", str(port), "--set", f"data_dir={tmp_path}",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    text = out.decode()
    assert f"cannot listen on 127.0.0.1:{port}" in text and "Traceback" not in text


async def test_prepare_model_leaves_the_onnx_model_in_the_cache() -> None:
    # scripts/install.sh runs it; run again it finds the exported file and only loads it
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "prepare-model", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 900)
    assert process.returncode == 0, err.decode()
    path = Path(out.decode().strip().splitlines()[-1])
    assert path.suffix == ".onnx" and path.is_file()
