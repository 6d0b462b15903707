"""`python -m app export [--user-id ...] > file.jsonl` and `python -m app import file.jsonl`; the
work itself is app/commands/transfer_io.py, loaded when a command runs."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.commands.options import add_common, settings_of
from memory.models import Scope


def scope_of(args: argparse.Namespace) -> Scope | None:
    scope = Scope(args.user_id, args.agent_id, args.run_id)
    return None if scope.is_empty else scope


def export_command(args: argparse.Namespace) -> int:
    from app.commands import transfer_io

    settings = settings_of(args)
    if args.output is None:
        counts = asyncio.run(transfer_io.export(settings, sys.stdout, scope_of(args)))
    else:
        with args.output.open("w", encoding="utf-8") as out:
            counts = asyncio.run(transfer_io.export(settings, out, scope_of(args)))
    print(f"exported {json.dumps(transfer_io.footer_counts(counts))}", file=sys.stderr)
    return 0


def import_command(args: argparse.Namespace) -> int:
    from app.commands import transfer_io

    settings = settings_of(args)
    with (sys.stdin if str(args.path) == "-" else args.path.open(encoding="utf-8")) as lines:
        counts, complete = asyncio.run(transfer_io.import_lines(settings, lines))
    print(f"imported {json.dumps(transfer_io.footer_counts(counts))}; skipped {json.dumps(counts.skipped)}",
          file=sys.stderr)
    if not complete:
        print("warning: the file has no footer line: it may be truncated (importing it again is safe)",
              file=sys.stderr)
        return 1
    return 0


def add_parsers(commands: Any) -> None:
    exp = commands.add_parser("export", help="write memories, history, entities and relations as JSON Lines")
    for part in ("user", "agent", "run"):
        exp.add_argument(f"--{part}-id", help=f"only this {part}'s data (scopes are prefixes, as in queries)")
    exp.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    add_common(exp)
    exp.set_defaults(handler=export_command)

    imp = commands.add_parser("import", help="read an export back (idempotent: existing ids are skipped)")
    imp.add_argument("path", type=Path, help="the .jsonl file, or - for standard input")
    add_common(imp)
    imp.set_defaults(handler=import_command)
