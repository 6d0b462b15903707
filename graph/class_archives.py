"""Class-data sharing archives for the embedded graph server's JVM.

Started cold, the bundled JVM spent 3.5-4.8 s of CPU loading, verifying and linking ArcadeDB's
classes before it answered, on a 2-core machine where the service's own start (its index, its
model) needs the same cores. With a base archive of the runtime's classes and a second one of
the classes ArcadeDB loads, it spent 2.0-2.4 s, and a start at 100k memories from a snapshot
came ready in 4.4-5.4 s instead of 5.8-6.4 s (interleaved runs).

The wheel's runtime ships no archive of its own, so we make them, once per runtime and jar set,
in a cache directory shared by every data directory:
- the base archive (~14 MB) by `java -Xshare:dump`, in the background of the first start;
- the top archive (~30 MB) by the first JVM launched with the base, as it exits.
Both are written under a temporary name and renamed into place only once complete (and the
top one only after a JVM that exited by itself, not killed): servers starting side by side,
in tests or replicas, never read a half-written archive. A JVM that cannot use an archive (a
runtime changed under the same key, say) says so in its log and starts without it."""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import subprocess  # nosec B404  # runs the bundled java with fixed options only
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

_DUMP_TIMEOUT_S = 120.0
_STALE_S = 3600.0  # a partial archive this old was left by a JVM or dump that was killed


@dataclass(frozen=True)
class Launch:
    """The JVM options of one launch, and where that JVM writes its top archive on exit
    (None: it writes none)."""

    options: list[str]
    recording: Path | None = None


class ClassArchives:
    """The archives of one Java runtime and jar set, kept in `directory`."""

    def __init__(self, directory: Path, java: Path, jars: Path, module_options: Sequence[str] = ()) -> None:
        """`module_options`: the module options every launch passes (the base archive is dumped
        with them: with others the JVM would not use its archived module graph)."""
        self._dir = Path(directory)
        self._java = Path(java)
        self._modules = list(module_options)
        self._key = _key(self._java, Path(jars), self._modules)
        self._dump: tuple[subprocess.Popen[bytes], Path] | None = None  # a base dump running, and its file

    @property
    def base(self) -> Path:
        return self._dir / f"{self._key}.base.jsa"

    @property
    def top(self) -> Path:
        return self._dir / f"{self._key}.top.jsa"

    def launch(self) -> Launch:
        """Options for the next JVM. Without a base archive yet, none (and the base is dumped in
        the background, for the next start); with the base only, that JVM records the top one."""
        if os.pathsep in str(self._dir):  # the two archives are named in one option, joined by it
            return Launch([])
        self._sweep()
        if not self.base.is_file():
            self._start_dump()
            return Launch([])
        if self.top.is_file():
            return Launch([f"-XX:SharedArchiveFile={self.base}{os.pathsep}{self.top}"])
        recording = self._dir / f"{self._key}.top.{secrets.token_hex(6)}.tmp"
        return Launch([f"-XX:SharedArchiveFile={self.base}", f"-XX:ArchiveClassesAtExit={recording}"], recording)

    def exited(self, launch: Launch, returncode: int | None) -> None:
        """The JVM of `launch` has exited: keep the top archive it recorded, if it exited by itself
        (after SIGTERM included) rather than being killed part-way through writing it."""
        if launch.recording is None:
            return
        finished = returncode is not None and returncode >= 0
        try:
            if finished and launch.recording.is_file() and launch.recording.stat().st_size > 0:
                os.replace(launch.recording, self.top)
                log.info("graph server's class archive recorded: %s", self.top)
            else:
                launch.recording.unlink(missing_ok=True)
        except OSError as exc:  # the cache went away meanwhile: the next start records again
            log.info("graph server's class archive not kept: %s", exc)

    def wait(self, timeout_s: float = _DUMP_TIMEOUT_S) -> None:
        """Let a base dump still running finish (or kill it after `timeout_s`), and keep its
        archive if it is complete."""
        if self._dump is None:
            return
        (dump, target), self._dump = self._dump, None
        try:
            code = dump.wait(timeout_s)
        except subprocess.TimeoutExpired:
            dump.kill()
            code = dump.wait()
        try:
            if code == 0 and target.is_file():
                os.replace(target, self.base)
                log.info("graph server's base class archive written: %s", self.base)
            else:
                log.warning("dumping the graph server's base class archive failed (exit code %s)", code)
                target.unlink(missing_ok=True)
        except OSError as exc:
            log.info("graph server's base class archive not kept: %s", exc)

    def _sweep(self) -> None:
        """Delete what JVMs or dumps killed part-way left behind (long enough ago that no live
        one is still writing it)."""
        cutoff = time.time() - _STALE_S
        for partial in self._dir.glob("*.tmp"):
            try:
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
            except OSError:
                pass

    def _start_dump(self) -> None:
        if self._dump is not None:
            return
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only cache: start without archives, as before
            log.info("no class archives for the graph server (%s)", exc)
            return
        target = self._dir / f"{self._key}.base.{secrets.token_hex(6)}.tmp"
        try:
            dump = subprocess.Popen(  # nosec B603  # the bundled java, fixed options
                [str(self._java), *self._modules, "-Xshare:dump", f"-XX:SharedArchiveFile={target}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:  # the server itself starts without archives, as before
            log.info("no class archives for the graph server (%s)", exc)
            return
        self._dump = (dump, target)


def _key(java: Path, jars: Path, module_options: Sequence[str]) -> str:
    """Names the runtime and jar set: an archive only fits the exact JVM build and class path
    it was made with."""
    digest = hashlib.sha256("\n".join(module_options).encode())
    runtime = java.resolve().parents[1]
    for path in (runtime / "release", *sorted(runtime.glob("lib/server/libjvm.*"))):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    for jar in sorted(jars.glob("*.jar")):
        stat = jar.stat()
        digest.update(f"{jar.name}:{stat.st_size}\n".encode())
    return "arcadedb-" + digest.hexdigest()[:16]
