"""What every command that reads the configuration accepts (--config, --set), and the settings
those options select."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.ops import config
from app.settings import Settings

CONFIG_HELP = "a TOML, YAML or JSON settings file (also $AGENTMEM_CONFIG); AGENTMEM_* variables override it"


def add_common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", type=Path, help=CONFIG_HELP)
    cmd.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                     help="override one setting, e.g. --set graph.enabled=false (repeatable; beats everything)")


def load_settings(config_file: Path | None, **overrides: Any) -> Settings:
    """Settings from a config file (TOML, YAML or JSON), overridden by AGENTMEM_* environment
    variables, overridden by command-line flags. Raises ConfigError naming each bad value."""
    return config.load(config_file, overrides)


def settings_of(args: argparse.Namespace, **flags: Any) -> Settings:
    overrides = config.parse_assignments(getattr(args, "assignments", []))
    overrides.update({k: v for k, v in flags.items() if v is not None})
    return config.load(getattr(args, "config", None), overrides)
