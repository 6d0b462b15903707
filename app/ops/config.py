"""Loading the settings for a command, explaining invalid values, and showing the result.

`load(config, overrides)` applies the precedence of app/settings.py (flags > AGENTMEM_*
environment > config file). A ValidationError becomes a ConfigError whose message names each
bad key, the value given, where it came from and what is allowed; the CLI prints it and exits
with status 2."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import SecretStr, ValidationError

from app.ops.config_sources import ConfigFileError, config_path, using_config_file
from app.settings import Settings

ENV_PREFIX = "AGENTMEM_"
REDACTED = "**********"
# user:password@ in URLs (database_url, redis_url, graph.uri) is a secret too
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^@\s]+)(?=@)", re.IGNORECASE)


class ConfigError(Exception):
    """The configuration cannot be used; the message is meant for the operator as it is."""


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "__")


def parse_assignments(pairs: Iterable[str]) -> dict[str, Any]:
    """`--set graph.uri=bolt://x --set memory.max_limit=50` -> nested init values. Values are
    parsed as JSON when they can be (numbers, booleans, lists), else taken as strings."""
    nested: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE (got {pair!r})")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def load(config: Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    values = {k: v for k, v in (overrides or {}).items() if v is not None}
    path = config if config is not None else config_path()
    try:
        with using_config_file(path):
            return Settings(**values)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from exc
    except ValidationError as exc:
        raise ConfigError(explain(exc, values, path)) from exc


def explain(error: ValidationError, flags: Mapping[str, Any], path: Path | None) -> str:
    lines = [f"invalid configuration ({error.error_count()} problem{'s' * (error.error_count() != 1)}):"]
    for item in error.errors(include_url=False):
        key = ".".join(str(part) for part in item["loc"])
        given = item.get("input")
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown setting ({_origin(key, flags, path)}); "
                         "see `python -m app config reference` for the known keys")
            continue
        if not key or isinstance(given, Mapping):  # a rule across several keys: its message says which
            lines.append(f"  {key or 'settings'}: {item['msg']}")
            continue
        shown = REDACTED if _secret(key) else redact_url(_short(given))
        lines.append(f"  {key} = {shown} ({_origin(key, flags, path)}): {item['msg']}")
    return "\n".join(lines)


def _origin(key: str, flags: Mapping[str, Any], path: Path | None) -> str:
    node: Any = flags
    for part in key.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is not None:
        return "from the command line"
    if env_name(key) in os.environ:
        return f"from environment variable {env_name(key)}"
    if path is not None:
        return f"from {path}"
    return "default"


def _secret(key: str) -> bool:
    last = key.split(".")[-1]
    return "password" in last or "secret" in last or last.endswith("key")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def redact_url(value: str) -> str:
    return _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED, value)


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets replaced (SecretStr and URL passwords)."""
    data = settings.model_dump(mode="python")
    return _scrub(data)


def _scrub(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrub(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return redact_url(value)
    return value


def show(settings: Settings, fmt: str = "yaml") -> str:
    data = redacted(settings)
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
