"""Random ids (UUID4) from random bytes drawn from the OS in bulk.

`uuid.uuid4()` calls `os.urandom(16)`, which releases the GIL around its system call: on the
event loop, every such release let a busy thread (the model's, SQLite's) take the interpreter
for up to a switch interval (5 ms) before the loop got it back. Drawing 4 KiB at a time makes
that one release per 256 ids. The bytes are the OS's cryptographic ones either way; a forked
child drops the parent's unused bytes, so the two never hand out the same id."""
from __future__ import annotations

import os
import threading
import uuid

_DRAW = 4096
_lock = threading.Lock()
_pool = b""
_taken = 0


def _forget_pool() -> None:
    global _pool, _taken
    _pool, _taken = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def random_uuid() -> uuid.UUID:
    """A version 4 UUID."""
    global _pool, _taken
    with _lock:
        if _taken + 16 > len(_pool):
            _pool, _taken = os.urandom(_DRAW), 0
        raw = _pool[_taken:_taken + 16]
        _taken += 16
    return uuid.UUID(bytes=raw, version=4)
