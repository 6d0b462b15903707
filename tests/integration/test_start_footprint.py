"""What a start on the embedded defaults loads. Without Redis, remote providers or an identity
provider configured, and on a database already at the newest revision, the process leaves redis,
httpx, alembic, jwt and cryptography unloaded (~44 MiB of RSS between them) and does not hold the
neo4j driver's calendar and PackStream tables."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

START = """
import asyncio, sys
import app.commands.cli  # what `python -m app` loads
from app.settings import Settings
from app.web import create_app
from app.ops.migrations import prepare_database
settings = Settings()
create_app(settings)
asyncio.run(prepare_database(settings))
import neo4j.time
from neo4j._codec.packstream import v1
print(sorted({m.split('.')[0] for m in sys.modules} & {'redis', 'httpx', 'alembic', 'jwt', 'cryptography'}),
      type(neo4j.time._DAYS_IN_MONTH).__name__, type(v1.PACKED_UINT_16).__name__)
"""


def _start(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    env.update(AGENTMEM_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", START], cwd=data_dir, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_a_start_on_a_migrated_database_leaves_optional_libraries_unloaded(tmp_path: Path) -> None:
    # a fresh database: alembic creates the schema
    assert _start(tmp_path) == "['alembic'] OnDemand PackedUint16"
    assert _start(tmp_path) == "[] OnDemand PackedUint16"  # the next start finds it at the newest revision
