"""`python -m app serve` starts the real service and serves /graphql until SIGTERM."""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from app.commands.cli import parser
from app.commands.options import load_settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "agentmem.json"
    config.write_text(json.dumps({"port": 9000, "data_dir": str(tmp_path), "graph": {"enabled": False}}))
    args = parser().parse_args(["serve", "--config", str(config), "--port", "9100"])
    settings = load_settings(args.config, host=args.host, port=args.port)
    assert (settings.port, settings.host, settings.data_dir, settings.graph.enabled) == (9100, "127.0.0.1", tmp_path, False)


async def test_serve_answers_graphql_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "agentmem.json"
    config.write_text(json.dumps({"data_dir": str(tmp_path / "data"), "graph": {"enabled": False},
                                  "auth": {"mode": "development"}}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", "--port", str(port), "--config", str(config),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(60):
                while True:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        assert process.returncode is None, "the server exited"
                        await asyncio.sleep(0.2)
            query = {"query": "{ memories { nodes { id } } }"}
            async with http.post(f"http://127.0.0.1:{port}/graphql", json=query) as resp:
                assert (await resp.json()) == {"data": {"memories": {"nodes": []}}}
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
