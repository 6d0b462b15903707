"""The example configurations at the repository root pass `python -m app config check`, the
development one shows every section of the settings, and the production one keeps its secrets
out of the file."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from app.ops.config import load
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("agentmem.example.toml", "agentmem.production.toml")


def sections(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted names of the nested settings models: the TOML tables a complete file has."""
    found: set[str] = set()
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found |= {prefix + name} | sections(kind, f"{prefix}{name}.")
    return found


def tables(document: dict[str, object], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, value in document.items():
        if isinstance(value, dict):
            found |= {prefix + name} | tables(value, f"{prefix}{name}.")
    return found


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_passes_config_check(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}  # the file alone
    proc = subprocess.run([sys.executable, "-m", "app", "config", "check", "--config", str(ROOT / name)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "configuration is valid" in proc.stdout, proc.stdout + proc.stderr


def test_the_development_example_has_every_section() -> None:
    document = tomllib.loads((ROOT / EXAMPLES[0]).read_text())
    assert tables(document) == sections(Settings)


def test_the_production_example_uses_the_shared_stores_and_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("AGENTMEM_")]:
        monkeypatch.delenv(name)
    settings = load(ROOT / EXAMPLES[1])
    assert settings.database_url is not None and settings.database_url.startswith("postgresql+asyncpg://")
    assert "@" in settings.database_url and ":" not in settings.database_url.split("://")[1].split("@")[0]
    assert settings.redis_url and settings.graph.uri and settings.graph.uri.startswith("bolt://")
    assert settings.log_format == "json" and settings.auto_migrate is False and not settings.introspection
    assert settings.auth.idp.public_key_file is not None and settings.auth.idp.configured
    secrets = [name for name, value in _walk(settings) if isinstance(value, SecretStr)]
    assert secrets == [], f"secrets written in the file: {secrets}"


def _walk(model: BaseModel, prefix: str = "") -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        found += _walk(value, f"{prefix}{name}.") if isinstance(value, BaseModel) else [(prefix + name, value)]
    return found
