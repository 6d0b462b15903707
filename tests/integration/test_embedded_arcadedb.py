"""EmbeddedArcadeDB: a real JVM child process, started and stopped for real."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from neo4j import AsyncGraphDatabase

from graph.embedded import EmbeddedArcadeDB
from memory.errors import StoreUnavailable

ROOT = Path(__file__).resolve().parents[2]


def jvms_using(data_dir: Path) -> list[int]:
    """Pids of live processes whose command line mentions data_dir (our JVMs)."""
    needle = str(data_dir).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if needle in cmdline and b"java" in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_until_gone(data_dir: Path, timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (pids := jvms_using(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids


async def test_start_answers_bolt_queries_and_stop_ends_the_jvm(tmp_path: Path) -> None:
    server = EmbeddedArcadeDB(data_dir=tmp_path, database="probe")
    started = time.monotonic()
    await server.start()
    try:
        assert server.running and time.monotonic() - started < 60
        assert server.uri.startswith("bolt://127.0.0.1:") and server.bolt_port > 0
        async with AsyncGraphDatabase.driver(server.uri, auth=server.auth) as driver:
            records, _, _ = await driver.execute_query("RETURN 41 + 1 AS n", database_=server.database)
        assert records[0]["n"] == 42
        assert jvms_using(tmp_path) == [server.pid]
        assert "ArcadeDB Server started" in server.log_path.read_text()
        # the root password is not on the command line any local user can read, nor left on disk
        assert server.password.encode() not in Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert not any(server.password in p.read_text(errors="ignore") for p in tmp_path.glob(".root-password*"))
    finally:
        await server.stop()
    assert not server.running and wait_until_gone(tmp_path) == []
    await server.stop()  # idempotent
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.bolt_port)) != 0


async def test_restart_on_the_same_data_dir_keeps_the_data(tmp_path: Path) -> None:
    async with EmbeddedArcadeDB(data_dir=tmp_path, password="s3cret-pass") as server:
        async with AsyncGraphDatabase.driver(server.uri, auth=server.auth) as driver:
            await driver.execute_query("CREATE (:Probe {n: 1})", database_=server.database)
    async with EmbeddedArcadeDB(data_dir=tmp_path, password="s3cret-pass") as server:
        async with AsyncGraphDatabase.driver(server.uri, auth=server.auth) as driver:
            records, _, _ = await driver.execute_query(
                "MATCH (p:Probe) RETURN p.n AS n", database_=server.database
            )
    assert [r["n"] for r in records] == [1]


async def test_a_taken_port_fails_clearly_and_leaves_no_jvm(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = EmbeddedArcadeDB(data_dir=tmp_path, bolt_port=port)
        with pytest.raises(StoreUnavailable, match=str(port)):
            await server.start()
    assert not server.running and wait_until_gone(tmp_path) == []


async def test_a_start_that_times_out_kills_the_jvm_and_shows_the_log(tmp_path: Path) -> None:
    server = EmbeddedArcadeDB(data_dir=tmp_path, start_timeout_s=0.3)
    with pytest.raises(StoreUnavailable, match="did not start") as caught:
        await server.start()
    assert "no answer within" in str(caught.value)
    assert not server.running and wait_until_gone(tmp_path) == []


def test_bad_configuration_is_refused_before_launch(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        EmbeddedArcadeDB(data_dir=tmp_path, database="x]; rm -rf /")
    with pytest.raises(ValueError):
        EmbeddedArcadeDB(data_dir=tmp_path, password="short")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
def test_the_jvm_dies_with_a_crashed_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from graph.embedded import EmbeddedArcadeDB
        server = EmbeddedArcadeDB(data_dir=Path({str(tmp_path)!r}))
        asyncio.run(server.start())
        print(server.pid, flush=True)
        os.kill(os.getpid(), {int(signal.SIGKILL)})  # no clean-up code runs
        """
    )
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    jvm_pid = int(parent.stdout.split()[0])
    assert jvm_pid > 0
    # gone or a zombie awaiting its new parent's wait(): either way no longer running
    assert wait_until_gone(tmp_path) == []
