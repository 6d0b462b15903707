"""The local model in a child process of its own, fed over its stdin and stdout.

Why: in the server's process the model thread needs the GIL back after every pass (the dynamic int8
model runs each text alone), and under load it waited ~0.7 ms a time for the event loop to let go
of it: passes took ~2.4 ms of wall time for ~1.2 ms of CPU, and the model thread, not the loop or
the cores, set how many searches a second the server answered. A child has a GIL of its own; the
loop only writes a request and reads a reply, both through its own selector, with no thread
between. The price is a second interpreter: at 100k memories the two processes held ~30 MiB more
RSS than the one did (the model's own memory moved to the child, ~100 MiB with it).

The child is the model's own module (`python -m memory.providers.onnx_model serve`), which builds
the same model from the parent's options and runs the same pass a thread would, so both
runtimes give the same vectors. This module is the parent's end of the pipe; the frames and the
child's end are in memory/providers/model_pipe.py (which imports no asyncio: the child does not
carry it).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from memory.errors import ProviderError
from memory.providers.model_pipe import REPLY, REQUEST

log = logging.getLogger(__name__)

_STOP_GRACE_S = 5.0


class ModelProcess:
    """A child process running one local model; `submit(texts)` hands it a pass, whose rows are
    awaited on the loop.

    Started by `start()` or the first pass; started again by the next pass after it died (the
    passes it held fail with ProviderError). Passes are answered in order, and several may be
    outstanding: the child reads the next as soon as it ends one."""

    def __init__(self, argv: list[str], dimension: int, name: str = "model") -> None:
        """`argv`: the child's command line, after the interpreter (it serves with `serve`)."""
        self._argv = argv
        self._dimension = dimension
        self._name = name
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[np.ndarray]] = {}
        self._next_id = 1
        self._starting = asyncio.Lock()
        self._closed = False
        self.loaded: dict[str, Any] = {}  # what the child said it loaded (its hello)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def start(self) -> None:
        """Spawn the child and wait until it has loaded the model; ProviderError if it cannot."""
        async with self._starting:
            if self._closed:
                raise ProviderError("embedder is closed")
            if self._proc is not None and self._proc.returncode is None:
                return
            root = str(Path(__file__).resolve().parents[2])  # so `-m memory...` resolves from any cwd
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *self._argv,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            )
            assert proc.stdout is not None
            try:
                ident, rows, body = await _read_reply(proc.stdout)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                code = await proc.wait()
                raise ProviderError(f"{self._name} process exited ({code}) before loading the model") from exc
            except BaseException:
                await _stop(proc)
                raise
            if ident != 0 or rows < 0:
                await _stop(proc)
                raise ProviderError(f"{self._name} process could not load the model: {body.decode(errors='replace')}")
            self.loaded = json.loads(body)
            self._proc = proc
            self._reader = asyncio.create_task(self._read(proc), name=f"{self._name}-replies")

    @property
    def ready(self) -> bool:
        """The child runs and has loaded the model."""
        return self._proc is not None and self._proc.returncode is None and self._reader is not None \
            and not self._reader.done()

    def submit(self, texts: list[str]) -> asyncio.Future[np.ndarray]:
        """One pass over `texts` in the child: a (len(texts), dimension) float32 array. Written to
        the child before this returns when it runs (so the child starts while the caller goes on
        with other work on the loop); otherwise once it has started."""
        if self.ready:
            return self._send(texts)
        return asyncio.ensure_future(self._start_and_send(texts))

    async def forward(self, texts: list[str]) -> np.ndarray:
        return await self.submit(texts)

    async def _start_and_send(self, texts: list[str]) -> np.ndarray:
        await self.start()
        return await self._send(texts)

    def _send(self, texts: list[str]) -> asyncio.Future[np.ndarray]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        ident, self._next_id = self._next_id, self._next_id + 1
        body = json.dumps(texts).encode()
        try:
            # no drain: the batcher keeps at most a few passes out, so the pipe never fills
            proc.stdin.write(REQUEST.pack(ident, len(body)) + body)
        except (ConnectionError, RuntimeError) as exc:  # the child died under us: the reader fails the rest
            future.set_exception(ProviderError(f"{self._name} process is gone: {exc}"))
            return future
        self._waiting[ident] = future
        return future

    async def aclose(self) -> None:
        """Stop the child (it ends at the end of its input); passes still held fail."""
        self._closed = True
        async with self._starting:
            proc, self._proc = self._proc, None
        if proc is not None:
            await _stop(proc)
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._fail_all(ProviderError("embedder closed before the pass ended"))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                ident, rows, body = await _read_reply(proc.stdout)
                future = self._waiting.pop(ident, None)
                if future is None or future.done():
                    continue
                if rows < 0:
                    future.set_exception(ProviderError(body.decode(errors="replace")))
                else:
                    future.set_result(np.frombuffer(body, dtype=np.float32).reshape(rows, self._dimension))
        except (asyncio.IncompleteReadError, ConnectionError):
            code = await proc.wait()
            if not self._closed:
                log.error("%s process exited (%s); the next pass starts it again", self._name, code)
            self._fail_all(ProviderError(f"{self._name} process exited ({code}) during the pass"))

    def _fail_all(self, error: ProviderError) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(error)


async def _read_reply(stream: asyncio.StreamReader) -> tuple[int, int, bytes]:
    ident, rows, size = REPLY.unpack(await stream.readexactly(REPLY.size))
    return ident, rows, await stream.readexactly(size)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    if proc.stdin is not None:
        proc.stdin.close()  # the child's end of input: it exits
    try:
        await asyncio.wait_for(proc.wait(), _STOP_GRACE_S)
    except TimeoutError:  # a pass that hangs: no reason to wait for it
        proc.kill()
        await proc.wait()
