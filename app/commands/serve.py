"""`python -m app serve`: its arguments, and what SIGHUP re-reads. The server itself (listener
first, then the heavy start) is app/commands/server.py, loaded when the command runs."""
from __future__ import annotations

import argparse
from typing import Any

from app.commands.options import add_common, settings_of
from app.settings import Settings


def serve_command(args: argparse.Namespace) -> int:
    from app.commands import server

    def current() -> Settings:  # what SIGHUP re-reads: the same file, environment and flags
        return settings_of(args, host=args.host, port=args.port, log_level=args.log_level, log_format=args.log_format)

    return server.run(current(), reload=current)


def add_parser(commands: Any) -> None:
    run = commands.add_parser("serve", help="serve /graphql (GraphiQL in a browser, WebSocket subscriptions)")
    run.add_argument("--host", help="interface to bind (default from settings: 127.0.0.1)")
    run.add_argument("--port", type=int, help="port (default from settings: 8000)")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-format", choices=["json", "text"])
    add_common(run)
    run.set_defaults(handler=serve_command)
