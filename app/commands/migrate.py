"""`python -m app migrate upgrade [REV] | downgrade REV | current | history`. The rule applied at
start (refuse a database ahead of the code; migrate only when configured to) is
app/ops/migrations.py's prepare_database."""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from app.commands.options import add_common, settings_of
from app.secret_files import private_dir
from app.settings import Settings
from history import migrate


def history_lines(current: str | None) -> list[str]:
    from alembic.script import ScriptDirectory  # loaded by the commands that need it (history/migrate.py)

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


def migrate_command(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if args.action == "downgrade" and not args.revision:
        raise SystemExit("migrate downgrade needs a revision (a revision id, or base)")
    from alembic.util import CommandError  # loaded only by this command (history/migrate.py)

    try:
        return asyncio.run(_run(args, settings))
    except CommandError as exc:  # alembic's own refusals (unknown revision...): a message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


def add_parser(commands: Any) -> None:
    cmd: argparse.ArgumentParser = commands.add_parser(
        "migrate", help="SQL schema migrations: upgrade [REV], downgrade REV, current, history"
    )
    cmd.add_argument("action", choices=["upgrade", "downgrade", "current", "history"])
    cmd.add_argument("revision", nargs="?", help="target revision (upgrade: default head; downgrade: required)")
    add_common(cmd)
    cmd.set_defaults(handler=migrate_command)
