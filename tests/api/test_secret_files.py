"""What the service writes beside its data is readable by its own user only."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from aiohttp.test_utils import TestClient

from app.secret_files import secret_file
from app.web import create_app
from tests.api.authkit import secure_settings
from tests.api.conftest import ClientFactory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_data_dir_and_the_token_secret_are_private_whatever_the_umask(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    data = tmp_path / "fresh"
    old = os.umask(0o002)
    try:
        client: TestClient = await aiohttp_client(create_app(secure_settings(data)))
    finally:
        os.umask(old)
    assert (await client.get("/health/live")).status == 200
    assert mode(data) == 0o700
    assert mode(data / ".token-secret") == 0o600


def test_a_secret_file_is_made_once_and_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "dir" / ".secret"
    first = secret_file(path, 18)
    assert len(first) >= 24 and mode(path) == 0o600 and mode(path.parent) == 0o700
    assert secret_file(path, 18) == first
