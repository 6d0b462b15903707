"""Where the settings file comes from, and the pydantic-settings source that reads it.

Precedence, highest first: command-line flags (passed to Settings() as init values), AGENTMEM_*
environment variables, the configuration file. The file is named by `--config` (which sets
CONFIG_FILE for the load) or by the AGENTMEM_CONFIG environment variable; its format follows
its suffix: .toml, .yaml/.yml or .json."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

CONFIG_ENV = "AGENTMEM_CONFIG"
# a ContextVar rather than a class attribute: two loads (tests, a reload) never see each other's file
CONFIG_FILE: ContextVar[Path | None] = ContextVar("agentmem_config_file", default=None)
SUFFIXES = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


class ConfigFileError(ValueError):
    """The configuration file is missing, of an unknown kind, or not parseable."""


def config_path() -> Path | None:
    """The file in effect: the one being loaded explicitly, else $AGENTMEM_CONFIG, else none."""
    explicit = CONFIG_FILE.get()
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


@contextlib.contextmanager
def using_config_file(path: Path | None) -> Iterator[None]:
    token = CONFIG_FILE.set(path)
    try:
        yield
    finally:
        CONFIG_FILE.reset(token)


def file_sources(settings_cls: type[BaseSettings]) -> tuple[PydanticBaseSettingsSource, ...]:
    path = config_path()
    if path is None:
        return ()
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigFileError(f"config file {path}: use a .toml, .yaml, .yml or .json file")
    if not path.is_file():  # pydantic-settings would silently read nothing
        raise ConfigFileError(f"config file {path} does not exist")
    try:
        if kind == "TOML":
            return (TomlConfigSettingsSource(settings_cls, toml_file=path),)
        if kind == "YAML":
            return (YamlConfigSettingsSource(settings_cls, yaml_file=path),)
        return (JsonConfigSettingsSource(settings_cls, json_file=path),)
    except Exception as exc:  # tomllib/yaml/json each raise their own parse error type
        raise ConfigFileError(f"config file {path} is not valid {kind}: {exc}") from exc
