"""Command line: `python -m app serve`, `export-schema`, `create-api-key`, and the operational
commands (config, migrate, export, import, prepare-model: app/ops/commands.py).

Exit status: 0 success, 1 a runtime failure (message on stderr), 2 invalid usage or configuration."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from app.auth import cli as auth_cli
from app.ops import commands as ops_commands
from app.ops.config import ConfigError
from app.settings import Settings
from memory.errors import AgentMemError

DEFAULT_SCHEMA_PATH = Path("schema.graphql")


def load_settings(config: Path | None, **overrides: Any) -> Settings:
    """Settings from a config file (TOML, YAML or JSON), overridden by AGENTMEM_* environment
    variables, overridden by command-line flags. Raises ConfigError naming each bad value."""
    from app.ops.config import load

    return load(config, overrides)


def serve(args: argparse.Namespace) -> int:
    from app.ops import serving

    def current() -> Settings:  # what SIGHUP re-reads: the same file, environment and flags
        return ops_commands.settings_of(args, host=args.host, port=args.port, log_level=args.log_level,
                                        log_format=args.log_format)

    return serving.run(current(), reload=current)


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
    run = commands.add_parser("serve", help="serve /graphql (GraphiQL in a browser, WebSocket subscriptions)")
    run.add_argument("--host", help="interface to bind (default from settings: 127.0.0.1)")
    run.add_argument("--port", type=int, help="port (default from settings: 8000)")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-format", choices=["json", "text"])
    ops_commands.add_common(run)
    run.set_defaults(handler=serve)
    export = commands.add_parser("export-schema", help="write the GraphQL SDL (default: schema.graphql; - for stdout)")
    export.add_argument("path", nargs="?", type=Path, default=DEFAULT_SCHEMA_PATH)
    export.set_defaults(handler=export_schema)
    auth_cli.add_parser(commands)
    ops_commands.add_parsers(commands)
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
