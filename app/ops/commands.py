"""Operational subcommands of `python -m app`: config, migrate, export, import, erase, prepare-model."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.ops import config, migrations, reference
from app.settings import Settings
from memory.models import Scope

CONFIG_HELP = "a TOML, YAML or JSON settings file (also $AGENTMEM_CONFIG); AGENTMEM_* variables override it"


def add_common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", type=Path, help=CONFIG_HELP)
    cmd.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                     help="override one setting, e.g. --set graph.enabled=false (repeatable; beats everything)")


def settings_of(args: argparse.Namespace, **flags: Any) -> Settings:
    overrides = config.parse_assignments(getattr(args, "assignments", []))
    overrides.update({k: v for k, v in flags.items() if v is not None})
    return config.load(getattr(args, "config", None), overrides)


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


def migrate_command(args: argparse.Namespace) -> int:
    return migrations.run(args, settings_of(args))


def _scope(args: argparse.Namespace) -> Scope | None:
    scope = Scope(args.user_id, args.agent_id, args.run_id)
    return None if scope.is_empty else scope


def export_command(args: argparse.Namespace) -> int:
    from app.ops import transfer

    settings = settings_of(args)
    if args.output is None:
        counts = asyncio.run(transfer.export(settings, sys.stdout, _scope(args)))
    else:
        with args.output.open("w", encoding="utf-8") as out:
            counts = asyncio.run(transfer.export(settings, out, _scope(args)))
    print(f"exported {json.dumps(transfer.footer_counts(counts))}", file=sys.stderr)
    return 0


def import_command(args: argparse.Namespace) -> int:
    from app.ops import transfer

    settings = settings_of(args)
    with (sys.stdin if str(args.path) == "-" else args.path.open(encoding="utf-8")) as lines:
        counts, complete = asyncio.run(transfer.import_lines(settings, lines))
    print(f"imported {json.dumps(transfer.footer_counts(counts))}; skipped {json.dumps(counts.skipped)}", file=sys.stderr)
    if not complete:
        print("warning: the file has no footer line: it may be truncated (importing it again is safe)",
              file=sys.stderr)
        return 1
    return 0


def erase_command(args: argparse.Namespace) -> int:
    """Forget a user (agent, run) for real: memories, their history text, graph and vectors."""
    from app import bootstrap

    scope = _scope(args)
    if scope is None:
        print("give --user-id, --agent-id or --run-id: whose memories should be erased?", file=sys.stderr)
        return 2
    settings = settings_of(args)

    async def erase() -> int:
        async with bootstrap.service_context(settings) as service:
            return await service.delete_all(scope, actor="cli:erase", purge=True)

    count = asyncio.run(erase())
    print(f"erased {count} memories of {scope.key()}; history keeps the lines without their text", file=sys.stderr)
    return 0


def prepare_model_command(args: argparse.Namespace) -> int:
    """Export (once) and load the local ONNX model, so the first request does not pay for it."""
    settings = settings_of(args)
    cfg = settings.embedder
    if cfg.provider != "onnx":
        print(f"embedder.provider is {cfg.provider}: no ONNX model to prepare")
        return 0
    from memory.providers.local_embedder import OnnxEmbedder

    embedder = OnnxEmbedder(cache_dir=cfg.resolved_cache_dir(), threads=cfg.threads)

    async def prepare() -> None:
        try:
            await embedder.warmup()
        finally:
            await embedder.aclose()

    asyncio.run(prepare())
    print(embedder.onnx_path)
    return 0


def add_parsers(commands: Any) -> None:
    cfg = commands.add_parser("config", help="show the effective configuration, check it, or print its reference")
    cfg.add_argument("action", choices=["show", "check", "reference"])
    cfg.add_argument("--format", choices=["yaml", "json"], default="yaml", help="for show (default yaml)")
    cfg.add_argument("--write", type=Path, help="for reference: replace the block between the markers in this file")
    add_common(cfg)
    cfg.set_defaults(handler=config_command)

    mig = migrations.add_parser(commands)
    add_common(mig)
    mig.set_defaults(handler=migrate_command)

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

    era = commands.add_parser("erase", help="erase a user's (agent's, run's) memories for real, history text included")
    for part in ("user", "agent", "run"):
        era.add_argument(f"--{part}-id", help=f"erase this {part}'s data (scopes are prefixes, as in queries)")
    add_common(era)
    era.set_defaults(handler=erase_command)

    prep = commands.add_parser("prepare-model", help="export and cache the local ONNX embedding model (needs torch once)")
    add_common(prep)
    prep.set_defaults(handler=prepare_model_command)
