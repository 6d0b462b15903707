"""Process-wide tuning, applied by the entry point that starts the process, never on import.

`pin_threads` runs first in `python -m app` (app/__main__.py), before anything imports numpy or a
model runtime: on 2 cores, BLAS threads and the embedding runtime's threads fight (a query
embedding went from ~5 ms to ~74 ms when they alternated), so each pool gets one thread unless
the environment already says otherwise. This module imports nothing heavy for that reason.

`tune_malloc` is applied once by `serve` before the model and the index load. glibc gives each
thread that allocates its own arena (up to 8 x cores): the embedder, SQLite and index threads
would each keep a fragmented copy of their peak, so `malloc_arena_max` defaults to 2. A fixed
mmap threshold returns the embedder's large buffers to the OS at once, but turns every one of
them into an mmap/munmap pair: with it, 32 concurrent adds ran at 64-78% of raw batch encoding,
without it at 93-97% (bench/server_bench.py), so it is off by default (docs/deploy.md)."""
from __future__ import annotations

import ctypes
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import ProcessSettings

log = logging.getLogger(__name__)

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def pin_threads() -> None:
    """Thread-count and offline defaults for this process; only read by libraries imported after
    this call. Values already in the environment win."""
    for var in THREAD_VARIABLES:
        os.environ.setdefault(var, "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is exported locally; never reach for the hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
