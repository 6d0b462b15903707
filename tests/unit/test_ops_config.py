"""Configuration: file < environment < flags, clear errors, redaction, SIGHUP reload rules."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from app.ops.config import ConfigError, load, parse_assignments, show
from app.ops.reload import Reloader, changed_keys

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTMEM_CONFIG", "AGENTMEM_PORT", "AGENTMEM_LOG_LEVEL", "AGENTMEM_GRAPH__URI", "AGENTMEM_HOST"):
        monkeypatch.delenv(name, raising=False)


def test_toml_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "agentmem.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nlog_level = "DEBUG"\n[graph]\nuri = "bolt://file:7687"\n')
    monkeypatch.setenv("AGENTMEM_PORT", "9100")
    monkeypatch.setenv("AGENTMEM_GRAPH__URI", "bolt://env:7687")
    settings = load(config, {"log_level": "ERROR"})
    assert settings.host == "0.0.0.0"  # only in the file
    assert (settings.port, settings.graph.uri) == (9100, "bolt://env:7687")  # environment beats the file
    assert settings.log_level == "ERROR"  # a flag beats both
    assert settings.graph.database == "agentmem"  # untouched nested keys keep their defaults


def test_yaml_file_named_by_agentmem_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "agentmem.yaml"
    config.write_text("port: 7000\nmemory:\n  max_limit: 50\n")
    monkeypatch.setenv("AGENTMEM_CONFIG", str(config))
    settings = load()
    assert (settings.port, settings.memory.max_limit) == (7000, 50)


def test_set_assignments_become_nested_typed_values() -> None:
    assert parse_assignments(["graph.enabled=false", "port=81", "llm.base_url=http://x/v1"]) == {
        "graph": {"enabled": False}, "port": 81, "llm": {"base_url": "http://x/v1"},
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments(["oops"])


def test_invalid_values_name_the_key_the_value_its_origin_and_what_is_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "agentmem.toml"
    config.write_text('log_level = "LOUD"\n[graph]\nembedded_heap_mb = 1\n')
    monkeypatch.setenv("AGENTMEM_PORT", "99999")
    with pytest.raises(ConfigError) as caught:
        load(config, {"bogus": 1})
    message = str(caught.value)
    assert "port = '99999' (from environment variable AGENTMEM_PORT): Input should be less than or equal to 65535" in message
    assert f"log_level = 'LOUD' (from {config}): Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in message
    assert "graph.embedded_heap_mb = 1" in message and "greater than or equal to 128" in message
    assert "bogus: unknown setting (from the command line)" in message


def test_a_missing_or_unknown_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(ConfigError, match="toml, .yaml"):
        load(tmp_path / "x.ini")
    (tmp_path / "bad.toml").write_text("port = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(tmp_path / "bad.toml")


def test_the_cli_exits_2_with_the_message(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "config", "check", "--set", "port=-1", "--set", f"data_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "port = -1 (from the command line): Input should be greater than or equal to 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_show_redacts_secrets_and_url_passwords() -> None:
    settings = load(None, {
        "database_url": "postgresql+asyncpg://agentmem:pg-secret@db/agentmem",
        "llm": {"api_key": "sk-live-secret"}, "graph": {"password": "neo-secret"},
    })
    shown = show(settings, "json")
    data = json.loads(shown)
    assert not any(word in shown for word in ("pg-secret", "sk-live-secret", "neo-secret"))
    assert data["database_url"] == "postgresql+asyncpg://agentmem:**********@db/agentmem"
    assert data["llm"]["api_key"] == data["graph"]["password"] == "**********"
    assert data["embedder"]["api_key"] is None  # an unset secret says so


def test_changed_keys_are_dotted_and_leaf_level() -> None:
    old = {"log_level": "INFO", "graph": {"uri": None, "user": "neo4j"}, "port": 1}
    new = {"log_level": "DEBUG", "graph": {"uri": "bolt://x", "user": "neo4j"}, "port": 1}
    assert changed_keys(old, new) == ["graph.uri", "log_level"]


async def test_reload_applies_live_keys_and_reports_the_rest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "agentmem.toml"
    config.write_text('log_level = "INFO"\nport = 8000\n')
    reloader = Reloader(load(config), lambda: load(config))
    seen: list[tuple[str, str]] = []
    reloader.on_change("log_level", lambda new, old: seen.append((old.log_level, new.log_level)))
    config.write_text('log_level = "DEBUG"\nport = 9000\n')
    with caplog.at_level(logging.WARNING, logger="app.ops.reload"):
        result = await reloader.reload()
    assert (result.applied, result.needs_restart) == (["log_level"], ["port"])
    assert seen == [("INFO", "DEBUG")]
    # the running settings take the live key only; the port stays what the listener uses
    assert (reloader.current.log_level, reloader.current.port) == ("DEBUG", 8000)
    assert "applied log_level; needs a restart: port" in caplog.text


async def test_an_invalid_reload_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "agentmem.toml"
    config.write_text('log_level = "INFO"\n')
    reloader = Reloader(load(config), lambda: load(config))
    calls: list[object] = []
    reloader.on_change("log_level", lambda new, old: calls.append(new))
    config.write_text('log_level = "LOUD"\n')
    result = await reloader.reload()
    assert result.error is not None and "log_level = 'LOUD'" in result.error
    assert calls == [] and reloader.current.log_level == "INFO"


async def test_a_prefix_hook_covers_nested_keys(tmp_path: Path) -> None:
    config = tmp_path / "agentmem.toml"
    config.write_text("[health]\ntimeout_s = 0.5\n")
    reloader = Reloader(load(config), lambda: load(config))
    applied: list[float] = []
    reloader.on_change("health", lambda new, old: applied.append(new.health.timeout_s))
    config.write_text("[health]\ntimeout_s = 0.2\n")
    result = await reloader.reload()
    assert result.applied == ["health.timeout_s"] and applied == [0.2]
    assert reloader.current.health.timeout_s == 0.2


def test_a_rule_across_keys_is_explained_without_echoing_its_values() -> None:
    with pytest.raises(ConfigError) as caught:
        load(None, {"auth": {"idp": {"secret": "s3cr3t-" * 6, "public_key": "-----BEGIN KEY-----"}}})
    message = str(caught.value)
    assert "auth.idp: Value error, auth.idp: give one of secret, public_key, public_key_file" in message
    assert "s3cr3t" not in message
