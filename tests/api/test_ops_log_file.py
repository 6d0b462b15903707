"""`serve` writes its log to log.file as well as to stderr."""
from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from tests.api.test_ops_serve import http, poll, start  # noqa: F401  (http is a fixture)


async def test_serve_writes_json_lines_to_the_log_file_and_stderr(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    log_file = tmp_path / "logs" / "agentmem.log"
    server = await start("--set", f"data_dir={tmp_path / 'data'}", "--set", "graph.enabled=false",
                         "--set", "auth.mode=development", "--set", f"log.file={log_file}",
                         "--set", "log.rotate_bytes=1048576", "--log-format", "json")
    try:
        await poll(http, server, "/health/ready", 200)
        await server.wait_for_line("serving http://")
    finally:
        assert await server.stop() == 0
    written = [json.loads(line) for line in log_file.read_text().splitlines()]
    messages = [line["message"] for line in written]
    assert any(m.startswith("serving http://127.0.0.1:") for m in messages), messages
    assert any("serving http://" in line for line in server.output)  # stderr still has it
