"""Command line: `python -m app serve` and `python -m app export-schema`."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from app.settings import Settings

DEFAULT_SCHEMA_PATH = Path("schema.graphql")


def load_settings(config: Path | None, **overrides: Any) -> Settings:
    """Settings from the environment (AGENTMEM_*), a JSON config file, then command-line flags."""
    values: dict[str, Any] = {}
    if config is not None:
        values = json.loads(config.read_text(encoding="utf-8"))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


def serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from app.web import create_app

    settings = load_settings(args.config, host=args.host, port=args.port)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(create_app(settings), host=settings.host, port=settings.port)
    return 0


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
    run.add_argument("--config", type=Path, help="a JSON file of settings (environment AGENTMEM_* also applies)")
    run.set_defaults(handler=serve)
    export = commands.add_parser("export-schema", help="write the GraphQL SDL (default: schema.graphql; - for stdout)")
    export.add_argument("path", nargs="?", type=Path, default=DEFAULT_SCHEMA_PATH)
    export.set_defaults(handler=export_schema)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.handler(args))
