"""`python -m app create-api-key`: the first admin key, printed once, working at once."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp.test_utils import TestClient

from app.web import create_app
from tests.api.authkit import Caller, secure_settings

ROOT = Path(__file__).resolve().parents[2]


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_create_api_key_prints_a_working_admin_key_once(
    aiohttp_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    config = tmp_path / "agentmem.json"
    config.write_text(json.dumps({"data_dir": str(tmp_path), "graph": {"enabled": False}}))
    code, out, err = await cli("create-api-key", "--role", "admin", "--name", "bootstrap", "--config", str(config))
    assert code == 0, err
    key = out.strip()
    assert key.startswith("amk_") and "\n" not in key and "shown only this once" in err

    client = await aiohttp_client(create_app(secure_settings(tmp_path)))
    admin = Caller(client, key)
    (listed,) = (await admin.data("{ apiKeys { name role createdBy } }"))["apiKeys"]
    assert listed == {"name": "bootstrap", "role": "ADMIN", "createdBy": "cli"}
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("agentmem.db*"))  # with the WAL
    assert b"bootstrap" in stored and key.encode() not in stored  # only its hash is stored


async def test_create_api_key_refuses_impossible_bindings(tmp_path: Path) -> None:
    config = tmp_path / "agentmem.json"
    config.write_text(json.dumps({"data_dir": str(tmp_path), "graph": {"enabled": False}}))
    code, out, err = await cli("create-api-key", "--role", "user", "--name", "x", "--config", str(config))
    assert code == 2 and out == "" and "user_id" in err
