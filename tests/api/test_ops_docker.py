"""What can be checked of the container set-up without a Docker engine: the compose file
parses and sets only settings that exist (with values they accept), the Dockerfile keeps its
promises (non-root, slim runtime without torch, HEALTHCHECK on /health/live), and the image's
entrypoint command, run here, starts a service that answers /health/live."""
from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.ops.config import load
from app.ops.reference import rows
from tests.api.test_cli import ROOT, free_port

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
KNOWN = {key for key, _ in rows()}


def env_key(name: str) -> str:
    return name.removeprefix("AGENTMEM_").lower().replace("__", ".")


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} and ${VAR:?message}, as an operator's .env would fill them."""
    value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{\w+:\?[^}]*\}", "a-secret-an-operator-put-in-dotenv-48-characters", value)


def stages() -> list[dict[str, Any]]:
    """Each FROM stage of the Dockerfile with its instructions (continuations joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    result: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op == "FROM":
            result.append({"name": rest.split(" AS ")[-1], "lines": []})
        elif result:
            result[-1]["lines"].append((op, rest))
    return result


def runtime_stage() -> dict[str, Any]:
    final = stages()[-1]
    assert final["name"] == "runtime"
    return final


def instruction(stage: dict[str, Any], op: str) -> list[str]:
    return [rest for o, rest in stage["lines"] if o == op]


def runtime_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instruction(runtime_stage(), "ENV"):
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def test_compose_parses_and_sets_only_known_settings_with_valid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"agentmem", "migrate", "postgres", "neo4j", "redis"} <= set(services)
    assert services["neo4j"]["image"].startswith("neo4j:5")
    env = {k: interpolate(str(v)) for k, v in services["agentmem"]["environment"].items()}
    unknown = {name for name in env if name.startswith("AGENTMEM_") and env_key(name) not in KNOWN}
    assert unknown == set()
    for name in [n for n in os.environ if n.startswith("AGENTMEM_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load()  # raises ConfigError naming any value the model refuses
    assert settings.database_url and settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.graph.uri == "bolt://neo4j:7687" and settings.redis_url == "redis://redis:6379/0"
    assert settings.auto_migrate is False and settings.log_format == "json"


def test_compose_services_have_healthchecks_and_named_volumes() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    for name in ("agentmem", "postgres", "neo4j", "redis"):
        assert "healthcheck" in compose["services"][name], name
    declared = set(compose["volumes"])
    used = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    assert used and used <= declared
    depends = compose["services"]["agentmem"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["migrate"]["command"] == ["migrate", "upgrade"]


def test_the_dockerfile_runs_slim_as_a_non_root_user_with_a_liveness_check() -> None:
    names = [s["name"] for s in stages()]
    assert names == ["model", "build", "runtime"]
    final = runtime_stage()
    user = instruction(final, "USER")
    assert user and user[-1] not in ("root", "0")
    check = " ".join(instruction(final, "HEALTHCHECK"))
    assert "/health/live" in check
    copied = " ".join(instruction(final, "COPY"))
    assert "--from=model /opt/models" in copied and "torch" not in copied
    text = DOCKERFILE.read_text()
    assert "HNSWLIB_NO_NATIVE=1" in text
    assert text.index('pip install "torch==2.13.0"') < text.index('pip install ".[torch]"')
    assert all(env_key(k) in KNOWN for k in runtime_env() if k.startswith("AGENTMEM_"))


@pytest.mark.slow
async def test_the_image_entrypoint_starts_the_service(tmp_path: Path) -> None:
    entrypoint = json.loads(instruction(runtime_stage(), "ENTRYPOINT")[-1])
    command = json.loads(instruction(runtime_stage(), "CMD")[-1])
    argv = [sys.executable if arg == "python" else arg for arg in entrypoint + command]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    env.update(runtime_env())
    env.update({"AGENTMEM_DATA_DIR": str(tmp_path), "AGENTMEM_PORT": str(port), "AGENTMEM_HOST": "127.0.0.1"})
    env.pop("AGENTMEM_EMBEDDER__CACHE_DIR")  # the image's model directory; here, the local cache
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    healthcheck = json.loads(instruction(runtime_stage(), "HEALTHCHECK")[-1].split("CMD", 1)[1])
    try:
        async with asyncio.timeout(90):
            while True:  # the image's own HEALTHCHECK command decides
                probe = await asyncio.create_subprocess_exec(
                    *[sys.executable if a == "python" else a for a in healthcheck], env=env,
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )
                if await probe.wait() == 0:
                    break
                assert process.returncode is None, (await process.stdout.read()).decode()  # type: ignore[union-attr]
                await asyncio.sleep(0.3)
    finally:
        process.terminate()
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode()[-2000:]
    first = json.loads(out.decode().splitlines()[0])  # the image logs JSON lines
    assert first["level"] in {"INFO", "WARNING"} and "message" in first
