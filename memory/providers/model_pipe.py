"""The frames between a model process and its parent, and the child's end of the pipe
(memory/providers/model_process.py is the parent's end).

Frames, both ways little-endian:
- request: `<QI` (id, body bytes), then the texts as a JSON array;
- reply: `<QiI` (id, rows, body bytes), then rows x dimension float32 values, or, when rows is
  -1, the error's message (UTF-8). Id 0 is the child's hello after loading the model (rows 0,
  body the JSON of what it loaded), or its failure to load (rows -1), after which it exits.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import json
import os
import select
import signal
import struct
import sys
from typing import Any, Callable

import numpy as np

REQUEST = struct.Struct("<QI")
REPLY = struct.Struct("<QiI")
_IDLE_TRIM_S = 1.0  # the child gives freed heap back once no request came for this long


def claim_stdout() -> Any:
    """The child's reply channel: the original stdout, which from now on only frames use;
    whatever else prints there (a library's notice) goes to stderr instead. The child also stops
    answering SIGINT and SIGTERM, which a terminal's Ctrl-C or a service manager sends to the
    whole group: it ends when its input ends, once the parent has shut down (or died)."""
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return replies


def refuse(replies: Any, message: str) -> None:
    """Tell the parent the model could not load (it raises `message`); the child then exits."""
    _write(replies, 0, -1, message.encode())


def serve(encode: Callable[[list[str]], np.ndarray], hello: dict[str, Any], replies: Any,
          requests: int | None = None, trim: Callable[[], None] | None = None, idle_s: float = _IDLE_TRIM_S) -> None:
    """Say `hello`, then answer the requests read from the file descriptor `requests` (stdin)
    on `replies` until the input ends."""
    requests = sys.stdin.fileno() if requests is None else requests
    trim = trim or _trim_heap
    trim()  # what loading the model left freed (the model file's parse, ~5 MiB)
    _write(replies, 0, 0, json.dumps(hello).encode())
    trimmed = True
    while True:
        # give freed heap back once the requests pause (a 64-text pass's buffers otherwise
        # stay), once a pause
        if not trimmed and not select.select([requests], [], [], idle_s)[0]:
            trim()
            trimmed = True
        head = _read_exactly(requests, REQUEST.size)
        if head is None:
            return
        trimmed = False
        ident, size = REQUEST.unpack(head)
        body = _read_exactly(requests, size)
        if body is None:
            return
        texts = json.loads(body)
        try:
            rows = np.ascontiguousarray(encode(texts), dtype=np.float32)
        except Exception as exc:  # noqa: BLE001  the caller's pass fails, the child serves on
            _write(replies, ident, -1, str(exc).encode())
        else:
            _write(replies, ident, rows.shape[0], rows.tobytes())


def _read_exactly(fd: int, n: int) -> bytes | None:
    """n bytes from fd (unbuffered, so that select() sees all that is pending); None at its end."""
    parts: list[bytes] = []
    while n:
        part = os.read(fd, n)
        if not part:
            return None
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _write(out: Any, ident: int, rows: int, body: bytes) -> None:
    out.write(REPLY.pack(ident, rows, len(body)) + body)
    out.flush()


@functools.cache
def _libc() -> Any:
    """The C library's symbols (None where they cannot be loaded); looked up once, since
    find_library runs a subprocess."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _trim_heap() -> None:
    libc = _libc()
    with contextlib.suppress(AttributeError):  # not glibc: no malloc_trim, nothing to give back
        if libc is not None:
            libc.malloc_trim(0)
