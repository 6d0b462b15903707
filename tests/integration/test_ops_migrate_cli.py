"""`python -m app migrate` on real SQLite files and PostgreSQL databases."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from history import migrate
from tests.integration.test_migrations import TABLES, tables_in

ROOT = Path(__file__).resolve().parents[2]


async def cli(url: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "AGENTMEM_DATABASE_URL": url, "AGENTMEM_DATA_DIR": str(tmp_path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "migrate", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_upgrade_downgrade_current_and_history(unmigrated_sql_url: str, tmp_path: Path) -> None:
    url, head = unmigrated_sql_url, migrate.head()
    code, out = await cli(url, tmp_path, "current")
    assert code == 0 and out.strip().endswith(f"base (head is {head})")

    code, out = await cli(url, tmp_path, "upgrade")
    assert code == 0 and out.strip().endswith(f"{head} (up to date)")
    assert TABLES <= await tables_in(url)

    code, out = await cli(url, tmp_path, "history")
    assert code == 0
    assert f"-> {head} (head, current)" in out and "base -> 0001" in out

    code, out = await cli(url, tmp_path, "downgrade", "0001")
    assert code == 0 and out.strip().endswith(f"0001 (head is {head})")
    assert await migrate.current(url) == "0001"

    code, out = await cli(url, tmp_path, "downgrade", "base")
    assert code == 0 and not TABLES & await tables_in(url)

    code, out = await cli(url, tmp_path, "upgrade", "0001")
    assert code == 0 and await migrate.current(url) == "0001"
    code, out = await cli(url, tmp_path, "upgrade")
    assert code == 0 and await migrate.is_up_to_date(url)


async def test_downgrade_needs_a_revision_and_unknown_revisions_fail_cleanly(sql_url: str, tmp_path: Path) -> None:
    code, out = await cli(sql_url, tmp_path, "downgrade")
    assert code != 0 and "needs a revision" in out
    code, out = await cli(sql_url, tmp_path, "upgrade", "not-a-revision")
    assert code == 1 and "Traceback" not in out and "not-a-revision" in out


async def test_postgresql_is_not_migrated_at_start_unless_configured(pg_url: str) -> None:
    from app.ops.migrations import PendingMigrations, prepare_database
    from app.settings import Settings

    await migrate.downgrade(pg_url, "base")
    settings = Settings(database_url=pg_url)
    assert not settings.migrates_on_start()
    try:
        await prepare_database(settings)
    except PendingMigrations as exc:
        assert "python -m app migrate upgrade" in str(exc)
    else:
        raise AssertionError("a database behind the code was accepted")
    await prepare_database(settings.model_copy(update={"auto_migrate": True}))
    assert await migrate.is_up_to_date(pg_url)
