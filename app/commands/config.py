"""`python -m app config show | check | reference`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.commands.options import add_common, settings_of
from app.ops import config, reference


def config_command(args: argparse.Namespace) -> int:
    if args.action == "reference":
        if args.write is None:
            sys.stdout.write(reference.markdown())
        else:
            changed = reference.write_into(args.write)
            print(f"{args.write}: {'updated' if changed else 'already up to date'}")
        return 0
    settings = settings_of(args)  # a ConfigError (exit 2) for `check` as well
    if args.action == "show":
        sys.stdout.write(config.show(settings, args.format))
    else:
        print("configuration is valid")
    return 0


def add_parser(commands: Any) -> None:
    cfg = commands.add_parser("config", help="show the effective configuration, check it, or print its reference")
    cfg.add_argument("action", choices=["show", "check", "reference"])
    cfg.add_argument("--format", choices=["yaml", "json"], default="yaml", help="for show (default yaml)")
    cfg.add_argument("--write", type=Path, help="for reference: replace the block between the markers in this file")
    add_common(cfg)
    cfg.set_defaults(handler=config_command)
