"""`python -m app erase --user-id ...` and `python -m app prepare-model`."""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from app.commands.options import add_common, settings_of
from app.commands.transfer import scope_of


def erase_command(args: argparse.Namespace) -> int:
    """Forget a user (agent, run) for real: memories, their history text, graph and vectors."""
    from app import bootstrap

    scope = scope_of(args)
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

    # the int8 copy too (unless quantized is false), with fixed ranges unless static_ranges is
    # false: what a new store runs, made from the export
    embedder = OnnxEmbedder(cache_dir=cfg.resolved_cache_dir(), threads=cfg.threads, quantized=cfg.int8(),
                            static_ranges=cfg.fixed_ranges())

    async def prepare() -> None:
        try:
            await embedder.warmup()
        finally:
            await embedder.aclose()

    asyncio.run(prepare())
    print(embedder.onnx_path)
    return 0


def add_parsers(commands: Any) -> None:
    era = commands.add_parser("erase", help="erase a user's (agent's, run's) memories for real, history text included")
    for part in ("user", "agent", "run"):
        era.add_argument(f"--{part}-id", help=f"erase this {part}'s data (scopes are prefixes, as in queries)")
    add_common(era)
    era.set_defaults(handler=erase_command)

    prep = commands.add_parser("prepare-model", help="export and cache the local ONNX embedding model (needs torch once)")
    add_common(prep)
    prep.set_defaults(handler=prepare_model_command)
