"""`python -m app migrate upgrade [REV] | downgrade REV | current | history`, and the start-up
rule: the service never runs on a database ahead of its code, and applies pending migrations
only when configured to (settings.auto_migrate; by default only for embedded SQLite)."""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from app.secret_files import private_dir
from app.settings import Settings
from history import migrate
from history.migrate import SchemaVersionError


class PendingMigrations(SchemaVersionError):
    """The database is behind this code and auto_migrate is off."""


async def prepare_database(settings: Settings) -> None:
    url = settings.sql_url()
    await migrate.ensure_not_ahead(url)
    if settings.migrates_on_start():
        await migrate.upgrade(url)
        return
    current = await migrate.current(url)
    if current != migrate.head():
        raise PendingMigrations(
            f"the database schema is at revision {current or 'none (empty database)'} but this release "
            f"needs {migrate.head()}; run `python -m app migrate upgrade` (back up first), or set "
            "auto_migrate = true (AGENTMEM_AUTO_MIGRATE=true) to migrate at start"
        )


def history_lines(current: str | None) -> list[str]:
    script = ScriptDirectory.from_config(migrate.config())
    lines = []
    for rev in script.walk_revisions():  # newest first, like `alembic history`
        marks = [m for m, on in (("head", rev.revision in script.get_heads()), ("current", rev.revision == current)) if on]
        label = f" ({', '.join(marks)})" if marks else ""
        lines.append(f"{rev.down_revision or 'base'} -> {rev.revision}{label}: {rev.doc or ''}".rstrip())
    return lines


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.sql_url()
    private_dir(settings.data_dir)
    if args.action == "upgrade":
        await migrate.upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        await migrate.downgrade(url, args.revision)
    elif args.action == "history":
        print("\n".join(history_lines(await migrate.current(url))))
        return 0
    current = await migrate.current(url)
    state = "up to date" if current == migrate.head() else f"head is {migrate.head()}"
    print(f"{current or 'base'} ({state})")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "downgrade" and not args.revision:
        raise SystemExit("migrate downgrade needs a revision (a revision id, or base)")
    try:
        return asyncio.run(_run(args, settings))
    except CommandError as exc:  # alembic's own refusals (unknown revision...): a message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


def add_parser(commands: Any) -> argparse.ArgumentParser:
    cmd: argparse.ArgumentParser = commands.add_parser(
        "migrate", help="SQL schema migrations: upgrade [REV], downgrade REV, current, history"
    )
    cmd.add_argument("action", choices=["upgrade", "downgrade", "current", "history"])
    cmd.add_argument("revision", nargs="?", help="target revision (upgrade: default head; downgrade: required)")
    return cmd
