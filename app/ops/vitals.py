"""What /health says about the process itself: the version running, how long it has been up,
its resident memory, and when this process last acknowledged a write.

The last write is learnt from the core's event bus, which every add, update, delete, invalidate
and reset publishes to once it is committed; a sink sees only this process's own events (events
from other replicas arrive with local=False and skip sinks), so the time says this replica
served a write, not that the cluster did."""
from __future__ import annotations

import functools
import importlib.metadata
import os
import time
from datetime import datetime

from memory.events import EventBus, EventKind, MemoryEvent

PACKAGE = "agentmem"
WRITES = frozenset({EventKind.ADD, EventKind.UPDATE, EventKind.DELETE, EventKind.INVALIDATE, EventKind.RESET})
_STATM = "/proc/self/statm"


@functools.cache
def version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # run from a tree that was never pip-installed
        return "unknown"


def rss_bytes() -> int | None:
    """Current resident set size (not the peak getrusage reports); None off Linux."""
    try:
        with open(_STATM, encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


class Vitals:
    def __init__(self) -> None:
        self._started = time.monotonic()
        self.last_write: datetime | None = None

    def uptime_s(self) -> float:
        return round(time.monotonic() - self._started, 1)

    def follow(self, bus: EventBus) -> None:
        """Record the time of every write the service publishes on `bus` from now on."""
        bus.add_sink(self._seen)

    async def _seen(self, event: MemoryEvent) -> None:
        if event.kind in WRITES:
            self.last_write = event.at

    def as_json(self) -> dict[str, object]:
        return {
            "version": version(),
            "uptime_s": self.uptime_s(),
            "rss_bytes": rss_bytes(),
            "last_write_at": self.last_write.isoformat() if self.last_write is not None else None,
        }
