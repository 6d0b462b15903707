"""`python -m app create-api-key`: the way to the first admin key (after which admins manage
keys over GraphQL). The key goes to stdout alone, so that scripts can capture it; it is
shown this once and stored only as a hash."""
from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.commands.options import load_settings
from app.settings import Settings
from memory.access import Role
from memory.errors import AgentMemError
from memory.models import utcnow


def add_parser(commands: Any) -> None:
    cmd: argparse.ArgumentParser = commands.add_parser(
        "create-api-key", help="create an API key and print it once (e.g. --role admin --name bootstrap)"
    )
    cmd.add_argument("--role", required=True, choices=[r.value for r in Role])
    cmd.add_argument("--name", required=True, help="what the key is for (shown when listing keys)")
    cmd.add_argument("--user-id", help="the user a user or agent key is bound to")
    cmd.add_argument("--agent-id", help="the agent an agent key is bound to")
    cmd.add_argument("--expires-in-days", type=float, help="default: never")
    cmd.add_argument("--config", type=Path, help="a JSON file of settings (environment AGENTMEM_* also applies)")
    cmd.set_defaults(handler=create_api_key)


def create_api_key(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_create(args, load_settings(args.config)))
    except AgentMemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _create(args: argparse.Namespace, settings: Settings) -> int:
    from app import bootstrap
    from app.auth.keys import KeyManager
    from app.auth.wiring import hasher_for
    from app.ops.migrations import prepare_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await prepare_database(settings)  # same rule as serving: migrate, or refuse a stale schema
    expires = utcnow() + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    async with bootstrap.credentials_context(settings) as store:
        record, key = await KeyManager(store, hasher_for(settings)).create(
            args.name, Role(args.role), user_id=args.user_id, agent_id=args.agent_id, expires_at=expires,
            created_by="cli",
        )
    print(key, flush=True)
    print(f"created API key {record.id} ({record.name!r}, role {record.role.value}); it is shown only this once",
          file=sys.stderr)
    return 0
