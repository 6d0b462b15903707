"""Process-wide tuning, applied by the entry point that starts the process, never on import.

`pin_threads` runs first in `python -m app` (app/__main__.py), before anything imports numpy or a
model runtime: on 2 cores, BLAS threads and the embedding runtime's threads fight (a query
embedding went from ~5 ms to ~74 ms when they alternated), so each pool gets one thread unless
the environment already says otherwise. This module imports nothing heavy for that reason.

`tune_malloc` is applied once by `serve` before the model and the index load. glibc gives each
thread that allocates its own arena (up to 8 x cores): the embedder, SQLite and index threads
would each keep a fragmented copy of their peak, so `malloc_arena_max` defaults to 2. glibc's
thresholds adapt upwards as big buffers are freed, until free heap is given back only by a trim.
A low fixed mmap threshold (256 KiB) turned every one of the embedder's buffers into an
mmap/munmap pair (32 concurrent adds at 64-78% of raw batch encoding, against 93-97%); so the
mmap threshold is fixed high (32 MiB: only the index and the largest batches are mmapped) and
the trim threshold low (4 MiB of free heap on top goes back at once): at 100k memories that
held 12 MiB less RSS idle and 15 MiB less right after a search load, for 32-client adds within
noise of the adaptive thresholds (docs/deploy.md).

`HeapRelease` is what keeps RSS down without that threshold: once the embedder has had nothing
to do for a second (memory/providers/batching.py) and the process has grown by
`malloc_release_growth_mib` since the last release, freed heap pages go back to the OS
(malloc_trim); glibc would otherwise keep the peak of past passes and requests mapped for good.
Not after every pass: a pass re-faults what the trim gave back, and 32 concurrent one-text
callers lost 3-9% of their throughput to trims run after passes (at 8 MiB of growth).

`freeze_heap` runs once start-up has made what lives as long as the process (modules, the
GraphQL schema, the stores, the per-memory tables): the cyclic garbage collector's oldest
generation then no longer walks those objects. Its full collections, which stop the event loop
and every request in flight, took ~120 ms at 100k memories, ~17 ms after the freeze."""
from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Callable

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


def freeze_heap() -> None:
    """Exempt every object alive now from the cyclic collector (gc.freeze; O(1), and objects
    freed later by their reference counts still go as usual)."""
    gc.freeze()
    log.debug("froze %d objects out of the cyclic collector's reach", gc.get_freeze_count())


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


def resident_bytes() -> int | None:
    """This process's resident set size now (one read of /proc/self/statm); None off Linux."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class HeapRelease:
    """Called when the embedder has been idle (on the model thread): trims the heap the first time,
    then whenever RSS has grown by `growth_bytes` since the last trim. Growth that is real (index
    rows, caches) survives the trim and becomes the new floor, so quiet spells without new
    garbage cost no trim at all."""

    def __init__(self, growth_bytes: int, trim: Callable[[], None] = release_free_memory,
                 rss: Callable[[], int | None] = resident_bytes) -> None:
        self._growth = growth_bytes
        self._trim = trim
        self._rss = rss
        self._floor = 0  # the first call trims: nothing was given back since start-up's release
        self._lock = threading.Lock()  # two embedders' threads must not both trim for one growth
        self.trims = 0

    def __call__(self) -> None:
        now = self._rss()
        if now is None:
            return
        with self._lock:
            if now < self._floor:
                self._floor = now  # the process shrank on its own: measure growth from here
            elif now - self._floor >= self._growth:
                self._trim()
                self.trims += 1
                self._floor = self._rss() or now


def heap_release(settings: ProcessSettings) -> HeapRelease | None:
    """The idle hook `serve` gives the local embedder; None when off or not glibc."""
    if settings.malloc_release_growth_mib <= 0 or _libc() is None:
        return None
    return HeapRelease(settings.malloc_release_growth_mib * 1024 * 1024)
