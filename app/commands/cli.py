"""`python -m app`: the parser of every command, and the dispatch to its handler.

Exit status: 0 success, 1 a runtime failure (message on stderr), 2 invalid usage or configuration."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from app.commands import config, keys, maintenance, migrate, serve, transfer
from app.ops.config import ConfigError
from memory.errors import AgentMemError

DEFAULT_SCHEMA_PATH = Path("schema.graphql")


def export_schema(args: argparse.Namespace) -> int:
    from app.graphql.schema import sdl

    text = sdl()
    if str(args.path) == "-":
        sys.stdout.write(text)
    else:
        args.path.write_text(text, encoding="utf-8")
        print(f"wrote {args.path}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m app", description="AgentMem: long-term memory over GraphQL")
    commands = root.add_subparsers(dest="command", required=True)
    serve.add_parser(commands)
    export = commands.add_parser("export-schema", help="write the GraphQL SDL (default: schema.graphql; - for stdout)")
    export.add_argument("path", nargs="?", type=Path, default=DEFAULT_SCHEMA_PATH)
    export.set_defaults(handler=export_schema)
    keys.add_parser(commands)
    config.add_parser(commands)
    migrate.add_parser(commands)
    transfer.add_parsers(commands)
    maintenance.add_parsers(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (AgentMemError, OSError) as exc:  # the expected failures: say what and stop, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
