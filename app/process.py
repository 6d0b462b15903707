"""Process-wide memory tuning for a serving process, applied once by `serve` before the model
and the index load (importing the package changes nothing but thread-count defaults).

glibc gives each thread that allocates its own arena (up to 8 x cores): the embedder, SQLite and
index threads would each keep a fragmented copy of their peak, so `malloc_arena_max` defaults to
2. A fixed mmap threshold returns the embedder's large buffers to the OS at once, but turns every
one of them into an mmap/munmap pair: with it, 32 concurrent adds ran at 64-78% of raw batch
encoding, without it at 93-97% (bench/server_bench.py), so it is off by default (docs/deploy.md)."""
from __future__ import annotations

import ctypes
import logging
import sys

from app.settings import ProcessSettings

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018  musl and others have no mallopt: nothing to tune
        return libc
    except (OSError, AttributeError):
        return None


def tune_malloc(settings: ProcessSettings) -> None:
    libc = _libc()
    if libc is None:
        return
    for option, value in ((_M_ARENA_MAX, settings.malloc_arena_max),
                          (_M_MMAP_THRESHOLD, settings.malloc_mmap_threshold_kib * 1024),
                          (_M_TRIM_THRESHOLD, settings.malloc_trim_threshold_kib * 1024)):
        if value > 0 and libc.mallopt(option, value) != 1:
            log.warning("mallopt(%d, %d) was refused; keeping glibc's default", option, value)


def release_free_memory() -> None:
    """Give freed heap pages back to the OS (after start-up's index rebuild, for example)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
